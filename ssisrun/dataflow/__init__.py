"""The data flow: SSIS's pipeline engine and its components.

* :mod:`.model` reads a Data Flow task's ``<pipeline>`` (every format version) into a typed
  model: components, properties, inputs, outputs, columns with lineage IDs and DT_ types,
  paths, error outputs.
* :mod:`.types` maps DT_ types to Python values, text and each other.
* :mod:`.buffer` holds rows in columnar batches; :mod:`.engine` moves them through the
  graph (:class:`~.engine.PipelineRun`).
* :mod:`.components` has one module per component family, registered by canonical type.

The Data Flow task (``ssisrun.tasks.data_flow``) reads the pipeline and runs it.
"""

from __future__ import annotations

from ssisrun.dataflow.engine import ComponentError, PipelineRun
from ssisrun.dataflow.model import Pipeline, read_pipeline

__all__ = ["ComponentError", "Pipeline", "PipelineRun", "read_pipeline"]
