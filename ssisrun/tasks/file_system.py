"""The File System Task: copies, moves, renames, deletes files and folders, creates folders,
empties them and sets attributes.

Its settings are the attributes of ``FileSystemData`` (spec ssis-runtime.md 5.12); a
property expression replaces one, under SSIS's property name (``Operation``, ``Source``,
``Destination``, ``IsSourcePathVariable``, ``IsDestinationPathVariable``,
``OverwriteDestination``, ``UseDirectoryIfExists``, ``Attributes``) or the attribute's own.

* ``TaskSourcePath`` / ``TaskDestinationPath`` name a FILE connection manager (DTSID or
  name; its connection string, after ``--conn`` and expressions, is the path) or, when
  ``TaskIsSourceVariable`` / ``TaskIsDestinationVariable`` is True, a variable or
  parameter holding the path. A Source or Destination expression that gives a path (it
  names no connection manager and no variable, and holds a slash or backslash) is used as
  that path. Windows paths are mapped with ``--path-map``; UNC paths need a map.
* A source that does not exist fails the task with its path, where it was mapped from and
  which connection or variable gave it; so does an operation without a destination.
* **CopyFile, MoveFile, RenameFile**: a destination that is an existing folder (or a FILE
  connection manager whose ``FileUsageType`` is a folder) receives the file under its own
  name; any other destination is the new file's path (its folder must exist). When that
  file exists and ``TaskOverwriteDestFile`` is False the task fails, as SSIS does
  ("The file '...' already exists."); when True it is replaced. Copies keep the
  modification time and permissions.
* **CreateDirectory** creates missing parents. A folder that exists already is used when
  ``UseDirectoryIfExists`` is True: SSIS keeps that option in ``TaskOverwriteDestFile``
  (the designer writes ``True``), so an existing folder with False fails the task
  (``DTS_E_FSTASK_CANTCREATEDIR``).
* **CopyDirectory** makes the destination a copy of the source folder (the destination is
  the copy, not its parent). **MoveDirectory** moves the folder to the destination path.
  An existing destination fails the task unless ``TaskOverwriteDestFile`` is True: then a
  copy merges into it (replacing files of the same name) and a move replaces it.
* **DeleteFile, DeleteDirectory, DeleteDirectoryContent** need the source to exist; the
  root folder ``/`` is never deleted or emptied.
* **SetAttributes** (``TaskFileAttributes``: ``Normal`` or a list of ``ReadOnly``,
  ``Hidden``, ``Archive``, ``System``): ``ReadOnly`` takes every write permission away;
  without it the owner may write again. ``Hidden``, ``Archive`` and ``System`` have no
  meaning on Linux: a warning says so and nothing else changes.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import TYPE_CHECKING, Any

from ssisrun.errors import SsisrunError
from ssisrun.model import ExecResult
from ssisrun.tasks import Task, TaskOutcome, object_data_body
from ssisrun.tasks._files import (
    E_FOLLOWING_MESSAGE,
    LocalPath,
    TaskSetupError,
    as_bool,
    file_connection_path,
    local_path,
    remove_tree,
    report_failure,
    setting,
    variable_text,
)

if TYPE_CHECKING:
    from lxml import etree

    from ssisrun.runtime.context import TaskContext

# SSIS's codes (DTS_E_FSTASK_*)
E_INVALID_DATA = 0xC0029159
E_DIRECTORY_EXISTS = 0xC002915A
E_DESTINATION_NOT_SET = 0xC002915C
E_SOURCE_NOT_SET = 0xC002915D
E_CONNECTION_NOT_FILE = 0xC002915E
E_VARIABLE_MISSING = 0xC002915F
E_VARIABLE_NOT_STRING = 0xC0029160
E_INVALID_DEST_PATH = 0xC002F306
E_CANT_CREATE_DIR = 0xC002F307
E_NOT_FOUND = 0xC002F30C
E_VARIABLE_EMPTY = 0xC002F30D
W_ATTRIBUTE = 0x80029164

OPERATIONS = ("CopyFile", "MoveFile", "DeleteFile", "RenameFile", "SetAttributes",
              "CreateDirectory", "CopyDirectory", "MoveDirectory", "DeleteDirectory",
              "DeleteDirectoryContent")
#: operations that need a destination
WITH_DESTINATION = frozenset({"CopyFile", "MoveFile", "RenameFile", "CopyDirectory",
                              "MoveDirectory"})
ATTRIBUTES = ("Normal", "ReadOnly", "Hidden", "System", "Archive")


def _operation(value: Any) -> str:
    text = str(value).strip()
    for name in OPERATIONS:
        if name.lower() == text.lower():
            return name
    if text.isdigit() and int(text) < len(OPERATIONS):  # DTSFileSystemOperation's order
        return OPERATIONS[int(text)]
    raise TaskSetupError(E_INVALID_DATA, f"TaskOperationType '{text}' is not a File System "
                         f"operation (one of {', '.join(OPERATIONS)})")


def _attributes(value: Any) -> set[str]:
    result: set[str] = set()
    for part in str(value).replace("|", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name = next((a for a in ATTRIBUTES if a.lower() == part.lower()), None)
        if name is None:
            raise TaskSetupError(E_INVALID_DATA, f"TaskFileAttributes: '{part}' is not one "
                                 f"of {', '.join(ATTRIBUTES)}")
        result.add(name)
    result.discard("Normal")
    return result


class FileSystemTask(Task):
    def execute(self, ctx: TaskContext) -> TaskOutcome:
        body = object_data_body(self.host)
        try:
            operation = _operation(setting(ctx, body, "TaskOperationType", "Operation",
                                           default="CopyFile"))
            overwrite = as_bool("TaskOverwriteDestFile", setting(
                ctx, body, "TaskOverwriteDestFile", "OverwriteDestination",
                *(("UseDirectoryIfExists",) if operation == "CreateDirectory" else ()),
                default="False"), E_INVALID_DATA)
            source = self._path(ctx, body, "Source", operation)
            destination = self._path(ctx, body, "Destination", operation) \
                if operation in WITH_DESTINATION else None
            ctx.information(0, f"{operation}: {source}" +
                            (f" -> {destination}" if destination else ""))
            if operation == "SetAttributes":
                attributes = _attributes(setting(ctx, body, "TaskFileAttributes",
                                                 "Attributes", default="Normal"))
                self._set_attributes(ctx, source, attributes)
            else:
                getattr(self, "_" + operation)(source, destination, overwrite)
        except (SsisrunError, OSError) as exc:
            return report_failure(ctx, exc)
        return TaskOutcome(ExecResult.Success)

    # ---------------------------------------------------------------- paths

    def _path(self, ctx: TaskContext, body: etree._Element | None, role: str,
              operation: str) -> LocalPath:
        attr = "TaskSourcePath" if role == "Source" else "TaskDestinationPath"
        flag_attr = "TaskIsSourceVariable" if role == "Source" else "TaskIsDestinationVariable"
        flag_prop = "IsSourcePathVariable" if role == "Source" else "IsDestinationPathVariable"
        name = str(setting(ctx, body, attr, role, f"{role}Connection",
                           f"{role}Variable", default="")).strip()
        is_variable = as_bool(flag_attr, setting(ctx, body, flag_attr, flag_prop,
                                                 default="False"), E_INVALID_DATA)
        if not name:
            code = E_SOURCE_NOT_SET if role == "Source" else E_DESTINATION_NOT_SET
            raise TaskSetupError(code, f'{role} property of operation "{operation}" not set')
        if is_variable:
            text = variable_text(ctx, name, missing=E_VARIABLE_MISSING,
                                 not_string=E_VARIABLE_NOT_STRING, empty=E_VARIABLE_EMPTY)
            return LocalPath(local_path(ctx, text, E_INVALID_DEST_PATH), text.strip(),
                             f"variable {name}")
        if (("\\" in name or "/" in name) and ctx.scope.find(name) is None
                and not self._is_connection(ctx, name)):
            return LocalPath(local_path(ctx, name, E_INVALID_DEST_PATH), name,
                             f"the {role} property")
        return file_connection_path(ctx, name, code=E_CONNECTION_NOT_FILE,
                                    not_file=E_CONNECTION_NOT_FILE)

    @staticmethod
    def _is_connection(ctx: TaskContext, name: str) -> bool:
        try:
            ctx.connection(name)
        except Exception:
            return False
        return True

    @staticmethod
    def _missing(path: LocalPath, what: str = "File or directory") -> TaskSetupError:
        return TaskSetupError(E_NOT_FOUND, f'{what} {path.quoted} does not exist (from '
                              f"{path.origin}); map Windows paths with --path-map")

    def _existing_file(self, path: LocalPath) -> None:
        if not os.path.exists(path.path):
            raise self._missing(path, "File")
        if os.path.isdir(path.path):
            raise TaskSetupError(E_NOT_FOUND, f'{path.quoted} is a folder, not a file (from '
                                 f"{path.origin})")

    def _existing_folder(self, path: LocalPath) -> None:
        if not os.path.exists(path.path):
            raise self._missing(path, "Directory")
        if not os.path.isdir(path.path):
            raise TaskSetupError(E_NOT_FOUND, f'{path.quoted} is a file, not a folder (from '
                                 f"{path.origin})")

    @staticmethod
    def _not_root(path: LocalPath) -> None:
        if os.path.realpath(path.path) == os.path.sep:
            raise TaskSetupError(E_INVALID_DEST_PATH, f'{path.quoted} is the root folder; '
                                 "ssisrun never deletes or empties it")

    def _file_target(self, source: LocalPath, destination: LocalPath | None,
                     overwrite: bool) -> str:
        assert destination is not None
        target = destination.path
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(source.path))
        elif destination.is_folder_usage:
            raise TaskSetupError(E_NOT_FOUND, f'Directory {destination.quoted} does not exist '
                                 f"(from {destination.origin})")
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise TaskSetupError(E_NOT_FOUND, f'the destination folder "{parent}" does not '
                                 f"exist (destination {destination}, from "
                                 f"{destination.origin})")
        if os.path.lexists(target):
            if os.path.isdir(target):
                raise TaskSetupError(E_INVALID_DEST_PATH, f'the destination "{target}" is a '
                                     "folder")
            if not overwrite:
                raise TaskSetupError(E_FOLLOWING_MESSAGE, "An error occurred with the "
                                     f"following error message: \"The file '{target}' "
                                     "already exists.\" (TaskOverwriteDestFile is False)")
        return target

    # ---------------------------------------------------------------- operations

    def _CopyFile(self, source: LocalPath, destination: LocalPath | None,
                  overwrite: bool) -> None:
        self._existing_file(source)
        target = self._file_target(source, destination, overwrite)
        if os.path.exists(target):
            os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR)
        shutil.copy2(source.path, target)

    def _MoveFile(self, source: LocalPath, destination: LocalPath | None,
                  overwrite: bool) -> None:
        self._existing_file(source)
        target = self._file_target(source, destination, overwrite)
        if os.path.abspath(target) == os.path.abspath(source.path):
            return
        try:
            os.replace(source.path, target)
        except OSError:  # another file system
            shutil.copy2(source.path, target)
            os.unlink(source.path)

    _RenameFile = _MoveFile

    def _DeleteFile(self, source: LocalPath, destination: LocalPath | None,
                    overwrite: bool) -> None:
        self._existing_file(source)
        os.unlink(source.path)

    def _CreateDirectory(self, source: LocalPath, destination: LocalPath | None,
                         overwrite: bool) -> None:
        if os.path.isdir(source.path):
            if not overwrite:
                raise TaskSetupError(E_CANT_CREATE_DIR, f'Can not create directory {source.quoted}'
                                     ": it exists and UseDirectoryIfExists "
                                     "(TaskOverwriteDestFile) is False")
            return
        if os.path.lexists(source.path):
            raise TaskSetupError(E_CANT_CREATE_DIR, f'Can not create directory {source.quoted}: '
                                 "a file of that name exists")
        os.makedirs(source.path)

    def _CopyDirectory(self, source: LocalPath, destination: LocalPath | None,
                       overwrite: bool) -> None:
        assert destination is not None
        self._existing_folder(source)
        if os.path.exists(destination.path):
            if not overwrite or not os.path.isdir(destination.path):
                raise TaskSetupError(E_DIRECTORY_EXISTS, f'The directory {destination.quoted} '
                                     "already exists (TaskOverwriteDestFile is False)")
        shutil.copytree(source.path, destination.path, symlinks=True, dirs_exist_ok=True)

    def _MoveDirectory(self, source: LocalPath, destination: LocalPath | None,
                       overwrite: bool) -> None:
        assert destination is not None
        self._existing_folder(source)
        self._not_root(source)
        if os.path.lexists(destination.path):
            if not overwrite:
                raise TaskSetupError(E_DIRECTORY_EXISTS, f'The directory {destination.quoted} '
                                     "already exists (TaskOverwriteDestFile is False)")
            self._not_root(destination)
            if os.path.isdir(destination.path) and not os.path.islink(destination.path):
                remove_tree(destination.path)
            else:
                os.unlink(destination.path)
        shutil.move(source.path, destination.path)

    def _DeleteDirectory(self, source: LocalPath, destination: LocalPath | None,
                         overwrite: bool) -> None:
        self._existing_folder(source)
        self._not_root(source)
        remove_tree(source.path)

    def _DeleteDirectoryContent(self, source: LocalPath, destination: LocalPath | None,
                                overwrite: bool) -> None:
        self._existing_folder(source)
        self._not_root(source)
        for entry in os.scandir(source.path):
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)

    def _set_attributes(self, ctx: TaskContext, source: LocalPath,
                        attributes: set[str]) -> None:
        if not os.path.lexists(source.path):
            raise self._missing(source)
        mode = os.stat(source.path).st_mode
        if "ReadOnly" in attributes:
            mode &= ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        else:
            mode |= stat.S_IWUSR
        os.chmod(source.path, stat.S_IMODE(mode))
        ignored = sorted(attributes - {"ReadOnly"})
        if ignored:
            ctx.warning(W_ATTRIBUTE, f"{', '.join(ignored)}: no such attribute on Linux; "
                        f'{source.quoted} is unchanged in that respect')
