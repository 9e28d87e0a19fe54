"""Canonical type names for executables, data-flow components and Foreach enumerators.

Every format version spells types its own way: assembly-qualified .NET names with
a version (v2, v3, v6), ``SSIS.Pipeline.2``, ``DTS.Pipeline.1``, CLSIDs, ``STOCK:``
monikers, and the short v8 names. ssisrun speaks one vocabulary, the v8 one
(``Microsoft.ExecuteSQLTask``, ``Microsoft.Pipeline``, ``STOCK:SEQUENCE``), and
maps every other spelling onto it here (spec ssis-runtime.md 5.1, 5.4, 5.11).
"""

from __future__ import annotations

PACKAGE = "Microsoft.Package"
SEQUENCE = "STOCK:SEQUENCE"
FOR_LOOP = "STOCK:FORLOOP"
FOREACH_LOOP = "STOCK:FOREACHLOOP"
PIPELINE = "Microsoft.Pipeline"

#: exact spellings (compared case-insensitively) -> canonical name
_EXECUTABLE_ALIASES: dict[str, str] = {
    "msdts.package.1": PACKAGE,
    "ssis.package.2": PACKAGE,
    "ssis.package.3": PACKAGE,
    "microsoft.package": PACKAGE,
    "stock:sequence": SEQUENCE,
    "stock:forloop": FOR_LOOP,
    "stock:foreachloop": FOREACH_LOOP,
    "dts.pipeline.1": PIPELINE,
    "ssis.pipeline.2": PIPELINE,
    "ssis.pipeline.3": PIPELINE,
    "microsoft.pipeline": PIPELINE,
    "stock:pipelinetask": PIPELINE,
    "{e3cfbea8-1f48-40d8-91e1-2dedc1eddd56}": PIPELINE,
    "{5918251b-2970-45a4-ab5f-01c3c588fe5a}": PIPELINE,
    "{c3bf9dc1-4715-4694-936f-d3cfda9e42c5}": PIPELINE,
    "dts.executepackagetask.1": "Microsoft.ExecutePackageTask",
    "ssis.executepackagetask.2": "Microsoft.ExecutePackageTask",
    "ssis.executepackagetask.3": "Microsoft.ExecutePackageTask",
    "stock:executepackagetask": "Microsoft.ExecutePackageTask",
    "stock:sqltask": "Microsoft.ExecuteSQLTask",
    "stock:scripttask": "Microsoft.ScriptTask",
    "stock:executeprocesstask": "Microsoft.ExecuteProcess",
    "stock:filesystemtask": "Microsoft.FileSystemTask",
    "stock:ftptask": "Microsoft.FtpTask",
    "stock:sendmailtask": "Microsoft.SendMailTask",
    "stock:bulkinserttask": "Microsoft.BulkInsertTask",
    "stock:xmltask": "Microsoft.XMLTask",
    "stock:webservicetask": "Microsoft.WebServiceTask",
    "stock:msmqtask": "Microsoft.MessageQueueTask",
    "stock:wmidatareadertask": "Microsoft.WmiDataReaderTask",
    "stock:wmieventwatchertask": "Microsoft.WmiEventWatcherTask",
    "stock:activexscripttask": "Microsoft.ActiveXScriptTask",
    "stock:exec80packagetask": "Microsoft.Exec80PackageTask",
    "attunity.sqlserver.cdccontroltask.cdccontroltask": "Attunity.CdcControlTask",
}

#: .NET namespaces whose classes become ``Microsoft.<ClassName>``
_MICROSOFT_NAMESPACES = (
    "microsoft.sqlserver.",
    "microsoft.datatransformationservices.",
)


def canonical_executable_type(raw: str) -> str:
    """Map any spelling of an executable type to its canonical (v8) name.

    Assembly-qualified names are matched on the .NET type (the part before the
    first comma); Version, Culture and PublicKeyToken are ignored."""
    text = raw.strip()
    if not text:
        return ""
    key = text.lower()
    if key in _EXECUTABLE_ALIASES:
        return _EXECUTABLE_ALIASES[key]
    type_name = text.split(",", 1)[0].strip()
    tkey = type_name.lower()
    if tkey in _EXECUTABLE_ALIASES:
        return _EXECUTABLE_ALIASES[tkey]
    if "," in text or tkey.startswith(_MICROSOFT_NAMESPACES):
        if tkey.startswith(_MICROSOFT_NAMESPACES):
            return "Microsoft." + type_name.rsplit(".", 1)[-1]
        return type_name
    return text


