"""Data-flow component plug-ins: one module per component family, found by the
component's canonical type (``ssisrun.dtsx.types``: ``Microsoft.FlatFileSource`` ...).

Adding a component type is one class (a :class:`~ssisrun.dataflow.engine.Component`) and
one line in :data:`REGISTRY`; ``ssisrun.capabilities.RUNNABLE_COMPONENTS`` is derived from
it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ssisrun.dataflow.engine import Component

_FLAT = "ssisrun.dataflow.components.flatfile"
_TRANSFORMS = "ssisrun.dataflow.components.transforms"
_COMBINE = "ssisrun.dataflow.components.combine"
_DB = "ssisrun.dataflow.components.database"
_SAMPLING = "ssisrun.dataflow.components.sampling"

#: canonical component type -> "module:class"
REGISTRY: dict[str, str] = {
    "Microsoft.FlatFileSource": f"{_FLAT}:FlatFileSource",
    "Microsoft.FlatFileDestination": f"{_FLAT}:FlatFileDestination",
    "Microsoft.DerivedColumn": f"{_TRANSFORMS}:DerivedColumn",
    "Microsoft.DataConvert": f"{_TRANSFORMS}:DataConversion",
    "Microsoft.ConditionalSplit": f"{_TRANSFORMS}:ConditionalSplit",
    "Microsoft.RowCount": f"{_TRANSFORMS}:RowCount",
    "Microsoft.Multicast": f"{_TRANSFORMS}:Multicast",
    "Microsoft.CopyMap": f"{_TRANSFORMS}:CopyColumn",
    "Microsoft.CharacterMap": f"{_TRANSFORMS}:CharacterMap",
    "Microsoft.Lineage": f"{_TRANSFORMS}:Audit",
    "Microsoft.UnionAll": f"{_COMBINE}:UnionAll",
    "Microsoft.Merge": f"{_COMBINE}:Merge",
    "Microsoft.MergeJoin": f"{_COMBINE}:MergeJoin",
    "Microsoft.Sort": f"{_COMBINE}:Sort",
    "Microsoft.Aggregate": f"{_COMBINE}:Aggregate",
    "Microsoft.UnPivot": f"{_COMBINE}:Unpivot",
    "Microsoft.Lookup": "ssisrun.dataflow.components.lookup:Lookup",
    "Microsoft.RecordsetDestination": f"{_TRANSFORMS}:RecordsetDestination",
    "Microsoft.OLEDBSource": f"{_DB}:DatabaseSource",
    "Microsoft.ADONETSource": f"{_DB}:DatabaseSource",
    "Microsoft.SSISODBCSrc": f"{_DB}:DatabaseSource",
    "Microsoft.OLEDBDestination": f"{_DB}:DatabaseDestination",
    "Microsoft.ADONETDestination": f"{_DB}:DatabaseDestination",
    "Microsoft.SSISODBCDst": f"{_DB}:DatabaseDestination",
    "Microsoft.SQLServerDestination": f"{_DB}:DatabaseDestination",
    "Microsoft.OLEDBCommand": f"{_DB}:OleDbCommand",
    "Microsoft.ExcelSource": "ssisrun.dataflow.components.excel:ExcelSource",
    "Microsoft.ExcelDestination": "ssisrun.dataflow.components.excel:ExcelDestination",
    "Microsoft.ScriptComponent": "ssisrun.dataflow.components.script:ScriptComponent",
    "Microsoft.Pivot": "ssisrun.dataflow.components.pivot:Pivot",
    "Microsoft.Cache": "ssisrun.dataflow.components.cache:CacheTransform",
    "Microsoft.FuzzyLookup": "ssisrun.dataflow.components.fuzzy:FuzzyLookup",
    "Microsoft.FuzzyGrouping": "ssisrun.dataflow.components.fuzzy:FuzzyGrouping",
    "Microsoft.XmlSourceAdapter": "ssisrun.dataflow.components.xml_source:XmlSource",
    "Microsoft.SCD": "ssisrun.dataflow.components.scd:SlowlyChangingDimension",
    "Microsoft.PctSampling": f"{_SAMPLING}:PercentageSampling",
    "Microsoft.DataReaderDestination": f"{_SAMPLING}:DataReaderDestination",
}


def component_class(component_type: str) -> type[Component] | None:
    target = REGISTRY.get(component_type)
    if target is None:
        return None
    module_name, attr = target.split(":")
    cls: type[Component] = getattr(importlib.import_module(module_name), attr)
    return cls
