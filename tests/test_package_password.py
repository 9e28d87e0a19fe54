"""Packages protected with a password (EncryptSensitiveWithPassword, EncryptAllWithPassword):
the key derivation checked against a package the SSIS designer saved, the password from
--decrypt, SSIS_PACKAGE_DECRYPT, dtexec's /De and an Execute Package task's PackagePassword,
the secrets used by real runs and never printed, and the errors a user sees."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from builders import (
    Exe,
    Var,
    connection_manager,
    dtproj,
    package,
    package_parameter,
    password,
    project_params,
)
from click.testing import CliRunner
from corpus_util import CORPUS_DIR, corpus_available
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from lxml import etree

from ssisrun.cli import cli as main
from ssisrun.dtsx import load_package_bytes
from ssisrun.dtsx.protection import (
    AES256,
    ENCRYPTED_DATA,
    PASSWORD_ENV,
    TRIPLEDES,
    PackagePasswordError,
    capi_derive_key,
    decrypt_document,
    encrypt_document,
    encrypt_element,
    encrypt_project_element,
)
from ssisrun.model import ExecResult
from ssisrun.project import load_project, load_project_package
from ssisrun.runtime import EventBus
from ssisrun.runtime.engine import Engine

DTS = "{www.microsoft.com/SqlServer/Dts}"
SSIS = "{www.microsoft.com/SqlServer/SSIS}"
SECRET = "s3cret-Wert"
PW = "correct horse"


@pytest.fixture(autouse=True)
def _no_password_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


# --------------------------------------------------------------------------- building


def encrypt_param(xml: str, name: str, pw: str = PW, algorithm: str = TRIPLEDES) -> str:
    """The package with parameter ``name``'s value encrypted as the designer does it."""
    root = etree.fromstring(xml.encode())
    for param in root.iter(DTS + "PackageParameter"):
        if param.get(DTS + "ObjectName") == name:
            value = param.find(DTS + "Property")
            assert value is not None
            copy = etree.fromstring(etree.tostring(value))
            encrypt_element(copy, pw, algorithm, in_place_of=value)
    return '<?xml version="1.0"?>\n' + etree.tostring(root, encoding="unicode")


def touch_task(folder: Path) -> Exe:
    """An Execute Process task creating a file named after the secret parameter."""
    expression = f'"-c \\"touch {folder}/" + @[$Package::Secret] + "\\""'
    return Exe("Touch", "Microsoft.ExecuteProcess", expressions={"Arguments": expression},
               object_data='<ExecuteProcessData Executable="sh" Arguments="" />')


def protected_package(folder: Path, pw: str = PW) -> str:
    xml = package(8, [touch_task(folder)], props={"ProtectionLevel": 2}, parameters=[
        package_parameter("Secret", 8, SECRET, Sensitive=True)])
    return encrypt_param(xml, "Secret", pw)


def run_engine(xml: str, pw: str | None) -> tuple[Engine, Any]:
    engine = Engine(load_package_bytes(xml.encode(), "t.dtsx", password=pw), None, EventBus())
    return engine, engine.run()


# --------------------------------------------------------------------------- the key


