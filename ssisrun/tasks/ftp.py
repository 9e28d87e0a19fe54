"""The FTP Task: sends, receives and deletes files, makes and removes folders, on this
machine and on an FTP server.

Its settings are the attributes of ``FtpData`` (spec ssis-runtime.md 5.12):
``ConnectionName`` (the FTP connection manager), ``TaskOperationType`` (``Send`` when
left out, ``Receive``, ``DeleteLocal``, ``DeleteRemote``, ``MakeDirLocal``,
``MakeDirRemote``, ``RemoveDirLocal``, ``RemoveDirRemote``), ``TaskLocalPath`` +
``TaskIsLocalPathVar``, ``TaskRemotePath`` + ``TaskIsRemotePathVar``,
``TaskOverwriteDest``, ``TaskTransferAscii`` (also read as ``TaskIsTransferAscii``) and
``StopOnFailure`` (True when left out). A property expression replaces one under SSIS's
property name (``Connection``, ``Operation``, ``LocalPath``, ``RemotePath``,
``IsLocalPathVariable``, ``IsRemotePathVariable``, ``OverwriteDestination``,
``IsTransferTypeASCII``, ``StopOnOperationFailure``) or the attribute's own.

* The server settings are the FTP connection manager's (:mod:`ssisrun.tasks._files`):
  ``UsePassiveMode`` (False: active mode, as SSIS), ``TimeOut`` (seconds, 60), ``Retries``
  (connection attempts after the first, 5), ``ChunkSize`` (KB per read or write, 1). The
  password is encrypted in real packages: give it with ``--conn``.
* The local path is a FILE connection manager, or a variable when ``TaskIsLocalPathVar``;
  it is mapped with ``--path-map``. The remote path is the text itself, or a variable,
  and must start with ``/``.
* **Send**: the local path is a file, or (from a variable) a pattern with ``*`` and ``?``
  in the file name (matched case-insensitively); the remote path is the folder that
  receives them. **Receive**: the remote path is a file or a pattern in the file name
  (matched as the server spells names); the local path is the folder that receives them.
  A pattern that matches nothing fails the task naming it. A file that exists at the
  destination fails the task unless ``TaskOverwriteDest`` is True. Received files are
  written whole or not at all (a temporary file renamed at the end).
* ``TaskTransferAscii`` True transfers in ASCII mode: line ends become ``\\n`` here and
  CRLF on the wire.
* **DeleteLocal** / **DeleteRemote** delete the file or every file the pattern matches.
  **MakeDirLocal** creates missing parents; an existing folder fails the task
  ("already exists"), as in SSIS. **RemoveDirLocal** removes the folder and what it holds;
  **RemoveDirRemote** sends RMD, which most servers refuse for a folder that is not empty.
* With several files, ``StopOnFailure`` True stops at the first file that fails; False
  reports it as a warning and goes on with the others (the task then succeeds).
* A cancelled run stops between two files; the task's result is Canceled.
"""

from __future__ import annotations

import fnmatch
import ftplib
import os
import posixpath
import tempfile
import time
from typing import IO, TYPE_CHECKING

from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    FtpSettings,
    LocalPath,
    TaskSetupError,
    as_bool,
    connection,
    file_connection_path,
    ftp_settings,
    local_path,
    remove_tree,
    setting,
    variable_text,
)

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.runtime.context import TaskContext

# SSIS's codes (DTS_E_FTPTASK_*)
E_LOCAL_PATH_EMPTY = 0xC002916D
E_REMOTE_PATH_EMPTY = 0xC002916E
E_INVALID_DATA = 0xC0029171
E_CONNECTION_NAME_NULL = 0xC0029172
E_CONNECTION_NOT_FTP = 0xC0029173
E_NO_FILES_AT_LOCATION = 0xC0029178
E_VARIABLE_EMPTY = 0xC0029179
E_VARIABLE_NOT_STRING = 0xC002917D
E_VARIABLE_NOT_FOUND = 0xC002917E
E_DIRECTORY_EXISTS = 0xC0029180
E_CONNECTION_NOT_FILE = 0xC0029182
E_FILE_DOES_NOT_EXIST = 0xC0029183
E_NO_FILES_FOUND = 0xC0029185
E_DELETE_LOCAL = 0xC0029187
E_REMOVE_LOCAL_DIR = 0xC0029188
E_CREATE_LOCAL_DIR = 0xC0029189
E_RECEIVE = 0xC002918A
E_SEND = 0xC002918B
E_MAKE_REMOTE_DIR = 0xC002918C
E_REMOVE_REMOTE_DIR = 0xC002918D
E_DELETE_REMOTE = 0xC002918E
E_CONNECT = 0xC002918F
E_INVALID_REMOTE_PATH = 0xC0029191

