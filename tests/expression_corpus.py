"""Read the expressions of the shared corpus (``../shared/corpus/expressions.tsv``) with the
scope each one sees in its package. Used by tests/test_expressions_corpus.py and
bench/expressions.py; nothing here is copied from the corpus.

``expressions.tsv`` is a tab-separated file written with CSV quoting (a field holding ``"``
is quoted and its quotes doubled) in which backslashes and newlines are escaped (``\\\\``,
``\\n``). It lost the quotes of every expression that *starts* with a string literal
(``"c:\\\\tmp\\\\" + @[User::X]`` is stored as ``c:\\\\tmp\\\\ + @[User::X]``), so each row's
text is recovered from its .dtsx: the package string whose text equals the row's once quotes
are ignored.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ssisrun.expressions import (
    ExpressionScope,
    SsisType,
    is_assignment,
    type_for_typecode,
    type_for_vartype,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DTS = "www.microsoft.com/SqlServer/Dts"
SSIS = "www.microsoft.com/SqlServer/SSIS"
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


@dataclass
class CorpusExpression:
    repo: str
    path: str
    kind: str
    target: str
    text: str
    tsv_text: str
    recovered: bool
    scope: ExpressionScope = field(repr=False)

    @property
    def where(self) -> str:
        return f"{self.repo}/{self.path} [{self.kind}] {self.target}"

    @property
    def mode(self) -> str:
        """How the expression is compiled: ``assignment``, ``boolean`` or ``expression``."""
        if self.kind in ("ExpressionTask", "ForLoop.InitExpression", "ForLoop.AssignExpression"):
            # an Expression Task or For Loop step may also be a plain expression
            return "assignment" if is_assignment(self.text) else "expression"
        split = "Split" in self.kind or "Fractionnement" in self.kind
        if self.kind in ("PrecedenceConstraint", "ForLoop.EvalExpression") or split:
            return "boolean"
        return "expression"


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(0)), text, flags=re.S)


def _key(text: str) -> str:
    return re.sub(r'["\s]', "", text)


@dataclass
class PackageInfo:
    strings: dict[str, list[str]]
    variables: dict[str, SsisType]


@cache
def package_info(repo: str, path: str) -> PackageInfo:
    from lxml import etree

    file = CORPUS / "dtsx" / repo.replace("/", "+") / path
    tree = etree.parse(str(file), etree.XMLParser(huge_tree=True, recover=True))
    strings: dict[str, list[str]] = {}
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        # only where packages keep expressions: *Expression attributes, PropertyExpression
        # elements, and properties named *Expression (v2/v3 variables, FriendlyExpression)
        values = [v for k, v in el.attrib.items() if k.endswith("Expression")]
        name = el.get(f"{{{DTS}}}Name") or el.get("name") or ""
        if el.text and (el.tag.endswith("PropertyExpression") or name.endswith("Expression")):
            values.append(el.text)
        for value in values:
            strings.setdefault(_key(value), []).append(value)
    variables: dict[str, SsisType] = {}
    for var in tree.iter(f"{{{DTS}}}Variable"):
        namespace = var.get(f"{{{DTS}}}Namespace")
        name = var.get(f"{{{DTS}}}ObjectName")
        for prop in var.findall(f"{{{DTS}}}Property"):
            if prop.get(f"{{{DTS}}}Name") == "Namespace":
                namespace = prop.text
            elif prop.get(f"{{{DTS}}}Name") == "ObjectName":
                name = prop.text
        value = var.find(f"{{{DTS}}}VariableValue")
        code = value.get(f"{{{DTS}}}DataType") if value is not None else None
        if name and code is not None:
            variables.setdefault(f"{namespace or 'User'}::{name}", type_for_vartype(int(code)))
    for param in tree.iter(f"{{{DTS}}}PackageParameter"):
        name = param.get(f"{{{DTS}}}ObjectName")
        code = param.get(f"{{{DTS}}}DataType")
        if name and code:
            variables[f"$Package::{name}"] = type_for_vartype(int(code))
    variables.update(project_parameters(repo, str(Path(path).parent)))
    return PackageInfo(strings, variables)


@cache
def project_parameters(repo: str, folder: str) -> dict[str, SsisType]:
    from lxml import etree

    file = CORPUS / "other" / repo.replace("/", "+") / folder / "Project.params"
    if not file.exists():
        return {}
    result: dict[str, SsisType] = {}
    for param in etree.parse(str(file)).iter(f"{{{SSIS}}}Parameter"):
        name = param.get(f"{{{SSIS}}}Name")
        for prop in param.iter(f"{{{SSIS}}}Property"):
            if prop.get(f"{{{SSIS}}}Name") == "DataType" and name and prop.text:
                result[f"$Project::{name}"] = type_for_typecode(int(prop.text))
    return result


def load() -> list[CorpusExpression]:
    """Every corpus expression with its recovered text and its package's scope.

    Data-flow columns and unknown ``$Project::`` parameters are typed leniently (UNKNOWN):
    the corpus keeps no column metadata here, and some projects' Project.params are absent.
    """
    with (CORPUS / "expressions.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    result = []
    for repo, path, kind, target, raw in rows:
        tsv_text = _unescape(raw)
        info = package_info(repo, path)
        candidates = info.strings.get(_key(tsv_text), [])
        text, recovered = tsv_text, False
        if candidates and tsv_text not in candidates:
            text, recovered = candidates[0], True
        scope = ExpressionScope(
            info.variables,
            columns={} if kind.startswith("DataFlow:") else None,
            lenient_columns=kind.startswith("DataFlow:"),
            lenient_parameters=True,
        )
        result.append(
            CorpusExpression(repo, path, kind, target, text, tsv_text, recovered, scope)
        )
    return result
