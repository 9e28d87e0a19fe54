"""Reading ``.dtsx`` files (format versions 2, 3, 6 and 8) into :mod:`ssisrun.model`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ssisrun.errors import PackageLoadError, PackageNotFoundError

if TYPE_CHECKING:
    from ssisrun.model import Package, Project


def read_file_bytes(path: str | Path, what: str = "package") -> bytes:
    """Read a file a user named, turning OS errors into ssisrun's errors."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise PackageNotFoundError(f"no such {what} file", path=str(p)) from None
    except IsADirectoryError:
        raise PackageNotFoundError(
            f"is a directory, not a {what} file (for a project folder use "
            "--project DIR --package NAME)",
            path=str(p),
        ) from None
    except PermissionError:
        raise PackageLoadError("permission denied", path=str(p)) from None
    except OSError as exc:
        raise PackageLoadError(f"cannot be read: {exc.strerror or exc}", path=str(p)) from None


def load_package_bytes(data: bytes, source: str, project: Project | None = None,
                       password: str | None = None) -> Package:
    """Parse and read a package from bytes; ``source`` names it in messages. What a
    package password protects is decrypted with ``password``, else the password in
    ``SSIS_PACKAGE_DECRYPT`` (:mod:`ssisrun.dtsx.protection`)."""
    from ssisrun.dtsx.protection import decrypt_document, package_password
    from ssisrun.dtsx.reader import read_package
    from ssisrun.dtsx.safexml import parse_bytes

    tree = parse_bytes(data, source)
    root = decrypt_document(tree.getroot(), package_password(password), source)
    package = read_package(root, source)
    package.project = project
    return package


def load_package(path: str | Path, project: Project | None = None,
                 password: str | None = None) -> Package:
    """Load one ``.dtsx`` file. Raises PackageNotFoundError (exit 4) or
    PackageLoadError (exit 5) with the file, the line and the reason."""
    data = read_file_bytes(path)
    return load_package_bytes(data, str(path), project, password)
