"""The Azure Blob Upload Task (``CopyToBlobTask``) and the Azure Blob Download Task
(``CopyFromBlobTask``) of the SSIS Feature Pack for Azure, on Microsoft's
``azure-storage-blob`` client library (the ``azure`` extra: ``pip install 'ssisrun[azure]'``).

Their settings are the attributes of the ``CopyToBlobTask`` / ``CopyFromBlobTask`` element
in ``ObjectData``; a property expression replaces one under the designer's property name
(in parentheses) or the attribute's own:

* ``ConnectionId`` (``AzureStorageConnection``): the Azure Storage connection manager.
* ``BlobContainer``: the container; it must exist (a missing one fails the task).
* ``BlobDirectory``: the virtual folder in the container (``dir/``, ``a/b``; empty: the
  container's root). Upload: the files become block blobs ``BlobDirectory/<name>``.
  Download: the blobs under it.
* ``LocalDirectory``: the folder on this machine, mapped with ``--path-map``; it must
  exist.
* ``FileNameFilter`` (``FileName``): a name pattern with ``*`` and ``?``, matched against
  the file or blob name (without its folders), case-insensitively as on Windows; empty
  means ``*``.
* ``SearchRecursively``: also the subfolders (upload) or the blobs in deeper virtual
  folders (download); their relative paths are kept on the other side. False when left
  out.
* ``TimeRangeFrom`` / ``TimeRangeTo``: only files (upload: the local file's modification
  time) or blobs (download: the blob's Last-Modified) modified within the range, bounds
  included. The designer writes them as .NET ``DateTimeOffset`` text in the package's
  locale (``1/1/1900 12:00:00 AM +04:00``, ``31/12/2200 00:00:00 +02:00``); day and month
  are told apart by the package's ``LocaleID`` when both could be either.
* ``FileAlreadyExistsAction`` (ssisrun's; the designer does not write it): ``Overwrite``
  (when left out, as SSIS: an existing blob or local file is replaced), ``Skip`` (it is
  left as it is, with an Information event) or ``Fail`` (the task fails naming it).

The connection (:func:`storage_account`): the connection manager's connection string
(``DefaultEndpointsProtocol=https;AccountName=...;EndpointSuffix=core.windows.net``), after
``--conn`` and property expressions, with the account key from its ``AccountKey`` keyword,
or else a property expression on ``AccountKey``, or else the ``AccountKey`` the package keeps
in clear (only for the account the package names). Real packages keep the key encrypted,
so ``--conn NAME='DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...'`` gives it;
``BlobEndpoint=`` names the blob service's URL (Azurite: ``http://127.0.0.1:10000/
devstoreaccount1``), ``SharedAccessSignature=`` a SAS token instead of the key, and
``UseDevelopmentStorage=true`` the storage emulator's well-known account on
``127.0.0.1:10000`` (or ``DevelopmentStorageProxyUri``). Service principal (Azure AD) and
managed identity authentication are not supported: the task fails saying so.

Files are streamed in blocks of 4 MiB both ways; a downloaded file is written to a
temporary file in its folder and renamed when whole. Each file transferred raises an
Information event. A cancelled run stops between two files. No message names a key.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    TaskSetupError,
    as_bool,
    cm_property,
    connection,
    connection_keywords,
    local_path,
    setting,
    shown,
)

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from lxml import etree

    from ssisrun.model import ConnectionManager, Executable
    from ssisrun.runtime.context import TaskContext

UPLOAD = "CopyToBlobTask"
DOWNLOAD = "CopyFromBlobTask"
TITLES = {UPLOAD: "Azure Blob Upload Task", DOWNLOAD: "Azure Blob Download Task"}

#: the pip extra and the module it installs
EXTRA, MODULE = "azure", "azure.storage.blob"
#: bytes per block uploaded and per range downloaded
CHUNK = 4 * 1024 * 1024

#: the storage emulator's (Azurite's) well-known account
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
           "K1SZFPTOtr/KBHBeksoGMGw==")

ACTIONS = ("Overwrite", "Skip", "Fail")

#: locales that write dates month first (M/d/yyyy); the others write day first
_MONTH_FIRST_LOCALES = frozenset({1033, 13321, 1124})


class _Cancelled(Exception):
    pass


def missing_extra(title: str = "Each Azure Blob task") -> str:
    """Why the Azure Blob tasks cannot run here ("" when they can)."""
    try:
        if importlib.util.find_spec(MODULE) is not None:
            return ""
    except (ImportError, ValueError):
        pass
    return (f"{title} needs Microsoft's Azure Storage client library (azure-storage-blob), "
            f"which is not installed: pip install 'ssisrun[{EXTRA}]'")


# --------------------------------------------------------------------------- the account


@dataclass(slots=True)
class StorageAccount:
    """Where the blobs are and how to sign in. ``secret`` is never shown."""

    name: str
    url: str
    #: "account key" or "shared access signature"
    how: str
    secret: str

    @property
    def credential(self) -> Any:
        if self.how == "account key":
            return {"account_name": self.name, "account_key": self.secret}
        return self.secret.lstrip("?")

    def clean(self, text: str) -> str:
        return text.replace(self.secret, "********") if self.secret else text


_UNSUPPORTED_AUTH = ("serviceprincipal", "managedidentity", "azuread", "activedirectory",
                     "oauth", "entra")


def _conn_example(cm: ConnectionManager, account: str = "...") -> str:
    return (f"--conn '{cm.name}=DefaultEndpointsProtocol=https;AccountName={account};"
            "AccountKey=...;EndpointSuffix=core.windows.net'")


def storage_account(cm: ConnectionManager, text: str, *, key: str | None = None,
                    code: int = E_FOLLOWING_MESSAGE) -> StorageAccount:
    """The account an AzureStorage connection manager ``cm`` names with the connection
    string ``text`` (after ``--conn``). ``key`` is the account key from elsewhere (a
    property expression on AccountKey); else the key the package keeps in clear is used
    for the account the package names."""
    keys = connection_keywords(text)
    auth = " ".join(v for k, v in [*keys.items(), *cm.properties.items()]
                    if k.lower().replace(" ", "") in ("authentication", "authenticationtype",
                                                      "authenticationmethod", "authtype"))
    if any(word in auth.lower().replace(" ", "") for word in _UNSUPPORTED_AUTH):
        raise TaskSetupError(code, f"the Azure Storage connection manager '{cm.name}' uses "
                             f"{auth.strip()} authentication, which ssisrun does not support: "
                             "give an account key or a shared access signature with "
                             + _conn_example(cm))
    if as_bool("UseDevelopmentStorage", keys.get("usedevelopmentstorage", "false"), code):
        proxy = keys.get("developmentstorageproxyuri", "").strip().rstrip("/")
        url = keys.get("blobendpoint", "").strip() or \
            f"{proxy or 'http://127.0.0.1'}:10000/{DEV_ACCOUNT}"
        return StorageAccount(DEV_ACCOUNT, url.rstrip("/"), "account key", DEV_KEY)
    name = keys.get("accountname", "").strip()
    endpoint = keys.get("blobendpoint", "").strip().rstrip("/")
    if not name and not endpoint:
        raise TaskSetupError(code, f"the Azure Storage connection manager '{cm.name}' names "
                             "no storage account (AccountName= in its connection string); "
                             "give one with " + _conn_example(cm))
    if not endpoint:
        protocol = keys.get("defaultendpointsprotocol", "https").strip().lower() or "https"
        suffix = keys.get("endpointsuffix", "core.windows.net").strip() or "core.windows.net"
        endpoint = f"{protocol}://{name}.blob.{suffix}"
    sas = keys.get("sharedaccesssignature", "").strip()
    secret = keys.get("accountkey", "").strip()
    if not secret and key:
        secret = key
    if not secret and not sas and cm.password:
        own = connection_keywords(cm.connection_string).get("accountname", "").strip()
        if own.lower() == name.lower():
            secret = cm.password
    if secret:
        if not name:
            raise TaskSetupError(code, f"the Azure Storage connection manager '{cm.name}' "
                                 "gives an account key but no AccountName=")
        return StorageAccount(name, endpoint, "account key", secret)
    if sas:
        return StorageAccount(name or endpoint, endpoint, "shared access signature", sas)
    if cm.encrypted_secrets:
        why = ("keeps its AccountKey encrypted with a key ssisrun cannot use "
               f"({cm.secrets_key or 'user key'})")
    else:
        why = "has no AccountKey (the package does not keep it)"
    raise TaskSetupError(code, f"the Azure Storage connection manager '{cm.name}' {why}: "
                         "give the key with " + _conn_example(cm, name or "..."))


def check_blob_task(cm: ConnectionManager | None, override: str | None,
                    title: str) -> list[tuple[str, str]]:
    """What ``ssisrun validate`` says about an Azure Blob task with connection manager
    ``cm``: (severity, message) pairs."""
    found: list[tuple[str, str]] = []
    missing = missing_extra(f"The {title}")
    if missing:
        found.append(("error", missing))
    if cm is None:
        return found
    if cm.kind != "AZURESTORAGE":
        found.append(("error", f"the connection manager '{cm.name}' is of type "
                      f"{cm.kind or '?'}, not AzureStorage"))
        return found
    if override is None and any(k.lower() in ("connectionstring", "accountkey")
                                for k in cm.property_expressions):
        return found  # known at run time only
    try:
        storage_account(cm, cm.connection_string if override is None else override)
    except TaskSetupError as exc:
        if override is not None or not cm.encrypted_secrets:
            # encrypted keys are reported with the package's load problems already
            found.append(("warning", exc.message))
    return found


# --------------------------------------------------------------------------- settings


_DATE = re.compile(
    r"^\s*(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?\s*"
    r"([AaPp])?\.?\s*(?:[Mm]\.?)?)?"
    r"\s*(Z|[+-]\d{1,2}(?::?\d{2})?)?\s*$")


def package_locale(exe: Executable) -> int:
    """The LocaleID in effect for ``exe``: its own, else its nearest container's (1033)."""
    for node in (exe, *exe.ancestors()):
        if node.locale_id not in (-1, None):
            return int(node.locale_id)
    return 1033


