"""``ssisrun dtexec``: dtexec's own command line, so a script that called dtexec works by
changing only the program's name.

The options (spec ssis-runtime.md 1.2, 1.3) start with ``/`` or ``-``, in any case, by
their documented short form (``/Conf``), their full name (``/ConfigFile``) or any
length in between; a value follows after a space or a colon (``/F pkg.dtsx``,
``/F:pkg.dtsx``); the last of a repeated option wins, while ``/Set``, ``/Par``,
``/Conn`` and ``/ConfigFile`` add up and apply in the order given. Values keep
dtexec's quoting: ``/Conn "Src";"Data Source=x;..."``, a doubled quote inside a quoted
part is one quote. The options are translated into a
:class:`~ssisrun.commands.exec.ExecOptions` and run by ``ssisrun exec``'s own
implementation: there is one way to run a package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ssisrun.commands.exec import ExecOptions, run_exec

if TYPE_CHECKING:
    from ssisrun.model import Package


@dataclass(frozen=True, slots=True)
class DtexecOption:
    """One dtexec option: ``short`` is the part outside the brackets of the documented
    ``/Conf[igFile]``, ``full`` the whole name; ``value`` is none, optional or required."""

    short: str
    full: str
    value: str = "required"
    #: why ssisrun refuses it (exit 6), or "" when it is supported or ignored
    refused: str = ""
    ignored: bool = False

    def matches(self, name: str) -> bool:
        word = name.lower()
        return word.startswith(self.short.lower()) and self.full.lower().startswith(word)


_NO_STORE = ("ssisrun runs packages from files: use /F[ile] package.dtsx, or /Proj[ect] "
             "with /Pack[age]")

OPTIONS: tuple[DtexecOption, ...] = (
    DtexecOption("?", "?", "optional"),
    DtexecOption("H", "Help", "optional"),
    DtexecOption("Ca", "CallerInfo", ignored=True),
    DtexecOption("CheckF", "CheckFile", "optional"),
    DtexecOption("CheckP", "CheckPointing", "optional"),
    DtexecOption("Com", "CommandFile"),
    DtexecOption("Conf", "ConfigFile"),
    DtexecOption("Conn", "Connection"),
    DtexecOption("Cons", "ConsoleLog", "optional",
                 refused="/ConsoleLog is not supported yet: use --log-json FILE with "
                 "ssisrun exec for the log entries"),
    DtexecOption("D", "Dts", refused=_NO_STORE + " (there is no SSIS Package Store here)"),
    DtexecOption("De", "Decrypt", "optional"),
    DtexecOption("Dump", "Dump", ignored=True),
    DtexecOption("DumpOnError", "DumpOnError", "none", ignored=True),
    DtexecOption("Env", "EnvReference", refused="/EnvReference belongs to /ISServer runs "
                 "(there is no SSIS catalog here)"),
    DtexecOption("F", "File"),
    DtexecOption("ISServer", "ISServer", refused=_NO_STORE + " (there is no SSIS catalog "
                 "here)"),
    DtexecOption("L", "Logger", refused="/Logger is not supported yet: use --log-json FILE "
                 "or --junit FILE with ssisrun exec"),
    DtexecOption("M", "MaxConcurrent"),
    DtexecOption("Pack", "Package"),
    DtexecOption("P", "Password", refused="/Password is for packages stored in SQL Server "
                 "(/SQL); " + _NO_STORE),
    DtexecOption("Par", "Parameter"),
    DtexecOption("Proj", "Project"),
    DtexecOption("Rem", "Rem", "optional", ignored=True),
    DtexecOption("Rep", "Reporting"),
    DtexecOption("Res", "Restart", "optional"),
    DtexecOption("Set", "Set"),
    DtexecOption("Ser", "Server", refused="/Server is for /SQL, /DTS and /ISServer; "
                 + _NO_STORE),
    DtexecOption("SQ", "SQL", refused=_NO_STORE + " (not from msdb)"),
    DtexecOption("Su", "Sum", "none", ignored=True),
    DtexecOption("U", "User", refused="/User is for packages stored in SQL Server (/SQL); "
                 + _NO_STORE),
    DtexecOption("Va", "Validate", "none"),
    DtexecOption("VerifyB", "VerifyBuild"),
    DtexecOption("VerifyP", "VerifyPackageID"),
    DtexecOption("VerifyS", "VerifySigned", "none",
                 refused="/VerifySigned cannot be honoured: ssisrun cannot check package "
                 "signatures"),
    DtexecOption("VerifyV", "VerifyVersionID"),
    DtexecOption("VLog", "VLog", "optional",
                 refused="/VLog is not supported yet (the package's log providers do not "
                 "run): use --log-json FILE with ssisrun exec"),
    DtexecOption("W", "WarnAsError", "none"),
    DtexecOption("X86", "X86", "none", ignored=True),
)


def find_option(name: str) -> DtexecOption | None:
    """The option ``name`` (without its ``/``) abbreviates, or None."""
    found = [o for o in OPTIONS if o.matches(name)]
    if not found:
        return None
    return max(found, key=lambda o: len(o.short))


# --------------------------------------------------------------------------- values


def split_value(text: str, limit: int = -1) -> list[str]:
    """Split at ``;`` outside double quotes and brackets, at most ``limit`` times; each
    part loses its surrounding quotes, and a doubled quote inside quotes is one quote."""
    parts: list[str] = []
    current = ""
    quoted = False
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            if quoted and text[i + 1:i + 2] == '"':
                current += '"'
                i += 2
                continue
            quoted = not quoted
        elif char == "[" and not quoted:
            depth += 1
            current += char
        elif char == "]" and not quoted and depth:
            depth -= 1
            current += char
        elif char == ";" and not quoted and not depth and (limit < 0 or len(parts) < limit):
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts


def _read_command_file(path: str) -> list[str]:
    """The options of a /CommandFile: whitespace-separated, double quotes group, a
    doubled quote inside quotes is one quote."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise click.UsageError(f"/CommandFile {path}: {exc.strerror or exc}") from None
    tokens: list[str] = []
    current: str | None = None
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            if quoted and text[i + 1:i + 2] == '"':
                current = (current or "") + '"'
                i += 2
                continue
            quoted = not quoted
            current = current or ""
        elif char.isspace() and not quoted:
            if current is not None:
                tokens.append(current)
            current = None
        else:
            current = (current or "") + char
        i += 1
    if current is not None:
        tokens.append(current)
    return tokens


