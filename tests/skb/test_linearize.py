"""Copying out and pulling in: ``skb_copy_bits``, ``__pskb_pull_tail``, ``pskb_pull``,
``skb_linearize`` (net/core/skbuff.c; spec/mm-skb.md §4.13, §4.16)."""

from __future__ import annotations

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, get_page, put_page
from netsim.skb import (
    SkBuff,
    __pskb_pull_tail,
    alloc_skb,
    kfree_skb,
    pskb_pull,
    skb_check,
    skb_clone,
    skb_copy_bits,
    skb_fill_page_desc,
    skb_len_add,
    skb_linearize,
    skb_put,
    skb_reserve,
    skb_to_bytes,
)

HEADROOM = 32


def _bytes(n: int, seed: int) -> bytes:
    return bytes((i * (2 * seed + 1) + seed) & 0xFF for i in range(n))


def _page(pa: PageAllocator, order: int = 0) -> Page:
    page = pa.alloc_pages(GFP_KERNEL, order)
    assert page is not None
    return page


def _add_frag(skb: SkBuff, page: Page, off: int, data: bytes) -> None:
    """Write ``data`` at ``page + off`` and hang it on a new slot owning a new reference."""
    page.view[off : off + len(data)] = data
    get_page(page)
    skb_fill_page_desc(skb, skb.nr_frags, page, off, len(data))
    skb_len_add(skb, len(data))


def _linear(skb: SkBuff, data: bytes) -> None:
    off = skb_put(skb, len(data))
    skb.head[off : off + len(data)] = data


def _build(pa: PageAllocator, *, frag_list: bool = True) -> tuple[SkBuff, list[Page], bytes]:
    """[100 linear][200 P1+0][300 P1+4000, crossing into sub-page 1][150 on P2's sub-page 1]
    then frag_list: m1 = [120 on P3+0], m2 = [50 linear][70 on P3+500]."""
    p1 = _page(pa, 3)
    p2 = _page(pa, 3)
    p3 = _page(pa)
    skb = alloc_skb(HEADROOM + 100, stats=pa.stats)
    skb_reserve(skb, HEADROOM)
    skb.head[:HEADROOM] = b"R" * HEADROOM
    chunks = [_bytes(100, 1), _bytes(200, 2), _bytes(300, 3), _bytes(150, 4)]
    _linear(skb, chunks[0])
    _add_frag(skb, p1, 0, chunks[1])
    _add_frag(skb, p1, 4000, chunks[2])
    _add_frag(skb, p2.subpage(1), 100, chunks[3])
    if frag_list:
        m1 = alloc_skb(0, stats=pa.stats)
        chunks.append(_bytes(120, 5))
        _add_frag(m1, p3, 0, chunks[-1])
        m2 = alloc_skb(50, stats=pa.stats)
        chunks.append(_bytes(50, 6))
        _linear(m2, chunks[-1])
        chunks.append(_bytes(70, 7))
        _add_frag(m2, p3, 500, chunks[-1])
        skb.shinfo.frag_list.extend([m1, m2])
        skb.len += m1.len + m2.len
        skb.data_len += m1.len + m2.len
    pages = [p1, p2, p3]
    for p in pages:
        put_page(p)  # drop the allocation references; the slots keep theirs
    if not frag_list:
        assert p3.freed
    skb_check(skb)
    return skb, pages, b"".join(chunks)


# -- skb_copy_bits -------------------------------------------------------------------------------


def test_copy_bits_every_range(page_allocator: PageAllocator) -> None:
    skb, _, data = _build(page_allocator)
    assert skb.len == len(data) == 100 + 200 + 300 + 150 + 120 + 50 + 70
    boundaries = [0, 1, 99, 100, 101, 299, 300, 301, 600, 749, 750, 751, 870, 920, 989, 990]
    for offset in boundaries:
        for end in boundaries:
            if end < offset:
                continue
            out = bytearray(end - offset)
            skb_copy_bits(skb, offset, out, end - offset)
            assert bytes(out) == data[offset:end], (offset, end)
    kfree_skb(skb)


