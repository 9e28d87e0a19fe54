"""The Azure Blob Upload and Download tasks (CopyToBlobTask, CopyFromBlobTask) against a real
blob service: Azurite, Microsoft's Azure Storage emulator, on loopback (tests/azurite.py).
Uploads are checked by listing what Azurite holds with the SDK, downloads by the bytes of the
files written; wildcards, recursion, the time range, existing files, a wrong key, a missing
container, the connection string from --conn, and the three corpus packages that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from azurite import ACCOUNT, KEY, Azurite, azurite  # noqa: F401 - the fixture
from builders import Exe, guid, package
from click.testing import CliRunner
from taskrun import PackageRun

from ssisrun.cli import cli
from ssisrun.runtime import EventKind, RunRequest
from ssisrun.tasks._files import TaskSetupError
from ssisrun.tasks.azure_blob import blob_prefix, parse_time, storage_account, wildcard

pytest.importorskip("azure.storage.blob")
from azure.storage.blob import BlobServiceClient  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
CM = "Storage"
PACKAGE_CS = "DefaultEndpointsProtocol=https;AccountName=etlstore;EndpointSuffix=core.windows.net"
DPAPI_KEY = "AQAAANCMnd8BFdERjHoAwE/Cl+sBAAAAx1IwGGp+keDYKpizv7t"


# --------------------------------------------------------------------------- building


def storage_cm(connection_string: str = PACKAGE_CS, key: str | None = DPAPI_KEY,
               name: str = CM, expressions: dict[str, str] | None = None) -> str:
    """An AzureStorage connection manager as the Feature Pack writes it: the key in a
    sensitive AccountKey element (encrypted with the author's user key in real packages)."""
    exprs = "".join(f'<DTS:PropertyExpression DTS:Name="{k}">{v}</DTS:PropertyExpression>'
                    for k, v in (expressions or {}).items())
    key_xml = f'<AccountKey Sensitive="1">{key}</AccountKey>' if key is not None else ""
    return (f'<DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[{name}]" '
            f'DTS:CreationName="AzureStorage" DTS:DTSID="{guid("cm", name)}" '
            f'DTS:ObjectName="{name}">{exprs}<DTS:ObjectData>'
            f"<AzureStorageConnectionManager ConnectionString={quoteattr(connection_string)}>"
            f"{key_xml}</AzureStorageConnectionManager></DTS:ObjectData>"
            "</DTS:ConnectionManager>")


def blob_task(kind: str, local: Path | str, name: str = "Blob", *,
              expressions: dict[str, str] | None = None, **attrs: Any) -> Exe:
    values = {"ConnectionId": guid("cm", CM), "BlobContainer": "etl",
              "LocalDirectory": str(local), "FileNameFilter": "*", **attrs}
    body = " ".join(f"{k}={quoteattr(str(v))}" for k, v in values.items())
    return Exe(name, kind, expressions=dict(expressions or {}),
               object_data=f"<{kind} {body} />")


def upload(local: Path | str, **attrs: Any) -> Exe:
    return blob_task("CopyToBlobTask", local, "Upload", **attrs)


def download(local: Path | str, **attrs: Any) -> Exe:
    return blob_task("CopyFromBlobTask", local, "Download", **attrs)


def run(server: Azurite, *tasks: Exe, cm: str | None = None, conn: str | None = None,
        request: RunRequest | None = None, props: dict[str, Any] | None = None) -> PackageRun:
    req = request or RunRequest()
    if conn is None and cm is None:
        conn = server.connection_string()
    if conn is not None:
        req.connections[CM] = conn
    return PackageRun(package(8, list(tasks), connections=[cm or storage_cm()], props=props), req)


@pytest.fixture
def service(azurite: Azurite) -> BlobServiceClient:  # noqa: F811
    return BlobServiceClient(azurite.endpoint, credential={"account_name": ACCOUNT,
                                                           "account_key": KEY})


@pytest.fixture
def container(service: BlobServiceClient) -> Iterator[str]:
    """A fresh container named etl (the tasks' default)."""
    client = service.get_container_client("etl")
    if client.exists():
        client.delete_container()
    client.create_container()
    yield "etl"
    client.delete_container()


def blobs(service: BlobServiceClient, name: str = "etl") -> dict[str, bytes]:
    client = service.get_container_client(name)
    return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


def put(service: BlobServiceClient, name: str, data: bytes, container: str = "etl") -> None:
    service.get_blob_client(container, name).upload_blob(data, overwrite=True)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def files(folder: Path, spec: dict[str, bytes]) -> Path:
    for rel, data in spec.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


SAMPLE = {"a.csv": b"id,name\n1,x\n", "b.CSV": b"id\n2\n", "notes.txt": b"hello",
          "sub/c.csv": b"id\n3\n", "sub/deeper/d.csv": b"id\n4\n"}


# --------------------------------------------------------------------------- upload


def test_upload_filter_into_blob_directory(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                           container: str, tmp_path: Path) -> None:
    local = files(tmp_path / "out", SAMPLE)
    r = run(azurite, upload(local, BlobDirectory="in/2024/", FileNameFilter="*.csv"))
    assert r.ok, r.descriptions(EventKind.OnError)
    # the wildcard is matched case-insensitively, as on Windows; subfolders are left out
    assert blobs(service) == {"in/2024/a.csv": SAMPLE["a.csv"], "in/2024/b.CSV": SAMPLE["b.CSV"]}
    infos = r.descriptions(EventKind.OnInformation)
    assert any(f"uploaded {local / 'a.csv'} to etl/in/2024/a.csv (12 bytes)" == m
               for m in infos), infos
    assert "uploaded 2 file(s), 17 bytes" in infos


def test_upload_recursively_keeps_relative_paths(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                                 container: str, tmp_path: Path) -> None:
    local = files(tmp_path / "out", SAMPLE)
    r = run(azurite, upload(local, BlobDirectory="dir", FileNameFilter="?.csv",
                            SearchRecursively="True"))
    assert r.ok, r.descriptions(EventKind.OnError)
    assert blobs(service) == {"dir/a.csv": SAMPLE["a.csv"], "dir/b.CSV": SAMPLE["b.CSV"],
                              "dir/sub/c.csv": SAMPLE["sub/c.csv"],
                              "dir/sub/deeper/d.csv": SAMPLE["sub/deeper/d.csv"]}


def test_upload_without_blob_directory_goes_to_the_root(azurite: Azurite,  # noqa: F811
                                                        service: BlobServiceClient,
                                                        container: str, tmp_path: Path) -> None:
    local = files(tmp_path / "out", {"x.txt": b"x", "y.dat": b"y"})
    assert run(azurite, upload(local, FileNameFilter="")).ok  # empty filter: every file
    assert blobs(service) == {"x.txt": b"x", "y.dat": b"y"}


def test_upload_time_range_uses_modification_times(azurite: Azurite,  # noqa: F811
                                                   service: BlobServiceClient, container: str,
                                                   tmp_path: Path) -> None:
    local = files(tmp_path / "out", {"old.csv": b"old", "mid.csv": b"mid", "new.csv": b"new"})
    for name, when in (("old.csv", datetime(2019, 5, 1, tzinfo=UTC)),
                       ("mid.csv", datetime(2020, 6, 15, 12, tzinfo=UTC)),
                       ("new.csv", datetime(2023, 1, 1, tzinfo=UTC))):
        os.utime(local / name, (when.timestamp(), when.timestamp()))
    # en-US (the package's LocaleID 1033) writes month first; the offset is kept
    r = run(azurite, upload(local, TimeRangeFrom="1/1/2020 12:00:00 AM +00:00",
                            TimeRangeTo="12/31/2021 11:59:59 PM +00:00"))
    assert r.ok, r.descriptions(EventKind.OnError)
    assert blobs(service) == {"mid.csv": b"mid"}
    # fr-FR (1036) writes day first
    r = run(azurite, upload(local, TimeRangeFrom="01/06/2020 00:00:00 +02:00",
                            TimeRangeTo="31/12/2200 00:00:00 +02:00", FileNameFilter="n*"),
            props={"LocaleID": 1036})
    assert r.ok, r.descriptions(EventKind.OnError)
    assert sorted(blobs(service)) == ["mid.csv", "new.csv"]


def test_upload_streams_a_large_file_in_blocks(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                               container: str, tmp_path: Path) -> None:
    data = os.urandom(9 * 1024 * 1024 + 123)
    local = files(tmp_path / "out", {"big.bin": data})
    assert run(azurite, upload(local)).ok
    client = service.get_blob_client("etl", "big.bin")
    assert client.download_blob().readall() == data
    # more than one 4 MiB block: the file was sent in pieces, never whole
    assert len(client.get_block_list("committed")[0]) == 3


def test_upload_existing_blob_overwrite_skip_fail(azurite: Azurite,  # noqa: F811
                                                  service: BlobServiceClient, container: str,
                                                  tmp_path: Path) -> None:
    local = files(tmp_path / "out", {"a.csv": b"new", "b.csv": b"b"})
    put(service, "a.csv", b"old")
    r = run(azurite, upload(local, FileAlreadyExistsAction="Skip"))
    assert r.ok
    assert blobs(service) == {"a.csv": b"old", "b.csv": b"b"}
    assert any("skipped" in m and "etl/a.csv exists" in m
               for m in r.descriptions(EventKind.OnInformation))
    r = run(azurite, upload(local, FileAlreadyExistsAction="Fail"))
    assert not r.ok
    assert "the blob etl/a.csv exists and FileAlreadyExistsAction is Fail" in r.error
    assert blobs(service)["a.csv"] == b"old"
    # left out: SSIS replaces the blob
    assert run(azurite, upload(local)).ok
    assert blobs(service) == {"a.csv": b"new", "b.csv": b"b"}


def test_upload_missing_local_folder_fails(azurite: Azurite, container: str,  # noqa: F811
                                          tmp_path: Path) -> None:
    r = run(azurite, upload("D:\\Exports\\Nope"),
            request=RunRequest(path_map=[("D:\\", f"{tmp_path}/D/")]))
    assert not r.ok
    assert r.error == (f"the local folder {tmp_path}/D/Exports/Nope (mapped from "
                       "D:\\Exports\\Nope) does not exist (LocalDirectory)")


# --------------------------------------------------------------------------- download


def test_download_blob_directory_with_filter(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                             container: str, tmp_path: Path) -> None:
    for name, data in SAMPLE.items():
        put(service, "src/" + name, data)
    put(service, "other/a.csv", b"not this one")
    local = tmp_path / "in"
    local.mkdir()
    r = run(azurite, download(local, BlobDirectory="src/", FileNameFilter="*.csv"))
    assert r.ok, r.descriptions(EventKind.OnError)
    assert tree(local) == {"a.csv": SAMPLE["a.csv"], "b.CSV": SAMPLE["b.CSV"]}
    assert f"downloaded etl/src/a.csv to {local / 'a.csv'} (12 bytes)" in \
        r.descriptions(EventKind.OnInformation)


def test_download_recursively_creates_folders(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                              container: str, tmp_path: Path) -> None:
    for name, data in SAMPLE.items():
        put(service, "src/" + name, data)
    put(service, "top.csv", b"root blob")
    local = tmp_path / "in"
    local.mkdir()
    r = run(azurite, download(local, BlobDirectory="/src", SearchRecursively="True",
                              FileNameFilter="*.csv"))
    assert r.ok, r.descriptions(EventKind.OnError)
    assert tree(local) == {k: v for k, v in SAMPLE.items() if k.lower().endswith(".csv")}
    # the container's root, recursively: every blob
    everything = tmp_path / "all"
    everything.mkdir()
    assert run(azurite, download(everything, SearchRecursively="True")).ok
    assert tree(everything) == {"top.csv": b"root blob",
                                **{"src/" + k: v for k, v in SAMPLE.items()}}


def test_download_large_blob_exact_bytes(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                         container: str, tmp_path: Path) -> None:
    data = os.urandom(10 * 1024 * 1024 + 7)
    put(service, "big.bin", data)
    local = tmp_path / "in"
    local.mkdir()
    assert run(azurite, download(local)).ok
    assert (local / "big.bin").read_bytes() == data
    assert [p.name for p in local.iterdir()] == ["big.bin"]  # no temporary file left


def test_download_time_range_uses_last_modified(azurite: Azurite,  # noqa: F811
                                                service: BlobServiceClient, container: str,
                                                tmp_path: Path) -> None:
    put(service, "a.csv", b"a")
    local = tmp_path / "in"
    local.mkdir()
    now = datetime.now(UTC)
    past = (now - timedelta(days=2)).strftime("%m/%d/%Y %I:%M:%S %p +00:00")
    yesterday = (now - timedelta(days=1)).strftime("%m/%d/%Y %I:%M:%S %p +00:00")
    tomorrow = (now + timedelta(days=1)).strftime("%m/%d/%Y %I:%M:%S %p +00:00")
    r = run(azurite, download(local, TimeRangeFrom=past, TimeRangeTo=yesterday))
    assert r.ok
    assert tree(local) == {}
    assert any("nothing to download" in m for m in r.descriptions(EventKind.OnInformation))
    assert run(azurite, download(local, TimeRangeFrom=past, TimeRangeTo=tomorrow)).ok
    assert tree(local) == {"a.csv": b"a"}


def test_download_existing_file_overwrite_skip_fail(azurite: Azurite,  # noqa: F811
                                                    service: BlobServiceClient, container: str,
                                                    tmp_path: Path) -> None:
    put(service, "a.csv", b"from the blob")
    local = files(tmp_path / "in", {"a.csv": b"local"})
    assert run(azurite, download(local, FileAlreadyExistsAction="skip")).ok
    assert (local / "a.csv").read_bytes() == b"local"
    r = run(azurite, download(local, FileAlreadyExistsAction="Fail"))
    assert not r.ok
    assert f"the file {local / 'a.csv'} exists and FileAlreadyExistsAction is Fail" in r.error
    assert run(azurite, download(local)).ok
    assert (local / "a.csv").read_bytes() == b"from the blob"
    r = run(azurite, download(local, FileAlreadyExistsAction="Replace"))
    assert r.error == "FileAlreadyExistsAction 'Replace' is not one of Overwrite, Skip, Fail"


def test_download_refuses_blob_names_that_leave_the_folder(azurite: Azurite,  # noqa: F811
                                                           service: BlobServiceClient,
                                                           container: str,
                                                           tmp_path: Path) -> None:
    put(service, "..\\escape.csv", b"evil")  # the service stores it as ../escape.csv
    put(service, "x//ok.csv", b"ok")
    assert sorted(b.name for b in service.get_container_client("etl").list_blobs()) == \
        ["../escape.csv", "x//ok.csv"]
    local = tmp_path / "in"
    local.mkdir()
    r = run(azurite, download(local, SearchRecursively="True"))
    assert r.ok
    assert not (tmp_path / "escape.csv").exists()
    assert r.descriptions(EventKind.OnWarning) == [
        "the blob etl/../escape.csv is not downloaded: its name is not a safe relative path"]
    assert tree(local) == {"x/ok.csv": b"ok"}


# --------------------------------------------------------------------------- errors


def test_missing_container_fails_naming_it(azurite: Azurite, tmp_path: Path) -> None:  # noqa: F811
    local = files(tmp_path / "out", {"a.csv": b"a"})
    for task in (upload(local, BlobContainer="nope"), download(local, BlobContainer="nope")):
        r = run(azurite, task)
        assert not r.ok
        assert r.error == ("the container 'nope' does not exist in storage account "
                           "'devstoreaccount1' (BlobContainer)")


def test_wrong_key_fails_with_the_authentication_error(azurite: Azurite,  # noqa: F811
                                                       container: str,
                                                       tmp_path: Path) -> None:
    local = files(tmp_path / "out", {"a.csv": b"a"})
    wrong = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdCBvbmx5IGQzSnZibWNnYTJWNUlHWnZjaUI="
    r = run(azurite, upload(local), conn=azurite.connection_string(key=wrong))
    assert not r.ok
    assert r.error.startswith(f"the storage account 'devstoreaccount1' at {azurite.endpoint} "
                              "refused the account key of connection manager 'Storage' (")
    assert r.error.split("(", 1)[1].startswith(("AuthenticationFailed)",
                                                "AuthorizationFailure)")), r.error
    assert wrong not in r.error


def test_unreachable_service_fails(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    local = files(tmp_path / "out", {"a.csv": b"a"})
    conn = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT}")
    r = PackageRun(package(8, [upload(local)], connections=[storage_cm()]),
                   RunRequest(connections={CM: conn}))
    assert not r.ok
    assert r.error.startswith(f"cannot reach the blob service of storage account "
                              f"'{ACCOUNT}' at http://127.0.0.1:{port}/{ACCOUNT}")


def test_encrypted_key_without_conn_says_what_to_give(tmp_path: Path) -> None:
    r = PackageRun(package(8, [upload(tmp_path)], connections=[storage_cm()]), RunRequest())
    assert not r.ok
    assert r.error == (
        "the Azure Storage connection manager 'Storage' keeps its AccountKey encrypted with a "
        "key ssisrun cannot use (user key): give the key with --conn 'Storage="
        "DefaultEndpointsProtocol=https;AccountName=etlstore;AccountKey=...;"
        "EndpointSuffix=core.windows.net'")


def test_settings_errors(azurite: Azurite, tmp_path: Path) -> None:  # noqa: F811
    assert run(azurite, upload(tmp_path, BlobContainer="")).error == \
        "no blob container is set (BlobContainer)"
    assert run(azurite, upload("")).error == "no local folder is set (LocalDirectory)"
    assert run(azurite, upload(tmp_path, TimeRangeFrom="someday")).error.startswith(
        "TimeRangeFrom 'someday' is not a date and time")
    assert run(azurite, upload(tmp_path, SearchRecursively="maybe")).error == \
        "SearchRecursively must be True or False, not 'maybe'"
    bad = upload(tmp_path, ConnectionId="{00000000-0000-0000-0000-000000000000}")
    assert "does not exist" in run(azurite, bad).error


def test_service_principal_is_refused_clearly(tmp_path: Path) -> None:
    cm = storage_cm("DefaultEndpointsProtocol=https;AccountName=etlstore;"
                    "AuthenticationType=ServicePrincipal;EndpointSuffix=core.windows.net",
                    key=None)
    r = PackageRun(package(8, [upload(tmp_path)], connections=[cm]), RunRequest())
    assert not r.ok
    assert r.error.startswith("the Azure Storage connection manager 'Storage' uses "
                              "ServicePrincipal authentication, which ssisrun does not support")


# --------------------------------------------------------------------------- the connection


def test_key_kept_in_clear_in_the_package(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                          container: str, tmp_path: Path) -> None:
    """A package that keeps its AccountKey in clear needs no --conn for the key."""
    cs = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};BlobEndpoint={azurite.endpoint}"
    local = files(tmp_path / "out", {"k.txt": b"kept"})
    r = run(azurite, upload(local), cm=storage_cm(cs, key=KEY))
    assert r.ok, r.descriptions(EventKind.OnError)
    assert blobs(service) == {"k.txt": b"kept"}


