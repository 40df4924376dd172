"""The fragment-allocator registry: the built-ins, and third parties registered through the
``netsim.frag_allocators`` entry-point group (a real distribution on ``sys.path``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netsim.mm import (
    ENTRY_POINT_GROUP,
    GFP_KERNEL,
    FragAllocator,
    PageAllocator,
    PageFrag,
    PageFragCache,
    PageFragCacheCountdown,
    available_frag_allocators,
    get_frag_allocator,
    put_page,
)

BUILTINS: dict[str, type[PageFrag] | type[PageFragCache]] = {
    "page_frag": PageFrag,
    "page_frag_cache": PageFragCache,
    "page_frag_cache_countdown": PageFragCacheCountdown,
}

MY_ALLOC_SOURCE = '''\
"""A third-party fragment allocator, registered through an entry point."""

from netsim.mm import PageFragCache


class MyAlloc(PageFragCache):
    __slots__ = ()

    name = "my_alloc"


NOT_CALLABLE = 42
'''


def test_entry_point_group_name() -> None:
    assert ENTRY_POINT_GROUP == "netsim.frag_allocators"


def test_available_lists_the_builtins() -> None:
    found = available_frag_allocators()
    for name, cls in BUILTINS.items():
        assert found[name] is cls
    assert list(found)[:3] == list(BUILTINS)  # built-ins first


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_get_builtin_by_name(name: str, page_allocator: PageAllocator) -> None:
    factory = get_frag_allocator(name)
    assert factory is BUILTINS[name]
    fa = factory(page_allocator)
    assert isinstance(fa, BUILTINS[name])
    assert fa.name == name
    assert isinstance(fa, FragAllocator)
    got = fa.alloc(100, GFP_KERNEL)
    assert got is not None
    assert got[0].owner == name
    put_page(got[0])
    fa.drain()


def test_get_page_frag_cache_builds_a_page_frag_cache(page_allocator: PageAllocator) -> None:
    nc = get_frag_allocator("page_frag_cache")(page_allocator)
    assert isinstance(nc, PageFragCache)
    assert not isinstance(nc, PageFragCacheCountdown)
    assert nc.page is None
    assert nc.offset == 0


def test_unknown_name_raises_value_error_naming_the_available_ones() -> None:
    with pytest.raises(ValueError, match="unknown frag allocator 'no_such_allocator'") as info:
        get_frag_allocator("no_such_allocator")
    message = str(info.value)
    assert "available: " in message
    for name in BUILTINS:
        assert name in message


def test_frag_allocator_fixture_is_each_registered_allocator(
    request: pytest.FixtureRequest, frag_allocator: FragAllocator
) -> None:
    param = request.node.callspec.params["frag_allocator"]
    assert frag_allocator.name == param
    assert isinstance(frag_allocator, FragAllocator)
    assert frag_allocator.page is None


# -- third-party registration through a real entry point -----------------------------------


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` holding ``my_alloc.py``; ``_dist`` adds distributions."""
    (tmp_path / "my_alloc.py").write_text(MY_ALLOC_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_alloc", None)


def _dist(path: Path, name: str, entry_points: dict[str, str]) -> None:
    """Write ``<name>-0.1.dist-info`` declaring ``entry_points`` in the netsim group."""
    info = path / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def test_entry_point_allocator_is_found_and_works(
    plugin_path: Path, page_allocator: PageAllocator
) -> None:
    _dist(plugin_path, "my-alloc", {"my_alloc": "my_alloc:MyAlloc"})
    factory = get_frag_allocator("my_alloc")
    import my_alloc  # type: ignore[import-not-found]  # written by the fixture

    assert factory is my_alloc.MyAlloc
    fa = factory(page_allocator)
    assert isinstance(fa, PageFragCache)
    assert isinstance(fa, FragAllocator)
    assert fa.name == "my_alloc"
    got = fa.alloc(100, GFP_KERNEL)
    assert got is not None
    page, offset = got
    assert offset == 0
    assert page.owner == "my_alloc"
    assert page.order == 3
    put_page(page)
    fa.drain()
    found = available_frag_allocators()
    assert found["my_alloc"] is my_alloc.MyAlloc
    for name, cls in BUILTINS.items():
        assert found[name] is cls


def test_entry_point_cannot_shadow_a_builtin(plugin_path: Path) -> None:
    _dist(plugin_path, "my-alloc", {"page_frag_cache": "my_alloc:MyAlloc"})
    assert get_frag_allocator("page_frag_cache") is PageFragCache
    assert available_frag_allocators()["page_frag_cache"] is PageFragCache


def test_broken_entry_point(plugin_path: Path) -> None:
    _dist(
        plugin_path,
        "broken-alloc",
        {"broken_alloc": "netsim_no_such_module_xyz:Thing", "my_alloc": "my_alloc:MyAlloc"},
    )
    with pytest.raises(ValueError, match="broken_alloc") as info:
        get_frag_allocator("broken_alloc")
    assert "netsim_no_such_module_xyz:Thing" in str(info.value)
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert info.value.__cause__.name == "netsim_no_such_module_xyz"
    found = available_frag_allocators()  # skips the broken one, keeps the rest
    assert "broken_alloc" not in found
    assert "my_alloc" in found
    assert set(BUILTINS) <= set(found)


def test_entry_point_to_a_missing_attribute(plugin_path: Path) -> None:
    _dist(plugin_path, "my-alloc", {"typo_alloc": "my_alloc:MyAllco"})
    with pytest.raises(ValueError, match="typo_alloc") as info:
        get_frag_allocator("typo_alloc")
    assert isinstance(info.value.__cause__, AttributeError)
    assert "typo_alloc" not in available_frag_allocators()


def test_entry_point_to_something_not_callable(plugin_path: Path) -> None:
    _dist(plugin_path, "my-alloc", {"not_callable": "my_alloc:NOT_CALLABLE"})
    with pytest.raises(ValueError, match="not callable"):
        get_frag_allocator("not_callable")


def test_entry_point_is_gone_when_its_path_is(
    plugin_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entry points are read on every call: a distribution removed from sys.path is not seen."""
    _dist(plugin_path, "my-alloc", {"my_alloc": "my_alloc:MyAlloc"})
    assert "my_alloc" in available_frag_allocators()
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(plugin_path)])
    assert "my_alloc" not in available_frag_allocators()
    with pytest.raises(ValueError, match="unknown frag allocator 'my_alloc'"):
        get_frag_allocator("my_alloc")
