"""Package configurations of the package deployment model (spec ssis-runtime.md 2.16).

A package with ``EnableConfigurations`` lists configurations, each applied in order;
the last one that sets a property wins:

=====  ====================  ==================================================
0      parent package var.   a warning: no parent package runs this one (yet)
1      XML file              every ``<Configuration Path=...>`` of a .dtsConfig
2      environment variable  the variable's text, to ``ConfigurationVariable``
5      indirect XML file     an environment variable holds the .dtsConfig's path
7, 9   SQL Server table      a warning: not supported yet
3, 6   registry entry        a warning: there is no registry here
8, 10  INI file              a warning: not supported
=====  ====================  ==================================================

A configuration that cannot be applied is never a failure: it gives a warning
(unless the package has SuppressConfigurationWarnings) and its name goes into
``System::FailedConfigurations`` (names joined by ``", "``). Windows paths of
configuration files go through the run's path map; when the mapped file does not
exist, a file of the same name beside the package is used (with an information
event saying so).

The run time applies them at the start of a run, in SSIS's order (spec 1.6): the
package's configurations, then the command line (``/Set``, ``/Conn``,
``/ConfigFile``), then the package's configurations again, so a configured
property keeps the configuration's value.

Event codes (SSIS's, where known): information 0x40016041 "attempting to
configure from", warnings 0x80012014 (file cannot be read), 0x80012017 (a path
names nothing), 0x80012059 (a configuration failed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ssisrun.errors import SsisrunError
from ssisrun.model import Configuration, ConfigurationType
from ssisrun.runtime.events import Event, EventKind

if TYPE_CHECKING:
    from ssisrun.runtime.engine import Engine

INFO_CONFIGURING = 0x40016041
WARN_FILE = 0x80012014
WARN_PATH = 0x80012017
WARN_FAILED = 0x80012059


class ConfigurationError(SsisrunError):
    """A configuration file cannot be read (missing, not XML, not a DTSConfiguration)."""


@dataclass(slots=True)
class ConfigEntry:
    """One ``<Configuration>`` of a .dtsConfig file."""

    path: str
    value: str
    value_type: str = "String"
    configured_type: str = "Property"
    line: int | None = None


def read_config_file(path: str | Path) -> list[ConfigEntry]:
    """Read a ``.dtsConfig`` file. Raises :class:`ConfigurationError` naming the file."""
    from ssisrun.dtsx.safexml import parse_bytes, source_line

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigurationError("no such configuration file", path=str(path)) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot be read: {exc.strerror or exc}",
                                 path=str(path)) from None
    try:
        root = parse_bytes(data, str(path), "configuration file").getroot()
    except SsisrunError as exc:
        raise ConfigurationError(exc.message, path=str(path), line=exc.line) from None
    if _local(root.tag) != "DTSConfiguration":
        raise ConfigurationError(f"not a configuration file: its root is <{_local(root.tag)}>, "
                                 "not <DTSConfiguration>", path=str(path),
                                 line=source_line(root))
    entries: list[ConfigEntry] = []
    for node in root.iter():
        if not isinstance(node.tag, str) or _local(node.tag) != "Configuration":
            continue
        value_node = next((c for c in node if isinstance(c.tag, str)
                           and _local(c.tag) == "ConfiguredValue"), None)
        entries.append(ConfigEntry(
            path=node.get("Path", ""),
            value=(value_node.text or "") if value_node is not None else "",
            value_type=node.get("ValueType", "String"),
            configured_type=node.get("ConfiguredType", "Property"),
            line=source_line(node)))
    return entries


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --------------------------------------------------------------------------- events


def warn(engine: Engine, code: int, message: str) -> None:
    """An OnWarning from the package, on the bus (no event handler runs: the package
    is not executing yet)."""
    engine.warnings += 1
    pkg = engine.package
    engine.bus.publish(Event(EventKind.OnWarning, pkg.path or "\\Package", pkg.name,
                             pkg.dtsid, code, message))


def _inform(engine: Engine, message: str) -> None:
    pkg = engine.package
    engine.bus.publish(Event(EventKind.OnInformation, pkg.path or "\\Package", pkg.name,
                             pkg.dtsid, INFO_CONFIGURING, message))


# --------------------------------------------------------------------------- applying


def locate_config_file(engine: Engine, configured: str) -> Path | None:
    """Where a configuration file named in a package (or on the command line) is here:
    the path mapped by the run's path map, else a file of that name beside the package."""
    mapped = Path(engine.map_path(configured))
    if mapped.is_file():
        return mapped
    plain = Path(configured)
    if plain.is_file():
        return plain
    source = engine.package.source
    if source and "!/" not in source:
        name = configured.replace("\\", "/").rsplit("/", 1)[-1]
        beside = Path(source).parent / name
        if name and beside.is_file():
            return beside
    return None