# --------------------------------------------------------------------------- components

#: component CLSIDs of SSIS 2005/2008/2012 (upper case, with braces) -> canonical name
_COMPONENT_CLSIDS: dict[str, str] = {
    # OLE DB Source
    "{2C0A8BE5-1EDC-4353-A0EF-B778599C65A0}": "Microsoft.OLEDBSource",
    "{BCEFE59B-6819-47F7-A125-63753B33ABB7}": "Microsoft.OLEDBSource",
    "{165A526D-D5DE-47FF-96A6-F8274C19826B}": "Microsoft.OLEDBSource",
    # OLE DB Destination
    "{E2568105-9550-4F71-A638-B7FE42E66922}": "Microsoft.OLEDBDestination",
    "{5A0B62E8-D91D-49F5-94A5-7BE58DE508F0}": "Microsoft.OLEDBDestination",
    "{4ADA7EAA-136C-4215-8098-D7A7C27FC0D1}": "Microsoft.OLEDBDestination",
    # Flat File Source / Destination
    "{5ACD952A-F16A-41D8-A681-713640837664}": "Microsoft.FlatFileSource",
    "{90C7770B-DE7C-435E-880E-E718C92C0573}": "Microsoft.FlatFileSource",
    "{D23FD76B-F51D-420F-BBCB-19CBF6AC1AB4}": "Microsoft.FlatFileSource",
    "{D658C424-8CF0-441C-B3C4-955E183B7FBA}": "Microsoft.FlatFileDestination",
    "{A1DF9F6D-8EE4-4EF0-BB2E-D526130D7A7B}": "Microsoft.FlatFileDestination",
    "{8DA75FED-1B7C-407D-B2AD-2B24209CCCA4}": "Microsoft.FlatFileDestination",
    # Excel Source / Destination
    "{A4B1E1C8-17F3-46C8-AAD0-34F0C6FE42DE}": "Microsoft.ExcelSource",
    "{8C084929-27D1-479F-9641-ABB7CDADF1AC}": "Microsoft.ExcelSource",
    "{C4D48377-EFD6-4C95-9A0B-049219453431}": "Microsoft.ExcelDestination",
    "{1F5D5712-2FBA-4CB9-A95A-86C1F336E1DA}": "Microsoft.ExcelDestination",
    # Derived Column
    "{9CF90BF0-5BCC-4C63-B91D-1F322DC12C26}": "Microsoft.DerivedColumn",
    "{2932025B-AB99-40F6-B5B8-783A73F80E24}": "Microsoft.DerivedColumn",
    "{49928E82-9C4E-49F0-AABE-3812B82707EC}": "Microsoft.DerivedColumn",
    # Data Conversion
    "{C3BF62C8-7C5C-4F85-83C3-E0B6F6BE267C}": "Microsoft.DataConvert",
    "{BD06A22E-BC69-4AF7-A69B-C44C2EF684BB}": "Microsoft.DataConvert",
    "{62B1106C-7DB8-4EC8-ADD6-4C664DFFC54A}": "Microsoft.DataConvert",
    # Conditional Split
    "{53A228EE-EBFA-48D6-A1AC-5269E5824A2C}": "Microsoft.ConditionalSplit",
    "{7F88F654-4E20-4D14-84F4-AF9C925D3087}": "Microsoft.ConditionalSplit",
    # Lookup
    "{0FB4AABB-C027-4440-809A-1198049BF117}": "Microsoft.Lookup",
    "{671046B0-AA63-4C9F-90E4-C06E0B710CE3}": "Microsoft.Lookup",
    # Row Count
    "{DE50D3C7-41AF-4804-9247-CF1DEB147971}": "Microsoft.RowCount",
    "{E2697D8C-70DA-42B2-8208-A19CE3A9FE41}": "Microsoft.RowCount",
    # Multicast
    "{F1CEE4CE-066D-4FBE-9DC4-4C697A617264}": "Microsoft.Multicast",
    "{EC139FBC-694E-490B-8EA7-35690FB0F445}": "Microsoft.Multicast",
    # Union All
    "{B594E9A8-4351-4939-891C-CFE1AB93E925}": "Microsoft.UnionAll",
    "{C5E47A29-265C-4F93-82CA-D8462EE23278}": "Microsoft.UnionAll",
    # Sort
    "{F1CEE4CE-066D-4FBE-9DC4-CD97202F3450}": "Microsoft.Sort",
    "{5B1A3FF5-D366-4D75-AD1F-F19A36FCBEDB}": "Microsoft.Sort",
    "{07127A7C-164B-422A-AD1F-24BE39B4DB38}": "Microsoft.Sort",
    # Merge Join / Merge
    "{0D598A60-0A32-4B1B-A72C-5030B64E3A20}": "Microsoft.MergeJoin",
    "{14D43A4F-D7BD-489D-829E-6DE35750CFE4}": "Microsoft.MergeJoin",
    "{A18A4D58-7C7A-4448-8B98-AE2CEFE81B4C}": "Microsoft.MergeJoin",
    "{08AE886A-4124-499C-B332-16E3299D225A}": "Microsoft.Merge",
    # OLE DB Command
    "{C60ACAD1-9BE8-46B3-87DA-70E59EADEA46}": "Microsoft.OLEDBCommand",
    "{8E61C8F6-C91D-43B6-97EB-3423C06571CC}": "Microsoft.OLEDBCommand",
    "{93FFEC66-CBC8-4C7F-9C6A-CB1C17A7567D}": "Microsoft.OLEDBCommand",
    # Aggregate
    "{5B201335-B360-485C-BB93-75C34E09B3D3}": "Microsoft.Aggregate",
    "{F40CF2A6-384A-4C57-B99C-ADAF31E51EBC}": "Microsoft.Aggregate",
    # Audit
    "{4FCE8297-9C65-40A9-9D60-00C5CC6BC283}": "Microsoft.Lineage",
    # Character Map
    "{2D9FDEDD-085F-4294-ABBA-818E2CCD0733}": "Microsoft.CharacterMap",
    "{C86C867A-7D40-486A-8734-F0B6943A9DD4}": "Microsoft.CharacterMap",
    # Export / Import Column
    "{A9823821-0085-4483-952F-36277F63FFC5}": "Microsoft.Extractor",
    "{9053CAE0-140B-48E4-AEEC-4E6A26E9E436}": "Microsoft.Injector",
    # Fuzzy Lookup / Grouping
    "{9F4EB4D4-AD71-496D-B70B-31ECE1139884}": "Microsoft.FuzzyLookup",
    "{E4A5F949-EC93-45AB-8B36-B52936257EC2}": "Microsoft.FuzzyLookup",
    "{836E0D0B-0358-45B4-B888-4ADCE9356D4E}": "Microsoft.FuzzyGrouping",
    # Pivot / Unpivot
    "{AEB2AFAE-2201-48B1-B290-42BB8C9149DD}": "Microsoft.Pivot",
    "{B8B094A9-8809-4E06-8874-5C55606A9FDF}": "Microsoft.UnPivot",
    # Raw File Source / Destination
    "{480C7D5A-CE63-405C-B338-3C7F26560EE3}": "Microsoft.RawSource",
    "{04762BB6-892F-4EE6-AD46-9CEB0A7EC7A2}": "Microsoft.RawDestination",
    # SQL Server Destination
    "{F452EAF3-5EF0-43F1-8067-09DDF0BC6316}": "Microsoft.SQLServerDestination",
    # Term Extraction / Term Lookup
    "{056F53D1-8081-4D07-8134-1D4DAC244BB2}": "Microsoft.TermExtraction",
    "{ACCC729A-823D-49A7-B16D-F1999AEB1D4C}": "Microsoft.TermLookup",
    # Slowly Changing Dimension
    "{25BBB0C5-369B-4303-B3DF-D0DC741DEE58}": "Microsoft.SCD",
}

