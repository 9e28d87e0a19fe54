"""SSISDB's database roles on a PostgreSQL catalog, enforced by PostgreSQL itself.

* ``ssis_admin``: everything (SSISDB's ssis_admin): enable and disable worker agents, the
  schema, and both roles below.
* ``ssis_cluster_executor``: may create, parameterize, start and stop executions and read
  the reports (SSISDB's requirement for scale-out executions), and defer their jobs.
* ``ssis_cluster_worker``: what a worker agent does: register and heartbeat, take an
  execution, write its attempts, messages and statistics.

:func:`ensure_schema` creates the catalog's tables, procrastinate's schema, the roles and
their GRANTs the first time an admin (a superuser, or a user who may create roles) opens
the catalog, or through ``ssisrun catalog init``; after that it only checks that they are
there. :func:`permission_error` turns PostgreSQL's "permission denied" into a message that
names the role the user lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from ssisrun.catalog.schema import metadata

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

    from ssisrun.catalog.store import Catalog, CatalogPermissionError

ADMIN = "ssis_admin"
EXECUTOR = "ssis_cluster_executor"
WORKER = "ssis_cluster_worker"
ROLES = (ADMIN, EXECUTOR, WORKER)

#: table -> privileges of (executor, worker)
GRANTS: dict[str, tuple[str, str]] = {
    "executions": ("SELECT, INSERT, UPDATE", "SELECT, UPDATE"),
    "execution_parameter_values": ("SELECT, INSERT, UPDATE", "SELECT"),
    "execution_workers": ("SELECT, INSERT", "SELECT"),
    # an executor's sweep ends the attempts of workers that went silent
    "execution_attempts": ("SELECT, UPDATE", "SELECT, INSERT, UPDATE"),
    "operation_messages": ("SELECT, INSERT", "SELECT, INSERT"),
    "executable_statistics": ("SELECT", "SELECT, INSERT"),
    "worker_agents": ("SELECT", "SELECT, INSERT, UPDATE"),
}

#: procrastinate's tables: executors defer and sweep jobs, workers fetch and finish them
PROCRASTINATE_TABLES = ("procrastinate_jobs", "procrastinate_events",
                        "procrastinate_periodic_defers", "procrastinate_workers")


def _present(conn: Any) -> tuple[bool, bool, bool]:
    """(catalog tables, procrastinate's tables, the roles) exist."""
    row = conn.execute(text(
        "SELECT to_regclass('executions') IS NOT NULL AND "
        "to_regclass('worker_agents') IS NOT NULL, "
        "to_regclass('procrastinate_jobs') IS NOT NULL, "
        "(SELECT count(*) FROM pg_roles WHERE rolname IN "
        "('ssis_admin', 'ssis_cluster_executor', 'ssis_cluster_worker')) = 3")).one()
    return bool(row[0]), bool(row[1]), bool(row[2])


def ensure_schema(catalog: Catalog, *, force: bool = False) -> bool:
    """Create what is missing (tables, procrastinate's schema, roles, GRANTs); with
    ``force``, grant again. Returns True when it created or granted anything."""
    with catalog.engine.connect() as conn:
        tables, queue, roles = _present(conn)
    if tables and queue and roles and not force:
        return False
    acting, catalog.role = catalog.role, ADMIN  # creating the schema is an admin's work
    try:
        _create(catalog, force)
    finally:
        catalog.role = acting
    return True


def _create(catalog: Catalog, force: bool) -> None:
    with catalog.engine.begin() as conn:
        # one admin at a time
        conn.execute(text("SELECT pg_advisory_xact_lock(7243001)"))
        tables, queue, roles = _present(conn)
        if not tables:
            metadata.create_all(conn)
        if not queue:
            try:
                from procrastinate.schema import SchemaManager
            except ImportError:
                from ssisrun.catalog.store import CatalogError

                raise CatalogError("a PostgreSQL catalog holds procrastinate's queues: "
                                   "pip install 'ssisrun[scaleout]'") from None

            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute(SchemaManager.get_schema())  # several statements, no parameters
        if not roles or force or not tables or not queue:
            for role in ROLES:
                conn.execute(text(
                    f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                    f"'{role}') THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"))
            grant(conn)


def grant(conn: Any) -> None:
    """The GRANTs of the three roles on the catalog's and procrastinate's tables."""
    statements = []
    for table, (executor, worker) in GRANTS.items():
        statements += [f"GRANT ALL PRIVILEGES ON {table} TO {ADMIN}",
                       f"GRANT {executor} ON {table} TO {EXECUTOR}",
                       f"GRANT {worker} ON {table} TO {WORKER}"]
    for table in PROCRASTINATE_TABLES:
        statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} "
                          f"TO {ADMIN}, {EXECUTOR}, {WORKER}")
    statements += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ADMIN}, {EXECUTOR}, "
        f"{WORKER}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {ADMIN}, {EXECUTOR}, {WORKER}",
        f"GRANT {EXECUTOR}, {WORKER} TO {ADMIN}",
    ]
    for statement in statements:
        conn.execute(text(statement))


def permission_error(catalog: Catalog, exc: DBAPIError) -> CatalogPermissionError:
    """PostgreSQL's "permission denied for table T", as what the user must be given."""
    from sqlalchemy.engine import make_url

    from ssisrun.catalog.store import CatalogPermissionError

    user = make_url(catalog.url).username or "this user"
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return CatalogPermissionError(
        f"PostgreSQL refused user '{user}' on the catalog {catalog.display_url} ({reason}): "
        f"this needs the role {catalog.role}. A member of ssis_admin grants it with "
        f"GRANT {catalog.role} TO \"{user}\"; the roles are created by 'ssisrun catalog "
        f"init --catalog URL' run by an admin.")