# --------------------------------------------------------------------------- parsing


@dataclass(slots=True)
class _Given:
    option: DtexecOption
    spelled: str
    value: str | None


def parse_arguments(args: list[str]) -> list[_Given]:
    """dtexec's arguments as (option, value) pairs in order; /CommandFile is read in
    place, /Rem dropped. Raises click.UsageError (exit 6) for anything else."""
    given: list[_Given] = []
    tokens = list(args)
    i = 0
    depth = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token[:1] not in ("/", "-") or len(token) < 2:
            raise click.UsageError(f"'{token}' is not a dtexec option: options start with "
                                   "/ or - (e.g. /F package.dtsx)")
        name, colon, inline = token[1:].partition(":")
        option = find_option(name)
        if option is None:
            raise click.UsageError(f"unknown dtexec option {token[:1]}{name}: see "
                                   "ssisrun dtexec /?")
        value: str | None = inline if colon else None
        if value is None and option.value != "none" and i < len(tokens):
            nxt = tokens[i]
            looks_like_option = nxt[:1] in ("/", "-") and find_option(
                nxt[1:].partition(":")[0]) is not None
            if option.value == "required" or not looks_like_option:
                value = nxt
                i += 1
        if option.value == "required" and value is None:
            raise click.UsageError(f"{token[:1]}{name} needs a value")
        if option.value == "none" and colon:
            raise click.UsageError(f"{token[:1]}{name} takes no value")
        if option.full == "CommandFile":
            depth += 1
            if depth > 32:
                raise click.UsageError("/CommandFile files include each other too deeply")
            tokens[i:i] = _read_command_file(value or "")
            continue
        given.append(_Given(option, f"{token[:1]}{name}", value))
    return given


