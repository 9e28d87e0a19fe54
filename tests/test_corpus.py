"""The reader against 685 real packages written by other people (../shared/corpus).

Each package is loaded once per session (see ``corpus_util.FactsCache``) and the
model is checked three ways: against the manifest, against plain XPath counts over
the same file, and against the corpus's own ``package_features.tsv``. A failing
test is named by the package's path under ``dtsx/``.

The corpus tests are skipped when ``../shared/corpus`` is absent, so the suite
still passes on a machine that has only the project. (They are skipped with a
marker rather than a module-level ``pytest.skip``, because the last test here,
of ``bench/corpus_report.py`` on two handmade files, needs no corpus and must run.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from corpus_util import (
    CORPUS_DIR,
    CorpusEntry,
    FactsCache,
    PackageFacts,
    corpus_available,
    read_features,
    read_manifest,
)

import ssisrun
from ssisrun.dtsx import load_package
from ssisrun.errors import EncryptedPackageError, ExitCode, PackageLoadError

REPO = Path(__file__).resolve().parents[1]
HAVE_CORPUS = corpus_available(CORPUS_DIR)
needs_corpus = pytest.mark.skipif(not HAVE_CORPUS, reason=f"no corpus at {CORPUS_DIR}")

ENTRIES: list[CorpusEntry] = read_manifest(CORPUS_DIR) if HAVE_CORPUS else []
READABLE = [e for e in ENTRIES if not e.encrypted]
ENCRYPTED = [e for e in ENTRIES if e.encrypted]
FEATURES = read_features(CORPUS_DIR) if HAVE_CORPUS else {}


# --------------------------------------------------------------------------- spellings
#
# package_features.tsv was made by another tool, which spells some types its own
# way. Each difference is listed here, mapped to what ssisrun's model says.

#: TSV executable type -> the canonical type in ssisrun.dtsx.types
EXECUTABLE_TYPE_SPELLINGS: dict[str, str] = {
    # the v6 .NET class name of the CDC Control Task; ssisrun uses the v8 name
    "Attunity.SqlServer.CDCControlTask.CdcControlTask": "Attunity.CdcControlTask",
}

#: TSV component type -> the canonical component type. The TSV names native
#: components it has no name for as "<designer name> [<CLSID>]", and managed (.NET)
#: components, other than the few it knows, as "Managed:<UserComponentTypeName>"
#: (see managed_component_spelling).
COMPONENT_TYPE_SPELLINGS: dict[str, str] = {
    "Merge [{08AE886A-4124-499C-B332-16E3299D225A}]": "Microsoft.Merge",
    "Fuzzy Grouping [{836E0D0B-0358-45B4-B888-4ADCE9356D4E}]": "Microsoft.FuzzyGrouping",
    "Import Column [{9053CAE0-140B-48E4-AEEC-4E6A26E9E436}]": "Microsoft.Injector",
    # the v6 class names of the CDC Source and CDC Splitter; v8 files name them
    # Attunity.CdcSourceComponent / Attunity.CdcSplitterComponent, as the CDC Control
    # Task above, and ssisrun's one vocabulary is the v8 one
    "Managed:Attunity.SqlServer.CDCSrc.CdcSourceComponent": "Attunity.CdcSourceComponent",
    "Managed:Attunity.SqlServer.CDCSplit.CdcSplitterComponent": "Attunity.CdcSplitterComponent",
}


def managed_component_spelling(tsv_type: str) -> str:
    """``Managed:KingswaySoft.X.SalesforceSourceComponent`` -> the type name, which is
    the canonical name of a third-party managed component."""
    if tsv_type in COMPONENT_TYPE_SPELLINGS:
        return COMPONENT_TYPE_SPELLINGS[tsv_type]
    if tsv_type.startswith("Managed:"):
        return tsv_type[len("Managed:") :]
    return tsv_type


def connection_manager_spelling(creation_name: str) -> str:
    """The TSV drops the assembly part of ADO.NET creation names:
    ``ADO.NET:System.Data.SqlClient.SqlConnection, System.Data, Version=2.0.0.0, ...``
    is ``ADO.NET:System.Data.SqlClient.SqlConnection`` there."""
    return creation_name.split(",", 1)[0].strip()


def _tsv_set(text: str) -> set[str]:
    return {part for part in text.split(",") if part}


_BOOK = "lucmilot+SSIS_2014_Book"

#: packages whose component types ssisrun does not yet name canonically (reader bugs,
#: reported; strict, so the test fails once they are fixed and this list must shrink)
KNOWN_COMPONENT_TYPE_BUGS: dict[str, str] = {}


def _params(entries: list[CorpusEntry], known: dict[str, str] | None = None) -> list[object]:
    params = []
    for entry in entries:
        marks = []
        if known and entry.rel in known:
            marks.append(pytest.mark.xfail(strict=True, reason=known[entry.rel]))
        params.append(pytest.param(entry, id=entry.rel, marks=marks))
    return params


def per_package(known: dict[str, str] | None = None) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("entry", _params(READABLE, known))


@pytest.fixture(scope="session")
def facts_cache() -> FactsCache:
    return FactsCache()


@pytest.fixture
def facts(facts_cache: FactsCache, entry: CorpusEntry) -> PackageFacts:
    found = facts_cache[entry]
    if found.error is not None:
        pytest.fail(f"{entry.rel} does not load: {found.error}")
    return found


# --------------------------------------------------------------------------- the corpus


@needs_corpus
def test_corpus_is_as_its_readme_says() -> None:
    versions = Counter(e.format_version for e in ENTRIES)
    assert versions == {"2": 27, "3": 212, "6": 178, "8": 267, "encrypted": 1}
    missing = [e.rel for e in ENTRIES if not e.file.is_file()]
    assert missing == []
    wrong_size = [e.rel for e in ENTRIES if e.file.stat().st_size != e.bytes]
    assert wrong_size == []
    on_disk = {
        p.relative_to(CORPUS_DIR / "dtsx").as_posix()
        for p in (CORPUS_DIR / "dtsx").rglob("*")
        if p.is_file() and p.suffix.lower() == ".dtsx"
    }
    assert on_disk == {e.rel for e in ENTRIES}
    assert set(FEATURES) == {(e.repo, e.path) for e in READABLE}


# --------------------------------------------------------------------------- loading


@needs_corpus
@per_package()
def test_package_loads_with_its_format_version(entry: CorpusEntry, facts: PackageFacts) -> None:
    assert str(facts.format_version) == entry.format_version


@needs_corpus
@pytest.mark.parametrize("entry", _params(ENCRYPTED))
def test_encrypted_package_does_not_load(entry: CorpusEntry) -> None:
    with pytest.raises(EncryptedPackageError) as caught:
        load_package(entry.file)
    error = caught.value
    assert isinstance(error, PackageLoadError)
    assert error.exit_code == ExitCode.CANNOT_LOAD == 5
    assert entry.file.name in str(error)
    assert "encrypted" in str(error)


@needs_corpus
@pytest.mark.parametrize("entry", _params(ENCRYPTED))
def test_encrypted_package_validate_exits_5(entry: CorpusEntry, tmp_path: Path) -> None:
    if not (Path(ssisrun.__file__).parent / "commands" / "validate.py").is_file():
        pytest.skip("ssisrun/commands/validate.py does not exist yet")
    result = subprocess.run(
        [sys.executable, "-m", "ssisrun", "validate", str(entry.file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert entry.file.name in result.stderr
    assert "encrypted" in result.stderr


# --------------------------------------------------------------------------- model vs XML


@needs_corpus
@per_package()
def test_model_counts_match_the_xml(entry: CorpusEntry, facts: PackageFacts) -> None:
    """Executables, event handlers, constraints, variables, connection managers,
    data-flow components and paths, parameters and property expressions: the model
    has as many as XPath finds in the file."""
    assert facts.model_counts == facts.xml_counts


@needs_corpus
@per_package()
def test_reader_reports_no_errors(entry: CorpusEntry, facts: PackageFacts) -> None:
    """Every package here was saved by the designer: nothing in it is broken as far
    as the reader can tell (warnings, like encrypted passwords, are expected)."""
    assert {severity for severity, _, _ in facts.problems} <= {"error", "warning"}
    errors = [p for p in facts.problems if p[0] == "error"]
    assert errors == []


@needs_corpus
@per_package()
def test_executable_paths_are_unique(entry: CorpusEntry, facts: PackageFacts) -> None:
    assert facts.duplicate_paths == {}


# --------------------------------------------------------------------------- model vs TSV


@needs_corpus
@per_package()
def test_counts_match_package_features(entry: CorpusEntry, facts: PackageFacts) -> None:
    """Every numeric column of package_features.tsv (``bytes`` is checked against the
    file in test_corpus_is_as_its_readme_says); what each counts is documented in
    ``corpus_util.feature_values``."""
    row = FEATURES[(entry.repo, entry.path)]
    assert row["format_version"] == entry.format_version
    expected = {key: int(row[key]) for key in facts.features}
    assert facts.features == expected


@needs_corpus
@per_package()
def test_executable_types_match_package_features(entry: CorpusEntry, facts: PackageFacts) -> None:
    row = FEATURES[(entry.repo, entry.path)]
    expected = {EXECUTABLE_TYPE_SPELLINGS.get(t, t) for t in _tsv_set(row["exe_types"])}
    assert facts.executable_types == expected


@needs_corpus
@per_package(KNOWN_COMPONENT_TYPE_BUGS)
def test_component_types_match_package_features(entry: CorpusEntry, facts: PackageFacts) -> None:
    row = FEATURES[(entry.repo, entry.path)]
    expected = {managed_component_spelling(t) for t in _tsv_set(row["component_types"])}
    assert facts.component_types == expected


@needs_corpus
@per_package()
def test_connection_manager_types_match_package_features(
    entry: CorpusEntry, facts: PackageFacts
) -> None:
    row = FEATURES[(entry.repo, entry.path)]
    actual = {connection_manager_spelling(t) for t in facts.connection_manager_types}
    assert actual == _tsv_set(row["cm_types"])


# --------------------------------------------------------------------------- bench report

TINY_PACKAGE = """<?xml version="1.0"?>
<DTS:Executable xmlns:DTS="www.microsoft.com/SqlServer/Dts" DTS:refId="Package" \
DTS:CreationName="Microsoft.Package" DTS:DTSID="{11111111-1111-1111-1111-111111111111}" \
DTS:ExecutableType="Microsoft.Package" DTS:ObjectName="Tiny">
  <DTS:Property DTS:Name="PackageFormatVersion">8</DTS:Property>
  <DTS:Executables/>
