"""What this ssisrun can run: the executable and data-flow component types that
have an implementation. ``ssisrun validate`` reports every other type, and
``bench/corpus_report.py`` measures the share of real packages whose every
executable and component is runnable.

Each later piece of work (the run time, the tasks, the data-flow engine) adds the
types it implements here, one line each, beside its registry entry.
"""

from __future__ import annotations

from ssisrun.dataflow.components import REGISTRY as _COMPONENTS
from ssisrun.tasks import REGISTRY as _TASKS

#: the containers the run time walks itself
CONTAINERS = frozenset({"Microsoft.Package", "STOCK:SEQUENCE", "STOCK:FORLOOP",
                        "STOCK:FOREACHLOOP"})

#: canonical executable types (``ssisrun.dtsx.types``) the run time can execute
RUNNABLE_EXECUTABLES: frozenset[str] = CONTAINERS | frozenset(_TASKS)

#: canonical data-flow component types the pipeline engine can execute
RUNNABLE_COMPONENTS: frozenset[str] = frozenset(_COMPONENTS)


def executable_is_runnable(executable_type: str) -> bool:
    return executable_type in RUNNABLE_EXECUTABLES


def component_is_runnable(component_type: str) -> bool:
    return component_type in RUNNABLE_COMPONENTS
