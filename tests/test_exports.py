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
    from netsim import dev, mm, runtime, skb, sock, stats

    for symbol in netsim.__all__:
        obj = getattr(netsim, symbol)
        homes = [m for m in (mm, skb, stats, runtime, sock, dev) if getattr(m, symbol, None) is obj]
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


#: Packages below the transports, and the upper packages they must never import: IP reaches
#: TCP and UDP through ``inet_protos`` / ``inet6_protos``, a device reaches IP through
#: ``ptype_base`` and the GSO offload, all filled in by the upper layer as it is imported.
LOWER_PACKAGES = {"sock", "ipv4", "ipv6", "dev", "netns", "skb", "mm", "wire", "stats"}
UPPER_PACKAGES = {"tcp", "udp", "tls", "runtime", "cli", "testing"}


def _netsim_imports(path: Path) -> set[str]:
    """The top-level netsim packages ``path`` imports, at any depth (lazy imports too)."""
    package = path.relative_to(PACKAGE_ROOT).parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(package[:-1])[: len(package) - node.level]
                parts = [*base, *(node.module or "").split(".")]
            else:
                parts = (node.module or "").split(".")
                if parts[0] != "netsim":
                    continue
                parts = parts[1:]
            if parts and parts[0]:
                found.add(parts[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "netsim" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_lower_layers_do_not_import_upper_ones() -> None:
    offenders = {
        str(path.relative_to(PACKAGE_ROOT)): sorted(_netsim_imports(path) & UPPER_PACKAGES)
        for path in PACKAGE_ROOT.rglob("*.py")
        if path.relative_to(PACKAGE_ROOT).parts[0] in LOWER_PACKAGES
    }
    assert not {k: v for k, v in offenders.items() if v}
