"""Public-API discipline (trio's test_exports model): every package has ``__all__``, every name
in it exists, and the sans-IO cores never import trio."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import netsim

PACKAGE_ROOT = Path(netsim.__file__).parent
TRIO_PACKAGES = {"runtime", "cli", "testing"}


def _packages() -> list[str]:
    names = ["netsim"]
    for info in pkgutil.iter_modules([str(PACKAGE_ROOT)]):
        if info.ispkg:
            names.append(f"netsim.{info.name}")
    return names


@pytest.mark.parametrize("name", _packages())
def test_package_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"


def test_top_level_reexports_are_the_same_objects() -> None:
    from netsim import mm, runtime, skb, sock, stats

    for symbol in netsim.__all__:
        obj = getattr(netsim, symbol)
        homes = [m for m in (mm, skb, stats, runtime, sock) if getattr(m, symbol, None) is obj]
        assert homes or symbol in {"BadPageError", "NetsimError", "PageLeakError"}


def test_design_api_names_exist() -> None:
    """The names DESIGN.md fixes for memory and allocators."""
    from netsim.mm import (  # noqa: F401
        GFP_ATOMIC,
        GFP_KERNEL,
        PageAllocator,
        PageFrag,
        PageFragCache,
        get_frag_allocator,
        get_page,
        put_page,
    )

    pa = PageAllocator(fail_high_order=False)
    nc = get_frag_allocator("page_frag_cache")(pa)
    for method in ("prepare", "probe", "commit", "commit_noref", "abort", "alloc", "drain"):
        assert callable(getattr(nc, method))
    assert pa.pages_in_use() == 0


def _imports_trio(path: Path) -> bool:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "trio" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "trio":
            return True
    return False


def test_sans_io_cores_do_not_import_trio() -> None:
    offenders = [
        str(path.relative_to(PACKAGE_ROOT))
        for path in PACKAGE_ROOT.rglob("*.py")
        if path.relative_to(PACKAGE_ROOT).parts[0] not in TRIO_PACKAGES and _imports_trio(path)
    ]
    assert offenders == []
