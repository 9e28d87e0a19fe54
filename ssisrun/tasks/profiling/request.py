"""The Data Profiling task's ``ProfileInput``: a ``DataProfile`` document (namespace
``http://schemas.microsoft.com/sqlserver/2008/DataDebugger/``) whose ``DataProfileInput``
lists the profile requests, read into plain dataclasses.

Element names are SSIS's; each request's options default to the Profile Requests page's
defaults when the element is missing. A wrong value is a :class:`ProfileInputError` that
names the request and the element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ssisrun.errors import SsisrunError

NS = "http://schemas.microsoft.com/sqlserver/2008/DataDebugger/"

#: request element -> the profile's name in messages
KINDS = {
    "ColumnNullRatioProfileRequest": "Column Null Ratio",
    "ColumnStatisticsProfileRequest": "Column Statistics",
    "ColumnLengthDistributionProfileRequest": "Column Length Distribution",
    "ColumnValueDistributionProfileRequest": "Column Value Distribution",
    "ColumnPatternProfileRequest": "Column Pattern",
    "CandidateKeyProfileRequest": "Candidate Key",
    "FunctionalDependencyProfileRequest": "Functional Dependency",
    "InclusionProfileRequest": "Value Inclusion",
}
#: other spellings of a request element -> the one above
_ALIASES = {"ValueInclusionProfileRequest": "InclusionProfileRequest"}

THRESHOLD_SETTINGS = ("None", "Specified", "Exact")
VALUE_OPTIONS = ("FrequentValues", "AllValues")
#: SqlCompareOptions flags (System.Data.SqlTypes) by name
COMPARE_FLAGS = {"none": 0, "ignorecase": 1, "ignorenonspace": 2, "ignorekanatype": 8,
                 "ignorewidth": 16, "binarysort2": 16384, "binarysort": 32768}
DEFAULT_SYMBOLS = ",.;:-\"'`~=&/\\@!?()<>[]{}|#*^%"
DEFAULT_DELIMITERS = " \t\r\n"


class ProfileInputError(SsisrunError):
    """The ProfileInput XML cannot be used as it is."""


@dataclass(slots=True)
class ColumnRef:
    """A ``Column`` element of a request: a named column or the ``(*)`` wildcard."""

    name: str = ""
    wildcard: bool = False
    #: SqlCompareOptions flags; None means Default (the column's collation)
    compare: int | None = None


@dataclass(slots=True)
class TableRef:
    schema: str
    table: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(slots=True)
class ProfileRequest:
    kind: str  # the request element's local name
    id: str
    data_source: str
    table: TableRef
    element: etree._Element
    columns: list[ColumnRef] = field(default_factory=list)
    # length distribution
    ignore_leading: bool = False
    ignore_trailing: bool = True
    # value distribution
    option: str = "FrequentValues"
    frequent_threshold: float = 0.001
    # pattern
    max_patterns: int = 10
    coverage: float = 95.0
    case_sensitive: bool = False
    delimiters: str = DEFAULT_DELIMITERS
    symbols: str = DEFAULT_SYMBOLS
    tag_table: str = ""
    # candidate key, functional dependency, inclusion
    threshold_setting: str = "Specified"
    threshold: float = 0.95
    max_violations: int = 100
    dependent: ColumnRef | None = None
    superset_table: TableRef | None = None
    superset_columns: list[ColumnRef] = field(default_factory=list)
    key_threshold_setting: str = "Specified"
    key_threshold: float = 0.95

    @property
    def title(self) -> str:
        return f"request '{self.id}' ({KINDS[self.kind]} profile)"


@dataclass(slots=True)
class DataSource:
    """A ``DtsDataSource`` of the input: its ID and the connection manager it names."""

    id: str
    name: str
    connection: str


@dataclass(slots=True)
class ProfileInput:
    root: etree._Element
    mode: str
    timeout: int
    data_sources: dict[str, DataSource]
    requests: list[ProfileRequest]


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _child(node: etree._Element, *names: str) -> etree._Element | None:
    for child in node:
        if _local(child) in names:
            return child
    return None


def _text(node: etree._Element, *names: str, default: str = "") -> str:
    child = _child(node, *names)
    if child is None or child.text is None:
        return default
    return child.text


def _bool(req: str, node: etree._Element, name: str, default: bool,
          *aliases: str) -> bool:
    child = _child(node, name, *aliases)
    if child is None or not (child.text or "").strip():
        return default
    text = (child.text or "").strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ProfileInputError(f"{req}: {name} must be true or false, not '{child.text}'")


def _number(req: str, node: etree._Element, name: str, default: float, low: float,
            high: float) -> float:
    text = _text(node, name).strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ProfileInputError(f"{req}: {name} must be a number, not '{text}'") from None
    if not low <= value <= high:
        raise ProfileInputError(f"{req}: {name} must be between {low:g} and {high:g}, "
                                f"not {text}")
    return value


def _choice(req: str, node: etree._Element, name: str, default: str,
            choices: tuple[str, ...]) -> str:
    text = _text(node, name).strip()
    if not text:
        return default
    for choice in choices:
        if choice.lower() == text.lower():
            return choice
    if text.isdigit() and int(text) < len(choices):
        return choices[int(text)]
    raise ProfileInputError(f"{req}: {name} '{text}' is not one of {', '.join(choices)}")


def compare_options(req: str, text: str | None) -> int | None:
    """``StringCompareOptions`` (``Default``, ``BinarySort``, flags such as
    ``IgnoreCase, IgnoreWidth`` or their number) -> flags, None for Default."""
    if text is None or not text.strip() or text.strip().lower() in ("default", "0", "none"):
        return None
    value = 0
    for part in re.split(r"[,|\s]+", text.strip()):
        if not part:
            continue
        if part.isdigit():
            value |= int(part)
        elif part.lower() == "dictionarysort":
            continue
        elif part.lower() in COMPARE_FLAGS:
            value |= COMPARE_FLAGS[part.lower()]
        else:
            raise ProfileInputError(f"{req}: StringCompareOptions '{text}' is not Default, "
                                    "BinarySort or a list of IgnoreCase, IgnoreNonSpace, "
                                    "IgnoreKanaType, IgnoreWidth")
    return value


def _column(req: str, node: etree._Element) -> ColumnRef:
    wildcard = (node.get("IsWildCard") or node.get("IsWildcard") or "").lower() == "true"
    name = node.get("ColumnName") or node.get("Name") or ""
    if not wildcard and not name.strip():
        raise ProfileInputError(f"{req}: a {_local(node)} element names no column "
                                "(ColumnName) and is not the (*) wildcard")
    return ColumnRef(name.strip(), wildcard,
                     None if wildcard else compare_options(req, node.get("StringCompareOptions")))


def _columns(req: str, node: etree._Element | None) -> list[ColumnRef]:
    if node is None:
        return []
    return [_column(req, c) for c in node if _local(c) == "Column"]


def _table(req: str, node: etree._Element, *names: str) -> TableRef:
    child = _child(node, *names)
    if child is None or not (child.get("Table") or "").strip():
        raise ProfileInputError(f"{req}: no {names[0]} (Schema, Table) is given")
    return TableRef((child.get("Schema") or "").strip(), (child.get("Table") or "").strip())


def _request(node: etree._Element) -> ProfileRequest:
    kind = _ALIASES.get(_local(node), _local(node))
    rid = node.get("ID") or "(no ID)"
    req = f"request '{rid}' ({KINDS[kind]} profile)"
    source = _text(node, "DataSourceID").strip()
    if not source:
        raise ProfileInputError(f"{req}: no DataSourceID names its connection")
    if kind == "InclusionProfileRequest":
        table = _table(req, node, "SubsetTable", "SubsetTableOrView")
    else:
        table = _table(req, node, "Table", "TableOrView")
    r = ProfileRequest(kind, rid, source, table, node)
    if kind == "CandidateKeyProfileRequest":
        r.columns = _columns(req, _child(node, "KeyColumns"))
    elif kind == "FunctionalDependencyProfileRequest":
        r.columns = _columns(req, _child(node, "DeterminantColumns"))
        dependent = _child(node, "DependentColumn")
        if dependent is not None and _child(dependent, "Column") is not None:
            dependent = _child(dependent, "Column")
        if dependent is None:
            raise ProfileInputError(f"{req}: no DependentColumn is given")
        r.dependent = _column(req, dependent)
    elif kind == "InclusionProfileRequest":
        r.columns = _columns(req, _child(node, "SubsetColumns"))
        r.superset_table = _table(req, node, "SupersetTable", "SupersetTableOrView")
        r.superset_columns = _columns(req, _child(node, "SupersetColumns"))
        if not r.superset_columns:
            raise ProfileInputError(f"{req}: no SupersetColumns are given")
    else:
        column = _child(node, "Column")
        if column is None:
            raise ProfileInputError(f"{req}: no Column is given (a name, or the (*) "
                                    "wildcard)")
        r.columns = [_column(req, column)]
    if not r.columns:
        raise ProfileInputError(f"{req}: no columns are given")

    if kind == "ColumnLengthDistributionProfileRequest":
        r.ignore_leading = _bool(req, node, "IgnoreLeadingSpace", False, "IgnoreLeadingSpaces")
        r.ignore_trailing = _bool(req, node, "IgnoreTrailingSpace", True,
                                  "IgnoreTrailingSpaces")
    elif kind == "ColumnValueDistributionProfileRequest":
        r.option = _choice(req, node, "Option", "FrequentValues", VALUE_OPTIONS)
        if _child(node, "Option") is None:
            r.option = _choice(req, node, "ValueDistributionOption", "FrequentValues",
                               VALUE_OPTIONS)
        r.frequent_threshold = _number(req, node, "FrequentValueThreshold", 0.001, 0, 1)
    elif kind == "ColumnPatternProfileRequest":
        r.max_patterns = int(_number(req, node, "MaxNumberOfPatterns", 10, 1, 100))
        r.coverage = _number(req, node, "PercentageDataCoverageDesired", 95, 0, 100)
        r.case_sensitive = _bool(req, node, "CaseSensitive", False)
        delimiters = _text(node, "Delimiters", default="")
        symbols = _text(node, "Symbols", default=DEFAULT_SYMBOLS)
        # the defaults cannot be removed (Column Pattern Profile Request Options)
        r.delimiters = DEFAULT_DELIMITERS + "".join(
            c for c in _unescape(delimiters) if c not in DEFAULT_DELIMITERS)
        r.symbols = "".join(dict.fromkeys(_unescape(symbols)))
        both = sorted(set(r.delimiters) & set(r.symbols))
        if both:
            raise ProfileInputError(f"{req}: {''.join(both)!r} cannot be both a delimiter "
                                    "and a symbol")
        r.tag_table = _text(node, "TagTableName").strip()
    elif kind in ("CandidateKeyProfileRequest", "FunctionalDependencyProfileRequest"):
        r.threshold_setting = _choice(req, node, "ThresholdSetting", "Specified",
                                      THRESHOLD_SETTINGS)
        name = "KeyStrengthThreshold" if kind == "CandidateKeyProfileRequest" \
            else "FDStrengthThreshold"
        r.threshold = _number(req, node, name, 0.95, 0, 1)
        r.max_violations = int(_number(req, node, "MaxNumberOfViolations", 100, 0, 2**31))
    elif kind == "InclusionProfileRequest":
        r.threshold_setting = _choice(req, node, "InclusionThresholdSetting", "Specified",
                                      THRESHOLD_SETTINGS)
        r.threshold = _number(req, node, "InclusionStrengthThreshold", 0.95, 0, 1)
        r.key_threshold_setting = _choice(req, node, "SupersetColumnsKeyThresholdSetting",
                                          "Specified", THRESHOLD_SETTINGS)
        r.key_threshold = _number(req, node, "SupersetColumnsKeyThreshold", 0.95, 0, 1)
        r.max_violations = int(_number(req, node, "MaxNumberOfViolations", 100, 0, 2**31))
    return r


def _unescape(text: str) -> str:
    """``\\t``, ``\\r``, ``\\n`` and ``\\\\`` as the editor writes them."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "trn\\":
            out.append({"t": "\t", "r": "\r", "n": "\n", "\\": "\\"}[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_profile_input(text: str) -> ProfileInput:
    """Read the ``ProfileInput`` XML (a string, its declaration saying utf-16 or not)."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text.lstrip("\ufeff"), count=1)
    if not body.strip():
        raise ProfileInputError("the task has no ProfileInput (no profile requests)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ProfileInputError(f"the ProfileInput is not well-formed XML: {exc}") from None
    if _local(root) != "DataProfile":
        raise ProfileInputError(f"the ProfileInput's root is <{_local(root)}>, not "
                                "<DataProfile>")
    sources: dict[str, DataSource] = {}
    container = _child(root, "DataSources")
    for node in container if container is not None else []:
        if not isinstance(node.tag, str):
            continue
        sid = (node.get("ID") or "").strip()
        conn = _text(node, "DtsConnectionManagerID").strip() or sid
        if sid:
            sources[sid.lower()] = DataSource(sid, node.get("Name") or "", conn)
    profile_input = _child(root, "DataProfileInput")
    if profile_input is None:
        raise ProfileInputError("the ProfileInput has no DataProfileInput element")
    mode = _text(profile_input, "ProfileMode", default="Exact").strip() or "Exact"
    if mode.lower() != "exact":
        raise ProfileInputError(f"ProfileMode '{mode}' is not supported; profiles are "
                                "computed exactly (ProfileMode Exact)")
    timeout_text = _text(profile_input, "Timeout", default="0").strip() or "0"
    if not timeout_text.isdigit():
        raise ProfileInputError(f"Timeout must be a whole number of seconds, not "
                                f"'{timeout_text}'")
    requests_node = _child(profile_input, "Requests")
    requests: list[ProfileRequest] = []
    for node in requests_node if requests_node is not None else []:
        if not isinstance(node.tag, str):
            continue
        kind = _ALIASES.get(_local(node), _local(node))
        if kind not in KINDS:
            raise ProfileInputError(f"<{_local(node)}> is not a profile request this task "
                                    f"knows ({', '.join(KINDS)})")
        requests.append(_request(node))
    seen: set[str] = set()
    for r in requests:
        if r.id in seen:
            raise ProfileInputError(f"two profile requests have the ID '{r.id}'")
        seen.add(r.id)
    return ProfileInput(root, mode, int(timeout_text), sources, requests)