#: CLSIDs and ProgIDs of the host of managed (.NET) components; the real component is
#: named by the ``UserComponentTypeName`` property
_MANAGED_HOSTS = {
    "{BF01D463-7089-41EE-8F05-0A6DC17CE633}",
    "{874F7595-FB5F-40FF-96AF-FBFF8250E3EF}",
    "{2E42D45B-F83C-400F-8D77-61DDE6A7DF29}",
    "DTS.MANAGEDCOMPONENTWRAPPER.1",
    "DTS.MANAGEDCOMPONENTWRAPPER.2",
    "DTS.MANAGEDCOMPONENTWRAPPER.3",
    "MICROSOFT.MANAGEDCOMPONENTHOST",
}

#: managed component class (without the ``Microsoft.SqlServer.Dts.Pipeline.`` part) ->
#: canonical name
_MANAGED_COMPONENTS: dict[str, str] = {
    "scriptcomponenthost": "Microsoft.ScriptComponent",
    "datareadersourceadapter": "Microsoft.ADONETSource",
    "adonetdestination": "Microsoft.ADONETDestination",
    "datareaderdestinationadapter": "Microsoft.DataReaderDestination",
    "xmlsourceadapter": "Microsoft.XmlSourceAdapter",
    "datastreamingdestinationadapter": "Microsoft.DataStreamingDestinationAdapter",
}

