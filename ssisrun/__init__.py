"""ssisrun: run SSIS packages (.dtsx) natively, in the style of dtexec.

The import of this package is kept light: ``ssisrun --version`` must start fast,
so nothing heavy (lxml, rich, lark) is imported here.
"""

__version__ = "0.1.0"


def main() -> None:
    """Console-script entry point. ``--version`` answers before Click is imported,
    so scripts that probe for ssisrun pay only for Python's own start-up."""
    import sys

    if sys.argv[1:] in (["--version"], ["-V"]):
        sys.stdout.write(f"ssisrun, version {__version__}\n")
        return
    from ssisrun.cli import main as cli_main

    cli_main()