def parse_time(name: str, value: Any, locale: int, code: int) -> datetime | None:
    """A TimeRangeFrom/To value as an aware datetime (None when empty)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    text = str(value or "").strip()
    if not text:
        return None
    match = _DATE.match(text)
    if match is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TaskSetupError(code, f"{name} '{text}' is not a date and time "
                                 "(write it as 1/1/1900 12:00:00 AM +00:00 or "
                                 "1900-01-01T00:00:00+00:00)") from None
        return parsed if parsed.tzinfo else parsed.astimezone()
    a, b, c, hh, mm, ss, frac, ampm, offset = match.groups()
    if len(a) >= 3:
        year, month, day = int(a), int(b), int(c)
    else:
        year = int(c)
        if year < 100:
            year += 2000 if year < 50 else 1900
        first, second = int(a), int(b)
        month_first = (second > 12 or (first <= 12 and locale in _MONTH_FIRST_LOCALES)) \
            and first <= 12
        month, day = (first, second) if month_first else (second, first)
    hour, minute = int(hh or 0), int(mm or 0)
    if ampm:
        hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
    tz: timezone | None = None
    if offset:
        if offset == "Z":
            tz = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 \
                else (int(digits), 0)
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        result = datetime(year, month, day, hour, minute, int(ss or 0),
                          int((frac or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError as exc:
        raise TaskSetupError(code, f"{name} '{text}' is not a date and time: {exc}") from None
    return result if tz else result.astimezone()


def wildcard(pattern: str) -> re.Pattern[str]:
    """A FileNameFilter (``*``, ``?``) as a case-insensitive regular expression."""
    parts = []
    for ch in pattern.strip() or "*":
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def blob_prefix(directory: str) -> str:
    """A BlobDirectory as a name prefix: ``dir/sub/`` (or "" for the root)."""
    text = directory.strip().replace("\\", "/").strip("/")
    text = re.sub("/+", "/", text)
    return text + "/" if text else ""


@dataclass(slots=True)
class _Settings:
    container: str
    prefix: str
    local: str
    local_original: str
    pattern: re.Pattern[str]
    pattern_text: str
    recursive: bool
    time_from: datetime | None
    time_to: datetime | None
    action: str

    @property
    def local_shown(self) -> str:
        return shown(self.local, self.local_original)

    def in_range(self, when: datetime) -> bool:
        if self.time_from is not None and when < self.time_from:
            return False
        return self.time_to is None or when <= self.time_to


# --------------------------------------------------------------------------- the tasks


class AzureBlobTask(Task):
    """What the upload and download tasks share: settings, the account, the errors."""

    kind = UPLOAD

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        self.ctx = ctx
        try:
            missing = missing_extra(f"The {self.title}")
            if missing:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, missing)
            return self._execute(ctx, body)
        except TaskSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        except _Cancelled:
            ctx.information(0, f"the run was cancelled: the {self.title} stopped between "
                            "files")
            return TaskOutcome(ExecResult.Canceled)

    def _settings(self, ctx: TaskContext, body: etree._Element | None) -> _Settings:
        code = E_FOLLOWING_MESSAGE

        def text(attr: str, *props: str) -> str:
            value = setting(ctx, body, attr, *props, default="")
            return "" if value is None else str(value)

        container = text("BlobContainer").strip()
        if not container:
            raise TaskSetupError(code, "no blob container is set (BlobContainer)")
        local_text = text("LocalDirectory").strip()
        if not local_text:
            raise TaskSetupError(code, "no local folder is set (LocalDirectory)")
        local = local_path(ctx, local_text, code)
        locale = package_locale(self.host)
        pattern_text = text("FileNameFilter", "FileName").strip() or "*"
        action_text = text("FileAlreadyExistsAction").strip() or "Overwrite"
        action = next((a for a in ACTIONS if a.lower() == action_text.lower()), None)
        if action is None:
            raise TaskSetupError(code, f"FileAlreadyExistsAction '{action_text}' is not one of "
                                 f"{', '.join(ACTIONS)}")
        settings = _Settings(
            container=container,
            prefix=blob_prefix(text("BlobDirectory")),
            local=local,
            local_original=local_text,
            pattern=wildcard(pattern_text),
            pattern_text=pattern_text,
            recursive=as_bool("SearchRecursively",
                              setting(ctx, body, "SearchRecursively", default="False"), code),
            time_from=parse_time("TimeRangeFrom", setting(ctx, body, "TimeRangeFrom"),
                                 locale, code),
            time_to=parse_time("TimeRangeTo", setting(ctx, body, "TimeRangeTo"), locale, code),
            action=action,
        )
        if not os.path.isdir(local):
            raise TaskSetupError(code, f"the local folder {settings.local_shown} does not "
                                 "exist (LocalDirectory)")
        return settings

    def _account(self, ctx: TaskContext, body: etree._Element | None,
                 ) -> tuple[ConnectionManager, StorageAccount]:
        ref = str(setting(ctx, body, "ConnectionId", "AzureStorageConnection",
                          default="")).strip()
        cm, text = connection(ctx, ref, E_FOLLOWING_MESSAGE, ("AZURESTORAGE",),
                              "Azure Storage (ConnectionId)")
        key = None
        if any(k.lower() == "accountkey" for k in cm.property_expressions):
            key = cm_property(ctx, cm, "AccountKey")
        return cm, storage_account(cm, text, key=key)

    def _execute(self, ctx: TaskContext, body: etree._Element | None) -> TaskOutcome:
        settings = self._settings(ctx, body)
        cm, account = self._account(ctx, body)
        self.account, self.cm = account, cm
        from azure.storage.blob import BlobServiceClient, LinearRetry

        sdk_log = logging.getLogger("azure")
        if sdk_log.level == logging.NOTSET:  # the SDK's warnings are the task's errors here
            sdk_log.setLevel(logging.ERROR)

        service = BlobServiceClient(
            account.url, credential=account.credential,
            max_single_put_size=CHUNK, max_block_size=CHUNK,
            max_single_get_size=CHUNK, max_chunk_get_size=CHUNK,
            retry_policy=LinearRetry(backoff=1, retry_total=2, random_jitter_range=1),
            connection_timeout=30, read_timeout=120)
        with service:
            container = self._container(service, settings)
            count, size, skipped = self._transfer(container, settings)
        verb = "uploaded" if self.kind == UPLOAD else "downloaded"
        summary = f"{verb} {count} file(s), {size} bytes"
        if skipped:
            summary += f"; {skipped} left as they were (FileAlreadyExistsAction=Skip)"
        ctx.information(0, summary)
        return TaskOutcome(ExecResult.Success)

    def _transfer(self, container: ContainerClient,
                  settings: _Settings) -> tuple[int, int, int]:  # pragma: no cover
        raise NotImplementedError

    # ---------------------------------------------------------------- the service

    def _container(self, service: BlobServiceClient, settings: _Settings) -> ContainerClient:
        from azure.core.exceptions import AzureError

        container = service.get_container_client(settings.container)
        try:
            container.get_container_properties()
        except AzureError as exc:
            if self.account.how == "shared access signature" and \
                    getattr(exc, "status_code", None) == 403:
                return container  # a SAS for the blobs may not read the container
            raise self._failure(exc, settings, "") from None
        return container

    def _failure(self, exc: Exception, settings: _Settings, blob: str) -> TaskSetupError:
        """An SDK error as a message the user can act on."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )

        account, cm = self.account, self.cm
        raw = getattr(exc, "error_code", "") or ""
        code = str(getattr(raw, "value", raw))
        where = f"{settings.container}/{blob}" if blob else f"container '{settings.container}'"
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) or code in (
                "AuthenticationFailed", "AuthorizationFailure",
                "AuthorizationPermissionMismatch") or status == 403:
            return TaskSetupError(E_FOLLOWING_MESSAGE, f"the storage account '{account.name}' "
                                  f"at {account.url} refused the {account.how} of connection "
                                  f"manager '{cm.name}' ({code or status}): check the key, or "
                                  f"give the right one with {_conn_example(cm, account.name)}")
        if code == "ContainerNotFound" or (status == 404 and not blob):
            return TaskSetupError(E_FOLLOWING_MESSAGE, f"the container '{settings.container}' "
                                  f"does not exist in storage account '{account.name}' "
                                  "(BlobContainer)")
        if isinstance(exc, ServiceRequestError):
            return TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot reach the blob service of "
                                  f"storage account '{account.name}' at {account.url} "
                                  f"(connection manager '{cm.name}'): {self._why(exc)}")
        if isinstance(exc, HttpResponseError):
            return TaskSetupError(E_FOLLOWING_MESSAGE, f"the blob service refused {where} "
                                  f"({code or status}): {self._why(exc)}")
        return TaskSetupError(E_FOLLOWING_MESSAGE, f"{where}: {self._why(exc)}")

    def _why(self, exc: Exception) -> str:
        text = str(getattr(exc, "message", "") or exc or type(exc).__name__)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return self.account.clean(first)

    def _check_cancel(self) -> None:
        if self.ctx.cancelled.is_set():
            raise _Cancelled()