def test_copy_bits_into_a_window(page_allocator: PageAllocator) -> None:
    skb, _, data = _build(page_allocator)
    out = bytearray(b"." * 20)
    skb_copy_bits(skb, 295, memoryview(out)[5:15], 10)
    assert bytes(out) == b"." * 5 + data[295:305] + b"." * 5
    kfree_skb(skb)


def test_copy_bits_negative_offset_reads_headroom(page_allocator: PageAllocator) -> None:
    skb, _, data = _build(page_allocator)
    out = bytearray(HEADROOM + 10)
    skb_copy_bits(skb, -HEADROOM, out, HEADROOM + 10)
    assert bytes(out) == b"R" * HEADROOM + data[:10]
    with pytest.raises(ValueError, match="outside"):
        skb_copy_bits(skb, -HEADROOM - 1, bytearray(1), 1)
    kfree_skb(skb)


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, 991), (990, 1), (991, 0), (500, 491), (0, -1), (1000, 0)],
)
def test_copy_bits_outside_the_skb_is_an_error(
    page_allocator: PageAllocator, offset: int, length: int
) -> None:
    skb, _, _ = _build(page_allocator)
    with pytest.raises(ValueError, match="outside"):
        skb_copy_bits(skb, offset, bytearray(max(length, 0)), length)
    kfree_skb(skb)


def test_copy_bits_zero_length_at_the_end(page_allocator: PageAllocator) -> None:
    skb, _, _ = _build(page_allocator)
    skb_copy_bits(skb, skb.len, bytearray(), 0)
    kfree_skb(skb)


def test_skb_to_bytes_from_an_offset(page_allocator: PageAllocator) -> None:
    skb, _, data = _build(page_allocator)
    assert skb_to_bytes(skb) == data
    assert skb_to_bytes(skb, 333) == data[333:]
    assert skb_to_bytes(skb, skb.len) == b""
    kfree_skb(skb)


# -- __pskb_pull_tail / pskb_pull / skb_linearize ------------------------------------------------


