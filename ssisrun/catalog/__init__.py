"""The execution catalog: SSISDB's execution model (executions, parameter values, messages,
executable statistics, worker agents) in one SQLAlchemy Core schema, on SQLite by default
(``$XDG_DATA_HOME/ssisrun/catalog.db``) or PostgreSQL (``--catalog URL``).

* :mod:`ssisrun.catalog.schema`: the tables and SSISDB's codes (statuses, message types).
* :mod:`ssisrun.catalog.store`: :class:`Catalog`, the stored-procedure flow and the Scale Out
  worker side.
* :mod:`ssisrun.catalog.reports`: All Executions, Overview (as data and JSON) and the HTML page.
"""

from ssisrun.catalog.schema import LoggingLevel, MessageSourceType, MessageType, ObjectType, Status
from ssisrun.catalog.store import (
    Catalog,
    CatalogError,
    CatalogValueError,
    Claim,
    Execution,
    ExecutionNotFoundError,
    NewMessage,
    NewStatistic,
    PackageParameter,
    default_url,
)

__all__ = [
    "Catalog", "CatalogError", "CatalogValueError", "Claim", "Execution",
    "ExecutionNotFoundError", "LoggingLevel", "MessageSourceType", "MessageType",
    "NewMessage", "NewStatistic", "ObjectType", "PackageParameter", "Status", "default_url",
]