class CopyToBlobTask(AzureBlobTask):
    """The Azure Blob Upload Task: files of LocalDirectory to blobs."""

    kind = UPLOAD

    def _files(self, settings: _Settings) -> Iterator[tuple[str, str]]:
        """(path, path relative to LocalDirectory with /) of the files to upload."""
        root = settings.local
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            if not settings.recursive:
                dirs.clear()
            for name in sorted(files):
                if not settings.pattern.fullmatch(name):
                    continue
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                when = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
                if settings.in_range(when):
                    yield path, os.path.relpath(path, root).replace(os.sep, "/")

    def _transfer(self, container: ContainerClient,
                  settings: _Settings) -> tuple[int, int, int]:
        from azure.core.exceptions import AzureError, ResourceExistsError

        count = size = skipped = 0
        for path, rel in self._files(settings):
            self._check_cancel()
            name = settings.prefix + rel
            blob = container.get_blob_client(name)
            where = f"{settings.container}/{name}"
            try:
                if settings.action != "Overwrite" and blob.exists():
                    raise ResourceExistsError("The specified blob already exists.")
                length = os.path.getsize(path)
                with open(path, "rb") as stream:
                    blob.upload_blob(stream, length=length, blob_type="BlockBlob",
                                     overwrite=settings.action == "Overwrite",
                                     max_concurrency=1)
            except ResourceExistsError:
                if settings.action == "Skip":
                    skipped += 1
                    self.ctx.information(0, f"skipped {path}: the blob {where} exists "
                                         "(FileAlreadyExistsAction=Skip)")
                    continue
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot upload {path}: the blob "
                                     f"{where} exists and FileAlreadyExistsAction is Fail") \
                    from None
            except OSError as exc:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot read {path}: "
                                     f"{exc.strerror or exc}") from None
            except AzureError as exc:
                raise self._failure(exc, settings, name) from None
            count += 1
            size += length
            self.ctx.information(0, f"uploaded {path} to {where} ({length} bytes)")
        if not count and not skipped:
            self.ctx.information(0, f"no file in {settings.local_shown} matches "
                                 f"'{settings.pattern_text}'"
                                 + (" (with its subfolders)" if settings.recursive else "")
                                 + " within TimeRangeFrom/TimeRangeTo: nothing to upload")
        return count, size, skipped