def test_pull_tail_eats_whole_frags_and_trims_the_next(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (p1, p2, _), data = _build(page_allocator, frag_list=False)
    assert (p1.refcount, p2.refcount) == (2, 1)
    puts = stats.page_put
    head = skb.head

    __pskb_pull_tail(skb, 250)  # frag 0 (200) whole, 50 bytes of frag 1

    assert stats.page_put == puts + 1
    assert p1.refcount == 1
    assert [(f.page, f.offset, f.len) for f in skb.frags] == [
        (p1, 4050, 250),
        (p2.subpage(1), 100, 150),
    ]
    assert (skb.len, skb.data_len, skb.headlen) == (750, 400, 350)
    assert skb.head is head  # tail 132 + 250 <= end 384: pulled in place
    assert bytes(skb.linear()) == data[:350]
    assert skb_to_bytes(skb) == data
    skb_check(skb)
    kfree_skb(skb)
    assert p1.freed
    assert p2.freed


def test_pull_tail_within_the_first_frag_only_trims(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb = alloc_skb(1000, stats=stats)
    page = _page(page_allocator)
    data = _bytes(300, 9)
    _add_frag(skb, page, 1000, data)
    put_page(page)
    head = skb.head
    puts = stats.page_put
    __pskb_pull_tail(skb, 120)
    assert skb.head is head  # enough tailroom: no reallocation
    assert stats.page_put == puts
    assert [(f.offset, f.len) for f in skb.frags] == [(1120, 180)]
    assert (skb.headlen, skb.data_len) == (120, 180)
    assert skb_to_bytes(skb) == data
    kfree_skb(skb)
    assert page.freed


def test_pskb_pull_moves_data_past_the_pulled_bytes(page_allocator: PageAllocator) -> None:
    skb, (p1, p2, _), data = _build(page_allocator, frag_list=False)
    assert pskb_pull(skb, 99) == skb.data  # inside the head: a plain pull
    assert skb.nr_frags == 3
    assert skb_to_bytes(skb) == data[99:]
    assert pskb_pull(skb, 300) is not None  # 1 linear byte + frag 0 + 99 of frag 1
    assert skb.nr_frags == 2
    assert p1.refcount == 1
    assert skb.headlen == 0
    assert skb_to_bytes(skb) == data[399:]
    assert pskb_pull(skb, skb.len + 1) is None
    assert skb_to_bytes(skb) == data[399:]
    skb_check(skb)
    kfree_skb(skb)
    assert p1.freed
    assert p2.freed


def test_linearize_puts_every_page(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (p1, p2, p3), data = _build(page_allocator)
    puts, frees = stats.page_put, stats.skb_free

    skb_linearize(skb)

    assert (skb.nr_frags, skb.data_len, skb.frag_list) == (0, 0, [])
    assert skb.headlen == skb.len == len(data)
    # tail 132 + 890 pulled overshoots end 384 by 638: pskb_expand_head(0, 638 + 128)
    # -> SKB_HEAD_ALIGN(384 + 766) = 1152 + 320 -> kmalloc-2k -> end 1728
    assert skb.end == 1728
    assert bytes(skb.linear()) == data
    assert p1.freed
    assert p2.freed
    assert p3.freed
    assert stats.page_put == puts + 3 + 2  # the skb's three slots, then m1's and m2's
    assert stats.skb_free == frees + 2  # both frag_list members consumed
    assert skb.headroom == HEADROOM
    skb_check(skb)
    skb_linearize(skb)  # linear already: nothing to do
    kfree_skb(skb)


def test_pull_into_the_frag_list(page_allocator: PageAllocator) -> None:
    """Eat the frags, all of m1 and 10 bytes of m2: m1 is freed, m2 is pulled in place."""
    stats = page_allocator.stats
    skb, (p1, p2, p3), data = _build(page_allocator)
    m1, m2 = skb.frag_list
    frees = stats.skb_free

    __pskb_pull_tail(skb, 650 + 120 + 10)

    assert skb.nr_frags == 0
    assert p1.freed
    assert p2.freed
    assert m1.freed
    assert stats.skb_free == frees + 1
    assert skb.frag_list == [m2]
    assert (m2.len, m2.headlen, m2.data_len) == (110, 40, 70)
    assert p3.refcount == 1  # m1's slot went with m1
    assert skb.headlen == 100 + 780
    assert skb.data_len == 110
    assert skb_to_bytes(skb) == data
    skb_check(skb)
    kfree_skb(skb)
    assert p3.freed


def test_pull_from_a_shared_frag_list_member_forks_it(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (_, _, p3), data = _build(page_allocator)
    m1, m2 = skb.frag_list
    m1.users += 1  # someone else holds m1 too (skb_get)
    clones = stats.skb_clone

    __pskb_pull_tail(skb, 650 + 20)

    assert stats.skb_clone == clones + 1
    fork = skb.frag_list[0]
    assert fork is not m1
    assert skb.frag_list[1] is m2
    # a clone of m1, pulled by 20 -- which unshared it (pskb_expand_head: one more reference)
    assert fork.shinfo is not m1.shinfo
    assert m1.shinfo.dataref == 1
    assert (fork.len, fork.headlen, m1.len) == (100, 0, 120)
    assert m1.users == 1
    assert not m1.freed
    assert p3.refcount == 3  # m1's slot, the fork's slot, m2's slot
    assert skb_to_bytes(skb) == data
    assert skb_to_bytes(m1) == data[750:870]  # the other holder's view is intact
    skb_check(skb)
    skb_check(m1)
    kfree_skb(skb)
    assert p3.refcount == 1  # m1 still references its page
    kfree_skb(m1)
    assert p3.freed


def test_pull_tail_of_a_clone_unshares_first(page_allocator: PageAllocator) -> None:
    stats = page_allocator.stats
    skb, (p1, p2, _), data = _build(page_allocator, frag_list=False)
    clone = skb_clone(skb)
    gets = stats.page_get

    skb_linearize(clone)

    # pskb_expand_head took a reference per slot, then the pull put them all
    assert stats.page_get == gets + 3
    assert (p1.refcount, p2.refcount) == (2, 1)  # the original's slots only
    assert clone.shinfo is not skb.shinfo
    assert not clone.cloned
    assert bytes(clone.linear()) == data
    assert skb_to_bytes(skb) == data
    assert skb.nr_frags == 3
    kfree_skb(clone)
    kfree_skb(skb)
    assert p1.freed
    assert p2.freed