def translate(args: list[str]) -> ExecOptions | str:
    """dtexec's arguments as the options of ``ssisrun exec``, or the help text to print
    (for ``/?``). Raises click.UsageError (exit 6) for an option that is unknown,
    refused or wrongly used."""
    from ssisrun.runtime.request import RunRequest
    from ssisrun.runtime.setvalues import CONFIG_FILE

    request = RunRequest()
    options = ExecOptions(request=request, resume_args=["/Restart", "ifPossible"])
    checks: dict[str, Callable[[Package], str | None]] = {}
    given = parse_arguments(args)
    if not given:
        raise click.UsageError("give the package: ssisrun dtexec /F package.dtsx [options]")
    for item in given:
        opt, value = item.option, item.value or ""
        full = opt.full
        if opt.refused:
            raise click.UsageError(f"{item.spelled}: {opt.refused}")
        if opt.ignored:
            continue
        if full in ("?", "Help"):
            return help_text()
        if full == "File":
            options.package_file = value
        elif full == "Project":
            options.project_path = value
        elif full == "Package":
            options.package_name = value
        elif full == "ConfigFile":
            request.set_values.append((CONFIG_FILE, value))
        elif full == "Set":
            parts = split_value(value, 1)
            if len(parts) != 2 or not parts[0].strip():
                raise click.UsageError(f"{item.spelled} takes propertyPath;value, got "
                                       f"'{value}'")
            request.set_values.append((parts[0].strip(), parts[1]))
        elif full == "Connection":
            _connections(item, value, request.connections)
        elif full == "Parameter":
            _parameter(item, value, request)
        elif full == "MaxConcurrent":
            try:
                request.max_concurrent = int(value)
            except ValueError:
                raise click.UsageError(f"{item.spelled} takes a number (-1: cores + 2), "
                                       f"got '{value}'") from None
            if request.max_concurrent < -1:
                raise click.UsageError(f"{item.spelled} takes -1 or a positive number")
        elif full == "Reporting":
            level = split_value(value, 1)[0].replace(",", "").replace(" ", "").upper()
            options.reporting = level or "EWP"
        elif full == "Validate":
            options.validate = True
        elif full == "WarnAsError":
            request.warn_as_error = True
        elif full == "Decrypt":
            from ssisrun.commands.options import use_package_password

            use_package_password(value or "")
        elif full == "CheckFile":
            request.set_values.append(("\\Package.Properties[CheckpointFileName]", value))
        elif full == "CheckPointing":
            on = (value or "on").lower()
            if on not in ("on", "off"):
                raise click.UsageError(f"{item.spelled} takes on or off, got '{value}'")
            request.set_values.append(("\\Package.Properties[SaveCheckpoints]",
                                       str(on == "on")))
            request.set_values.append(("\\Package.Properties[CheckpointUsage]",
                                       "Always" if on == "on" else "Never"))
        elif full == "Restart":
            usage = {"deny": "Never", "force": "Always", "ifpossible": "IfExists"}.get(
                (value or "force").lower())
            if usage is None:
                raise click.UsageError(f"{item.spelled} takes deny, force or ifPossible, got "
                                       f"'{value}'")
            request.set_values.append(("\\Package.Properties[CheckpointUsage]", usage))
        elif full in ("VerifyBuild", "VerifyPackageID", "VerifyVersionID"):
            checks[full] = _verify(item.spelled, full, value)
    if options.package_file and options.project_path:
        raise click.UsageError("give /F[ile] or /Proj[ect] with /Pack[age], not both")
    if not options.package_file and not options.project_path:
        raise click.UsageError("give the package: /F[ile] package.dtsx, or /Proj[ect] "
                               "project.ispac /Pack[age] name.dtsx")
    options.checks = list(checks.values())
    return options


def _connections(item: _Given, value: str, connections: dict[str, str]) -> None:
    quoted = '"' in value
    parts = split_value(value)
    if not quoted and len(parts) > 2:
        # an unquoted connection string keeps its own semicolons
        parts = [parts[0], ";".join(parts[1:])]
    if len(parts) % 2 or any(not p.strip() for p in parts[::2]):
        raise click.UsageError(f"{item.spelled} takes name;connection_string (quote them: "
                               f"\"name\";\"Data Source=...;\"), got '{value}'")
    for name, text in zip(parts[::2], parts[1::2], strict=True):
        connections[name.strip()] = text


