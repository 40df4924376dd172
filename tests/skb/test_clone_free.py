"""Freeing, cloning, ``dataref``, ``pskb_expand_head`` and ``pskb_copy`` (net/core/skbuff.c
``__skb_clone``, ``skb_release_data``, ``pskb_expand_head``, ``__pskb_copy_fclone``;
spec/mm-skb.md §4.11-§4.12, §4.16)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, get_page, put_page
from netsim.skb import (
    CHECKSUM_PARTIAL,
    SKB_DATAREF_MASK,
    SKB_DATAREF_SHIFT,
    SKB_TRUESIZE,
    SKBFL_MANAGED_FRAG_REFS,
    BadSkbError,
    SkBuff,
    alloc_skb,
    consume_skb,
    kfree_skb,
    kfree_skb_list,
    pskb_copy,
    pskb_expand_head,
    skb_check,
    skb_clone,
    skb_cloned,
    skb_fill_page_desc,
    skb_header_cloned,
    skb_len_add,
    skb_put,
    skb_reserve,
    skb_shared,
    skb_to_bytes,
)
from netsim.stats import Counters

HEADER = bytes(range(0x40, 0x40 + 54))


class Cb:
    """A protocol control block: ``skb_clone`` copies it by value."""

    def __init__(self, seq: int) -> None:
        self.seq = seq

    def copy(self) -> Cb:
        return Cb(self.seq)


def _set_destructor(skb: SkBuff, destructor: Callable[[SkBuff], None]) -> None:
    """``skb_set_owner_w``'s destructor, set out of line (keeps mypy from narrowing it)."""
    skb.destructor = destructor


def _paged_skb(pa: PageAllocator) -> tuple[SkBuff, list[Page], bytes]:
    """54 linear bytes after 64 of headroom, then three frags: two on an order-3 page, one on
    an order-0 page.  Each slot owns one reference: pages end with refcounts (2, 1)."""
    skb = alloc_skb(64 + len(HEADER), stats=pa.stats)
    skb_reserve(skb, 64)
    off = skb_put(skb, len(HEADER))
    skb.head[off : off + len(HEADER)] = HEADER
    skb.mac_header = 64
    skb.network_header = 64 + 14
    skb.transport_header = 64 + 34
    big = pa.alloc_pages(GFP_KERNEL, 3)
    small = pa.alloc_pages(GFP_KERNEL, 0)
    assert big is not None
    assert small is not None
    a = bytes((i * 3) & 0xFF for i in range(1000))
    b = bytes((i * 5 + 1) & 0xFF for i in range(2000))
    c = bytes((i * 7 + 2) & 0xFF for i in range(300))
    big.view[500:1500] = a
    big.view[9000:11000] = b
    small.view[10:310] = c
    skb_fill_page_desc(skb, 0, big, 500, 1000)
    get_page(big)
    skb_fill_page_desc(skb, 1, big, 9000, 2000)
    skb_fill_page_desc(skb, 2, small, 10, 300)
    skb_len_add(skb, 3300)
    assert (big.refcount, small.refcount) == (2, 1)
    skb_check(skb)
    return skb, [big, small], HEADER + a + b + c


# -- kfree_skb -----------------------------------------------------------------------------------


def test_kfree_puts_every_frag_page(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), _ = _paged_skb(page_allocator)
    puts = stats.page_put
    kfree_skb(skb)
    assert stats.page_put == puts + 3  # one put_page per slot
    assert big.freed
    assert small.freed
    assert page_allocator.pages_in_use() == 0
    assert skb.freed
    assert skb.shinfo.dataref == 0
    assert (stats.skb_alloc, stats.skb_free) == (1, 1)


def test_double_free_raises(page_allocator: PageAllocator) -> None:
    skb, _, _ = _paged_skb(page_allocator)
    consume_skb(skb)
    puts = page_allocator.stats.page_put
    with pytest.raises(BadSkbError, match="double free"):
        kfree_skb(skb)
    assert page_allocator.stats.page_put == puts
    assert page_allocator.stats.skb_free == 1


def test_destructor_runs_once_at_the_last_user() -> None:
    stats = Counters()
    calls: list[SkBuff] = []
    skb = alloc_skb(0, stats=stats)
    _set_destructor(skb, calls.append)
    skb.users = 2  # skb_get()
    assert skb_shared(skb)
    kfree_skb(skb)
    assert not skb.freed
    assert skb.users == 1
    assert calls == []
    assert not skb_shared(skb)
    assert stats.skb_free == 0
    kfree_skb(skb)
    assert (skb.freed, calls) == (True, [skb])
    assert skb.destructor is None
    assert stats.skb_free == 1