</DTS:Executable>
"""

REPORT = REPO / "bench" / "corpus_report.py"
SUMMARY = re.compile(
    r"summary: 1 loaded, 1 failed, runnable (0\.0|100\.0)%, all in \d+\.\d+ s, "
    r"largest \d+(\.\d+)? (B|kB|MB) in \d+\.\d+ s, --version \d+ ms \(python \d+ ms\)"
)


def test_corpus_report_on_two_handmade_files(tmp_path: Path) -> None:
    """Needs no corpus: one good package (upper-case extension, a name with spaces,
    parentheses and an accent), one file that is not XML, one file that is no
    package at all and must be ignored."""
    (tmp_path / "Tiny (copie) é.DTSX").write_text(TINY_PACKAGE, encoding="utf-8")
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "garbage.dtsx").write_bytes(b"this is not a package\n")
    (tmp_path / "notes.txt").write_text("not a package", encoding="utf-8")

    result = subprocess.run(
        [sys.executable, str(REPORT), str(tmp_path), "--startup-runs", "2"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert re.search(r"\b1 loaded\b", out)
    assert re.search(r"\b1 failed\b", out)
    # the failure is named with its reason
    assert re.search(r"sub dir/garbage\.dtsx: .*not XML", out)
    assert "Tiny (copie) é.DTSX" in out
    assert "notes.txt" not in out
    lines = out.rstrip("\n").splitlines()
    assert SUMMARY.fullmatch(lines[-1]), lines[-1]


def test_corpus_report_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPORT), str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "nowhere" in result.stderr
    assert "Traceback" not in result.stderr
