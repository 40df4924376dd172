"""Counters and snapshots: names, immutability, subtraction, per-order breakdown."""

from __future__ import annotations

import pytest

from netsim.mm import GFP_KERNEL, PageAllocator, put_page
from netsim.stats import COUNTER_NAMES, Counters, StatsSnapshot


def test_design_counter_names_present() -> None:
    for name in (
        "page_alloc",
        "page_free",
        "page_alloc_fail",
        "page_get",
        "page_put",
        "page_ref_add",
        "page_ref_sub_and_test",
        "frag_refill",
        "frag_recycle",
        "frag_abandon",
        "frag_reuse",
        "frag_commit",
        "frag_commit_noref",
        "skb_alloc",
        "skb_free",
        "skb_coalesce",
        "skb_new_frag",
    ):
        assert name in COUNTER_NAMES


def test_snapshot_is_frozen_and_subtracts(page_allocator: PageAllocator) -> None:
    before = page_allocator.stats.snapshot()
    page = page_allocator.alloc_pages(GFP_KERNEL, 3)
    assert page is not None
    put_page(page)
    after = page_allocator.stats.snapshot()
    delta = after - before
    assert isinstance(delta, StatsSnapshot)
    assert delta["page_alloc"] == 1
    assert delta["page_free"] == 1
    assert delta["page_put"] == 1
    assert delta.per_order["page_alloc"][3] == 1
    assert delta.nonzero() == {"page_alloc": 1, "page_free": 1, "page_put": 1}
    with pytest.raises(TypeError):
        after["page_alloc"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        after.per_order = {}  # type: ignore[misc]
    # the snapshot does not move when the live counters do
    page_allocator.stats.page_get += 1
    assert after["page_get"] == before["page_get"]
    page_allocator.stats.page_get -= 1


def test_reset() -> None:
    c = Counters()
    c.page_get = 7
    c.page_alloc_order[2] = 3
    c.reset()
    assert c.snapshot().nonzero() == {}
    assert c.snapshot().per_order["page_alloc"] == (0,) * 11