def test_kfree_skb_list_frees_each(page_allocator: PageAllocator) -> None:
    skbs = [_paged_skb(page_allocator)[0] for _ in range(3)]
    kfree_skb_list(skbs)
    assert all(s.freed for s in skbs)
    assert page_allocator.pages_in_use() == 0


# -- skb_clone and dataref -----------------------------------------------------------------------


def test_clone_shares_shinfo_and_takes_no_page_reference(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    skb.cb = Cb(1234)
    skb.sk = object()
    skb.destructor = lambda s: None
    gets, adds = stats.page_get, stats.page_ref_add

    clone = skb_clone(skb)

    assert clone is not skb
    assert clone.shinfo is skb.shinfo
    assert clone.frags is skb.frags
    assert clone.head is skb.head
    assert skb.shinfo.dataref == 2
    assert skb.cloned
    assert clone.cloned
    assert skb_cloned(skb)
    assert skb_cloned(clone)
    assert (big.refcount, small.refcount) == (2, 1)
    assert (stats.page_get, stats.page_ref_add) == (gets, adds)
    assert (stats.skb_alloc, stats.skb_clone) == (2, 1)
    # same geometry, its own sk_buff
    for name in ("data", "tail", "end", "len", "data_len", "truesize"):
        assert getattr(clone, name) == getattr(skb, name), name
    assert (clone.mac_header, clone.network_header, clone.transport_header) == (64, 78, 98)
    assert clone.users == 1
    assert not clone.nohdr
    assert clone.sk is None
    assert clone.destructor is None
    assert clone.cb is not skb.cb
    assert clone.cb.seq == 1234
    assert skb_to_bytes(clone) == data
    skb_check(skb)
    skb_check(clone)

    skb.destructor = None
    kfree_skb(clone)
    kfree_skb(skb)
    assert big.freed
    assert small.freed


def test_freeing_the_clone_only_drops_dataref(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    clone = skb_clone(skb)
    puts = stats.page_put

    kfree_skb(clone)
    assert clone.freed
    assert skb.shinfo.dataref == 1
    assert stats.page_put == puts
    assert (big.refcount, small.refcount) == (2, 1)
    assert skb.cloned  # the flag stays...
    assert not skb_cloned(skb)  # ...but the data is no longer shared
    assert skb_to_bytes(skb) == data

    kfree_skb(skb)
    assert stats.page_put == puts + 3
    assert big.freed
    assert small.freed
    assert (stats.skb_alloc, stats.skb_free) == (2, 2)


def test_freeing_the_original_first_leaves_the_clone_readable(
    page_allocator: PageAllocator,
) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    clone = skb_clone(skb)
    puts = stats.page_put
    kfree_skb(skb)
    assert stats.page_put == puts
    assert (big.refcount, small.refcount) == (2, 1)  # nothing put yet
    assert clone.shinfo.dataref == 1
    assert skb_to_bytes(clone) == data
    kfree_skb(clone)
    assert stats.page_put == puts + 3
    assert big.freed
    assert small.freed


def test_three_clones_release_at_the_last(page_allocator: PageAllocator) -> None:
    skb, (big, small), _ = _paged_skb(page_allocator)
    c1 = skb_clone(skb)
    c2 = skb_clone(c1)
    assert skb.shinfo.dataref == 3
    for victim, left in ((c1, 2), (skb, 1)):
        kfree_skb(victim)
        assert skb.shinfo.dataref == left
        assert not big.freed
    kfree_skb(c2)
    assert big.freed
    assert small.freed


def test_clone_of_a_freed_skb_raises(page_allocator: PageAllocator) -> None:
    skb, _, _ = _paged_skb(page_allocator)
    kfree_skb(skb)
    with pytest.raises(BadSkbError, match="use after free"):
        skb_clone(skb)
    assert page_allocator.stats.skb_clone == 0


def test_header_cloned_excludes_payload_only_references(page_allocator: PageAllocator) -> None:
    """``__skb_header_release``: the queued skb keeps only a payload reference, so a clone
    sent down the stack may write its own headers."""
    skb, (big, small), _ = _paged_skb(page_allocator)
    skb.nohdr = True
    skb.shinfo.dataref = 1 + (1 << SKB_DATAREF_SHIFT)
    clone = skb_clone(skb)
    dataref = skb.shinfo.dataref
    assert (dataref & SKB_DATAREF_MASK, dataref >> SKB_DATAREF_SHIFT) == (2, 1)
    assert skb_cloned(clone)
    assert skb_cloned(skb)
    assert not skb_header_cloned(clone)
    assert not skb_header_cloned(skb)

    clone2 = skb_clone(clone)  # a second full reference: now headers really are shared
    assert skb_header_cloned(clone)
    assert skb_header_cloned(clone2)
    kfree_skb(clone2)

    kfree_skb(clone)  # bias 1
    assert skb.shinfo.dataref == 1 + (1 << SKB_DATAREF_SHIFT)
    assert (big.refcount, small.refcount) == (2, 1)
    kfree_skb(skb)  # nohdr: bias (1 << 16) + 1 -> 0, the data goes
    assert big.freed
    assert small.freed


def test_uncloned_skb_is_not_header_cloned() -> None:
    skb = alloc_skb(0, stats=Counters())
    assert not skb_cloned(skb)
    assert not skb_header_cloned(skb)
    kfree_skb(skb)


# -- pskb_expand_head ----------------------------------------------------------------------------


def test_expand_head_on_a_clone_references_every_frag(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    clone = skb_clone(skb)
    old_shinfo = skb.shinfo
    gets = stats.page_get
    data_off, tail_off = clone.data, clone.tail

    pskb_expand_head(clone, 128, 0)

    assert stats.page_get == gets + 3  # skb_frag_ref on each of the three slots
    assert (big.refcount, small.refcount) == (4, 2)
    assert clone.shinfo is not old_shinfo
    assert skb.shinfo is old_shinfo
    assert clone.shinfo.dataref == 1
    assert old_shinfo.dataref == 1
    assert not clone.cloned
    assert not skb_cloned(clone)
    assert not skb_cloned(skb)
    assert clone.head is not skb.head
    assert (clone.data, clone.tail) == (data_off + 128, tail_off + 128)
    assert clone.headroom == skb.headroom + 128
    assert (clone.mac_header, clone.network_header, clone.transport_header) == (
        192,
        206,
        226,
    )
    assert (skb.mac_header, skb.network_header, skb.transport_header) == (64, 78, 98)
    assert [(f.page, f.offset, f.len) for f in clone.frags] == [
        (f.page, f.offset, f.len) for f in skb.frags
    ]
    assert clone.frags[0] is not skb.frags[0]  # private descriptors
    assert skb_to_bytes(clone) == skb_to_bytes(skb) == data
    skb_check(clone)
    skb_check(skb)

    # the clone's new head is private: writing it leaves the original alone
    clone.head[clone.data] ^= 0xFF
    assert skb_to_bytes(skb) == data

    kfree_skb(skb)
    assert (big.refcount, small.refcount) == (2, 1)
    kfree_skb(clone)
    assert big.freed
    assert small.freed


def test_expand_head_on_a_private_skb_moves_the_frags(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    gets, puts = stats.page_get, stats.page_put
    frags = [(f.page, f.offset, f.len) for f in skb.frags]
    old_shinfo = skb.shinfo
    osize, truesize = skb.end, skb.truesize

    pskb_expand_head(skb, 32, 0)

    assert (stats.page_get, stats.page_put) == (gets, puts)
    assert (big.refcount, small.refcount) == (2, 1)
    assert skb.shinfo is not old_shinfo
    assert skb.shinfo.dataref == 1
    assert [(f.page, f.offset, f.len) for f in skb.frags] == frags
    assert skb.headroom == 96
    # sized from the old end: SKB_HEAD_ALIGN(384 + 32) = 768 -> kmalloc-1k -> end 704;
    # sk is None, so truesize follows the new head size
    assert (osize, skb.end) == (384, 704)
    assert skb.truesize == truesize + (skb.end - osize)
    assert skb_to_bytes(skb) == data
    skb_check(skb)
    kfree_skb(skb)
    assert big.freed
    assert small.freed


def test_expand_head_grows_head_and_tail_room() -> None:
    skb = alloc_skb(100, stats=Counters())
    skb_reserve(skb, 10)
    off = skb_put(skb, 50)
    skb.head[off : off + 50] = b"x" * 50
    assert (skb.headroom, skb.tailroom, skb.end) == (10, 324, 384)
    truesize = skb.truesize

    pskb_expand_head(skb, 100, 1000)

    # SKB_HEAD_ALIGN(384 + 1100) = 1536 + 320 -> kmalloc-2k -> end 1728
    assert skb.end == 1728
    assert skb.headroom == 110
    assert skb.tailroom == 1728 - 160
    assert skb.tailroom >= 324 + 1000
    assert bytes(skb.linear()) == b"x" * 50
    assert skb.truesize == truesize + 1728 - 384
    assert skb.truesize == SKB_TRUESIZE(1728)
    kfree_skb(skb)


def test_expand_head_keeps_truesize_of_an_owned_skb() -> None:
    skb = alloc_skb(0, stats=Counters())
    skb.sk = object()
    truesize = skb.truesize
    pskb_expand_head(skb, 0, 2000)
    assert skb.end > 384
    assert skb.truesize == truesize  # charged to a socket: not safe to change
    skb.sk = None
    kfree_skb(skb)


def test_expand_head_moves_csum_start_of_a_partial_checksum() -> None:
    """``skb_headers_offset_update``: ``csum_start`` is head-relative for CHECKSUM_PARTIAL."""
    skb = alloc_skb(100, stats=Counters())
    skb_reserve(skb, 40)
    skb_put(skb, 60)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start, skb.csum_offset = 60, 16
    pskb_expand_head(skb, 24, 0)
    assert (skb.csum_start, skb.csum_offset) == (84, 16)
    kfree_skb(skb)


def test_expand_head_refuses_shared_and_freed_skbs(page_allocator: PageAllocator) -> None:
    skb, _, data = _paged_skb(page_allocator)
    skb.users = 2
    with pytest.raises(BadSkbError, match="shared"):
        pskb_expand_head(skb, 16, 0)
    assert skb.headroom == 64
    assert skb.shinfo.dataref == 1
    kfree_skb(skb)
    assert skb_to_bytes(skb) == data
    kfree_skb(skb)
    with pytest.raises(BadSkbError, match="freed"):
        pskb_expand_head(skb, 16, 0)


# -- pskb_copy -----------------------------------------------------------------------------------


def test_pskb_copy_shares_frags_with_a_reference_each(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.shinfo.gso_size, skb.shinfo.gso_segs = 1000, 4
    gets = stats.page_get

    n = pskb_copy(skb)

    assert stats.page_get == gets + 3
    assert (big.refcount, small.refcount) == (4, 2)
    assert n.shinfo is not skb.shinfo
    assert n.head is not skb.head
    assert not n.cloned
    assert not skb.cloned
    assert n.shinfo.dataref == 1
    assert [(f.page, f.offset, f.len) for f in n.frags] == [
        (f.page, f.offset, f.len) for f in skb.frags
    ]
    assert (n.len, n.data_len, n.headlen, n.headroom) == (skb.len, 3300, 54, 64)
    assert n.truesize == SKB_TRUESIZE(n.end) + 3300
    assert (n.mac_header, n.network_header, n.transport_header) == (64, 78, 98)
    assert (n.shinfo.gso_size, n.shinfo.gso_segs) == (1000, 4)
    assert n.ip_summed == CHECKSUM_PARTIAL
    assert skb_to_bytes(n) == data
    skb_check(n)

    n.head[n.data] ^= 0xFF  # private linear data
    assert skb_to_bytes(skb) == data

    kfree_skb(skb)
    assert (big.refcount, small.refcount) == (2, 1)
    kfree_skb(n)
    assert big.freed
    assert small.freed
    assert (stats.skb_alloc, stats.skb_free) == (2, 2)


def test_expand_head_on_a_clone_takes_a_user_on_each_frag_list_member(
    page_allocator: PageAllocator,
) -> None:
    """``skb_clone_fraglist``: both shinfos now list the members, each holds a user."""
    stats = page_allocator.stats
    skb, (big, small), data = _paged_skb(page_allocator)
    member = alloc_skb(10, stats=stats)
    off = skb_put(member, 10)
    member.head[off : off + 10] = b"0123456789"
    skb.frag_list.append(member)
    skb.len += 10
    skb.data_len += 10
    clone = skb_clone(skb)

    pskb_expand_head(clone, 0, 0)

    assert clone.frag_list == [member]
    assert clone.frag_list is not skb.frag_list
    assert member.users == 2
    assert skb_to_bytes(clone) == skb_to_bytes(skb) == data + b"0123456789"
    kfree_skb(skb)
    assert (member.users, member.freed) == (1, False)
    kfree_skb(clone)
    assert member.freed
    assert big.freed
    assert small.freed
    assert stats.skb_alloc == stats.skb_free


def test_managed_frag_refs_are_not_put(page_allocator: PageAllocator) -> None:
    """``SKBFL_MANAGED_FRAG_REFS``: the frags hold no page references of their own."""
    stats = page_allocator.stats
    page = page_allocator.alloc_pages(GFP_KERNEL, 0)
    assert page is not None
    skb = alloc_skb(0, stats=stats)
    skb_fill_page_desc(skb, 0, page, 0, 100)  # no reference for the slot
    skb_len_add(skb, 100)
    skb.shinfo.flags |= SKBFL_MANAGED_FRAG_REFS
    puts = stats.page_put
    kfree_skb(skb)
    assert stats.page_put == puts
    assert page.refcount == 1  # still the owner's
    put_page(page)
