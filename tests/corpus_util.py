"""Reading the shared corpus of real packages and counting what is in them.

Two independent views of one ``.dtsx`` file are computed here so that
``test_corpus.py`` can compare them:

* :func:`xml_counts` counts elements with plain XPath over the file (lxml, no
  ssisrun code involved);
* :func:`model_counts` and :func:`feature_values` count the same things in the
  :class:`~ssisrun.model.Package` that ``ssisrun.dtsx.load_package`` returns.

:class:`FactsCache` loads each package once and keeps only these small summaries,
not the packages (the 684 models with their XML hold about 800 MB).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ssisrun.dtsx import load_package
from ssisrun.dtsx import types as dtsx_types
from ssisrun.errors import SsisrunError
from ssisrun.model import (
    Container,
    EventHandler,
    Executable,
    ForeachLoop,
    Package,
    TaskHost,
    TransactionOption,
)

DTS_NS = "www.microsoft.com/SqlServer/Dts"
NS = {"DTS": DTS_NS}

#: the corpus sits beside the repository: ``../shared/corpus``
CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

ENCRYPTED = "encrypted"


def corpus_available(corpus: Path = CORPUS_DIR) -> bool:
    return (corpus / "manifest.tsv").is_file() and (corpus / "dtsx").is_dir()


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class CorpusEntry:
    """One row of ``manifest.tsv``."""

    repo: str
    path: str
    sha256: str
    bytes: int
    #: "2", "3", "6", "8" or "encrypted"
    format_version: str
    file: Path

    @property
    def rel(self) -> str:
        """The file's path under ``dtsx/``: ``owner+repo/dir/Package.dtsx``."""
        return f"{self.repo.replace('/', '+')}/{self.path}"

    @property
    def encrypted(self) -> bool:
        return self.format_version == ENCRYPTED


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_manifest(corpus: Path = CORPUS_DIR) -> list[CorpusEntry]:
    return [
        CorpusEntry(
            repo=row["repo"],
            path=row["path"],
            sha256=row["sha256"],
            bytes=int(row["bytes"]),
            format_version=row["format_version"],
            file=corpus / "dtsx" / row["repo"].replace("/", "+") / row["path"],
        )
        for row in _read_tsv(corpus / "manifest.tsv")
    ]


def read_features(corpus: Path = CORPUS_DIR) -> dict[tuple[str, str], dict[str, str]]:
    """``package_features.tsv`` keyed by (repo, path)."""
    return {(row["repo"], row["path"]): row for row in _read_tsv(corpus / "package_features.tsv")}


# --------------------------------------------------------------------------- XML side

#: what :func:`xml_counts` and :func:`model_counts` both count, with the XPath used
XPATHS: dict[str, str] = {
    # every executable but the root package; v2/v3 constraints also hold
    # <DTS:Executable IDREF=...> endpoints, which have no ExecutableType
    "executables": "//DTS:Executable[@DTS:ExecutableType]",
    "event_handlers": "//DTS:EventHandler",
    "precedence_constraints": "//DTS:PrecedenceConstraint",
    "variables": "//DTS:Variable",
    # the package's own connection managers: v2/v3 write them as direct children,
    # v6/v8 in a wrapper; both nest one more DTS:ConnectionManager in ObjectData
    "connection_managers": "/DTS:Executable/DTS:ConnectionManager"
    " | /DTS:Executable/DTS:ConnectionManagers/DTS:ConnectionManager",
    "components": "//pipeline/components/component",
    "paths": "//pipeline/paths/path",
    "package_parameters": "//DTS:PackageParameter",
    "property_expressions": "//DTS:PropertyExpression",
}

_XML_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, huge_tree=True)


def xml_counts(file: Path) -> dict[str, int]:
    """Count the package's elements with XPath alone."""
    parser = etree.XMLParser(**_XML_PARSER_OPTIONS)  # type: ignore[arg-type]
    root = etree.parse(str(file), parser).getroot()
    counts = {key: len(root.xpath(query, namespaces=NS)) for key, query in XPATHS.items()}
    counts["executables"] -= 1  # the root package
    return counts


# --------------------------------------------------------------------------- model side


def executables(package: Package) -> list[Executable]:
    """The package's executables as the designer sees them: every executable in
    ``walk()`` but the package itself and the EventHandler containers (an event
    handler is a ``DTS:EventHandler`` element, not a ``DTS:Executable``)."""
    return [e for e in package.walk() if not isinstance(e, Package | EventHandler)]


def event_handlers(package: Package) -> list[EventHandler]:
    return [e for e in package.walk() if isinstance(e, EventHandler)]


def data_flows(package: Package) -> list[TaskHost]:
    return [e for e in executables(package) if e.executable_type == dtsx_types.PIPELINE]


def _flow_parts(package: Package) -> tuple[int, int]:
    components = paths = 0
    for task in data_flows(package):
        if isinstance(task, TaskHost) and task.data_flow is not None:
            components += len(task.data_flow.components)
            paths += len(task.data_flow.paths)
    return components, paths


