"""``skb_check`` (the spec §7 invariants as assertions) and ``skb_describe`` (the picture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, get_page, put_page
from netsim.skb import (
    BadSkbError,
    SkBuff,
    alloc_skb,
    kfree_skb,
    skb_check,
    skb_clone,
    skb_describe,
    skb_fill_page_desc,
    skb_len_add,
    skb_put,
    skb_reserve,
)


def _valid(pa: PageAllocator) -> tuple[SkBuff, Page]:
    """20 linear bytes after 16 of headroom, two frags on an order-3 page (one through its
    sub-page 1, reaching to the very end of the compound page)."""
    page = pa.alloc_pages(GFP_KERNEL, 3)
    assert page is not None
    skb = alloc_skb(100, stats=pa.stats)
    skb_reserve(skb, 16)
    skb_put(skb, 20)
    skb_fill_page_desc(skb, 0, page, 100, 900)
    get_page(page)
    sub = page.subpage(1)
    skb_fill_page_desc(skb, 1, sub, 100, 7 * 4096 - 100)  # to the end of the compound page
    skb_len_add(skb, 900 + 7 * 4096 - 100)
    return skb, page


def test_valid_skbs_pass(page_allocator: PageAllocator) -> None:
    skb, page = _valid(page_allocator)
    skb_check(skb)
    skb_check(skb, max_frags=2)
    clone = skb_clone(skb)
    skb_check(skb)
    skb_check(clone)
    member = alloc_skb(10, stats=page_allocator.stats)
    skb_put(member, 10)
    clone.shinfo.frag_list.append(member)
    skb.len += 10
    skb.data_len += 10
    clone.len += 10
    clone.data_len += 10
    skb_check(skb)
    kfree_skb(clone)
    skb_check(skb)
    kfree_skb(skb)
    assert page.freed
    assert member.freed


def _corruptions() -> list[tuple[str, Callable[[SkBuff], None], Callable[[SkBuff], None]]]:
    """(what the message says, break it, repair it)."""

    def shift_len(skb: SkBuff) -> None:
        skb.len += 1

    def unshift_len(skb: SkBuff) -> None:
        skb.len -= 1

    def frag_longer(skb: SkBuff) -> None:
        skb.frags[0].len += 1

    def frag_shorter(skb: SkBuff) -> None:
        skb.frags[0].len -= 1

    def data_len_up(skb: SkBuff) -> None:
        skb.data_len += 5
        skb.len += 5

    def data_len_down(skb: SkBuff) -> None:
        skb.data_len -= 5
        skb.len -= 5

    def tail_past_end(skb: SkBuff) -> None:
        skb.tail = skb.end + 1

    def tail_back(skb: SkBuff) -> None:
        skb.tail = skb.data + 20

    def empty_frag(skb: SkBuff) -> None:
        skb.frags[0].len = 0
        skb.data_len -= 900
        skb.len -= 900

    def full_frag(skb: SkBuff) -> None:
        skb.frags[0].len = 900
        skb.data_len += 900
        skb.len += 900

    def past_compound_end(skb: SkBuff) -> None:
        skb.frags[1].offset += 1

    def back_inside(skb: SkBuff) -> None:
        skb.frags[1].offset -= 1

    def dataref_zero(skb: SkBuff) -> None:
        skb.shinfo.dataref = 0

    def dataref_one(skb: SkBuff) -> None:
        skb.shinfo.dataref = 1

    def dataref_two(skb: SkBuff) -> None:
        skb.shinfo.dataref = 2

    return [
        ("headlen", shift_len, unshift_len),
        ("data_len", frag_longer, frag_shorter),
        ("data_len", data_len_up, data_len_down),
        ("geometry", tail_past_end, tail_back),
        ("outside its page", empty_frag, full_frag),
        ("outside its page", past_compound_end, back_inside),
        ("dataref", dataref_zero, dataref_one),
        ("uncloned skb with dataref", dataref_two, dataref_one),
    ]


@pytest.mark.parametrize(("message", "breaks", "repairs"), _corruptions())
def test_broken_invariants_are_caught(
    page_allocator: PageAllocator,
    message: str,
    breaks: Callable[[SkBuff], None],
    repairs: Callable[[SkBuff], None],
) -> None:
    skb, _ = _valid(page_allocator)
    skb_check(skb)
    breaks(skb)
    with pytest.raises(BadSkbError, match=message):
        skb_check(skb)
    repairs(skb)
    skb_check(skb)
    kfree_skb(skb)


def test_too_many_frags(page_allocator: PageAllocator) -> None:
    skb, _ = _valid(page_allocator)
    with pytest.raises(BadSkbError, match="nr_frags 2 > 1"):
        skb_check(skb, max_frags=1)
    kfree_skb(skb)


def test_frag_on_a_freed_page_is_caught(page_allocator: PageAllocator) -> None:
    skb, page = _valid(page_allocator)
    other = page_allocator.alloc_pages(GFP_KERNEL, 0)
    assert other is not None
    skb_fill_page_desc(skb, 2, other, 0, 10)
    skb_len_add(skb, 10)
    skb_check(skb)
    put_page(other)  # the slot's reference is gone: a use after free waiting to happen
    with pytest.raises(BadSkbError, match="freed page"):
        skb_check(skb)
    del skb.frags[2]
    skb_len_add(skb, -10)
    skb_check(skb)
    kfree_skb(skb)
    assert page.freed


def test_freed_skb_and_broken_frag_list_member_are_caught(page_allocator: PageAllocator) -> None:
    skb, _ = _valid(page_allocator)
    member = alloc_skb(10, stats=page_allocator.stats)
    skb_put(member, 10)
    skb.frag_list.append(member)
    skb.len += 10
    skb.data_len += 10
    skb_check(skb)
    member.len += 1  # member's own lengths are inconsistent
    with pytest.raises(BadSkbError, match="headlen"):
        skb_check(skb)
    member.len -= 1
    kfree_skb(skb)
    with pytest.raises(BadSkbError, match="freed"):
        skb_check(skb)


def test_describe_shows_geometry_frags_and_refcounts(page_allocator: PageAllocator) -> None:
    skb, page = _valid(page_allocator)
    clone = skb_clone(skb)
    text = skb_describe(clone)
    lines = text.splitlines()
    assert lines[0].startswith(f"skb len={skb.len} data_len={skb.data_len} headlen=20 ")
    assert "cloned" in lines[0]
    # the ruler: boundary names, segments, offsets (skb_describe's own tests check the columns)
    assert lines[1].split() == ["head", "data", "tail", "end"]
    assert [seg.strip() for seg in lines[2].split("|")[1:]] == [
        "headroom 16",
        "data 20",
        "tailroom 348",
        "skb_shared_info 320",
    ]
    assert lines[3].split() == ["0", "16", "36", "384"]
    assert "nr_frags=2" in lines[4]
    assert "dataref=0x2 (head and frags shared by 2 sk_buffs)" in lines[4]
    assert f"frag[0] page#{page.pfn:#x} [100, 1000) len 900 (ref 2)" in text
    assert f"frag[1] page#{page.pfn + 1:#x} (sub-page 1 of page#{page.pfn:#x}) [100, " in text
    kfree_skb(clone)
    kfree_skb(skb)
    assert "FREED" in skb_describe(skb).splitlines()[0]
    assert "(freed)" in skb_describe(skb)  # the frag's page went back with the skb


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page_frag_cache", "(ref 32769 = 1 holder + bias 32768 of page_frag_cache)"),
        ("page_frag", "(ref 2 = 1 holder + 1 of page_frag)"),
    ],
)
def test_describe_splits_the_allocators_share_from_holders(
    page_allocator: PageAllocator, name: str, expected: str
) -> None:
    """A page the allocator is still carving: its count is the frags' holders plus what the
    allocator holds itself — the cache's prepaid bias, the old page_frag's one reference —
    and once the allocator lets go, every reference is a holder's."""
    from netsim.mm import get_frag_allocator
    from netsim.skb import alloc_skb, skb_fill_page_desc

    nc = get_frag_allocator(name)(page_allocator)
    span = nc.prepare(32, GFP_KERNEL)
    assert span is not None
    skb = alloc_skb(64, stats=page_allocator.stats)
    skb_fill_page_desc(skb, 0, span.page, span.offset, 100)
    nc.commit(span, 100)
    skb.len = skb.data_len = 100
    assert expected in skb_describe(skb)
    nc.drain()
    assert "(ref 1)" in skb_describe(skb)
    kfree_skb(skb)
