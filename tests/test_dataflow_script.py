"""The Script Component: Python replacements (by --script or the sidecar folder) for
sources, transformations with synchronous and asynchronous outputs, and variables."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from builders import Var
from test_dataflow import (
    C,
    Col,
    FFCol,
    In,
    InCol,
    Out,
    dest,
    errors,
    flat_file_cm,
    flow,
    infos,
    result,
    run,
    source,
    variable,
)

from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import RunRequest
from ssisrun.validate import validate_package

PATH = "\\Package\\DFT\\Script"


def script(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "script.py"
    file.write_text(dedent(text))
    return file


def transform(ro_vars: str = "", rw_vars: str = "", grouped: bool = False) -> C:
    outs = [Out("Output 0", [Col("Name Length", "i4", 0)], sync="Input 0",
                exclusion_group=1 if grouped else 0),
            Out("Totals", [Col("Total", "i8", 0), Col("Label", "wstr", 20)])]
    if grouped:
        outs.insert(1, Out("Rejected", [], sync="Input 0", exclusion_group=1))
    return C("Script", "Microsoft.ScriptComponent",
             {"ReadOnlyVariables": ro_vars, "ReadWriteVariables": rw_vars,
              "ScriptLanguage": "CSharp"},
             inputs=[In("Input 0", [InCol("Src.Output.id"),
                                    InCol("Src.Output.name", usage="readWrite")])],
             outputs=outs)


SCRIPT = """
    class ScriptMain:
        def PreExecute(self):
            self.total = 0

        def Input0_ProcessInputRow(self, Row):
            Row.name = Row.name.upper() + self.Variables.Suffix
            Row.NameLength = len(Row.name)
            self.total += Row.id
            if Row.id % 2:
                Row.DirectRowToOutput0()
            else:
                Row.DirectRowToRejected()

        def PostExecute(self):
            self.TotalsBuffer.AddRow()
            self.TotalsBuffer.Total = self.total
            self.TotalsBuffer.Label_IsNull = True
            self.Variables["User::Seen"] = self.total
            self.ComponentMetaData.FireInformation(0, "Script", "done", "", 0, False)
"""


def _people(tmp_path: Path) -> Path:
    src = tmp_path / "in.csv"
    src.write_text("id,name\r\n1,ann\r\n2,bob\r\n3,cy\r\n")
    return src


def test_transform_with_readwrite_columns_exclusion_groups_async_output_and_variables(
        tmp_path: Path) -> None:
    src = _people(tmp_path)
    out, rej, tot = tmp_path / "out.csv", tmp_path / "rej.csv", tmp_path / "tot.csv"
    xml = flow([source("Src", "In", [Col("id", "i4", 0), Col("name")]),
                transform("User::Suffix", "User::Seen", grouped=True),
                dest("Good", "Out", ["Src.Output.name", "Script.Output 0.Name Length"]),
                dest("Bad", "Rej", ["Src.Output.id"]),
                dest("Tot", "Tot", ["Script.Totals.Total", "Script.Totals.Label"])],
               [("Src.Output", "Script.Input 0"), ("Script.Output 0", "Good.Input"),
                ("Script.Rejected", "Bad.Input"), ("Script.Totals", "Tot.Input")],
               connections=[flat_file_cm("In", src, [FFCol("id"), FFCol("name")]),
                            flat_file_cm("Out", out, [FFCol("name"), FFCol("Name Length")],
                                         qualifier="", names_row=False),
                            flat_file_cm("Rej", rej, [FFCol("id")], qualifier="",
                                         names_row=False),
                            flat_file_cm("Tot", tot, [FFCol("Total"), FFCol("Label")],
                                         qualifier="", names_row=False)],
               variables=[Var("Suffix", 8, "!"), Var("Seen", 3, "0")])
    engine, events = run(xml, RunRequest(scripts={PATH: str(script(tmp_path, SCRIPT))}))
    assert result(engine) == ExecResult.Success, errors(events)
    assert out.read_text().splitlines() == ["ANN!,4", "CY!,3"]
    assert rej.read_text().splitlines() == ["2"]
    assert tot.read_text().splitlines() == ["6,"]
    assert variable(engine, "User::Seen") == 6
    assert "Script: done" in infos(events)


def test_source_script_from_the_sidecar_folder(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    src = C("Script", "Microsoft.ScriptComponent", {},
            outputs=[Out("Output 0", [Col("N", "i4", 0), Col("Text", "wstr", 10)])])
    xml = flow([src, dest("Dst", "Out", ["Script.Output 0.N", "Script.Output 0.Text"])],
               [("Script.Output 0", "Dst.Input")],
               connections=[flat_file_cm("Out", out, [FFCol("N"), FFCol("Text")],
                                         qualifier="", names_row=False)],
               buffer_rows=2)
    package = tmp_path / "Load.dtsx"
    package.write_text(xml)
    (tmp_path / "Load.scripts").mkdir()
    (tmp_path / "Load.scripts" / "DFT_Script.py").write_text(dedent("""
        class ScriptMain:
            def CreateNewOutputRows(self):
                for i in range(5):
                    self.Output0Buffer.AddRow()
                    self.Output0Buffer.N = i
                    self.Output0Buffer.Text = "row %d" % i
    """))
    assert validate_package(load_package(package)).can_run
    from ssisrun.runtime import EventBus
    from ssisrun.runtime.engine import Engine

    engine = Engine(load_package(package), None, EventBus())
    assert engine.run().result == ExecResult.Success
    assert out.read_text().splitlines() == [f"{i},row {i}" for i in range(5)]


def test_without_a_replacement_the_component_fails_and_validate_lists_it(
        tmp_path: Path) -> None:
    src = _people(tmp_path)
    xml = flow([source("Src", "In", [Col("id", "i4", 0), Col("name")]), transform()],
               [("Src.Output", "Script.Input 0")],
               connections=[flat_file_cm("In", src, [FFCol("id"), FFCol("name")])])
    engine, events = run(xml)
    assert result(engine) == ExecResult.Failure
    assert any("no Python replacement for the C# Script Component \\Package\\DFT\\Script"
               in e and "--script '\\Package\\DFT\\Script=file.py'" in e
               for e in errors(events)), errors(events)
    package = tmp_path / "Load.dtsx"
    package.write_text(xml)
    problems = {p.path: p.message for p in validate_package(load_package(package)).errors}
    assert "Load.scripts/DFT_Script.py" in problems[PATH]


def test_script_errors_name_the_line_and_read_only_things_stay_read_only(
        tmp_path: Path) -> None:
    src = _people(tmp_path)
    for body, expected in (
            ("Row.id = 5", "read-only for the script"),
            ("self.Variables.Suffix = 'x'", "User::Suffix is read-only"),
            ("1 / 0", "script.py:4: ZeroDivisionError")):
        file = script(tmp_path, f"""
            class ScriptMain:
                def ProcessInputRow(self, Row):
                    {body}
        """)
        xml = flow([source("Src", "In", [Col("id", "i4", 0), Col("name")]),
                    transform("User::Suffix")],
                   [("Src.Output", "Script.Input 0")],
                   connections=[flat_file_cm("In", src, [FFCol("id"), FFCol("name")])],
                   variables=[Var("Suffix", 8, "!")])
        engine, events = run(xml, RunRequest(scripts={PATH: str(file)}))
        assert result(engine) == ExecResult.Failure
        assert any(expected in e for e in errors(events)), (expected, errors(events))
