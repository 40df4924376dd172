"""Build netsim: pure Python, or with the sans-IO core compiled by mypyc.

* ``pip install .`` (a wheel: what users get) compiles the core with mypyc when a C compiler
  is there, and falls back to pure Python — saying so — when it is not.
* ``pip install -e .`` (developers) stays pure, so an edited source is what runs; set
  ``NETSIM_MYPYC=1`` to compile in place anyway (``netsim`` then refuses to import a compiled
  module whose source changed since: see ``netsim/_build.py``).
* ``NETSIM_MYPYC=0`` never compiles; ``NETSIM_MYPYC=1`` always does (and fails without a
  compiler).

Compiled: every module of ``netsim/{mm,skb,stats,wire,sock,tcp,udp,ipv4,ipv6,dev,netns}``
except the packages' ``__init__`` files (re-exports only) and the few in ``NOT_COMPILED``.  The
runtime, the CLI and the pytest plugin (the trio side) stay Python.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def _core_packages() -> tuple[str, ...]:
    """``netsim._build._CORE``, read as source (importing netsim here would run its
    stale-build check on the tree being built): the packages compiled and checked."""
    for node in ast.parse((ROOT / "netsim" / "_build.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_CORE" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("netsim/_build.py defines no _CORE")


CORE = _core_packages()
NOT_COMPILED = {
    "netsim/mm/frag_protocol.py",  # a @runtime_checkable Protocol
    "netsim/stats/snapshot.py",  # an attrs Mapping: an ABC cannot be a native class
    "netsim/wire/errors.py",  # re-exports an exception of netsim/errors.py
}


def core_sources() -> list[str]:
    """The modules mypyc compiles, as paths relative to the project root."""
    out = []
    for package in CORE:
        for path in sorted((ROOT / "netsim" / package).glob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and rel not in NOT_COMPILED:
                out.append(rel)
    return out


def _want_compiled() -> bool:
    mode = os.environ.get("NETSIM_MYPYC", "auto").strip().lower()
    if mode in ("0", "no", "false", "pure"):
        return False
    if mode in ("1", "yes", "true", "compiled"):
        return True
    return "editable_wheel" not in sys.argv  # auto: wheels compiled, editable installs pure


def _write_build_info(compiled: bool, sources: list[str]) -> None:
    """``netsim/_build_info.py``: which build this is, and the hash of every compiled source
    (so ``netsim._build`` can tell a compiled module from a stale one)."""
    lines = [
        '"""Written by setup.py: which build this tree holds.  Do not edit."""',
        "",
        f"COMPILED = {compiled!r}",
    ]
    if compiled:
        lines.append("SOURCES: dict[str, str] = {")
        for rel in sources:
            digest = hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()
            lines.append(f'    "{rel}": "{digest}",')
        lines.append("}")
    else:
        lines.append("SOURCES: dict[str, str] = {}")
    (ROOT / "netsim" / "_build_info.py").write_text("\n".join(lines) + "\n")


class _BuildExtOrPure(build_ext):
    """Compile the extensions; without a working C compiler (and unless compiling was
    required), fall back to the pure build and say so."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1  # one C file per module: compile them at once

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            if os.environ.get("NETSIM_MYPYC", "auto").strip() == "1":
                raise
            print(
                f"netsim: the compiled build failed ({exc}); installing pure Python",
                file=sys.stderr,
            )
            self.extensions = []
            _write_build_info(False, [])


def _ext_modules() -> list[object]:
    sources = core_sources()
    if not _want_compiled():
        _write_build_info(False, [])
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("netsim: mypyc is not installed; installing pure Python", file=sys.stderr)
        _write_build_info(False, [])
        return []
    _write_build_info(True, sources)
    opt_level = os.environ.get("NETSIM_MYPYC_OPT", "3")  # "0" builds faster, runs slower
    return list(mypycify(sources, opt_level=opt_level, multi_file=True))


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _BuildExtOrPure})