def test_key_from_a_property_expression(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                        container: str, tmp_path: Path) -> None:
    cs = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};BlobEndpoint={azurite.endpoint}"
    local = files(tmp_path / "out", {"e.txt": b"expr"})
    cm = storage_cm(cs, key=DPAPI_KEY, expressions={"AccountKey": f'"{KEY}"'})
    r = run(azurite, upload(local), cm=cm)
    assert r.ok, r.descriptions(EventKind.OnError)
    assert blobs(service) == {"e.txt": b"expr"}


def test_shared_access_signature(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                 container: str, tmp_path: Path) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(ACCOUNT, "etl", account_key=KEY,
                                 permission=ContainerSasPermissions(read=True, write=True,
                                                                    list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
    conn = f"BlobEndpoint={azurite.endpoint};SharedAccessSignature={sas}"
    local = files(tmp_path / "out", {"s.txt": b"sas"})
    r = run(azurite, upload(local), conn=conn)
    assert r.ok, r.descriptions(EventKind.OnError)
    back = tmp_path / "back"
    back.mkdir()
    assert run(azurite, download(back), conn=conn).ok
    assert tree(back) == {"s.txt": b"sas"}


def test_connection_strings() -> None:
    from ssisrun.model import ConnectionManager

    cm = ConnectionManager("S", "{1}", "AzureStorage", PACKAGE_CS)
    account = storage_account(cm, PACKAGE_CS + ";AccountKey=abc")
    assert (account.name, account.url, account.how) == (
        "etlstore", "https://etlstore.blob.core.windows.net", "account key")
    account = storage_account(cm, "DefaultEndpointsProtocol=https;AccountName=x;"
                              "AccountKey=k;EndpointSuffix=core.chinacloudapi.cn")
    assert account.url == "https://x.blob.core.chinacloudapi.cn"
    dev = storage_account(cm, "UseDevelopmentStorage=true")
    assert (dev.name, dev.url, dev.secret) == (ACCOUNT, f"http://127.0.0.1:10000/{ACCOUNT}", KEY)
    proxy = storage_account(cm, "UseDevelopmentStorage=true;"
                            "DevelopmentStorageProxyUri=http://emulator")
    assert proxy.url == f"http://emulator:10000/{ACCOUNT}"
    with pytest.raises(TaskSetupError, match="names no storage account"):
        storage_account(cm, "DefaultEndpointsProtocol=https")
    with pytest.raises(TaskSetupError, match="has no AccountKey"):
        storage_account(cm, PACKAGE_CS)


def test_time_and_name_parsing() -> None:
    us = parse_time("T", "1/1/1900 12:00:00 AM +04:00", 1033, 1)
    assert us is not None and us.isoformat() == "1900-01-01T00:00:00+04:00"
    assert parse_time("T", "12/31/2200 12:00:00 AM +04:00", 1036, 1) == \
        datetime.fromisoformat("2200-12-31T00:00:00+04:00")  # 31 is not a month
    assert parse_time("T", "02/03/2020 13:05:00 +01:00", 1036, 1) == \
        datetime.fromisoformat("2020-03-02T13:05:00+01:00")
    assert parse_time("T", "02/03/2020 1:05:00 PM -05:00", 1033, 1) == \
        datetime.fromisoformat("2020-02-03T13:05:00-05:00")
    assert parse_time("T", "2020-02-03T13:05:00Z", 1033, 1) == \
        datetime.fromisoformat("2020-02-03T13:05:00+00:00")
    assert parse_time("T", "", 1033, 1) is None
    assert wildcard("MySheet*.xls*").fullmatch("mysheetABC.XLSX")
    assert not wildcard("a?.csv").fullmatch("a.csv")
    assert wildcard("[x].csv").fullmatch("[X].csv")
    assert [blob_prefix(t) for t in ("", "/", "dir", "dir/", "\\a\\b\\", "a//b")] == \
        ["", "", "dir/", "dir/", "a/b/", "a/b/"]


# --------------------------------------------------------------------------- validate


def test_validate_names_the_missing_key_and_accepts_conn(tmp_path: Path) -> None:
    path = tmp_path / "p.dtsx"
    path.write_text(package(8, [upload("C:\\out")], connections=[storage_cm(key=None)]))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert "has no AccountKey (the package does not keep it): give the key with --conn" \
        in " ".join(result.output.split()), result.output
    conn = f"{CM}=DefaultEndpointsProtocol=https;AccountName=etlstore;AccountKey=abc"
    result = CliRunner().invoke(cli, ["validate", str(path), "--conn", conn])
    assert result.exit_code == 0, result.output
    assert "AccountKey" not in result.output


def test_without_the_extra_the_task_and_validate_say_what_to_install(tmp_path: Path) -> None:
    """Run in a child Python in which azure.storage.blob cannot be imported."""
    path = tmp_path / "p.dtsx"
    path.write_text(package(8, [upload(tmp_path)], connections=[storage_cm()]))
    blocker = tmp_path / "block" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocker.write_text("import sys\nsys.modules['azure'] = None  # as if not installed\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(blocker.parent), str(REPO), os.environ.get("PYTHONPATH", "")])}
    conn = f"{CM}=DefaultEndpointsProtocol=https;AccountName=etlstore;AccountKey=abc"
    validate = subprocess.run([sys.executable, "-m", "ssisrun", "validate", str(path),
                               "--conn", conn], capture_output=True, text=True, env=env)
    text = " ".join(validate.stdout.split())
    assert validate.returncode != 0, validate.stdout
    assert "The Azure Blob Upload Task needs Microsoft's Azure Storage client library " \
        "(azure-storage-blob), which is not installed: pip install 'ssisrun[azure]'" in text, text
    run_ = subprocess.run([sys.executable, "-m", "ssisrun", "exec", "--plain", str(path),
                           "--conn", conn], capture_output=True, text=True, env=env)
    assert run_.returncode == 1
    assert "pip install 'ssisrun[azure]'" in run_.stdout + run_.stderr


# --------------------------------------------------------------------------- the corpus

CRIMESTAT = CORPUS / "dtsx" / "AndreyQC+CrimeStat.SSIS"
ENI = "EditionsENI+SQL-Server-Integration-Services/Chapitre 2/Chapitre 2/Chapitre2"
ENI_PACKAGE = "3.1.1 - 3.1.2 Tâche Azure Blob.dtsx"


def _exec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ssisrun", "exec", "--plain", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("name,folder,source", [
    ("Prepare_UNCrime.dtsx", "CrimeStat.Source.UNCrime", "uncrimesource/"),
    ("Prepare_WorldBank.dtsx", "CrimeStat.Source.WorldBank", "wordbanksource/"),
])
def test_corpus_crimestat_downloads(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                    tmp_path: Path, name: str, folder: str,
                                    source: str) -> None:
    """Prepare_*: a Sequence holding one Azure Blob Download Task, from container
    crimestatisticsources to a UNC work folder; every task of these packages runs."""
    path = CRIMESTAT / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus (../shared/corpus)")
    client = service.get_container_client("crimestatisticsources")
    if not client.exists():
        client.create_container()
    put(service, source + "data.csv", b"Country,Year,Value\nFR,2015,1.5\n",
        "crimestatisticsources")
    put(service, source + "readme.txt", b"source notes", "crimestatisticsources")
    put(service, "elsewhere/skip.csv", b"not this folder", "crimestatisticsources")
    share = tmp_path / "share"
    work = share / "CrimeStat.ETL.WorkFolder" / "DEV" / folder
    work.mkdir(parents=True)
    proc = _exec(str(path), "--conn", f"svodspec={azurite.connection_string()}",
                 "--path-map", f"\\\\ECSC00A014AD\\shared\\={share}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tree(work) == {"data.csv": b"Country,Year,Value\nFR,2015,1.5\n",
                          "readme.txt": b"source notes"}


def test_corpus_eni_download_then_upload(azurite: Azurite, service: BlobServiceClient,  # noqa: F811
                                         tmp_path: Path) -> None:
    """The ENI book's package: a Download task (container livre, its root) and an Upload
    task (*.txt into livre/dir/), through the project connection manager 'Blob Storage'
    (its AccountKey encrypted with the author's user key, replaced by --conn). Both run;
    they have no precedence constraint, so they may run in either order: the upload's file
    is put in the folder beforehand."""
    dtsx, other = CORPUS / "dtsx" / ENI, CORPUS / "other" / ENI
    if not (dtsx / ENI_PACKAGE).is_file() or not (other / "Blob Storage.conmgr").is_file():
        pytest.skip("the ENI Chapitre 2 project is not in the corpus (../shared/corpus)")
    project = tmp_path / "Chapitre2"
    project.mkdir()
    for item in [*other.iterdir(), dtsx / ENI_PACKAGE]:
        if item.is_file():
            (project / item.name).symlink_to(item)
    client = service.get_container_client("livre")
    if client.exists():
        client.delete_container()
    client.create_container()
    put(service, "chapitre2.csv", b"a;b\n1;2\n", "livre")
    put(service, "archive/old.csv", b"not at the root", "livre")
    drive = tmp_path / "D"
    local = drive / "GIT" / "Livre%20SSIS" / "Scripts" / "Chapitre 2" / "Fichiers démo" / \
        "Azure Blob Storage"
    local.mkdir(parents=True)
    (local / "notes.txt").write_bytes(b"texte \xc3\xa0 envoyer\n")
    (local / "image.png").write_bytes(b"\x89PNG")
    proc = _exec("--project", str(project), "--package", ENI_PACKAGE,
                 "--conn", f"Blob Storage={azurite.connection_string()}",
                 "--path-map", f"D:\\={drive}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (local / "chapitre2.csv").read_bytes() == b"a;b\n1;2\n"
    assert not (local / "old.csv").exists()
    held = blobs(service, "livre")
    assert held["dir/notes.txt"] == b"texte \xc3\xa0 envoyer\n"
    assert sorted(held) == ["archive/old.csv", "chapitre2.csv", "dir/notes.txt"]
