"""Packages for the catalog and scale-out tests."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from builders import Exe, Var, package


def expr_package(name: str = "Pkg") -> str:
    """One Expression Task."""
    return package(8, [Exe("Set", "Microsoft.ExpressionTask",
                           object_data='<ExpressionTask Expression="@[User::N] = 41" />')],
                   variables=[Var("N", 3, "0")], name=name)


def sh_package(script: str, name: str = "Pkg") -> str:
    """One Execute Process Task running ``sh -c script``."""
    assert '"' not in script
    attrs = {"Executable": "sh", "Arguments": f'-c "{script}"'}
    body = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    return package(8, [Exe("Run", "Microsoft.ExecuteProcess",
                           object_data=f"<ExecuteProcessData {body} />")], name=name)


def write(folder: Path, name: str, xml: str) -> Path:
    path = folder / f"{name}.dtsx"
    path.write_text(xml, encoding="utf-8")
    return path
