"""Safe XML parsing for every file ssisrun reads (.dtsx, .conmgr, .params, .dtproj).

No entity expansion, no DTD loading, no network access: a package is data
written by someone else. A document that declares a DTD at all is refused, as
no SSIS file has one (this stops billion-laughs and XXE files before any
entity is looked at).
"""

from __future__ import annotations

from lxml import etree

from ssisrun.errors import PackageLoadError

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_comments=False,
    huge_tree=False,
    collect_ids=False,
)


def source_line(node: etree._Element | None) -> int | None:
    """The line an element starts on (lxml's stubs type it loosely)."""
    if node is None:
        return None
    value: object = node.sourceline
    return value if isinstance(value, int) else None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_OPTIONS)  # type: ignore[arg-type]


def parse_bytes(data: bytes, source: str, what: str = "package") -> etree._ElementTree:
    """Parse XML bytes read from ``source``; raise :class:`PackageLoadError` (exit 5)
    naming the file, the line and the reason when it is not well-formed or unsafe."""
    if not data.strip():
        raise PackageLoadError(f"the file is empty, not an SSIS {what}", path=source)
    head = data[:4096].lstrip()
    if head[:1] not in (b"<", b"\xef", b"\xff", b"\xfe", b"\x00"):
        raise PackageLoadError(
            f"not XML (it does not start with '<'), so not an SSIS {what}", path=source, line=1
        )
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        reason = _clean_reason(exc.msg or str(exc))
        raise PackageLoadError(f"not well-formed XML: {reason}", path=source, line=line) from None
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot use
        raise PackageLoadError(f"cannot be read as XML: {exc}", path=source) from None
    docinfo = tree.docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise PackageLoadError(
            "the file declares a DTD (<!DOCTYPE ...>); SSIS files never do, and ssisrun "
            "refuses DTDs and entities so that no file can expand entities or reach the network",
            path=source,
            line=_doctype_line(data),
        )
    _refuse_entities(tree.getroot(), source)
    return tree


def _doctype_line(data: bytes) -> int:
    at = data.find(b"<!DOCTYPE")
    if at < 0:
        at = data.find(b"<\x00!\x00D\x00")  # UTF-16
        return 1 if at < 0 else data[:at].count(b"\n\x00") + 1
    return data[:at].count(b"\n") + 1


def _refuse_entities(root: etree._Element, source: str) -> None:
    # With resolve_entities=False an undeclared/external reference survives as an
    # Entity node; refuse it rather than run with a value silently missing.
    for node in root.iter(etree.Entity):
        raise PackageLoadError(
            f"the file uses an XML entity ({node.text}), which ssisrun does not expand",
            path=source,
            line=source_line(node),
        )


def _clean_reason(message: str) -> str:
    # lxml appends ", line N, column M"; the line goes into the error's own field.
    text = message.strip()
    cut = text.find(", line ")
    if cut > 0:
        text = text[:cut]
    return text
