"""ssisrun: run SSIS packages (.dtsx) natively, in the style of dtexec.

The import of this package is kept light: ``ssisrun --version`` must start fast,
so nothing heavy (lxml, rich, lark) is imported here.
"""

__version__ = "0.1.0"