def _parameter(item: _Given, value: str, request: object) -> None:
    from ssisrun.runtime.request import RunRequest

    assert isinstance(request, RunRequest)
    parts = split_value(value, 1)
    if len(parts) != 2 or not parts[0].strip():
        raise click.UsageError(f"{item.spelled} takes [$Package::|$Project::]name[(type)];"
                               f"value, got '{value}'")
    name, text = parts[0].strip(), parts[1]
    if name.endswith(")") and "(" in name:
        name = name[: name.rindex("(")].strip()
    lowered = name.lower()
    if lowered.startswith("$serveroption::"):
        return  # server options only matter for catalog runs
    if lowered.startswith("cm."):
        cm_name, _, prop = name[3:].rpartition(".")
        if not cm_name:
            raise click.UsageError(f"{item.spelled} {name}: use CM.<connection>.<property>")
        if prop.lower() == "connectionstring":
            request.connections[cm_name] = text
        else:
            request.set_values.append(
                (f"\\Package.Connections[{cm_name}].Properties[{prop}]", text))
        return
    if lowered.startswith("$package::"):
        name = "$Package::" + name[len("$package::"):]
    elif lowered.startswith("$project::"):
        name = "$Project::" + name[len("$project::"):]
    elif not name.startswith("$"):
        name = f"$Package::{name}"
    request.parameters[name] = text


def _verify(spelled: str, full: str, value: str) -> Callable[[Package], str | None]:
    from ssisrun.model import normalize_guid

    if full == "VerifyBuild":
        try:
            wanted = [int(v) for v in split_value(value)]
        except ValueError:
            raise click.UsageError(f"{spelled} takes major[;minor[;build]], got "
                                   f"'{value}'") from None
        if not 1 <= len(wanted) <= 3:
            raise click.UsageError(f"{spelled} takes major[;minor[;build]], got '{value}'")

        def check_build(package: Package) -> str | None:
            have = [package.version_major, package.version_minor, package.version_build]
            if have[: len(wanted)] != wanted:
                return (f"/VerifyBuild: the package's version is "
                        f"{'.'.join(map(str, have))}, not {'.'.join(map(str, wanted))}; "
                        "it does not run")
            return None

        return check_build
    guid = normalize_guid(value)
    if not guid:
        raise click.UsageError(f"{spelled} takes a GUID, got '{value}'")

    def check_guid(package: Package) -> str | None:
        have = package.dtsid if full == "VerifyPackageID" else package.version_guid
        if normalize_guid(have) != guid:
            what = "ID" if full == "VerifyPackageID" else "VersionGUID"
            return f"{spelled}: the package's {what} is {have or 'empty'}, not {value}"
        return None

    return check_guid


def help_text() -> str:
    lines = ["dtexec options ssisrun understands (start them with / or -, any case; a "
             "value follows after a space or a colon):", ""]
    for opt in OPTIONS:
        if opt.full in ("?",):
            continue
        rest = opt.full[len(opt.short):]
        spelled = f"/{opt.short}[{rest}]" if rest else f"/{opt.full}"
        note = "refused: " + opt.refused if opt.refused else (
            "accepted and ignored" if opt.ignored else "")
        lines.append(f"  {spelled:<22} {note}".rstrip())
    return "\n".join(lines)


@click.command("dtexec", context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True,
                                           "help_option_names": ["--help"]})
@click.pass_context
def dtexec_command(ctx: click.Context) -> int:
    """Run a package with dtexec's own command line, e.g.
    `ssisrun dtexec /F Load.dtsx /Set "\\Package.Variables[User::N].Value;5" /Rep EW`.

    Options start with / or -, in any case, abbreviated as documented (/F[ile],
    /Conf[igFile], /Conn[ection], /Par[ameter], /Rep[orting], /M[axConcurrent],
    /Va[lidate], /W[arnAsError], /Proj[ect], /Pack[age], /Com[mandFile] ...); a value
    follows after a space or a colon; the last of a repeated option wins. Options that
    need SQL Server, the package store or the catalog (/SQL, /DTS, /ISServer, /Server,
    /User, /Password) and unknown options exit 6. `ssisrun dtexec /?` lists them all.
    Runs exactly as `ssisrun exec` does, with the same output and exit codes.
    """
    translated = translate(list(ctx.args))
    if isinstance(translated, str):
        click.echo(translated)
        return 0
    return run_exec(translated)
