"""
Build the API reference of txipv8 with pydoctor, and check its cross-references.

    python doc/build_api.py [OUTPUT_DIR [SOURCE ...]]   (``make docs``: OUTPUT_DIR = doc/api)

SOURCE defaults to the ``ipv8`` package and ``ipv8_service.py``; the tests also point it at small packages.

The docstrings use reStructuredText with Sphinx-style roles, including the ``~`` prefix
(``:class:`~ipv8.peer.Peer``` shows as ``Peer``) and targets relative to the current module (``:mod:`.network```),
which pydoctor does not know: this script teaches it both before it runs pydoctor.

Without network access pydoctor has no inventories of the Python, Twisted or zope documentation, so links to
those cannot be resolved; they are listed as *external* and tolerated. A link target that should be in our
own code (``ipv8...``, ``ipv8_service...``, or a bare name that is not a builtin) and cannot be found is
*broken*: the script lists them and exits with status 1. pydoctor's own docstring syntax errors are reported
too (status 2), as pydoctor itself does.
"""
from __future__ import annotations

import builtins
import contextlib
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "ipv8", ROOT / "ipv8_service.py"]
#: Top-level names of the packages txipv8 uses but does not document itself.
EXTERNAL_ROOTS = {"twisted", "zope", "cryptography", "libnacl", "nacl", "OpenSSL", "service_identity", "ifaddr",
                  "hypothesis", "pytest", "typing_extensions", "attr", "attrs"}
BROKEN_LINK = re.compile(r'^(?P<where>\S+:\d+): Cannot find link target for "(?P<target>[^"]+)"')


def teach_sphinx_targets() -> None:
    """
    Make pydoctor accept two Sphinx conventions of link targets: ``~module.Name`` (shown as ``Name``) and
    ``.name``, relative to the current module (or, failing that, to its package).
    """
    from pydoctor import linker

    original = linker._EpydocLinker.link_xref  # noqa: SLF001 - the one place where xrefs are resolved

    def link_xref(self: linker._EpydocLinker, target: str, label: object, lineno: int) -> object:  # noqa: SLF001
        if target.startswith("~"):
            target = target[1:]
            if isinstance(label, str) and label.lstrip("~") == target:
                label = target.rsplit(".", 1)[-1]
        if target.startswith(".") and not target.startswith(".."):
            module = self.obj.module
            for base in (module, module.parent):
                if base is not None and self.obj.system.objForFullName(base.fullName() + target) is not None:
                    target = base.fullName() + target
                    break
        return original(self, target, label, lineno)

    linker._EpydocLinker.link_xref = link_xref  # noqa: SLF001


def is_external(target: str) -> bool:
    """Whether a link target belongs to the standard library, a builtin or a third-party package."""
    root = target.lstrip("~").split(".", 1)[0]
    return (root in EXTERNAL_ROOTS or root in sys.stdlib_module_names or hasattr(builtins, root)
            or root in {"typing", "collections"})


def build(output: Path, sources: list[Path]) -> tuple[int, list[str], list[str], str]:
    """
    Run pydoctor on the package, writing HTML into ``output``.

    :returns: pydoctor's exit status, the broken links of our own code, the external links it could not
        resolve, and everything pydoctor printed.
    """
    from pydoctor.driver import main as pydoctor_main

    teach_sphinx_targets()
    arguments = ["--project-name=txipv8", "--docformat=restructuredtext", "--quiet",
                 f"--html-output={output}", *map(str, sources)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        status = pydoctor_main(arguments)
    broken, external = [], []
    for line in printed.getvalue().splitlines():
        match = BROKEN_LINK.match(line)
        if match:
            (external if is_external(match.group("target")) else broken).append(line)
    return status, broken, external, printed.getvalue()


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else ROOT / "doc" / "api"
    sources = [Path(source) for source in argv[1:]] or SOURCES
    status, broken, external, printed = build(output, sources)
    others = [line for line in printed.splitlines() if line.strip() and not BROKEN_LINK.match(line)]
    for line in others:
        print(line)
    print(f"API reference written to {output}/index.html; {len(external)} links to external documentation "
          "left unresolved (no inventories offline).")
    if broken:
        print(f"{len(broken)} broken cross-reference(s) in txipv8's docstrings:")
        for line in broken:
            print("  " + line)
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
