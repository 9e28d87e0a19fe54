"""Turn packages into catalog executions: the stored-procedure flow of SSMS's *Execute
Package In Scale Out* dialog (create_execution, set_execution_parameter_value,
add_execution_worker, start_execution) for each package."""

from __future__ import annotations

from pathlib import Path

from ssisrun.catalog import Catalog, ObjectType, PackageParameter
from ssisrun.scaleout.runfile import PackageSpec


def package_parameters(path: str) -> tuple[str, str | None, list[PackageParameter]]:
    """Load a package (with the project found beside it) for its name, project name and
    parameters; raises ssisrun's load errors (exit 4 or 5)."""
    from ssisrun.dtsx import load_package
    from ssisrun.project import find_project_for, load_project

    package = load_package(path)
    project_name = None
    found = find_project_for(path)
    if found is not None:
        package.project = load_project(found)
        project_name = getattr(package.project, "name", None)
    params = [PackageParameter(
        int(ObjectType.project if p.scope == "Project" else ObjectType.package), p.name,
        getattr(p.data_type, "name", str(p.data_type)),
        None if p.value is None else str(p.value), p.sensitive, p.required)
        for p in package.all_parameters()]
    return package.name, project_name, params


def split_parameter(name: str) -> tuple[int, str]:
    """``$Project::X`` -> (20, X); ``$Package::X`` or ``X`` -> (30, X)."""
    if name.startswith("$Project::"):
        return int(ObjectType.project), name[len("$Project::"):]
    if name.startswith("$Package::"):
        return int(ObjectType.package), name[len("$Package::"):]
    return int(ObjectType.package), name


def submit(catalog: Catalog, spec: PackageSpec, *, retry_count: int = 0,
           start: bool = True, use_any_worker: bool | None = None) -> int:
    """Create, parameterize, restrict and (unless ``start`` is False) start one execution."""
    name, project_name, params = package_parameters(spec.path)
    declared = {(p.object_type, p.name) for p in params}
    given = {key: split_parameter(key) for key in spec.parameters}
    options = spec.options()
    # a parameter the package does not declare goes to the package as it is, so the run
    # reports it exactly as ``ssisrun exec --param`` does
    options["parameters"] = {key: spec.parameters[key] for key, kn in given.items()
                             if kn not in declared}
    execution_id = catalog.create_execution(
        str(Path(spec.path).resolve()), name, project_name=project_name, parameters=params,
        use_any_worker=not spec.workers if use_any_worker is None else use_any_worker,
        options=options)
    for key, (kind, pname) in given.items():
        if (kind, pname) in declared:
            catalog.set_parameter(execution_id, kind, pname, spec.parameters[key])
    if spec.logging_level is not None:
        catalog.set_parameter(execution_id, int(ObjectType.system), "LOGGING_LEVEL",
                              spec.logging_level)
    for agent in spec.workers:
        catalog.add_worker(execution_id, agent)
    if start:
        catalog.start(execution_id, spec.retry_count if spec.retry_count is not None
                      else retry_count)
    return execution_id