OPERATIONS = ("Send", "Receive", "DeleteLocal", "DeleteRemote", "MakeDirLocal",
              "MakeDirRemote", "RemoveDirLocal", "RemoveDirRemote")
LOCAL_OPERATIONS = frozenset({"Send", "Receive", "DeleteLocal", "MakeDirLocal",
                              "RemoveDirLocal"})
REMOTE_OPERATIONS = frozenset({"Send", "Receive", "DeleteRemote", "MakeDirRemote",
                               "RemoveDirRemote"})


def _has_wildcard(name: str) -> bool:
    return "*" in name or "?" in name


class _Cancelled(Exception):
    pass


class FtpTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        try:
            return self._execute(ctx, body)
        except TaskSetupError as exc:
            ctx.error(exc.code, exc.message)
            return TaskOutcome(ExecResult.Failure)
        except _Cancelled:
            ctx.information(0, "the run was cancelled: the FTP task stopped between files")
            return TaskOutcome(ExecResult.Canceled)

    def _execute(self, ctx: TaskContext, body: etree._Element | None) -> TaskOutcome:
        def flag(attr: str, *props: str, default: str = "False") -> bool:
            return as_bool(attr, setting(ctx, body, attr, *props, default=default),
                           E_INVALID_DATA)

        op_text = str(setting(ctx, body, "TaskOperationType", "Operation",
                              default="Send")).strip()
        operation = next((o for o in OPERATIONS if o.lower() == op_text.lower()), None)
        if operation is None and op_text.isdigit() and int(op_text) < len(OPERATIONS):
            operation = OPERATIONS[int(op_text)]  # DTSFTPOp's order
        if operation is None:
            raise TaskSetupError(E_INVALID_DATA, f"TaskOperationType '{op_text}' is not an "
                                 f"FTP operation (one of {', '.join(OPERATIONS)})")
        self.overwrite = flag("TaskOverwriteDest", "OverwriteDestination")
        ascii_default = str(setting(ctx, body, "TaskIsTransferAscii", default="False"))
        self.ascii = flag("TaskTransferAscii", "IsTransferTypeASCII",
                          default=ascii_default)
        self.stop_on_failure = flag("StopOnFailure", "StopOnOperationFailure",
                                    default="True")
        self.ctx = ctx
        self.failures = 0

        local = self._local(ctx, body) if operation in LOCAL_OPERATIONS else None
        remote = self._remote(ctx, body) if operation in REMOTE_OPERATIONS else None
        if operation in ("DeleteLocal", "MakeDirLocal", "RemoveDirLocal"):
            assert local is not None
            getattr(self, "_" + operation)(local)
            return TaskOutcome(ExecResult.Success)

        ref = str(setting(ctx, body, "ConnectionName", "Connection", default="")).strip()
        if not ref:
            raise TaskSetupError(E_CONNECTION_NAME_NULL, "The connection is empty. Verify "
                                 "that a valid FTP connection is provided (ConnectionName)")
        cm, text = connection(ctx, ref, E_CONNECTION_NAME_NULL, ("FTP",), "FTP",
                              E_CONNECTION_NOT_FTP)
        settings = ftp_settings(ctx, cm, text, E_CONNECT)
        self.blocksize = settings.chunk_size * 1024
        ftp = self._connect(ctx, settings, cm.name)
        try:
            assert remote is not None
            if operation == "Send":
                assert local is not None
                self._send(ftp, local, remote)
            elif operation == "Receive":
                assert local is not None
                self._receive(ftp, remote, local)
            else:
                getattr(self, "_" + operation)(ftp, remote)
        except ftplib.all_errors as exc:
            raise TaskSetupError({"Send": E_SEND, "Receive": E_RECEIVE,
                                  "DeleteRemote": E_DELETE_REMOTE,
                                  "MakeDirRemote": E_MAKE_REMOTE_DIR,
                                  "RemoveDirRemote": E_REMOVE_REMOTE_DIR}[operation],
                                 f"{operation} on {settings.address} failed: "
                                 f"{self._clean(exc, settings)}") from None
        finally:
            try:
                ftp.quit()
            except ftplib.all_errors:
                ftp.close()
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- paths

    def _local(self, ctx: TaskContext, body: etree._Element | None) -> LocalPath:
        name = str(setting(ctx, body, "TaskLocalPath", "LocalPath", "LocalVariable",
                           default="")).strip()
        is_var = as_bool("TaskIsLocalPathVar", setting(ctx, body, "TaskIsLocalPathVar",
                                                       "IsLocalPathVariable",
                                                       default="False"), E_INVALID_DATA)
        if not name:
            raise TaskSetupError(E_LOCAL_PATH_EMPTY, "The local path is empty "
                                 "(TaskLocalPath)")
        if is_var:
            text = variable_text(ctx, name, missing=E_VARIABLE_NOT_FOUND,
                                 not_string=E_VARIABLE_NOT_STRING, empty=E_VARIABLE_EMPTY)
            return LocalPath(local_path(ctx, text, E_LOCAL_PATH_EMPTY), text.strip(),
                             f"variable {name}")
        return file_connection_path(ctx, name, code=E_CONNECTION_NOT_FILE,
                                    not_file=E_CONNECTION_NOT_FILE)

    def _remote(self, ctx: TaskContext, body: etree._Element | None) -> str:
        name = str(setting(ctx, body, "TaskRemotePath", "RemotePath", "RemoteVariable",
                           default="")).strip()
        is_var = as_bool("TaskIsRemotePathVar", setting(ctx, body, "TaskIsRemotePathVar",
                                                        "IsRemotePathVariable",
                                                        default="False"), E_INVALID_DATA)
        if not name:
            raise TaskSetupError(E_REMOTE_PATH_EMPTY, "The remote path is empty "
                                 "(TaskRemotePath)")
        if is_var:
            name = variable_text(ctx, name, missing=E_VARIABLE_NOT_FOUND,
                                 not_string=E_VARIABLE_NOT_STRING,
                                 empty=E_VARIABLE_EMPTY).strip()
        if not name.startswith("/"):
            raise TaskSetupError(E_INVALID_REMOTE_PATH, f'Remote path "{name}" doesn\'t '
                                 'start with "/"')
        return name

    # ---------------------------------------------------------------- the server

    @staticmethod
    def _clean(exc: BaseException, settings: FtpSettings) -> str:
        text = str(exc) or type(exc).__name__
        return text.replace(settings.password, "********") if settings.password else text

    def _connect(self, ctx: TaskContext, settings: FtpSettings, name: str) -> ftplib.FTP:
        attempts = settings.retries + 1
        last = ""
        for attempt in range(attempts):
            self._check_cancel()
            ftp = ftplib.FTP(timeout=settings.timeout)
            try:
                ftp.connect(settings.server, settings.port)
                ftp.login(settings.user, settings.password)
                ftp.set_pasv(settings.passive)
                ctx.information(0, f"connected to FTP server {settings.address} as "
                                f"{settings.user} (connection '{name}')")
                return ftp
            except ftplib.error_perm as exc:  # a refused login: trying again cannot help
                ftp.close()
                raise TaskSetupError(E_CONNECT, f"Unable to connect to FTP server using "
                                     f'"{name}" ({settings.address}, user {settings.user}): '
                                     f"{self._clean(exc, settings)}") from None
            except (OSError, EOFError, ftplib.Error) as exc:
                ftp.close()
                last = self._clean(exc, settings)
                if attempt + 1 < attempts:
                    time.sleep(min(1.0, 0.1 * (attempt + 1)))
        raise TaskSetupError(E_CONNECT, f'Unable to connect to FTP server using "{name}" '
                             f"({settings.address}) after {attempts} attempt(s): {last}")

    def _check_cancel(self) -> None:
        if self.ctx.cancelled.is_set():
            raise _Cancelled()

    def _remote_names(self, ftp: ftplib.FTP, folder: str) -> list[str]:
        try:
            names = ftp.nlst(folder)
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return []
            raise
        return [posixpath.basename(n.rstrip("/")) for n in names]

    def _failed(self, code: int, message: str) -> None:
        if self.stop_on_failure:
            raise TaskSetupError(code, message)
        self.failures += 1
        self.ctx.warning(code, message + " (StopOnFailure is False: going on)")

    # ---------------------------------------------------------------- transfers

    def _local_files(self, local: LocalPath) -> list[str]:
        folder, pattern = os.path.split(local.path)
        if not _has_wildcard(pattern):
            if not os.path.isfile(local.path):
                raise TaskSetupError(E_FILE_DOES_NOT_EXIST, f"File represented by "
                                     f"{local.quoted} does not exist (from {local.origin})")
            return [local.path]
        if not os.path.isdir(folder or "."):
            raise TaskSetupError(E_NO_FILES_AT_LOCATION, f"There are no files at "
                                 f"{local.quoted}: no folder {folder}")
        found = sorted(os.path.join(folder, entry.name) for entry in os.scandir(folder or ".")
                       if entry.is_file() and fnmatch.fnmatch(entry.name.lower(),
                                                              pattern.lower()))
        if not found:
            raise TaskSetupError(E_NO_FILES_AT_LOCATION, f"There are no files at "
                                 f"{local.quoted} (from {local.origin})")
        return found

    def _send(self, ftp: ftplib.FTP, local: LocalPath, remote: str) -> None:
        files = self._local_files(local)
        existing = set(self._remote_names(ftp, remote))
        for path in files:
            self._check_cancel()
            name = os.path.basename(path)
            target = posixpath.join(remote, name)
            if name in existing and not self.overwrite:
                self._failed(E_SEND, f'Unable to send "{path}": the remote file {target} '
                             "exists and TaskOverwriteDest is False")
                continue
            with open(path, "rb") as f:
                if self.ascii:
                    ftp.storlines(f"STOR {target}", f)
                else:
                    ftp.storbinary(f"STOR {target}", f, blocksize=self.blocksize)
            self.ctx.information(0, f"sent {path} to {target}")

    def _receive(self, ftp: ftplib.FTP, remote: str, local: LocalPath) -> None:
        if not os.path.isdir(local.path):
            raise TaskSetupError(E_RECEIVE, f"the local folder {local.quoted} does not exist "
                                 f"(from {local.origin}); Receive needs a folder")
        folder, pattern = posixpath.split(remote)
        if _has_wildcard(pattern):
            names = sorted(n for n in self._remote_names(ftp, folder or "/")
                           if fnmatch.fnmatchcase(n, pattern))
        else:
            names = [pattern] if pattern in self._remote_names(ftp, folder or "/") else []
        if not names:
            raise TaskSetupError(E_NO_FILES_FOUND, f'No files found in "{remote}"')
        for name in names:
            self._check_cancel()
            source = posixpath.join(folder, name)
            target = os.path.join(local.path, name)
            if os.path.exists(target) and not self.overwrite:
                self._failed(E_RECEIVE, f'Unable to receive "{source}": the local file '
                             f"{target} exists and TaskOverwriteDest is False")
                continue
            fd, temp = tempfile.mkstemp(prefix=".ssisrun-", dir=local.path)
            try:
                with os.fdopen(fd, "wb") as out:
                    if self.ascii:
                        def write_line(line: str, out: IO[bytes] = out,
                                       encoding: str = ftp.encoding) -> None:
                            out.write(line.encode(encoding) + b"\n")

                        ftp.retrlines(f"RETR {source}", write_line)
                    else:
                        ftp.retrbinary(f"RETR {source}", out.write,
                                       blocksize=self.blocksize)
                os.replace(temp, target)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
            self.ctx.information(0, f"received {source} into {target}")

    # ---------------------------------------------------------------- remote

    def _remote_matches(self, ftp: ftplib.FTP, remote: str) -> list[str]:
        folder, pattern = posixpath.split(remote)
        names = self._remote_names(ftp, folder or "/")
        matches = [n for n in names if fnmatch.fnmatchcase(n, pattern)] \
            if _has_wildcard(pattern) else [n for n in names if n == pattern]
        if not matches:
            raise TaskSetupError(E_NO_FILES_FOUND, f'No files found in "{remote}"')
        return [posixpath.join(folder, n) for n in sorted(matches)]

    def _DeleteRemote(self, ftp: ftplib.FTP, remote: str) -> None:
        for path in self._remote_matches(ftp, remote):
            self._check_cancel()
            try:
                ftp.delete(path)
            except ftplib.error_perm as exc:
                self._failed(E_DELETE_REMOTE, f'Unable to delete remote file "{path}": {exc}')

    def _MakeDirRemote(self, ftp: ftplib.FTP, remote: str) -> None:
        ftp.mkd(remote)

    def _RemoveDirRemote(self, ftp: ftplib.FTP, remote: str) -> None:
        ftp.rmd(remote)

    # ---------------------------------------------------------------- local

    def _DeleteLocal(self, local: LocalPath) -> None:
        for path in self._local_files(local):
            self._check_cancel()
            try:
                os.unlink(path)
            except OSError as exc:
                self._failed(E_DELETE_LOCAL, f'Unable to delete local file "{path}": '
                             f"{exc.strerror or exc}")

    def _MakeDirLocal(self, local: LocalPath) -> None:
        if os.path.exists(local.path):
            raise TaskSetupError(E_DIRECTORY_EXISTS, f"{local.quoted} already exists "
                                 f"(from {local.origin})")
        try:
            os.makedirs(local.path)
        except OSError as exc:
            raise TaskSetupError(E_CREATE_LOCAL_DIR, f"Unable to create local directory "
                                 f"{local.quoted}: {exc.strerror or exc}") from None

    def _RemoveDirLocal(self, local: LocalPath) -> None:
        if not os.path.isdir(local.path):
            raise TaskSetupError(E_REMOVE_LOCAL_DIR, f"Unable to remove local directory "
                                 f"{local.quoted}: it does not exist (from {local.origin})")
        if os.path.realpath(local.path) == os.path.sep:
            raise TaskSetupError(E_REMOVE_LOCAL_DIR, "ssisrun never removes the root folder")
        try:
            remove_tree(local.path)
        except OSError as exc:
            raise TaskSetupError(E_REMOVE_LOCAL_DIR, f"Unable to remove local directory "
                                 f"{local.quoted}: {exc.strerror or exc}") from None