class CopyFromBlobTask(AzureBlobTask):
    """The Azure Blob Download Task: blobs of BlobDirectory to files of LocalDirectory."""

    kind = DOWNLOAD

    def _transfer(self, container: ContainerClient,
                  settings: _Settings) -> tuple[int, int, int]:
        from azure.core.exceptions import AzureError

        count = size = skipped = 0
        try:
            listing = list(container.list_blobs(name_starts_with=settings.prefix or None))
        except AzureError as exc:
            raise self._failure(exc, settings, "") from None
        for item in listing:
            name = str(item.name)
            rel = name[len(settings.prefix):]
            if not rel or rel.endswith("/"):
                continue  # a folder marker
            parts = rel.split("/")
            if len(parts) > 1 and not settings.recursive:
                continue
            if not settings.pattern.fullmatch(parts[-1]):
                continue
            if item.last_modified is not None and not settings.in_range(item.last_modified):
                continue
            self._check_cancel()
            if any(p in (".", "..") for p in parts):
                self.ctx.warning(0, f"the blob {settings.container}/{name} is not downloaded: "
                                 "its name is not a safe relative path")
                continue
            target = os.path.join(settings.local, *(p for p in parts if p))
            if os.path.exists(target) and settings.action != "Overwrite":
                if settings.action == "Skip":
                    skipped += 1
                    self.ctx.information(0, f"skipped {settings.container}/{name}: {target} "
                                         "exists (FileAlreadyExistsAction=Skip)")
                    continue
                raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot download "
                                     f"{settings.container}/{name}: the file {target} exists "
                                     "and FileAlreadyExistsAction is Fail")
            length = self._download(container, settings, name, target)
            count += 1
            size += length
            self.ctx.information(0, f"downloaded {settings.container}/{name} to {target} "
                                 f"({length} bytes)")
        if not count and not skipped:
            where = f"{settings.container}/{settings.prefix}"
            self.ctx.information(0, f"no blob under {where} matches '{settings.pattern_text}'"
                                 + (" (with its virtual subfolders)" if settings.recursive
                                    else "")
                                 + " within TimeRangeFrom/TimeRangeTo: nothing to download")
        return count, size, skipped

    def _download(self, container: ContainerClient, settings: _Settings, name: str,
                  target: str) -> int:
        from azure.core.exceptions import AzureError

        folder = os.path.dirname(target)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=folder)
        except OSError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot write into {folder}: "
                                 f"{exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                length = int(container.download_blob(name, max_concurrency=1).readinto(out))
            os.replace(temp, target)
        except AzureError as exc:
            raise self._failure(exc, settings, name) from None
        except OSError as exc:
            raise TaskSetupError(E_FOLLOWING_MESSAGE, f"cannot write {target}: "
                                 f"{exc.strerror or exc}") from None
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        return length