def apply_config_file(engine: Engine, configured: str, name: str, *,
                      report: bool = True) -> bool:
    """Apply every entry of a .dtsConfig; False (after warnings) when a part failed."""
    from ssisrun.runtime.setvalues import apply_target, resolve

    found = locate_config_file(engine, configured)
    if found is None:
        if report:
            warn(engine, WARN_FILE, f"The configuration file \"{configured}\" cannot be found "
                 f"(looked for {engine.map_path(configured)} and beside the package). Check "
                 "the directory and file name, or map it with --path-map.")
        return False
    if report:
        where = "" if str(found) == configured else f" (read from {found})"
        _inform(engine, f"The package is attempting to configure from the XML file "
                f"\"{configured}\"{where}.")
    try:
        entries = read_config_file(found)
    except ConfigurationError as exc:
        if report:
            warn(engine, WARN_FILE, f"Cannot load the XML configuration file: {exc}")
        return False
    ok = True
    for entry in entries:
        try:
            target = resolve(engine.package, entry.path, entry.value)
            note = apply_target(engine, target)
        except SsisrunError as exc:
            ok = False
            if report:
                where = f" (line {entry.line})" if entry.line else ""
                warn(engine, WARN_PATH, f"Configuration \"{name}\", file {found}{where}: "
                     f"{exc}")
            continue
        if note and report:
            warn(engine, WARN_PATH, note)
    return ok


def _apply_one(engine: Engine, cfg: Configuration, report: bool) -> bool:
    from ssisrun.runtime.setvalues import apply_target, resolve

    kind = cfg.configuration_type
    text = cfg.configuration_string.strip()

    def fail(message: str) -> bool:
        if report:
            warn(engine, WARN_FAILED, f"Configuration \"{cfg.name}\": {message}")
        return False

    if kind == ConfigurationType.ConfigFile:
        return apply_config_file(engine, text, cfg.name, report=report)
    if kind == ConfigurationType.IConfigFile:
        location = os.environ.get(text)
        if not location:
            return fail(f"the environment variable {text}, which holds the configuration "
                        "file's location, is not set")
        return apply_config_file(engine, location, cfg.name, report=report)
    if kind == ConfigurationType.EnvVariable:
        value = os.environ.get(text)
        if value is None:
            return fail(f"the environment variable {text} is not set")
        if not cfg.configuration_variable:
            return fail("it names no property to set (ConfigurationVariable is empty)")
        try:
            note = apply_target(engine, resolve(engine.package, cfg.configuration_variable,
                                                value))
        except SsisrunError as exc:
            return fail(str(exc))
        if note and report:
            warn(engine, WARN_PATH, note)
        return True
    if kind in (ConfigurationType.ParentVariable, ConfigurationType.IParentVariable):
        return fail(f"the parent package variable \"{text}\" was not applied: no parent "
                    "package runs this package")
    if kind in (ConfigurationType.SqlServer, ConfigurationType.ISqlServer):
        return fail("SQL Server configurations are not supported yet")
    if kind in (ConfigurationType.RegEntry, ConfigurationType.IRegEntry):
        return fail("registry configurations cannot be read here (there is no Windows "
                    "registry)")
    return fail(f"{kind.name} configurations are not supported")


def apply_configurations(engine: Engine, *, again: bool = False) -> list[str]:
    """Apply the package's configurations in order; return the names of those that
    failed, which also go into System::FailedConfigurations. ``again`` is the second
    pass after the command line (spec 1.6): it reports nothing a second time."""
    package = engine.package
    report = not again and not package.suppress_configuration_warnings
    failed: list[str] = []
    for cfg in package.configurations:
        if not _apply_one(engine, cfg, report):
            failed.append(cfg.name)
    if failed and not again:
        var = engine.store.globals.get("System::FailedConfigurations")
        if var is not None:
            engine.store.assign(var, ", ".join(failed), engine.scopes[id(package)],
                                force=True)
    return failed
