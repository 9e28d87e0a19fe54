"""Checkpoint files: SSIS's XML format, written durably, locked while a run uses them.

The format is SSIS's (spec ssis-runtime.md 3.6)::

    <DTS:Checkpoint xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:PackageID="{...}">
      <DTS:Variables DTS:ContID="{owner}"> <DTS:Variable ...> ... </DTS:Variables>
      <DTS:Container DTS:ContID="{completed}" DTS:Result="0" DTS:PrecedenceMap=""/>
    </DTS:Checkpoint>

so people who know SSIS can read it, and files SSIS wrote can be read here.
ssisrun's additions (when it was written, the executable's path, exact values of
dates, completed loop iterations) are attributes and elements in its own namespace,
which SSIS ignores.

Writes are durable: a new file is written beside the old one, fsynced, renamed over
it, and the folder is fsynced, so a crash leaves the old file or the new one, never a
torn one. Files are created with mode 0600. A lock file beside the checkpoint keeps
two runs from using it at once.

When the environment variable ``SSISRUN_CHECKPOINT_KEY`` is set, the whole file is
encrypted (AES-256-GCM, the key derived from the variable's value with scrypt and a
random salt kept in the file's header); reading decrypts it transparently.

The second half of the module inspects and steers a file without running anything:
what completed, the saved values with secrets masked, what runs first on a restart
(:func:`describe`), and :func:`forget` to make executables run again.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from glob import escape as glob_escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from ssisrun.errors import ExitCode, SsisrunError

if TYPE_CHECKING:
    from ssisrun.model import Executable, Package

DTS_NS = "www.microsoft.com/SqlServer/Dts"
RUN_NS = "https://ssisrun.dev/checkpoint/1"
D = "{" + DTS_NS + "}"
R = "{" + RUN_NS + "}"
NSMAP = {"DTS": DTS_NS, "ssisrun": RUN_NS}

#: VARTYPE codes never saved (Object variables, as SSIS documents)
UNSAVED_TYPES = frozenset({0, 1, 9, 12, 13})
_UNSAVED_TYPES = UNSAVED_TYPES


class CheckpointError(SsisrunError):
    """A checkpoint file cannot be used (SSIS's DTS_E_LOADCHECKPOINT family)."""

    code = 0xC001F083


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint file does not exist (exit code 4)."""

    exit_code = ExitCode.NOT_FOUND


class CheckpointLoadError(CheckpointError):
    """The file is not a checkpoint file ssisrun can read: not XML, another root element,
    or encrypted with a key that is missing or wrong (DTS_E_CHECKPOINTLOADXML; exit code 5)."""

    exit_code = ExitCode.CANNOT_LOAD
    code = 0xC001F082


class CheckpointMismatchError(CheckpointError):
    """The file belongs to another package (DTS_E_CHECKPOINTMISMATCH)."""

    code = 0xC0016049


class CheckpointLockedError(CheckpointError):
    """Another run is using the file (DTS_E_CHECKPOINTFILELOCKED)."""

    code = 0xC001604B


@dataclass(slots=True)
class SavedVariable:
    namespace: str
    name: str
    data_type: int
    text: str
    dtsid: str = ""
    #: ssisrun's exact form of the value (ISO dates with microseconds), when written by us
    exact: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}::{self.name}"


@dataclass(slots=True)
class CompletedExecutable:
    cont_id: str
    result: int = 0
    precedence_map: str = ""
    path: str = ""


@dataclass(slots=True)
class LoopProgress:
    """Completed iterations of a loop (ssisrun's --resume-loops)."""

    cont_id: str
    #: one key per completed item (Foreach) or iteration number (For Loop)
    done: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CheckpointData:
    package_id: str
    #: owner container DTSID (upper case, braces) -> its saved variables
    variables: dict[str, list[SavedVariable]] = field(default_factory=dict)
    #: DTSID -> completed executable
    completed: dict[str, CompletedExecutable] = field(default_factory=dict)
    loops: dict[str, LoopProgress] = field(default_factory=dict)
    written: datetime | None = None
    package_path: str = ""
    package_name: str = ""
    #: exactly-once mode (docs/transactions.md): the key of this run and its restarts, and
    #: transacted containers about to commit -> the connection managers given markers
    run_key: str = ""
    commits: dict[str, list[str]] = field(default_factory=dict)
    #: connection managers whose databases hold exactly-once markers of this run (deleted
    #: when the package succeeds, also after restarts)
    marked: list[str] = field(default_factory=list)


def _guid(text: str) -> str:
    value = text.strip().upper()
    if value and not value.startswith("{"):
        value = "{" + value + "}"
    return value


# --------------------------------------------------------------------------- values


def value_text(data_type: int, value: Any) -> tuple[str, str | None]:
    """SSIS's text for a variable value, and ssisrun's exact form when they differ."""
    if isinstance(value, bool):
        return ("-1" if value else "0"), None
    if isinstance(value, datetime):
        hour = value.hour % 12 or 12
        text = (f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d}:"
                f"{value.second:02d} {'AM' if value.hour < 12 else 'PM'}")
        return text, value.isoformat()
    if isinstance(value, float):
        return repr(value), None
    if isinstance(value, Decimal):
        return str(value), None
    return ("" if value is None else str(value)), None


# --------------------------------------------------------------------------- encryption

#: the environment variable whose value is the key of encrypted checkpoint files
KEY_ENV = "SSISRUN_CHECKPOINT_KEY"
#: an encrypted file: this line, a 16-byte salt, a 12-byte nonce, then the AES-256-GCM
#: ciphertext of the XML with its 16-byte tag; the header is authenticated too
ENCRYPTED_MAGIC = b"SSISRUN-ENCRYPTED-CHECKPOINT/1\n"
_SALT_BYTES = 16
_NONCE_BYTES = 12
#: scrypt's cost: 16 MiB and tens of milliseconds, once per run
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1

KEY_HINT = (f"the checkpoint file is encrypted; set {KEY_ENV} to the key it was written "
            "with")


def checkpoint_key() -> str | None:
    """The encryption key's text from the environment, or None when it is not set."""
    return os.environ.get(KEY_ENV) or None


def is_encrypted(data: bytes) -> bool:
    return data.startswith(ENCRYPTED_MAGIC)


def _derive_key(secret: str, salt: bytes) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return kdf.derive(secret.encode("utf-8"))


def encrypt(payload: bytes, secret: str, *, salt: bytes | None = None,
            key: bytes | None = None) -> bytes:
    """The encrypted form of a serialized checkpoint. ``key`` (derived from ``secret``
    and ``salt``) may be passed to avoid deriving it again."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if salt is None:
        salt = os.urandom(_SALT_BYTES)
    if key is None:
        key = _derive_key(secret, salt)
    nonce = os.urandom(_NONCE_BYTES)
    header = ENCRYPTED_MAGIC + salt + nonce
    return header + AESGCM(key).encrypt(nonce, payload, header)


def decrypt(data: bytes, secret: str | None, path: str = "") -> bytes:
    """The XML of an encrypted checkpoint file; CheckpointLoadError when the key is
    missing or wrong or the file was altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if secret is None:
        raise CheckpointLoadError(KEY_HINT, path=path or None)
    start = len(ENCRYPTED_MAGIC)
    salt = data[start:start + _SALT_BYTES]
    nonce = data[start + _SALT_BYTES:start + _SALT_BYTES + _NONCE_BYTES]
    body = data[start + _SALT_BYTES + _NONCE_BYTES:]
    if len(salt) != _SALT_BYTES or len(nonce) != _NONCE_BYTES or len(body) < 16:
        raise CheckpointLoadError("the encrypted checkpoint file is truncated",
                                  path=path or None)
    try:
        return AESGCM(_derive_key(secret, salt)).decrypt(nonce, body,
                                                           data[:start + len(salt) + len(nonce)])
    except InvalidTag:
        raise CheckpointLoadError(
            f"the checkpoint file cannot be decrypted: the key is wrong or the file was altered; "
            f"{KEY_HINT}", path=path or None) from None


# --------------------------------------------------------------------------- reading


def read_checkpoint(path: str | Path) -> CheckpointData:
    """Read a checkpoint file written by ssisrun or by SSIS."""
    from ssisrun.dtsx.safexml import parse_bytes
    from ssisrun.errors import PackageLoadError

    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise CheckpointNotFoundError("the checkpoint file does not exist",
                                      path=str(file)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint file: {exc.strerror or exc}",
                              path=str(file)) from None
    if is_encrypted(data):
        data = decrypt(data, checkpoint_key(), str(file))
    try:
        root = parse_bytes(data, str(file), "checkpoint file").getroot()
    except PackageLoadError as exc:
        raise CheckpointLoadError(f"the checkpoint file is not valid XML "
                                  f"(DTS_E_CHECKPOINTLOADXML): {exc.message}",
                                  path=str(file), line=exc.line) from None
    if root.tag != D + "Checkpoint":
        raise CheckpointLoadError(
            f"not a checkpoint file: the root element is <{etree.QName(root).localname}>, "
            "not <DTS:Checkpoint>", path=str(file), line=_line(root))
    result = CheckpointData(package_id=_guid(root.get(D + "PackageID") or ""))
    written = root.get(R + "Written")
    if written:
        try:
            result.written = datetime.fromisoformat(written)
        except ValueError:
            result.written = None
    result.package_path = root.get(R + "PackagePath") or ""
    result.package_name = root.get(R + "PackageName") or ""
    result.run_key = root.get(R + "RunKey") or ""
    for el in root:
        if el.tag == D + "Variables":
            owner = _guid(el.get(D + "ContID") or "")
            saved = result.variables.setdefault(owner, [])
            for var in el:
                if var.tag == D + "Variable":
                    saved.append(_read_variable(var))
        elif el.tag == D + "Container":
            cont = _guid(el.get(D + "ContID") or "")
            try:
                code = int(el.get(D + "Result") or "0")
            except ValueError:
                code = 0
            result.completed[cont] = CompletedExecutable(
                cont, code, el.get(D + "PrecedenceMap") or "", el.get(R + "Path") or "")
        elif el.tag == R + "Loop":
            cont = _guid(el.get(R + "ContID") or "")
            result.loops[cont] = LoopProgress(
                cont, [item.get(R + "Key") or "" for item in el if item.tag == R + "Done"])
        elif el.tag == R + "Commit":
            cont = _guid(el.get(R + "ContID") or "")
            result.commits[cont] = [item.get(R + "Name") or "" for item in el
                                    if item.tag == R + "Connection"]
        elif el.tag == R + "Marked":
            result.marked.append(el.get(R + "Name") or "")
    return result


def _line(el: etree._Element) -> int | None:
    line = getattr(el, "sourceline", None)
    return line if isinstance(line, int) else None


def _read_variable(el: etree._Element) -> SavedVariable:
    props: dict[str, str] = {}
    for key, val in el.attrib.items():
        if str(key).startswith(D):
            props[str(key)[len(D):]] = str(val)
    for child in el:
        if child.tag == D + "Property":
            props.setdefault(child.get(D + "Name") or "", child.text or "")
    value_el = el.find(D + "VariableValue")
    code = int(value_el.get(D + "DataType") or "8") if value_el is not None else 8
    return SavedVariable(
        namespace=props.get("Namespace", "User") or "User",
        name=props.get("ObjectName", ""),
        data_type=code,
        text=(value_el.text or "") if value_el is not None else "",
        dtsid=props.get("DTSID", ""),
        exact=value_el.get(R + "Exact") if value_el is not None else None,
    )


# --------------------------------------------------------------------------- writing


def _attr(value: str) -> str:
    return quoteattr(_xml_text(value))


def _xml_text(value: str) -> str:
    # characters XML 1.0 cannot hold are dropped, as lxml would refuse them
    if all(c >= " " or c in "\t\n\r" for c in value):
        return value
    return "".join(c for c in value if c >= " " or c in "\t\n\r")


def _container_xml(done: CompletedExecutable) -> str:
    path = f" ssisrun:Path={_attr(done.path)}" if done.path else ""
    return (f"<DTS:Container DTS:ContID={_attr(done.cont_id)} DTS:Result=\"{int(done.result)}\" "
            f"DTS:PrecedenceMap={_attr(done.precedence_map)}{path}/>")


def serialize(data: CheckpointData) -> bytes:
    """The file's bytes. Written by hand rather than through lxml: a checkpoint is
    rewritten after every completed executable, so this is on the run's hot path
    (bench/checkpoints.py); the reader still parses it with lxml."""
    head = [f'<DTS:Checkpoint xmlns:DTS="{DTS_NS}" xmlns:ssisrun="{RUN_NS}" '
            f"DTS:PackageID={_attr(data.package_id)}"]
    if data.written is not None:
        head.append(f" ssisrun:Written={_attr(data.written.isoformat(timespec='seconds'))}")
    if data.package_path:
        head.append(f" ssisrun:PackagePath={_attr(data.package_path)}")
    if data.package_name:
        head.append(f" ssisrun:PackageName={_attr(data.package_name)}")
    if data.run_key:
        head.append(f" ssisrun:RunKey={_attr(data.run_key)}")
    head.append(">")
    parts = ["".join(head)]
    for owner, saved in data.variables.items():
        parts.append(f"<DTS:Variables DTS:ContID={_attr(owner)}>")
        for var in saved:
            exact = f" ssisrun:Exact={_attr(var.exact)}" if var.exact is not None else ""
            parts.append(
                f"<DTS:Variable DTS:Namespace={_attr(var.namespace)} "
                f"DTS:ObjectName={_attr(var.name)} DTS:DTSID={_attr(var.dtsid)} "
                f'DTS:CreationName=""><DTS:VariableValue DTS:DataType="{int(var.data_type)}"'
                f"{exact}>{escape(_xml_text(var.text))}</DTS:VariableValue></DTS:Variable>")
        parts.append("</DTS:Variables>")
    for done in data.completed.values():
        parts.append(_container_xml(done))
    for loop in data.loops.values():
        parts.append(f"<ssisrun:Loop ssisrun:ContID={_attr(loop.cont_id)}>")
        parts.extend(f"<ssisrun:Done ssisrun:Key={_attr(key)}/>" for key in loop.done)
        parts.append("</ssisrun:Loop>")
    for cont_id, names in data.commits.items():
        parts.append(f"<ssisrun:Commit ssisrun:ContID={_attr(cont_id)}>")
        parts.extend(f"<ssisrun:Connection ssisrun:Name={_attr(name)}/>" for name in names)
        parts.append("</ssisrun:Commit>")
    parts.extend(f"<ssisrun:Marked ssisrun:Name={_attr(name)}/>" for name in data.marked)
    parts.append("</DTS:Checkpoint>")
    return "".join(parts).encode("utf-8")


def saved_variables(values: list[tuple[str, str, str, int, Any]]) -> list[SavedVariable]:
    """(namespace, name, dtsid, data_type, value) -> what a checkpoint keeps (not Objects)."""
    result = []
    for namespace, name, dtsid, code, value in values:
        if code in _UNSAVED_TYPES:
            continue
        text, exact = value_text(code, value)
        result.append(SavedVariable(namespace, name, code, text, dtsid, exact))
    return result


def restore_value(var: SavedVariable) -> Any:
    """The Python value of a saved variable."""
    from ssisrun.dtsx.reader import parse_value
    from ssisrun.model import VarType

    if var.exact is not None:
        try:
            return datetime.fromisoformat(var.exact)
        except ValueError:
            pass
    try:
        kind = VarType(var.data_type)
    except ValueError:
        return var.text
    return parse_value(kind, var.text)


class CheckpointFile:
    """One checkpoint file: its lock, and durable writes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd: int | None = None
        #: (secret, salt, key): the key is derived once per file, each write gets a new nonce
        self._cipher: tuple[str, bytes, bytes] | None = None

    def _encrypt(self, payload: bytes, secret: str) -> bytes:
        if self._cipher is None or self._cipher[0] != secret:
            salt = os.urandom(_SALT_BYTES)
            self._cipher = (secret, salt, _derive_key(secret, salt))
        _, salt, key = self._cipher
        return encrypt(payload, secret, salt=salt, key=key)

    def exists(self) -> bool:
        return self.path.exists()

    def acquire(self) -> None:
        """Take the lock, or raise CheckpointLockedError naming the process that holds it.

        The lock file is removed on release, so a lock taken on a file that was
        meanwhile removed (or replaced) is worthless: after locking, the open file must
        still be the one at the lock path, else the lock is taken again."""
        for _ in range(100):
            fd = self._lock_once()
            try:
                current = os.stat(self.lock_path)
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (held.st_dev,
                                                                            held.st_ino):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
                self._lock_fd = fd
                self._remove_stale_temporary_files()
                return
            os.close(fd)
        raise CheckpointError("cannot lock the checkpoint file: its lock file keeps changing",
                              path=str(self.path))

    def _remove_stale_temporary_files(self) -> None:
        """A run killed between writing its temporary file and renaming it leaves the
        file behind; the lock holder is the only writer, so any left is stale (and may
        hold saved values): remove it."""
        for stale in self.path.parent.glob(f".{glob_escape(self.path.name)}.*.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass

    def _lock_once(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CheckpointError(f"cannot create the checkpoint lock file: "
                                  f"{exc.strerror or exc}", path=str(self.lock_path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            try:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            except OSError:
                pass
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise CheckpointLockedError(
                    "another run is using this checkpoint file (DTS_E_CHECKPOINTFILELOCKED)"
                    + (f": {holder}" if holder else ""), path=str(self.path)) from None
            raise CheckpointError(f"cannot lock the checkpoint file: {exc}",
                                  path=str(self.path)) from None
        return fd

    def release(self) -> None:
        """Remove the lock file while still holding the lock, then unlock: a process that
        opened the old file and locks it afterwards sees that it is gone and retries."""
        if self._lock_fd is not None:
            try:
                try:
                    self.lock_path.unlink()
                except OSError:
                    pass
                os.ftruncate(self._lock_fd, 0)
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def write(self, data: CheckpointData) -> None:
        """Replace the file durably; encrypted when ``SSISRUN_CHECKPOINT_KEY`` is set."""
        payload = serialize(data)
        secret = checkpoint_key()
        if secret is not None:
            payload = self._encrypt(payload, secret)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise CheckpointError(
                f"cannot write the checkpoint file (DTS_E_COULDNOTREPLACECHECKPOINTFILE): "
                f"{exc.strerror or exc}", path=str(self.path)) from None

    def delete(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CheckpointError(f"cannot delete the checkpoint file: {exc.strerror or exc}",
                                  path=str(self.path)) from None


# --------------------------------------------------------------------------- inspecting

#: what a masked value looks like (as in ``ssisrun show``)
MASK = "********"
#: a variable whose name contains one of these (any case) is always masked
SECRET_NAME_WORDS = ("password", "pwd", "secret", "token")


@dataclass(slots=True)
class ShownExecutable:
    dtsid: str
    path: str
    result: str


@dataclass(slots=True)
class ShownVariable:
    #: the path of the container that owns it (its DTSID when unknown)
    scope: str
    name: str
    data_type: str
    value: str
    masked: bool


@dataclass(slots=True)
class ShownLoop:
    dtsid: str
    path: str
    done: list[str]


@dataclass(slots=True)
class FirstToRun:
    path: str
    #: a loop or transacted container: it runs again as a whole
    whole: bool = False


@dataclass(slots=True)
class CheckpointReport:
    """What ``ssisrun checkpoint show`` prints: see :func:`describe`."""

    file: str
    encrypted: bool
    package_id: str
    package_name: str
    package_path: str
    written: datetime | None
    completed: list[ShownExecutable] = field(default_factory=list)
    variables: list[ShownVariable] = field(default_factory=list)
    loops: list[ShownLoop] = field(default_factory=list)
    #: None when the package is not known
    runs_first: list[FirstToRun] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "encrypted": self.encrypted,
            "package_id": self.package_id,
            "package_name": self.package_name,
            "package_path": self.package_path,
            "written": self.written.isoformat() if self.written else None,
            "completed": [{"id": c.dtsid, "path": c.path, "result": c.result}
                          for c in self.completed],
            "variables": [{"scope": v.scope, "name": v.name, "data_type": v.data_type,
                           "value": v.value, "masked": v.masked} for v in self.variables],
            "loops": [{"id": loop.dtsid, "path": loop.path, "done": loop.done}
                      for loop in self.loops],
            "runs_first": None if self.runs_first is None else [
                {"path": f.path, "whole": f.whole} for f in self.runs_first],
        }


class _Masker:
    """Decides which saved values are secrets. Masked: variables whose name contains
    password/pwd/secret/token (any case); with the package, variables named like a
    Sensitive parameter, variables whose value in the package is marked sensitive, and
    any value equal to a Sensitive parameter's value."""

    def __init__(self, package: Package | None) -> None:
        self.names: set[str] = set()
        self.values: set[str] = set()
        if package is None:
            return
        for param in package.all_parameters():
            if not param.sensitive:
                continue
            self.names.add(param.name.lower())
            for value in (param.value, param.raw_value):
                if value not in (None, ""):
                    self.values.add(value_text(int(param.data_type), value)[0]
                                    if not isinstance(value, str) else value)
        for var in package.all_variables():
            if var.sensitive:
                self.names.add(var.qualified_name.lower())

    def hides_name(self, namespace: str, name: str) -> bool:
        lower = name.lower()
        return (any(word in lower for word in SECRET_NAME_WORDS) or lower in self.names
                or f"{namespace}::{name}".lower() in self.names)

    def hides_value(self, text: str) -> bool:
        return bool(text) and text in self.values

    def hides_in(self, text: str) -> bool:
        return any(secret in text for secret in self.values)


def _result_name(code: int) -> str:
    from ssisrun.model import ExecResult

    try:
        return ExecResult(code).name
    except ValueError:
        return str(code)


def _type_name(code: int) -> str:
    from ssisrun.model import VarType

    try:
        return VarType(code).display
    except ValueError:
        return str(code)


def check_package(data: CheckpointData, package: Package, path: str) -> None:
    """Raise CheckpointMismatchError when the file belongs to another package."""
    from ssisrun.model import normalize_guid

    if normalize_guid(data.package_id) != normalize_guid(package.dtsid):
        named = f", {data.package_name}" if data.package_name else ""
        raise CheckpointMismatchError(
            f"the checkpoint file belongs to another package ({data.package_id}{named}), not "
            f"to {package.name} ({package.dtsid}) (DTS_E_CHECKPOINTMISMATCH)", path=path)


def describe(path: str | Path, package: Package | None = None) -> CheckpointReport:
    """Read a checkpoint file and say what it holds: the package, when it was written,
    the completed executables (paths from ``package`` when given, else the paths ssisrun
    recorded, else DTSIDs), the saved variables with secrets masked, loop progress and,
    with ``package``, what runs first on a restart (:func:`first_to_run`)."""
    from ssisrun.model import normalize_guid

    file = Path(path)
    data = read_checkpoint(file)
    if package is not None:
        check_package(data, package, str(file))
    with open(file, "rb") as handle:
        encrypted = is_encrypted(handle.read(len(ENCRYPTED_MAGIC)))
    by_id = {normalize_guid(e.dtsid): e for e in package.walk() if e.dtsid} if package else {}
    package_guid = normalize_guid(data.package_id)

    def where(dtsid: str) -> str:
        guid = normalize_guid(dtsid) or dtsid
        exe = by_id.get(guid)
        if exe is not None:
            return exe.path
        if guid == package_guid and guid:
            return "\\Package"
        done = data.completed.get(guid)
        return done.path if done is not None and done.path else dtsid

    report = CheckpointReport(str(file), encrypted, data.package_id,
                              data.package_name or (package.name if package else ""),
                              data.package_path or (package.source if package else ""),
                              data.written)
    for cont_id, done in data.completed.items():
        report.completed.append(ShownExecutable(cont_id, where(cont_id),
                                                _result_name(done.result)))
    masker = _Masker(package)
    for owner, saved in data.variables.items():
        for var in saved:
            text = var.exact if var.exact is not None else var.text
            masked = masker.hides_name(var.namespace, var.name) or masker.hides_value(var.text)
            report.variables.append(ShownVariable(where(owner), var.qualified_name,
                                                  _type_name(var.data_type),
                                                  MASK if masked else text, masked))
    for cont_id, loop in data.loops.items():
        keys = [MASK if masker.hides_in(key) else key for key in loop.done]
        report.loops.append(ShownLoop(cont_id, where(cont_id), keys))
    if package is not None:
        report.runs_first = first_to_run(package, set(data.completed))
    return report


def first_to_run(package: Package, completed: set[str]) -> list[FirstToRun]:
    """The executables a restart would start first (an approximation of the run time's
    precedence rules): at each level, starting with the package, the executables that
    did not complete and are not disabled, whose every incoming precedence constraint
    comes from a completed (or disabled) executable, or that have none. Inside such a
    container the same rule applies to its children, except in loops and transacted
    containers, which run again as a whole. Constraint values (Success, Failure,
    Completion) and expressions are not evaluated."""
    from ssisrun.model import Container, normalize_guid
    from ssisrun.runtime.restart import is_atomic

    done_ids = {normalize_guid(c) for c in completed}

    def done(exe: Executable) -> bool:
        return exe.disabled or normalize_guid(exe.dtsid) in done_ids

    result: list[FirstToRun] = []

    def level(container: Container) -> None:
        incoming: dict[int, list[Executable]] = {id(c): [] for c in container.executables}
        for pc in container.precedence_constraints:
            incoming.setdefault(id(pc.to_executable), []).append(pc.from_executable)
        for child in container.executables:
            if done(child) or not all(done(src) for src in incoming[id(child)]):
                continue
            whole = is_atomic(child)
            result.append(FirstToRun(child.path, whole))
            if isinstance(child, Container) and not whole:
                level(child)

    level(package)
    return result


# --------------------------------------------------------------------------- steering


def find_executable(package: Package, target: str) -> Executable | None:
    """An executable named by its path (``\\Package\\Load``; ``Package\\Load`` and
    forward slashes are accepted, and any case when nothing matches exactly) or DTSID."""
    from ssisrun.model import normalize_guid

    text = target.strip()
    guid = normalize_guid(text)
    executables = list(package.walk())
    if guid:
        for exe in executables:
            if normalize_guid(exe.dtsid) == guid:
                return exe
    forms = [text, text.replace("/", "\\")]
    forms += ["\\" + form.lstrip("\\") for form in forms]
    for form in forms:
        for exe in executables:
            if exe.path == form:
                return exe
    for form in forms:
        for exe in executables:
            if exe.path.lower() == form.lower():
                return exe
    return None


def forget(data: CheckpointData, target: str, package: Package | None = None) -> list[str]:
    """Remove an executable from ``data`` so that a restart runs it again, with everything
    below it. Its containers are removed too (a container recorded as completed is
    skipped whole), as is their loop progress; their other completed children stay
    recorded and do not run again, except inside loops and transacted containers, which
    rerun as a whole. ``target`` is a path or DTSID resolved through ``package``, or
    without it a DTSID or a path ssisrun recorded in the file. Returns the paths (or
    DTSIDs) removed; raises :class:`ssisrun.errors.UsageError` when nothing is named."""
    from ssisrun.errors import UsageError
    from ssisrun.model import normalize_guid

    ids: set[str] = set()
    if package is not None:
        exe = find_executable(package, target)
        if exe is None:
            raise UsageError(f"the package {package.name} has no executable {target}; give "
                             "its path (\\Package\\Container\\Task) or its DTSID")
        ids = {normalize_guid(e.dtsid) for e in exe.walk() if e.dtsid}
        ids |= {normalize_guid(a.dtsid) for a in exe.ancestors() if a.dtsid}
    else:
        guid = normalize_guid(target)
        entry = data.completed.get(guid) if guid else None
        base = entry.path if entry is not None else ""
        if entry is None and not guid:
            base = "\\" + target.strip().replace("/", "\\").lstrip("\\")
            if not any(c.path == base for c in data.completed.values()):
                raise UsageError(f"no completed executable in the checkpoint file has the path "
                                 f"{target}; give --package PKG to name executables by path, "
                                 "or give a DTSID")
        elif entry is None and guid not in data.loops:
            raise UsageError(f"no completed executable in the checkpoint file has the DTSID "
                             f"{target}")
        if guid:
            ids.add(guid)
        if base:
            for cont_id, done in data.completed.items():
                if done.path and (done.path == base or done.path.startswith(base + "\\")
                                  or base.startswith(done.path + "\\")):
                    ids.add(cont_id)
    removed: list[str] = []
    for cont_id in list(data.completed):
        if normalize_guid(cont_id) in ids:
            done = data.completed.pop(cont_id)
            removed.append(done.path or cont_id)
    for cont_id in list(data.loops):
        if normalize_guid(cont_id) in ids:
            del data.loops[cont_id]
            if package is not None:
                found = find_executable(package, cont_id)
                label = found.path if found is not None else cont_id
            else:
                label = cont_id
            removed.append(f"{label} (loop progress)")
    return removed
