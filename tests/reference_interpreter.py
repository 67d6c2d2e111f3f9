"""For the vector generators: make sure ``import ipv8`` loads the reference pyipv8, never txipv8.

Both packages are called ``ipv8``, so a generator started with the wrong interpreter, or with the repository
on ``sys.path``, would silently record txipv8's own output as the "reference". Standard library only: it runs
before anything of either package is imported.
"""
from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def require_reference(script: str, command: str, version: str = "3.2.1", distribution: str = "pyipv8") -> None:
    """Leave ``sys.path`` without the repository and the script's folder, and check what ``import ipv8`` loads.

    :param script: the generator's ``__file__``.
    :param command: how to run the generator properly (shown when the check fails).
    :param version: the exact reference version required.
    :raises SystemExit: (status 2) when the interpreter does not provide exactly that reference.
    """
    here = Path(script).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() not in (REPOSITORY, here)]

    def refuse(reason: str) -> None:
        sys.stderr.write(f"{Path(script).name}: {reason}\n"
                         f"These vectors must come from {distribution} {version}; run:\n    {command}\n")
        raise SystemExit(2)

    try:
        found = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        refuse(f"{distribution} is not installed in {sys.prefix}")
    if found != version:
        refuse(f"found {distribution} {found}, need exactly {version}")
    import ipv8  # noqa: PLC0415
    expected = Path(str(importlib.metadata.distribution(distribution).locate_file("ipv8"))).resolve()
    if Path(ipv8.__file__).resolve().parent != expected:
        refuse(f"'import ipv8' loads {ipv8.__file__}, not the {distribution} copy in {expected}")
