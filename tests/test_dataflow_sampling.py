"""Percentage Sampling and the DataReader Destination, in real data flows over real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from corpus_util import CORPUS_DIR, corpus_available
from test_dataflow import (
    PEOPLE,
    PEOPLE_COLS,
    C,
    FFCol,
    In,
    Out,
    dest,
    errors,
    flat_file_cm,
    flow,
    people_file,
    result,
    run,
    source,
)

from ssisrun.model import ExecResult
from ssisrun.runtime import EventKind

SAMPLING = "Microsoft.PctSampling"


def sampling_flow(tmp_path: Path, percent: str, seed: str, rows: int = 1000) -> str:
    src = people_file(tmp_path / "in.csv", rows=rows)
    sample = C("Sample", SAMPLING, {"SamplingValue": percent, "SamplingSeed": seed},
               inputs=[In("In")],
               outputs=[Out("Sampling Selected Output", sync="In", props={"Selected": "true"},
                             exclusion_group=1),
                        Out("Sampling Unselected Output", sync="In",
                            props={"Selected": "false"}, exclusion_group=1)])
    return flow([source("Src", "In", PEOPLE_COLS), sample,
                 dest("Picked", "Picked", ["Src.Output.id"]),
                 dest("Rest", "Rest", ["Src.Output.id"])],
                [("Src.Output", "Sample.In"), ("Sample.Sampling Selected Output", "Picked.Input"),
                 ("Sample.Sampling Unselected Output", "Rest.Input")],
                connections=[flat_file_cm("In", src, PEOPLE),
                             flat_file_cm("Picked", tmp_path / "picked.csv", [FFCol("id")],
                                          names_row=False, qualifier=""),
                             flat_file_cm("Rest", tmp_path / "rest.csv", [FFCol("id")],
                                          names_row=False, qualifier="")])


def ids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def test_every_row_goes_to_exactly_one_output_and_the_share_is_the_percentage(
        tmp_path: Path) -> None:
    engine, events = run(sampling_flow(tmp_path, "20", "42", rows=5000))
    assert result(engine) == ExecResult.Success, errors(events)
    picked, rest = ids(tmp_path / "picked.csv"), ids(tmp_path / "rest.csv")
    assert sorted(picked + rest) == list(range(1, 5001))
    assert not set(picked) & set(rest)
    assert 900 <= len(picked) <= 1100  # 20% of 5,000, well within 4 standard deviations


def test_a_seed_repeats_the_sample_and_seed_zero_draws_anew(tmp_path: Path) -> None:
    samples = []
    for seed in ("7", "7", "0", "0"):
        run(sampling_flow(tmp_path, "50", seed))
        samples.append(ids(tmp_path / "picked.csv"))
    assert samples[0] == samples[1]
    assert samples[2] != samples[3]  # 1 in 2**1000 to be equal by chance


@pytest.mark.parametrize(("percent", "expected"), [("0", 0), ("100", 1000)])
def test_zero_and_a_hundred_percent(tmp_path: Path, percent: str, expected: int) -> None:
    run(sampling_flow(tmp_path, percent, "0"))
    assert len(ids(tmp_path / "picked.csv")) == expected
    assert len(ids(tmp_path / "rest.csv")) == 1000 - expected


def test_a_percentage_out_of_range_fails_before_any_row_moves(tmp_path: Path) -> None:
    engine, events = run(sampling_flow(tmp_path, "120", "0"))
    assert result(engine) == ExecResult.Failure
    assert any("SamplingValue 120 is not a percentage between 0 and 100" in e
               for e in errors(events))


def reader_flow(tmp_path: Path, fail_on_timeout: str) -> str:
    src = people_file(tmp_path / "in.csv", rows=25)
    sink = C("DataReaderDest", "Microsoft.DataReaderDestination",
             {"ReadTimeout": "30000", "FailOnTimeout": fail_on_timeout},
             inputs=[In("DataReader Destination Input")])
    return flow([source("Src", "In", PEOPLE_COLS), sink],
                [("Src.Output", "DataReaderDest.DataReader Destination Input")],
                connections=[flat_file_cm("In", src, PEOPLE)])


def test_a_datareader_destination_discards_rows_with_a_warning(tmp_path: Path) -> None:
    engine, events = run(reader_flow(tmp_path, "false"))
    assert result(engine) == ExecResult.Success, errors(events)
    warnings = [e.description for e in events if e.kind == EventKind.OnWarning]
    assert any("no ADO.NET reader can attach under ssisrun; 25 rows were discarded" in w
               for w in warnings)


def test_a_datareader_destination_with_fail_on_timeout_fails(tmp_path: Path) -> None:
    engine, events = run(reader_flow(tmp_path, "true"))
    assert result(engine) == ExecResult.Failure
    assert any("FailOnTimeout is True (ReadTimeout 30000 ms)" in e for e in errors(events))


@pytest.mark.skipif(not corpus_available(), reason="the corpus (../shared/corpus) is absent")
def test_the_corpus_percentage_sampling_demo_validates_as_runnable() -> None:
    file = (CORPUS_DIR / "dtsx/bjrohbock+MasteringSQLServer2016IntegrationServices/"
            "Integration Services Project1/05_PercentageSamplingDemo.dtsx")
    done = subprocess.run([sys.executable, "-m", "ssisrun", "validate", "--format", "json",
                           str(file)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    assert "PctSampling" not in done.stdout and "cannot be run" not in done.stdout
