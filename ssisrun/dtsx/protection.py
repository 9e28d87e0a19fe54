"""Package passwords: EncryptSensitiveWithPassword and EncryptAllWithPassword (spec 5.15).

SSIS writes what a password protects as XML Encryption (``xmlenc``): an ``EncryptedData``
element with ssisrun-visible ``Salt`` and ``IV`` attributes, an ``EncryptionMethod``
(``tripledes-cbc``, or ``aes*-cbc`` in later versions) and a ``CipherValue`` holding the IV
followed by the CBC ciphertext (PKCS#7 padding) of the protected element, in UTF-8. With
EncryptSensitiveWithPassword each sensitive element (a connection manager's
``DTS:Password``, a sensitive parameter's value) is replaced by one such element; with
EncryptAllWithPassword the whole document is. Project files (``.params``, ``.conmgr``, the
project manifest) keep the element and write ``SSIS:Salt``/``SSIS:IV`` on it, its text the
base64 ciphertext (without the IV) of the element itself.

The key: Windows CryptoAPI's ``CryptDeriveKey`` over the SHA-1 hash of the password's UTF-8
bytes (``PasswordDeriveBytes.CryptDeriveKey("TripleDES", "SHA1", 192, iv)`` in .NET, which
does not use the salt): the hash XORed into 64 bytes of 0x36 and of 0x5C, each hashed again,
the two digests concatenated and cut to the key's length. This was confirmed on a package the
SSIS designer saved with EncryptAllWithPassword whose password its repository publishes
(tests/test_package_password.py). For AES, which no package with a known password shows, the
same derivation is tried first and PBKDF2-HMAC-SHA1 (1,000 rounds, the salt) second; a key is
taken only when the padding is right and the result is well-formed XML, so a wrong guess
cannot pass as a decryption.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from ssisrun.dtsx.safexml import parse_bytes, source_line
from ssisrun.errors import EncryptedPackageError, PackageLoadError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherAlgorithm

#: the environment variable that gives the package password (as the Linux dtexec reads it)
PASSWORD_ENV = "SSIS_PACKAGE_DECRYPT"

XMLENC_NS = "http://www.w3.org/2001/04/xmlenc#"
ENCRYPTED_DATA = "{" + XMLENC_NS + "}EncryptedData"
SSIS_NS = "www.microsoft.com/SqlServer/SSIS"

TRIPLEDES = XMLENC_NS + "tripledes-cbc"
AES128 = XMLENC_NS + "aes128-cbc"
AES192 = XMLENC_NS + "aes192-cbc"
AES256 = XMLENC_NS + "aes256-cbc"


@dataclass(frozen=True)
class _Cipher:
    kind: str  # "3des" or "aes"
    key_bytes: int
    block: int


_CIPHERS = {
    TRIPLEDES: _Cipher("3des", 24, 8),
    AES128: _Cipher("aes", 16, 16),
    AES192: _Cipher("aes", 24, 16),
    AES256: _Cipher("aes", 32, 16),
}


class PackagePasswordError(EncryptedPackageError):
    """The password given does not decrypt what the package protects (exit code 5)."""


def package_password(explicit: str | None = None) -> str | None:
    """The password to use: ``explicit`` (``--decrypt``), else ``SSIS_PACKAGE_DECRYPT``."""
    if explicit is not None:
        return explicit
    return os.environ.get(PASSWORD_ENV) or None


# ---- key derivation and the block ciphers


def capi_derive_key(password: str, length: int) -> bytes:
    """CryptoAPI's ``CryptDeriveKey`` from a SHA-1 hash of the password's UTF-8 bytes."""
    digest = hashlib.sha1(password.encode("utf-8")).digest()
    inner = bytes(0x36 ^ (digest[i] if i < len(digest) else 0) for i in range(64))
    outer = bytes(0x5C ^ (digest[i] if i < len(digest) else 0) for i in range(64))
    derived = hashlib.sha1(inner).digest() + hashlib.sha1(outer).digest()
    if length > len(derived):
        raise ValueError(f"CryptDeriveKey cannot make a {length}-byte key from SHA-1")
    return derived[:length]


def _candidate_keys(password: str, cipher: _Cipher, salt: bytes) -> list[bytes]:
    keys = [capi_derive_key(password, cipher.key_bytes)]
    if cipher.kind == "aes" and salt:
        keys.append(hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, 1000,
                                        cipher.key_bytes))
    return keys


def _algorithm(cipher: _Cipher, key: bytes) -> CipherAlgorithm:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import algorithms

    if cipher.kind == "aes":
        return algorithms.AES(key)
    return TripleDES(key)


def _cbc(cipher: _Cipher, key: bytes, iv: bytes, data: bytes, encrypt: bool) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    engine = Cipher(_algorithm(cipher, key), modes.CBC(iv))
    ctx = engine.encryptor() if encrypt else engine.decryptor()
    return ctx.update(data) + ctx.finalize()


def _unpad(data: bytes, block: int) -> bytes | None:
    if not data or len(data) % block:
        return None
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        return None
    return data[:-n]


def _pad(data: bytes, block: int) -> bytes:
    n = block - len(data) % block
    return data + bytes([n]) * n


def _decode(plain: bytes) -> str | None:
    try:
        if plain.startswith((b"\xff\xfe", b"\xfe\xff")):
            return plain.decode("utf-16")
        return plain.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)


def _parse_fragment(text: str, context: etree._Element | None) -> list[etree._Element] | None:
    """The elements of a decrypted fragment, parsed with the namespaces in scope at
    ``context`` (a fragment may use prefixes that its ancestors declared); None when the
    text is not well-formed XML, which is how a wrong key shows."""
    text = _XML_DECLARATION.sub("", text, count=1)
    nsmap = dict(context.nsmap) if context is not None else {}
    declarations = "".join(
        f' xmlns="{uri}"' if prefix is None else f' xmlns:{prefix}="{uri}"'
        for prefix, uri in nsmap.items()
    )
    wrapped = f"<ssisrun-decrypted{declarations}>{text}</ssisrun-decrypted>"
    try:
        root = parse_bytes(wrapped.encode("utf-8"), "decrypted value").getroot()
    except PackageLoadError:
        return None
    children = [child for child in root if isinstance(child.tag, str)]
    return children or None


# ---- one encrypted node


def _b64(text: str | None) -> bytes | None:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _attr(el: etree._Element, name: str) -> str | None:
    return el.get(name) or el.get("{" + SSIS_NS + "}" + name)


def _decrypt_bytes(password: str, cipher: _Cipher, salt: bytes, iv: bytes | None,
                   data: bytes, iv_prefixed: bool) -> list[bytes]:
    """Every plausible plaintext (right padding) under the candidate keys."""
    if iv_prefixed:
        if len(data) < cipher.block * 2:
            return []
        iv, data = data[: cipher.block], data[cipher.block:]
    if iv is None or len(iv) != cipher.block or not data or len(data) % cipher.block:
        return []
    found = []
    for key in _candidate_keys(password, cipher, salt):
        plain = _unpad(_cbc(cipher, key, iv, data, encrypt=False), cipher.block)
        if plain is not None:
            found.append(plain)
    return found


def _wrong_password(what: str, source: str, el: etree._Element) -> PackagePasswordError:
    return PackagePasswordError(
        f"the package password does not decrypt {what}: give the password the package was "
        f"saved with (--decrypt PASSWORD or {PASSWORD_ENV})",
        path=source, line=source_line(el))


def _encrypted_data_plaintexts(el: etree._Element, password: str, source: str) -> list[str]:
    method = el.find("{" + XMLENC_NS + "}EncryptionMethod")
    algorithm = method.get("Algorithm") if method is not None else TRIPLEDES
    cipher = _CIPHERS.get(algorithm or TRIPLEDES)
    if cipher is None:
        raise PackageLoadError(
            f"the package is encrypted with {algorithm}, which ssisrun cannot decrypt "
            f"(it knows {', '.join(sorted(_CIPHERS))})", path=source, line=source_line(el))
    value = el.find("{" + XMLENC_NS + "}CipherData/{" + XMLENC_NS + "}CipherValue")
    data = _b64(value.text if value is not None else None)
    salt = _b64(_attr(el, "Salt")) or b""
    iv = _b64(_attr(el, "IV"))
    if not data:
        raise PackageLoadError("an EncryptedData element has no CipherValue",
                               path=source, line=source_line(el))
    texts = []
    for plain in _decrypt_bytes(password, cipher, salt, iv, data, iv_prefixed=True):
        text = _decode(plain)
        if text is not None:
            texts.append(text)
    return texts


def _decrypt_encrypted_data(el: etree._Element, password: str, source: str) -> None:
    parent = el.getparent()
    for text in _encrypted_data_plaintexts(el, password, source):
        elements = _parse_fragment(text, parent)
        if elements is None:
            continue
        _mark_lines(elements, source_line(el))
        if parent is None:  # cannot happen: the root is handled by decrypt_document
            return
        if len(elements) == 1 and elements[0].tag == parent.tag:
            # A sensitive parameter's value: the encrypted element is the property itself,
            # and its EncryptedData sits inside an emptied copy of it.
            grand = parent.getparent()
            if grand is not None:
                elements[0].tail = parent.tail
                grand.replace(parent, elements[0])
                return
        _replace_with(el, elements)
        return
    raise _wrong_password("its EncryptedData element", source, el)


def _decrypt_project_element(el: etree._Element, password: str, source: str) -> None:
    """A project file's encrypted element: SSIS:Salt and SSIS:IV on the element, its text
    the ciphertext of the whole element (3DES, the IV not repeated)."""
    data = _b64(el.text)
    salt = _b64(_attr(el, "Salt")) or b""
    iv = _b64(_attr(el, "IV"))
    cipher = _CIPHERS[TRIPLEDES]
    if data:
        for plain in _decrypt_bytes(password, cipher, salt, iv, data, iv_prefixed=False):
            text = _decode(plain)
            elements = _parse_fragment(text, el.getparent()) if text is not None else None
            if elements:
                _mark_lines(elements, source_line(el))
                parent = el.getparent()
                if parent is not None:
                    _replace_with(el, elements)
                return
    raise _wrong_password(f"the encrypted element <{etree.QName(el).localname}>", source, el)


def _replace_with(el: etree._Element, elements: list[etree._Element]) -> None:
    parent = el.getparent()
    assert parent is not None
    at = parent.index(el)
    elements[-1].tail = el.tail
    parent.remove(el)
    for offset, new in enumerate(elements):
        parent.insert(at + offset, new)


def _mark_lines(elements: list[etree._Element], line: int | None) -> None:
    """Decrypted elements report the line of the encrypted element they replace."""
    if line is None:
        return
    for element in elements:
        for node in element.iter():
            node.sourceline = line  # type: ignore[assignment]


# ---- whole documents


def is_encrypted_node(el: etree._Element) -> bool:
    """An element a package password protects (either form)."""
    if el.tag == ENCRYPTED_DATA:
        return True
    return (isinstance(el.tag, str) and _attr(el, "Salt") is not None
            and _attr(el, "IV") is not None)


def decrypt_document(root: etree._Element, password: str | None, source: str,
                     what: str = "package") -> etree._Element:
    """``root`` with everything the package password protects decrypted in place (a new
    root when the whole document was encrypted). Without a password the document is
    returned as it is: the reader then reports each secret it could not read."""
    if not password:
        return root
    if root.tag == ENCRYPTED_DATA:
        texts = _encrypted_data_plaintexts(root, password, source)
        for text in texts:
            body = _XML_DECLARATION.sub("", text, count=1).lstrip()
            if not body.startswith("<"):
                continue
            try:
                root = parse_bytes(body.encode("utf-8"), source, what).getroot()
            except PackageLoadError:
                continue
            break
        else:
            raise _wrong_password(f"the {what} (it is encrypted as a whole)", source, root)
    pending = [el for el in root.iter() if isinstance(el.tag, str) and el is not root
               and is_encrypted_node(el)]
    for el in pending:
        if el.getparent() is None or not _attached(el, root):
            continue  # inside an element already replaced
        if el.tag == ENCRYPTED_DATA:
            _decrypt_encrypted_data(el, password, source)
        else:
            _decrypt_project_element(el, password, source)
    return root


def _attached(el: etree._Element, root: etree._Element) -> bool:
    node: etree._Element | None = el
    while node is not None:
        if node is root:
            return True
        node = node.getparent()
    return False


# ---- encryption (what the SSIS designer writes; used to make protected packages)


def encrypt_element(el: etree._Element, password: str, algorithm: str = TRIPLEDES,
                    in_place_of: etree._Element | None = None) -> etree._Element:
    """Replace ``el`` by an ``EncryptedData`` element holding it, as the designer saves a
    sensitive element under EncryptSensitiveWithPassword; return the new element. With
    ``in_place_of`` (a sensitive parameter's property), the EncryptedData goes inside an
    emptied copy of that element instead."""
    cipher = _CIPHERS[algorithm]
    salt = os.urandom(7 if cipher.kind == "3des" else 8)
    iv = os.urandom(cipher.block)
    key = _candidate_keys(password, cipher, salt)[0]
    plain = etree.tostring(el, encoding="unicode").encode("utf-8")
    data = iv + _cbc(cipher, key, iv, _pad(plain, cipher.block), encrypt=True)
    encrypted = etree.Element(ENCRYPTED_DATA, nsmap={None: XMLENC_NS})  # type: ignore[dict-item]
    encrypted.set("Type", XMLENC_NS + "Element")
    encrypted.set("Salt", base64.b64encode(salt).decode())
    encrypted.set("IV", base64.b64encode(iv).decode())
    etree.SubElement(encrypted, "{" + XMLENC_NS + "}EncryptionMethod", Algorithm=algorithm)
    cipher_data = etree.SubElement(encrypted, "{" + XMLENC_NS + "}CipherData")
    etree.SubElement(cipher_data, "{" + XMLENC_NS + "}CipherValue").text = (
        base64.b64encode(data).decode())
    if in_place_of is not None:
        for child in list(in_place_of):
            in_place_of.remove(child)
        in_place_of.text = None
        in_place_of.append(encrypted)
        return encrypted
    parent = el.getparent()
    if parent is not None:
        encrypted.tail = el.tail
        parent.replace(el, encrypted)
    return encrypted


def encrypt_project_element(el: etree._Element, password: str) -> None:
    """Encrypt ``el`` in place as a project file keeps a sensitive value under
    EncryptSensitiveWithPassword: its text the ciphertext of the whole element,
    ``SSIS:Salt`` and ``SSIS:IV`` on it."""
    cipher = _CIPHERS[TRIPLEDES]
    salt, iv = os.urandom(7), os.urandom(cipher.block)
    plain = etree.tostring(el, encoding="unicode").encode("utf-8")
    data = _cbc(cipher, capi_derive_key(password, cipher.key_bytes), iv,
                _pad(plain, cipher.block), encrypt=True)
    for child in list(el):
        el.remove(child)
    el.text = base64.b64encode(data).decode()
    el.set("{" + SSIS_NS + "}Salt", base64.b64encode(salt).decode())
    el.set("{" + SSIS_NS + "}IV", base64.b64encode(iv).decode())


def encrypt_document(data: bytes, password: str, algorithm: str = TRIPLEDES) -> bytes:
    """A whole document encrypted as EncryptAllWithPassword saves it."""
    root = parse_bytes(data, "document").getroot()
    holder = etree.Element("holder")
    holder.append(root)
    encrypted = encrypt_element(root, password, algorithm)
    return b'<?xml version="1.0"?>' + etree.tostring(encrypted)
