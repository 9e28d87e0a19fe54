"""Encrypted checkpoint files: with SSISRUN_CHECKPOINT_KEY set, the whole file is
AES-256-GCM encrypted; reading decrypts it; a wrong or missing key, or tampering, is a
clear error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from builders import Constraint, Var, package
from click.testing import CliRunner
from test_checkpoint_cli import lines, request, step

from ssisrun.cli import cli
from ssisrun.dtsx import load_package
from ssisrun.model import ExecResult
from ssisrun.runtime import Engine, EventBus, run_package
from ssisrun.runtime.checkpoint import (
    ENCRYPTED_MAGIC,
    KEY_ENV,
    KEY_HINT,
    CheckpointData,
    CheckpointFile,
    CheckpointLoadError,
    CompletedExecutable,
    read_checkpoint,
)

KEY = "correct horse battery staple"


def failed_run(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A -> B (fails while the flag exists), run once with the key set."""
    log, flag = tmp / "log", tmp / "fail"
    xml = package(8, [step("A", log), step("B", log, flag)],
                  variables=[Var("Phone", 8, "+33 6 12 34 56 78")],
                  constraints=[Constraint("A", "B", "ab")])
    file = tmp / "Pkg.dtsx"
    file.write_text(xml)
    flag.touch()
    monkeypatch.setenv(KEY_ENV, KEY)
    assert run_package(load_package(file), request(tmp / "Pkg.ckp")).result == \
        ExecResult.Failure
    return file, tmp / "Pkg.ckp", flag


def test_round_trip_through_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file, ckp, flag = failed_run(tmp_path, monkeypatch)
    raw = ckp.read_bytes()
    assert raw.startswith(ENCRYPTED_MAGIC)
    assert b"Checkpoint" not in raw and b"+33 6" not in raw and b"Phone" not in raw
    assert stat.S_IMODE(os.stat(ckp).st_mode) == 0o600
    saved = read_checkpoint(ckp)
    assert {c.path for c in saved.completed.values()} == {"\\Package\\A"}
    assert [v.text for vs in saved.variables.values() for v in vs] == ["+33 6 12 34 56 78"]
    flag.unlink()
    again = run_package(load_package(file), request(ckp))
    assert again.result == ExecResult.Success and again.restarted
    assert lines(tmp_path / "log") == ["A", "B"]
    assert not ckp.exists()


def test_every_write_has_its_own_nonce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    file = CheckpointFile(tmp_path / "x.ckp")
    data = CheckpointData("{16EDDCF1-5141-44B6-8997-0A42EB82A767}")
    data.completed["{A55EB798-6144-4DC2-820B-571DAE6ED606}"] = CompletedExecutable(
        "{A55EB798-6144-4DC2-820B-571DAE6ED606}")
    file.write(data)
    first = file.path.read_bytes()
    file.write(data)
    second = file.path.read_bytes()
    assert first != second
    assert read_checkpoint(file.path) == data


def test_a_plain_file_is_still_read_with_the_key_set(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    file = CheckpointFile(tmp_path / "x.ckp")
    data = CheckpointData("{16EDDCF1-5141-44B6-8997-0A42EB82A767}")
    file.write(data)
    assert file.path.read_bytes().startswith(b"<DTS:Checkpoint")
    monkeypatch.setenv(KEY_ENV, KEY)
    assert read_checkpoint(file.path) == data


def test_wrong_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file, ckp, flag = failed_run(tmp_path, monkeypatch)
    monkeypatch.setenv(KEY_ENV, "not the key")
    with pytest.raises(CheckpointLoadError) as info:
        read_checkpoint(ckp)
    assert "the key is wrong or the file was altered" in str(info.value)
    assert KEY_HINT in str(info.value) and str(ckp) in str(info.value)
    # a run with the wrong key fails before anything runs, and keeps the file
    flag.unlink()
    events: list[object] = []
    bus = EventBus()
    bus.subscribe(events.append)
    result = Engine(load_package(file), request(ckp), bus).run()
    assert result.result == ExecResult.Failure
    assert lines(tmp_path / "log") == ["A"]
    assert any(KEY_HINT in getattr(e, "description", "") for e in events)
    assert ckp.exists()


def test_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ckp, _ = failed_run(tmp_path, monkeypatch)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(CheckpointLoadError) as info:
        read_checkpoint(ckp)
    assert info.value.message == ("the checkpoint file is encrypted; set SSISRUN_CHECKPOINT_KEY "
                                  "to the key it was written with")


@pytest.mark.parametrize("where", ["salt", "nonce", "ciphertext", "tag", "truncated"])
def test_tampering_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               where: str) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    file = CheckpointFile(tmp_path / "x.ckp")
    file.write(CheckpointData("{16EDDCF1-5141-44B6-8997-0A42EB82A767}"))
    raw = bytearray(file.path.read_bytes())
    start = len(ENCRYPTED_MAGIC)
    if where == "truncated":
        raw = raw[:start + 20]
    else:
        index = {"salt": start, "nonce": start + 16, "ciphertext": start + 28,
                 "tag": len(raw) - 1}[where]
        raw[index] ^= 0x01
    file.path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointLoadError):
        read_checkpoint(file.path)


def test_checkpoint_show_and_forget_on_an_encrypted_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    file, ckp, _ = failed_run(tmp_path, monkeypatch)
    result = runner.invoke(cli, ["checkpoint", "show", str(ckp), "--package", str(file)])
    assert result.exit_code == 0, result.output
    assert f"Checkpoint file: {ckp} (encrypted)" in result.output
    assert "\\Package\\A" in result.output and "+33 6 12 34 56 78" in result.output
    result = runner.invoke(cli, ["checkpoint", "forget", str(ckp), "\\Package\\A",
                                 "--package", str(file)])
    assert result.exit_code == 0, result.output
    assert ckp.read_bytes().startswith(ENCRYPTED_MAGIC)  # still encrypted
    assert read_checkpoint(ckp).completed == {}
    monkeypatch.delenv(KEY_ENV)
    result = runner.invoke(cli, ["checkpoint", "show", str(ckp)])
    assert result.exit_code == 5
    assert f"{ckp}: the checkpoint file is encrypted; set SSISRUN_CHECKPOINT_KEY" in result.output
    assert "Traceback" not in result.output
    # clear recognizes an encrypted checkpoint without the key
    result = runner.invoke(cli, ["checkpoint", "clear", str(ckp)])
    assert result.exit_code == 0 and not ckp.exists()