def property_expression_count(package: Package) -> int:
    """Property expressions of executables (package and event handlers included),
    of the package's connection managers and of Foreach enumerators."""
    total = sum(len(e.property_expressions) for e in package.walk())
    total += sum(len(cm.property_expressions) for cm in package.connection_managers)
    total += sum(
        len(e.enumerator.property_expressions)
        for e in package.walk()
        if isinstance(e, ForeachLoop) and e.enumerator is not None
    )
    return total


def model_counts(package: Package) -> dict[str, int]:
    """The counts of :data:`XPATHS`, taken from the model."""
    components, paths = _flow_parts(package)
    return {
        "executables": len(executables(package)),
        "event_handlers": len(event_handlers(package)),
        "precedence_constraints": sum(
            len(e.precedence_constraints) for e in package.walk() if isinstance(e, Container)
        ),
        "variables": len(package.all_variables()),
        "connection_managers": len(package.connection_managers),
        "components": components,
        "paths": paths,
        "package_parameters": len(package.parameters),
        "property_expressions": property_expression_count(package),
    }


def max_depth(package: Package) -> int:
    """How deep executables nest: a task of the package is at depth 1, one in a
    Sequence (or in an event handler of the package) at 2, one in an event handler
    of that Sequence at 3. An empty event handler adds no depth."""
    return max((sum(1 for _ in e.ancestors()) for e in executables(package)), default=0)


def feature_values(package: Package) -> dict[str, int]:
    """The numeric columns of ``package_features.tsv``, computed from the model.

    What each column counts (found by comparing the TSV with the files):

    * ``executables``: DTS:Executable elements but the package, event handlers' contents
      included; ``dataflows``: those of type Microsoft.Pipeline;
    * ``max_depth``: see :func:`max_depth`;
    * ``components``: data-flow components in all data flows;
    * ``event_handlers``: DTS:EventHandler elements at any level;
    * ``checkpoint_usage`` / ``protection_level``: the enum codes;
      ``save_checkpoints``: 0/1;
    * ``txn_required``: 0/1, whether any executable (package included) has
      TransactionOption Required, not how many;
    * ``expr_vars``: variables with EvaluateAsExpression, all scopes;
    * ``params``: package parameters;
    * ``prop_exprs``: every DTS:PropertyExpression, see :func:`property_expression_count`.
    """
    components, _ = _flow_parts(package)
    return {
        "executables": len(executables(package)),
        "max_depth": max_depth(package),
        "dataflows": len(data_flows(package)),
        "components": components,
        "event_handlers": len(event_handlers(package)),
        "checkpoint_usage": int(package.checkpoint_usage),
        "save_checkpoints": int(package.save_checkpoints),
        "txn_required": int(
            any(e.transaction_option == TransactionOption.Required for e in package.walk())
        ),
        "expr_vars": sum(v.evaluate_as_expression for v in package.all_variables()),
        "params": len(package.parameters),
        "prop_exprs": property_expression_count(package),
        "protection_level": int(package.protection_level),
    }


def executable_types(package: Package) -> set[str]:
    return {e.executable_type for e in executables(package)}


def component_types(package: Package) -> set[str]:
    return {
        c.component_type
        for task in data_flows(package)
        if isinstance(task, TaskHost) and task.data_flow is not None
        for c in task.data_flow.components
    }


def connection_manager_types(package: Package) -> set[str]:
    return {cm.creation_name for cm in package.connection_managers}


# --------------------------------------------------------------------------- cache


@dataclass(slots=True)
class PackageFacts:
    """What the tests need to know about one loaded package, without the package."""

    error: SsisrunError | None = None
    format_version: int | None = None
    model_counts: dict[str, int] = field(default_factory=dict)
    xml_counts: dict[str, int] = field(default_factory=dict)
    features: dict[str, int] = field(default_factory=dict)
    executable_types: set[str] = field(default_factory=set)
    component_types: set[str] = field(default_factory=set)
    connection_manager_types: set[str] = field(default_factory=set)
    #: (severity, path, message) of every problem the reader reported
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    #: executable paths that ``walk()`` yields more than once, with their counts
    duplicate_paths: dict[str, int] = field(default_factory=dict)


def package_facts(file: Path) -> PackageFacts:
    try:
        package = load_package(file)
    except SsisrunError as exc:
        return PackageFacts(error=exc)
    paths = Counter(e.path for e in package.walk())
    return PackageFacts(
        format_version=package.format_version,
        model_counts=model_counts(package),
        xml_counts=xml_counts(file),
        features=feature_values(package),
        executable_types=executable_types(package),
        component_types=component_types(package),
        connection_manager_types=connection_manager_types(package),
        problems=[(p.severity, p.path, p.message) for p in package.problems],
        duplicate_paths={path: n for path, n in paths.items() if n > 1},
    )


class FactsCache:
    """Loads each package the first time a test asks for it, once per session."""

    def __init__(self) -> None:
        self._facts: dict[Path, PackageFacts] = {}

    def __getitem__(self, entry: CorpusEntry) -> PackageFacts:
        facts = self._facts.get(entry.file)
        if facts is None:
            facts = self._facts[entry.file] = package_facts(entry.file)
        return facts
