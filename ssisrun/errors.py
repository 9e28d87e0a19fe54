"""The errors ssisrun reports to its users, each mapped to one dtexec exit code.

dtexec's exit codes (spec, ssis-runtime.md 1.9):

====  =====================================================================
0     the package ran successfully
1     the package failed
3     the package was cancelled by the user
4     the package could not be found
5     the package could not be loaded
6     the command line could not be parsed (an internal or syntax error)
====  =====================================================================

Nothing below the CLI prints or exits: the library raises one of these, and the
CLI turns it into a message and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """dtexec's exit codes, which ssisrun keeps."""

    SUCCESS = 0
    FAILURE = 1
    CANCELLED = 3
    NOT_FOUND = 4
    CANNOT_LOAD = 5
    BAD_COMMAND_LINE = 6


class SsisrunError(Exception):
    """Base of every error ssisrun reports to a user; never shown with a traceback."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class PackageNotFoundError(SsisrunError):
    """The package file, project folder or .ispac does not exist (exit code 4)."""

    exit_code = ExitCode.NOT_FOUND


class PackageLoadError(SsisrunError):
    """The file exists but is not a package ssisrun can load: not XML, not a package,
    encrypted as a whole, or malformed in a way that leaves no runnable model (exit code 5)."""

    exit_code = ExitCode.CANNOT_LOAD


class EncryptedPackageError(PackageLoadError):
    """The whole package is encrypted (EncryptAllWithPassword / EncryptAllWithUserKey)."""


class ProjectError(PackageLoadError):
    """A project folder, .dtproj, Project.params, .conmgr or .ispac cannot be read."""


class UsageError(SsisrunError):
    """The command line is wrong: an unknown option, a bad value (exit code 6)."""

    exit_code = ExitCode.BAD_COMMAND_LINE


class ExpressionError(SsisrunError):
    """An SSIS expression does not parse, does not type-check or fails to evaluate.

    ``expression`` is the expression text, ``position`` the 0-based offset of the
    fault in it (or None), ``executable`` the path of the executable that owns it
    (``\\Package\\Load``) and ``property`` the property it sets, when known.
    """

    exit_code = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        *,
        expression: str | None = None,
        position: int | None = None,
        executable: str | None = None,
        property: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.expression = expression
        self.position = position
        self.executable = executable
        self.property = property

    def __str__(self) -> str:
        head = super().__str__()
        where = []
        if self.executable:
            where.append(self.executable)
        if self.property:
            where.append(f"property {self.property}")
        if where:
            head = f"{' '.join(where)}: {head}"
        if self.expression is None:
            return head
        text = self.expression.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        lines = [head, f"  {text}"]
        if self.position is not None:
            lines.append("  " + " " * max(0, min(self.position, len(text))) + "^")
        return "\n".join(lines)
