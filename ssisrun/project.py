"""Projects of the project deployment model (SSIS 2012 and later).

A project is either a folder (a ``.dtproj``, ``Project.params``, ``*.conmgr`` and
the ``*.dtsx`` packages) or an ``.ispac`` (the same files in a zip, with the
project manifest in ``@Project.manifest``). Its parameters (``$Project::``) and
connection managers are shared by every package in it (spec ssis-runtime.md 5.7).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from ssisrun.dtsx import load_package_bytes, read_file_bytes
from ssisrun.dtsx.protection import decrypt_document, package_password
from ssisrun.dtsx.reader import (
    DPAPI_PREFIX,
    TYPECODE_TO_VARTYPE,
    parse_value,
    read_connection_manager,
)
from ssisrun.dtsx.safexml import parse_bytes, source_line
from ssisrun.errors import PackageNotFoundError, ProjectError
from ssisrun.model import ConnectionManager, Package, Parameter, Problem, Project, VarType

SSIS_NS = "www.microsoft.com/SqlServer/SSIS"
S = "{" + SSIS_NS + "}"
DTS_CM = "{www.microsoft.com/SqlServer/Dts}ConnectionManager"

#: an .ispac member larger than this is refused (a zip bomb, not a project)
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def load_project(path: str | Path) -> Project:
    """Load a project from a folder, a ``.dtproj`` file or an ``.ispac``."""
    p = Path(path)
    if not p.exists():
        raise PackageNotFoundError("no such project folder, .dtproj or .ispac", path=str(p))
    if p.is_file() and p.suffix.lower() == ".ispac":
        return _load_ispac(p)
    if p.is_file() and p.suffix.lower() == ".dtproj":
        return _load_folder(p.parent, p)
    if p.is_dir():
        dtprojs = sorted(x for x in p.iterdir() if x.suffix.lower() == ".dtproj")
        if len(dtprojs) > 1:
            names = ", ".join(x.name for x in dtprojs)
            raise ProjectError(
                f"the folder holds several projects ({names}); name the .dtproj to use",
                path=str(p),
            )
        return _load_folder(p, dtprojs[0] if dtprojs else None)
    raise ProjectError(
        "a project is a folder, a .dtproj file or an .ispac file", path=str(p)
    )


def find_project_for(package_file: str | Path) -> Path | None:
    """The project a package file sits in, if any: its folder's one ``.dtproj``, or
    the folder itself when it holds ``Project.params`` or ``.conmgr`` files."""
    folder = Path(package_file).resolve().parent
    try:
        entries = list(folder.iterdir())
    except OSError:
        return None
    dtprojs = [x for x in entries if x.suffix.lower() == ".dtproj" and x.is_file()]
    if len(dtprojs) == 1:
        return dtprojs[0]
    if len(dtprojs) > 1:
        return None
    if any(x.name == "Project.params" or x.suffix.lower() == ".conmgr" for x in entries):
        return folder
    return None


def load_project_package(project: Project, name: str) -> Package:
    """Load the package ``name`` (``Load`` or ``Load.dtsx``, any case) of a project."""
    wanted = name if name.lower().endswith(".dtsx") else name + ".dtsx"
    candidates = list(project.package_names)
    if project.directory is not None:
        candidates.extend(
            x.name for x in sorted(project.directory.iterdir())
            if x.suffix.lower() == ".dtsx" and x.name not in candidates
        )
    match = next((c for c in candidates if c == wanted), None) or next(
        (c for c in candidates if c.lower() == wanted.lower()), None
    )
    if match is None:
        listing = ", ".join(candidates) or "none"
        raise PackageNotFoundError(
            f"the project has no package '{wanted}' (its packages: {listing})",
            path=project.source,
        )
    if project.directory is not None:
        file = project.directory / match
        data = read_file_bytes(file)
        return load_package_bytes(data, str(file), project)
    with _open_zip(Path(project.source)) as zf:
        member = _zip_member(zf, match)
        if member is None:
            raise PackageNotFoundError(
                f"the manifest names '{match}' but the .ispac does not hold it",
                path=project.source,
            )
        data = _read_member(zf, member, project.source)
    return load_package_bytes(data, f"{project.source}!/{match}", project)


# --------------------------------------------------------------------------- folder


def _load_folder(folder: Path, dtproj: Path | None) -> Project:
    project = Project(name=folder.name, source=str(dtproj or folder), directory=folder)
    conmgr_names: list[str] | None = None
    if dtproj is not None:
        project.name = dtproj.stem
        dtproj_root, _ = _parse_protected(read_file_bytes(dtproj, "project"), str(dtproj),
                                          "project")
        manifest = dtproj_root.find(f".//{S}Project")
        if manifest is not None:
            conmgr_names = _read_manifest(project, manifest)
        else:  # a package deployment model project lists its packages as FullPath items
            for item in dtproj_root.iter("FullPath"):
                text = (item.text or "").strip()
                if text.lower().endswith(".dtsx") and text not in project.package_names:
                    project.package_names.append(text)
    params_file = folder / "Project.params"
    if params_file.is_file():
        data = read_file_bytes(params_file, "Project.params")
        project.parameters = read_project_params(data, str(params_file))
    if conmgr_names is None:
        conmgr_names = sorted(x.name for x in folder.iterdir() if x.suffix.lower() == ".conmgr")
    for cm_name in conmgr_names:
        file = folder / cm_name
        if not file.is_file():
            raise ProjectError(
                f"the project names connection manager file '{cm_name}', which is missing",
                path=str(dtproj or folder),
            )
        project.connection_managers.append(
            read_conmgr(read_file_bytes(file, "connection manager"), str(file), project.problems)
        )
    if not project.package_names:
        project.package_names = sorted(
            x.name for x in folder.iterdir() if x.suffix.lower() == ".dtsx"
        )
    return project


def _read_manifest(project: Project, manifest: etree._Element) -> list[str]:
    """Fill the project from an ``SSIS:Project`` manifest; return its .conmgr names."""
    project.protection_level = manifest.get(S + "ProtectionLevel") or ""
    props = manifest.find(S + "Properties")
    for prop in props if props is not None else ():
        if prop.get(S + "Name") == "Name" and (prop.text or "").strip():
            project.name = (prop.text or "").strip()
    packages = manifest.find(S + "Packages")
    for pkg in packages if packages is not None else ():
        name = pkg.get(S + "Name")
        if name:
            project.package_names.append(name)
    names: list[str] = []
    cms = manifest.find(S + "ConnectionManagers")
    for cm in cms if cms is not None else ():
        name = cm.get(S + "Name")
        if name:
            names.append(name)
    return names


# --------------------------------------------------------------------------- ispac


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ProjectError("not an .ispac: the file is not a zip archive", path=str(path)) from None
    except OSError as exc:
        raise ProjectError(f"cannot be read: {exc}", path=str(path)) from None


def _zip_member(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    for info in zf.infolist():
        if unquote(info.filename) == name or info.filename == name:
            return info
    low = name.lower()
    for info in zf.infolist():
        if unquote(info.filename).lower() == low:
            return info
    return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    if info.file_size > MAX_MEMBER_BYTES:
        raise ProjectError(
            f"'{info.filename}' would unpack to {info.file_size} bytes; refused", path=source
        )
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise ProjectError(f"'{info.filename}' cannot be read: {exc}", path=source) from None


def _load_ispac(path: Path) -> Project:
    project = Project(name=path.stem, source=str(path), directory=None)
    with _open_zip(path) as zf:
        conmgr_names: list[str] | None = None
        manifest_info = _zip_member(zf, "@Project.manifest")
        if manifest_info is not None:
            where = f"{path}!/@Project.manifest"
            manifest_root, _ = _parse_protected(_read_member(zf, manifest_info, str(path)),
                                                where, "project")
            conmgr_names = _read_manifest(project, manifest_root)
        params_info = _zip_member(zf, "Project.params")
        if params_info is not None:
            data = _read_member(zf, params_info, str(path))
            project.parameters = read_project_params(data, f"{path}!/Project.params")
        if conmgr_names is None:
            conmgr_names = [
                unquote(i.filename) for i in zf.infolist() if i.filename.lower().endswith(".conmgr")
            ]
        for cm_name in conmgr_names:
            info = _zip_member(zf, cm_name)
            if info is None:
                raise ProjectError(
                    f"the manifest names connection manager '{cm_name}', which the .ispac "
                    "does not hold",
                    path=str(path),
                )
            project.connection_managers.append(
                read_conmgr(
                    _read_member(zf, info, str(path)), f"{path}!/{cm_name}", project.problems
                )
            )
        if not project.package_names:
            project.package_names = [
                unquote(i.filename) for i in zf.infolist() if i.filename.lower().endswith(".dtsx")
            ]
    return project


# --------------------------------------------------------------------------- files


def _parse_protected(data: bytes, source: str, what: str) -> tuple[etree._Element, bool]:
    """Parse a project file and decrypt what the project password protects in it (the
    password of ``--decrypt`` or ``SSIS_PACKAGE_DECRYPT``); also say whether a password
    was there to decrypt with."""
    password = package_password()
    root = parse_bytes(data, source, what).getroot()
    return decrypt_document(root, password, source, what), password is not None


def read_project_params(data: bytes, source: str) -> list[Parameter]:
    """Read ``Project.params``: ``DataType`` there is a .NET TypeCode."""
    root, decrypted = _parse_protected(data, source, "Project.params file")
    if root.tag != S + "Parameters":
        raise ProjectError(
            "not a Project.params file: the root element is not <SSIS:Parameters>",
            path=source,
            line=source_line(root),
        )
    params: list[Parameter] = []
    for el in root:
        if el.tag != S + "Parameter":
            continue
        name = el.get(S + "Name") or ""
        values: dict[str, str] = {}
        value_el = None
        props = el.find(S + "Properties")
        for prop in props if props is not None else ():
            key = prop.get(S + "Name") or ""
            values[key] = prop.text or ""
            if key == "Value":
                value_el = prop
        code = values.get("DataType", "18").strip() or "18"
        try:
            data_type = TYPECODE_TO_VARTYPE[int(code)]
        except (ValueError, KeyError):
            raise ProjectError(
                f"parameter '{name}' has unknown DataType '{code}' (a .NET TypeCode is expected)",
                path=source,
                line=source_line(el),
            ) from None
        sensitive = values.get("Sensitive", "0").strip() in ("1", "-1", "True", "true")
        # A sensitive value in the file is encrypted (with the project password, or with a
        # Windows user key: a DPAPI blob), unless the project password decrypted it.
        encrypted = value_el is not None and (
            value_el.get(S + "Sensitive") == "1" and sensitive and bool(value_el.text)
            and (not decrypted or (value_el.text or "").lstrip().startswith(DPAPI_PREFIX))
        )
        raw: str | None = None if encrypted else values.get("Value", "")
        value = None
        if raw is not None:
            try:
                value = parse_value(data_type, raw)
            except ValueError as exc:
                raise ProjectError(
                    f"parameter '{name}': {exc}", path=source,
                    line=source_line(value_el) if value_el is not None else source_line(el),
                ) from None
        params.append(
            Parameter(
                name=name,
                scope="Project",
                data_type=data_type if data_type != VarType.DBNull else VarType.String,
                value=value,
                raw_value=raw,
                dtsid=values.get("ID", ""),
                description=values.get("Description", "").strip(),
                required=values.get("Required", "0").strip() in ("1", "-1", "True", "true"),
                sensitive=sensitive,
                line=source_line(el),
            )
        )
    return params


def read_conmgr(
    data: bytes, source: str, problems: list[Problem] | None = None
) -> ConnectionManager:
    """Read a ``.conmgr`` file: one stand-alone ``DTS:ConnectionManager``."""
    root, _ = _parse_protected(data, source, "connection manager")
    if root.tag != DTS_CM:
        raise ProjectError(
            "not a .conmgr file: the root element is not <DTS:ConnectionManager>",
            path=source,
            line=source_line(root),
        )
    return read_connection_manager(root, "Project", problems if problems is not None else [])
