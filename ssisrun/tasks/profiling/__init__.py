"""The Data Profiling task's parts: the ProfileInput requests (:mod:`.request`), the
database they are computed on (:mod:`.source`), the profiles (:mod:`.profiles`) and the
Column Pattern profile's regular expressions (:mod:`.patterns`). The task itself is
:class:`ssisrun.tasks.data_profiling.DataProfilingTask`."""
