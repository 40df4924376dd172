"""Which build of netsim is running — pure Python or the mypyc-compiled core — and a guard
against stale compiled modules.

A compiled module (``netsim/skb/buff.cpython-311-x86_64-linux-gnu.so``) sits next to its
source (``buff.py``), and Python imports the compiled one first.  In a working tree that
means an edited ``.py`` would silently not run.  ``setup.py`` records the SHA-256 of every
source it compiled in ``netsim/_build_info.py``; before the core is imported, :func:`check`
compares each compiled module's source with its record and refuses to go on (``ImportError``
naming the modules and the fix) if one changed, or if compiled modules are present that the
build record does not know.  It runs on import, as the first thing ``netsim`` does.  This
module is never compiled.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
from pathlib import Path

__all__ = ["BUILD", "StaleBuildError", "build_name", "check"]

_ROOT = Path(__file__).resolve().parent
#: the packages setup.py compiles (it reads this line) and this guard checks
_CORE = ("mm", "skb", "stats", "wire", "sock", "tcp", "udp", "ipv4", "ipv6", "dev", "netns", "tls")


class StaleBuildError(ImportError):
    """A compiled module no longer matches its source."""


def _compiled_modules() -> list[Path]:
    """The ``.py`` files of the core that have a compiled extension beside them."""
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    found = []
    for package in _CORE:
        directory = _ROOT / package
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            for suffix in suffixes:  # the longest first: .cpython-311-x86_64-linux-gnu.so
                if entry.name.endswith(suffix):
                    found.append(directory / (entry.name[: -len(suffix)] + ".py"))
                    break
    return found


def check() -> bool:
    """Raise :class:`StaleBuildError` if a compiled module does not match its source;
    return whether the core is compiled."""
    compiled = _compiled_modules()
    if not compiled:
        return False
    try:  # written by setup.py, absent in a tree never built
        info = importlib.import_module(f"{__package__}._build_info")
        recorded: dict[str, str] = dict(getattr(info, "SOURCES", {}))
    except ImportError:
        recorded = {}
    stale = []
    for source in compiled:
        rel = source.relative_to(_ROOT.parent).as_posix()
        digest = recorded.get(rel)
        if (
            digest is None
            or not source.exists()
            or hashlib.sha256(source.read_bytes()).hexdigest() != digest
        ):
            stale.append(rel)
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        raise StaleBuildError(
            f"netsim: compiled modules do not match their sources ({shown}); rebuild with "
            "'NETSIM_MYPYC=1 python3 -m pip install -e .', or go back to pure Python with "
            "'python3 -m pip install -e .' after deleting netsim/*/*.so"
        )
    return True


def build_name() -> str:
    """``"compiled (mypyc)"`` or ``"pure Python"``: what the running core is."""
    from .skb import buff

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return "compiled (mypyc)" if str(buff.__file__).endswith(suffixes) else "pure Python"


BUILD = ""  # filled in by netsim/__init__.py once the core is imported

check()  # on import, before netsim/__init__.py imports the core