def test_the_key_derivation_decrypts_a_package_the_ssis_designer_saved() -> None:
    # The first blocks of security_test_pass_is_banana.dtsx (github.com/shirashiki/ssis,
    # template/template/), saved by the SSIS designer with EncryptAllWithPassword and the
    # password its name gives: CipherValue is the IV followed by the Triple DES ciphertext.
    iv = base64.b64decode("8n9hnGuFcrw=")
    cipher_value = base64.b64decode(
        "8n9hnGuFcrw/9rkps/tvXXDzdMHaLz6fKxxKBWz2CImcewQDGrP+lPyfnCYHL9F0hje7nNYoXYPoKPoB"
        "1bQ2bjUlQAYvZ/1gCu2sefZL")
    assert cipher_value[:8] == iv
    key = capi_derive_key("banana", 24)
    decryptor = Cipher(TripleDES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(cipher_value[8:56])
    assert plain == b'<DTS:Executable xmlns:DTS="www.microsoft.com/Sql'
    # and the salt plays no part (PasswordDeriveBytes.CryptDeriveKey ignores it)
    assert capi_derive_key("banana", 24).hex() == (
        "975011ae163499a9b4c789fec4d6f1bae29d03b81c79ba11")


# --------------------------------------------------------------------------- sensitive values


@pytest.mark.parametrize("algorithm", [TRIPLEDES, AES256])
def test_a_sensitive_parameter_is_decrypted_and_used(tmp_path: Path, algorithm: str) -> None:
    xml = package(8, [Exe("Copy", "Microsoft.ExpressionTask", object_data=(
        '<ExpressionTask Expression="@[User::Out] = @[$Package::Secret] + &quot;!&quot;"/>'))],
        variables=[Var("Out", 8, "")], props={"ProtectionLevel": 2},
        parameters=[package_parameter("Secret", 8, SECRET, Sensitive=True)])
    xml = encrypt_param(xml, "Secret", algorithm=algorithm)
    assert SECRET not in xml and "EncryptedData" in xml
    engine, result = run_engine(xml, PW)
    assert result.result == ExecResult.Success
    assert engine.scopes[id(engine.package)].get("User::Out") == SECRET + "!"
    [param] = engine.package.parameters
    assert param.sensitive and param.value == SECRET


def test_without_the_password_the_package_loads_and_says_how_to_give_it(tmp_path: Path) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(protected_package(tmp_path))
    result = CliRunner().invoke(main, ["validate", str(file)])
    assert "the value of sensitive parameter $Package::Secret is encrypted with the package " \
           "password: give it with --decrypt PASSWORD (or SSIS_PACKAGE_DECRYPT)" in result.output


def test_exec_with_decrypt_runs_with_the_secret_and_never_prints_it(tmp_path: Path) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(protected_package(tmp_path))
    log, junit = tmp_path / "run.jsonl", tmp_path / "junit.xml"
    result = CliRunner().invoke(main, [
        "exec", str(file), "--decrypt", PW, "--plain", "--reporting", "V",
        "--log-json", str(log), "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / SECRET).exists()
    for text in (result.output, log.read_text(), junit.read_text()):
        assert SECRET not in text and PW not in text
    assert PASSWORD_ENV not in os.environ  # the command put it back as it was


def test_the_password_comes_from_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(protected_package(tmp_path))
    monkeypatch.setenv(PASSWORD_ENV, PW)
    result = CliRunner().invoke(main, ["exec", str(file), "--plain"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / SECRET).exists()


def test_dtexec_de_gives_the_password(tmp_path: Path) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(protected_package(tmp_path))
    result = CliRunner().invoke(main, ["dtexec", "/F", str(file), "/De", PW])
    assert result.exit_code == 0, result.output
    assert (tmp_path / SECRET).exists()


def test_a_wrong_password_stops_the_load_naming_the_line(tmp_path: Path) -> None:
    file = tmp_path / "p.dtsx"
    file.write_text(protected_package(tmp_path))
    line = next(n for n, text in enumerate(file.read_text().splitlines(), 1)
                if "EncryptedData" in text)
    result = CliRunner().invoke(main, ["exec", str(file), "--decrypt", "wrong", "--plain"])
    assert result.exit_code == 5
    assert f"{file}:{line}: the package password does not decrypt its EncryptedData " \
           "element" in result.output
    assert "Traceback" not in result.output
    assert not any(tmp_path.glob("s3cret*"))


def test_a_connection_password_is_decrypted_and_masked(tmp_path: Path) -> None:
    # format 3: the sensitive DTS:Password element is replaced by EncryptedData
    cm = connection_manager(3, "Stage", "OLEDB",
                            "Data Source=db;User ID=etl;Provider=SQLNCLI10.1;",
                            inner_children=password(False, SECRET))
    root = etree.fromstring(package(3, [], connections=[cm]).encode())
    pw_el = next(root.iter(DTS + "Password"))
    encrypt_element(pw_el, PW)
    xml = etree.tostring(root, encoding="unicode")
    assert SECRET not in xml
    [stage] = load_package_bytes(xml.encode(), "t.dtsx", password=PW).connection_managers
    assert stage.password == SECRET and not stage.encrypted_secrets
    file = tmp_path / "p.dtsx"
    file.write_text(xml)
    shown = CliRunner().invoke(main, ["show", str(file), "--decrypt", PW])
    assert shown.exit_code == 0 and SECRET not in shown.output
    checked = CliRunner().invoke(main, ["validate", str(file), "--decrypt", PW, "--format",
                                        "json"])
    assert "encrypted" not in checked.output
    without = CliRunner().invoke(main, ["validate", str(file)])
    assert "keeps EncryptedData encrypted with the package password " \
           "(EncryptSensitiveWithPassword): give the password with --decrypt PASSWORD " \
           "(or SSIS_PACKAGE_DECRYPT), or give its connection string" in without.output


# --------------------------------------------------------------------------- whole packages


def test_a_package_encrypted_as_a_whole_runs_with_its_password(tmp_path: Path) -> None:
    plain = package(8, [touch_task(tmp_path)], props={"ProtectionLevel": 3}, parameters=[
        package_parameter("Secret", 8, SECRET)])
    file = tmp_path / "all.dtsx"
    file.write_bytes(encrypt_document(plain.encode(), PW))
    assert b"Touch" not in file.read_bytes()
    without = CliRunner().invoke(main, ["exec", str(file), "--plain"])
    assert without.exit_code == 5
    assert "the whole package is encrypted with a password (EncryptAllWithPassword): give " \
           "the password with --decrypt PASSWORD or SSIS_PACKAGE_DECRYPT" in without.output
    wrong = CliRunner().invoke(main, ["exec", str(file), "--plain", "--decrypt", "nope"])
    assert wrong.exit_code == 5
    assert "does not decrypt the package (it is encrypted as a whole)" in wrong.output
    right = CliRunner().invoke(main, ["exec", str(file), "--plain", "--decrypt", PW])
    assert right.exit_code == 0, right.output
    assert (tmp_path / SECRET).exists()


# --------------------------------------------------------------------------- projects, children


def test_a_project_parameter_encrypted_with_the_project_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = etree.fromstring(project_params(("Key", 18, SECRET, False, True)).encode())
    value = next(p for p in params.iter(SSIS + "Property") if p.get(SSIS + "Name") == "Value")
    value.set(SSIS + "Sensitive", "1")
    encrypt_project_element(value, PW)
    (tmp_path / "Project.params").write_bytes(etree.tostring(params))
    (tmp_path / "P.dtproj").write_text(dtproj("P", ["Run.dtsx"]))
    (tmp_path / "Run.dtsx").write_text(package(8, [Exe("Copy", "Microsoft.ExpressionTask",
        object_data='<ExpressionTask Expression="@[User::Out] = @[$Project::Key]"/>')],
        variables=[Var("Out", 8, "")], name="Run"))
    assert SECRET not in (tmp_path / "Project.params").read_text()
    [locked] = load_project(tmp_path).parameters
    assert locked.value is None and locked.sensitive
    monkeypatch.setenv(PASSWORD_ENV, PW)
    project = load_project(tmp_path)
    [key] = project.parameters
    assert key.value == SECRET
    engine = Engine(load_project_package(project, "Run"), None, EventBus())
    assert engine.run().result == ExecResult.Success
    assert engine.scopes[id(engine.package)].get("User::Out") == SECRET
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PackagePasswordError, match="the encrypted element <Property>"):
        load_project(tmp_path)


@pytest.mark.parametrize("out_of_process", [False, True])
def test_an_execute_package_task_uses_the_childs_own_password(
        tmp_path: Path, out_of_process: bool) -> None:
    child = tmp_path / "child.dtsx"
    child.write_text(protected_package(tmp_path, pw="child pw"))
    parts = "<Connection>Child</Connection><PackagePassword Sensitive=\"1\">child pw" \
            "</PackagePassword>"
    if out_of_process:
        parts = "<ExecuteOutOfProcess>True</ExecuteOutOfProcess>" + parts
    run_child = Exe("Run child", "Microsoft.ExecutePackageTask",
                    object_data=f"<ExecutePackageTask>{parts}</ExecutePackageTask>")
    parent = tmp_path / "parent.dtsx"
    parent.write_text(package(8, [run_child], connections=[
        connection_manager(8, "Child", "FILE", str(child))]))
    result = CliRunner().invoke(main, ["exec", str(parent), "--plain"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / SECRET).exists()


# --------------------------------------------------------------------------- the corpus


@pytest.mark.skipif(not corpus_available(), reason="the corpus (../shared/corpus) is absent")
def test_corpus_packages_saved_with_a_password_refuse_a_wrong_one() -> None:
    file = CORPUS_DIR / "dtsx/avgrishin+Dts2008/LoadBankRests.dtsx"
    line = next(n for n, text in enumerate(file.read_text("utf-8").splitlines(), 1)
                if "<EncryptedData" in text)
    result = CliRunner().invoke(main, ["validate", str(file), "--decrypt", "not it"])
    assert result.exit_code == 5
    assert f":{line}: the package password does not decrypt its EncryptedData" in result.output
    loaded = CliRunner().invoke(main, ["validate", str(file), "--format", "json"])
    messages = [p["message"] for p in json.loads(loaded.output)["problems"]]
    assert any("--decrypt PASSWORD" in m for m in messages)
    whole = CORPUS_DIR / "dtsx/avgrishin+Dts2008/LoadParticipantMICEX.dtsx"
    refused = CliRunner().invoke(main, ["validate", str(whole)])
    assert refused.exit_code == 5 and "EncryptAllWithPassword" in refused.output


def test_the_encrypted_data_written_has_the_designers_shape() -> None:
    el = etree.fromstring(f'<DTS:Password xmlns:DTS="www.microsoft.com/SqlServer/Dts" '
                          f'DTS:Name="Password" Sensitive="1">{SECRET}</DTS:Password>')
    holder = etree.Element("holder")
    holder.append(el)
    encrypted = encrypt_element(el, PW)
    assert encrypted.tag == ENCRYPTED_DATA
    assert len(base64.b64decode(encrypted.get("Salt") or "")) == 7
    iv = base64.b64decode(encrypted.get("IV") or "")
    value = encrypted.findtext(".//{http://www.w3.org/2001/04/xmlenc#}CipherValue") or ""
    assert base64.b64decode(value)[:8] == iv
    # and the reader takes it back
    root = etree.fromstring(etree.tostring(holder))
    [cm_password] = decrypt_document(root, PW, "t").iter(DTS + "Password")
    assert cm_password.text == SECRET