#: ProgID prefixes of v3/v6 native components (``DTSAdapter.OLEDBSource.3``)
_PROGID_PREFIXES = ("dtsadapter.", "dtstransform.")


def canonical_component_type(class_id: str, user_component_type: str | None = None) -> str:
    """Map a ``componentClassID`` (and, for managed components, the
    ``UserComponentTypeName`` property) to the canonical component name."""
    text = class_id.strip()
    upper = text.upper()
    if upper in _MANAGED_HOSTS:
        if not user_component_type:
            return "Microsoft.ManagedComponentHost"
        return canonical_managed_component(user_component_type)
    if upper in _COMPONENT_CLSIDS:
        return _COMPONENT_CLSIDS[upper]
    lower = text.lower()
    for prefix in _PROGID_PREFIXES:
        if lower.startswith(prefix):
            name = text[len(prefix) :]
            base = name.rsplit(".", 1)[0] if name.rsplit(".", 1)[-1].isdigit() else name
            return "Microsoft." + base
    if lower.startswith("attunity.ssisodbc"):
        return "Microsoft." + text.split(".", 1)[1]
    return text


#: managed components whose v6 class name differs from the v8 short name
_MANAGED_ALIASES: dict[str, str] = {
    "attunity.sqlserver.cdcsrc.cdcsourcecomponent": "Attunity.CdcSourceComponent",
    "attunity.sqlserver.cdcsplit.cdcsplittercomponent": "Attunity.CdcSplitterComponent",
}


def canonical_managed_component(user_component_type: str) -> str:
    type_name = user_component_type.split(",", 1)[0].strip()
    if type_name.lower() in _MANAGED_ALIASES:
        return _MANAGED_ALIASES[type_name.lower()]
    last = type_name.rsplit(".", 1)[-1].lower()
    if last in _MANAGED_COMPONENTS and (
        type_name.lower().startswith("microsoft.") or "." not in type_name
    ):
        return _MANAGED_COMPONENTS[last]
    return type_name


# --------------------------------------------------------------------------- enumerators

_ENUMERATORS: dict[str, str] = {
    "foreachfileenumerator": "File",
    "foreachitemenumerator": "Item",
    "foreachadoenumerator": "ADO",
    "foreachfromvarenumerator": "FromVariable",
    "foreachnodelistenumerator": "NodeList",
    "foreachsmoenumerator": "SMO",
    "foreachschemarowsetenumerator": "SchemaRowset",
    "foreachblobenumerator": "AzureBlob",
    "foreachadlsfileenumerator": "AdlsFile",
    "foreachhdfsenumerator": "HdfsFile",
}


def canonical_enumerator_type(creation_name: str) -> str:
    """``DTS.ForEachFileEnumerator.2`` / ``Microsoft.ForEachFileEnumerator`` /
    ``...Enumerators.ADO.ForEachADOEnumerator, ...`` -> ``File`` / ``ADO`` ..."""
    type_name = creation_name.split(",", 1)[0].strip()
    parts = [p for p in type_name.split(".") if p and not p.isdigit()]
    for part in reversed(parts):
        kind = _ENUMERATORS.get(part.lower())
        if kind:
            return kind
    return creation_name.strip()
