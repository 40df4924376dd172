"""``skb_describe``'s ruler, header split and frag lines; ``page_map`` (the frame of
``netsim trace --json``, docs/trace.md) and ``render_pages`` drawn from it."""

from __future__ import annotations

import pytest

from netsim.mm import GFP_KERNEL, Page, PageAllocator, PageFrag, PageFragCache, get_page
from netsim.skb import (
    PageMapCursor,
    PageMapFrag,
    PageMapPage,
    PageMapRange,
    PageMapSkb,
    SkBuff,
    alloc_skb,
    kfree_skb,
    page_map,
    render_page_map,
    render_pages,
    skb_clone,
    skb_describe,
    skb_fill_page_desc,
    skb_len_add,
    skb_pull,
    skb_put,
    skb_reserve,
)
from netsim.skb.render import RULER_WIDTH

#: the keys of a page map, exactly as docs/trace.md (and the HTML view) has them
PAGE_KEYS = {
    "pfn",
    "order",
    "size",
    "refcount",
    "holders",
    "allocator_share",
    "share",
    "owner",
    "ranges",
    "cursors",
}
RANGE_KEYS = {"start", "end", "skb", "frag", "queue"}
CURSOR_KEYS = {"name", "allocator", "offset", "bias", "size"}
SKB_KEYS = {
    "label",
    "queue",
    "len",
    "data_len",
    "headlen",
    "truesize",
    "headroom",
    "data",
    "tailroom",
    "end",
    "cloned",
    "nr_frags",
    "frags",
}
FRAG_KEYS = {"pfn", "offset", "len"}


def _ruler(text: str) -> tuple[str, str, str]:
    """The three ruler lines of a description (names, segments, offsets)."""
    lines = text.splitlines()
    return lines[1], lines[2], lines[3]


def _columns(line: str) -> list[tuple[int, str]]:
    """``(column, word)`` for each whitespace-separated word of ``line``."""
    out: list[tuple[int, str]] = []
    col = 0
    for word in line.split():
        col = line.index(word, col)
        out.append((col, word))
        col += len(word)
    return out


def _check_ruler(text: str) -> tuple[list[str], list[str], list[int]]:
    """The ruler's boundary names, segment labels and offsets, after checking that each name,
    ``|`` and offset of a boundary share a column and that labels never touch."""
    top, bar, under = _ruler(text)
    bars = [i for i, ch in enumerate(bar) if ch == "|"]
    names = _columns(top)
    offsets = _columns(under)
    assert [c for c, _ in names] == bars
    assert [c for c, _ in offsets] == bars
    segments = bar.split("|")[1:]
    for seg in segments[:-1]:
        assert seg.endswith(" "), f"segment {seg!r} runs into the next"
    return [w for _, w in names], [s.strip() for s in segments], [int(w) for _, w in offsets]


def _tcp_like(pa: PageAllocator, nc: PageFrag | PageFragCache, n: int) -> SkBuff:
    """An skb as tcp_sendmsg builds it: all headroom (MAX_TCP_HEADER), ``n`` bytes in one frag
    from ``nc``."""
    skb = alloc_skb(320, stats=pa.stats)
    skb_reserve(skb, 320)
    span = nc.prepare(n, GFP_KERNEL)
    assert span is not None
    skb_fill_page_desc(skb, 0, span.page, span.offset, n)
    nc.commit(span, n)
    skb_len_add(skb, n)
    return skb


def test_ruler_of_a_tcp_skb(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    skb = _tcp_like(page_allocator, nc, 200)
    text = skb_describe(skb)
    assert text.splitlines()[0].startswith("skb len=200 data_len=200 headlen=0 truesize=")
    names, segments, offsets = _check_ruler(text)
    assert names == ["head", "data/tail", "end"]  # no linear data: data and tail coincide
    assert segments == ["headroom 320", "tailroom 64", "skb_shared_info 320"]
    assert offsets == [0, 320, 384]
    _, bar, _ = _ruler(text)
    assert len(bar) <= RULER_WIDTH
    head_width, tail_width = (len(s) + 1 for s in bar.split("|")[1:3])
    assert head_width > 2 * tail_width  # proportional where it fits: 320 B against 64 B
    assert "data:" not in text  # no header offsets set: no split line
    assert (
        "frag[0] page#0x1000 [0, 200) len 200 "
        "(ref 32769 = 1 holder + bias 32768 of page_frag_cache)" in text
    )
    kfree_skb(skb)
    nc.drain()


def _udp_like(pa: PageAllocator) -> SkBuff:
    """An IPv4/UDP datagram as ip_append_data leaves it: 16 B of headroom, then a 20-byte IP
    header, an 8-byte UDP header and 72 bytes of payload in the head."""
    skb = alloc_skb(200, stats=pa.stats)
    skb_reserve(skb, 16)
    skb_put(skb, 100)
    skb.network_header = 16
    skb.transport_header = 36
    skb.protocol = 0x0800
    skb.head[16] = 0x45
    skb.head[16 + 9] = 17  # IPPROTO_UDP
    return skb


def test_udp_skb_splits_its_head_into_headers_and_payload(page_allocator: PageAllocator) -> None:
    skb = _udp_like(page_allocator)
    text = skb_describe(skb)
    names, segments, offsets = _check_ruler(text)
    assert names == ["head", "data", "tail", "end"]
    assert segments[:3] == ["headroom 16", "data 100", f"tailroom {skb.end - 116}"]
    assert offsets == [0, 16, 116, skb.end]
    assert "  data: IPv4 header 20 | UDP header 8 | payload 72" in text.splitlines()
    skb_pull(skb, 28)  # the receive side has pulled past both headers
    text = skb_describe(skb)
    assert (
        "  data: payload 72 (pulled past: IPv4 header 20 at 16, UDP header 8 at 36)"
        in text.splitlines()
    )
    assert _check_ruler(text)[2] == [0, 44, 116, skb.end]
    kfree_skb(skb)


def test_ipv6_is_read_from_the_protocol_or_the_header(page_allocator: PageAllocator) -> None:
    skb = alloc_skb(200, stats=page_allocator.stats)
    skb_reserve(skb, 24)
    skb_put(skb, 148)
    skb.network_header = 24
    skb.transport_header = 64
    skb.head[24] = 0x60
    skb.head[24 + 6] = 17
    assert "  data: IPv6 header 40 | UDP header 8 | payload 100" in skb_describe(skb)
    kfree_skb(skb)


def test_cloned_skb_shows_the_sharing(page_allocator: PageAllocator) -> None:
    nc = PageFrag(page_allocator)
    skb = _tcp_like(page_allocator, nc, 100)
    clone = skb_clone(skb)
    for each in (skb, clone):
        lines = skb_describe(each).splitlines()
        assert lines[0].endswith(" cloned")
        assert lines[4].endswith("dataref=0x2 (head and frags shared by 2 sk_buffs)")
        # the clone took no page reference: the frag's holder is still the one slot
        assert (
            lines[5] == "  frag[0] page#0x1000 [0, 100) len 100 (ref 2 = 1 holder + 1 of page_frag)"
        )
    kfree_skb(clone)
    assert "shared by" not in skb_describe(skb)
    kfree_skb(skb)
    nc.drain()


@pytest.mark.parametrize(("headroom", "size"), [(0, 64), (2, 16000), (1000, 1100), (7, 9)])
def test_ruler_keeps_tiny_segments_readable(
    page_allocator: PageAllocator, headroom: int, size: int
) -> None:
    skb = alloc_skb(size, stats=page_allocator.stats)
    skb_reserve(skb, headroom)
    skb_put(skb, min(3, size - headroom))
    names, segments, offsets = _check_ruler(skb_describe(skb, indent="    "))
    assert offsets == sorted(set([0, skb.data, skb.tail, skb.end]))
    assert segments[-1].startswith("skb_shared_info ")
    assert names[0].startswith("head")
    kfree_skb(skb)


def test_frag_list_members_are_described_indented(page_allocator: PageAllocator) -> None:
    skb = alloc_skb(64, stats=page_allocator.stats)
    member = alloc_skb(64, stats=page_allocator.stats)
    skb_put(member, 10)
    skb.frag_list.append(member)
    skb.len += 10
    skb.data_len += 10
    text = skb_describe(skb)
    assert "  frag_list[0]:" in text
    assert "    skb len=10 data_len=0 headlen=10 " in text
    kfree_skb(skb)


# -- page_map ---------------------------------------------------------------------------------


def _check_keys(pmap: object) -> None:
    assert isinstance(pmap, dict)
    assert set(pmap) == {"pages", "skbs"}
    for page in pmap["pages"]:
        assert set(page) == PAGE_KEYS
        for r in page["ranges"]:
            assert set(r) == RANGE_KEYS
        for c in page["cursors"]:
            assert set(c) == CURSOR_KEYS
    for skb in pmap["skbs"]:
        assert set(skb) == SKB_KEYS
        for f in skb["frags"]:
            assert set(f) == FRAG_KEYS


def test_page_map_of_a_cache_page(page_allocator: PageAllocator) -> None:
    """Two skbs carved from one page_frag_cache page: holders, the bias, the cursor, the
    ranges (sorted by start), each skb's geometry."""
    nc = PageFragCache(page_allocator)
    a = _tcp_like(page_allocator, nc, 100)
    b = _tcp_like(page_allocator, nc, 200)
    pages = page_allocator.live_pages()
    pmap = page_map(pages, [("q[1]", b), ("q[0]", a)], [("task t task_frag", nc)])
    _check_keys(pmap)
    (page,) = pmap["pages"]
    assert page == {
        "pfn": 0x1000,
        "order": 3,
        "size": 32768,
        "refcount": 32769,
        "holders": 2,
        "allocator_share": 32767,
        "share": "bias",
        "owner": "page_frag_cache",
        "ranges": [
            {"start": 0, "end": 100, "skb": "q[0]", "frag": 0, "queue": "q[0]"},
            {"start": 100, "end": 300, "skb": "q[1]", "frag": 0, "queue": "q[1]"},
        ],
        "cursors": [
            {
                "name": "task t task_frag",
                "allocator": "page_frag_cache",
                "offset": 300,
                "bias": 32767,
                "size": None,
            }
        ],
    }
    assert pmap["skbs"][1] == {
        "label": "q[0]",
        "queue": "q[0]",
        "len": 100,
        "data_len": 100,
        "headlen": 0,
        "truesize": a.truesize,
        "headroom": 320,
        "data": 0,
        "tailroom": 64,
        "end": 384,
        "cloned": False,
        "nr_frags": 1,
        "frags": [{"pfn": 0x1000, "offset": 0, "len": 100}],
    }
    # labels: a callable names the skbs (a tracer's skb() in practice); queues stay
    names = {id(a): "skb1", id(b): "skb2"}
    labelled = page_map(pages, [("q[0]", a), ("q[1]", b)], label=lambda s: names[id(s)])
    assert [r["skb"] for r in labelled["pages"][0]["ranges"]] == ["skb1", "skb2"]
    assert [r["queue"] for r in labelled["pages"][0]["ranges"]] == ["q[0]", "q[1]"]
    assert labelled["pages"][0]["cursors"] == []  # no allocator passed
    kfree_skb(a)
    kfree_skb(b)
    nc.drain()
    assert page_map(pages)["pages"] == []  # only live pages


def test_page_map_of_page_frag_and_a_compound_sub_page(page_allocator: PageAllocator) -> None:
    """The old page_frag's one reference is ``"own"``; a frag naming a sub-page is folded
    onto its head page, offsets from the head's start."""
    nc = PageFrag(page_allocator)
    skb = _tcp_like(page_allocator, nc, 100)
    page = skb.frags[0].page
    sub = page.subpage(2)
    skb_fill_page_desc(skb, 1, sub, 10, 50)
    get_page(sub)  # the slot's reference, on the compound head
    skb_len_add(skb, 50)
    pmap = page_map(page_allocator.live_pages(), [("w", skb)], [("sk_frag", nc)])
    _check_keys(pmap)
    (row,) = pmap["pages"]
    assert (row["refcount"], row["holders"], row["allocator_share"], row["share"]) == (
        3,
        2,
        1,
        "own",
    )
    assert row["cursors"] == [
        {"name": "sk_frag", "allocator": "page_frag", "offset": 100, "bias": None, "size": 32768}
    ]
    assert [(r["start"], r["end"], r["frag"]) for r in row["ranges"]] == [
        (0, 100, 0),
        (2 * 4096 + 10, 2 * 4096 + 60, 1),
    ]
    assert pmap["skbs"][0]["frags"][1] == {"pfn": page.pfn, "offset": 2 * 4096 + 10, "len": 50}
    kfree_skb(skb)
    nc.drain()


def test_page_map_lists_frag_list_members(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    skb = alloc_skb(64, stats=page_allocator.stats)
    member = _tcp_like(page_allocator, nc, 40)
    skb.frag_list.append(member)
    skb_len_add(skb, 40)
    pmap = page_map(page_allocator.live_pages(), [("rx[0]", skb)], [("nc", nc)])
    assert [s["queue"] for s in pmap["skbs"]] == ["rx[0]", "rx[0] frag_list[0]"]
    assert pmap["pages"][0]["ranges"][0]["queue"] == "rx[0] frag_list[0]"
    kfree_skb(skb)
    nc.drain()


def test_render_pages_is_drawn_from_the_page_map(page_allocator: PageAllocator) -> None:
    nc = PageFragCache(page_allocator)
    a = _tcp_like(page_allocator, nc, 23000)
    pages: list[Page] = page_allocator.live_pages()
    skbs = [("tcp :1->:2 sk_write_queue[0]", a)]
    allocators = [("task main#1 task_frag", nc)]
    text = render_pages(pages, skbs, allocators)
    assert text == render_page_map(page_map(pages, skbs, allocators))
    assert text.splitlines() == [
        "page 0x1000 order 3 (32768 B, page_frag_cache)"
        "  ref 32769 = 1 holder + bias 32768 of page_frag_cache",
        "  [" + "#" * 44 + "|" + "." * 19 + "]",
        "  cursor task main#1 task_frag (page_frag_cache): offset 23000, bias 32768",
        "  [0 .. 23000) len 23000  tcp :1->:2 sk_write_queue[0] frag[0]",
    ]
    labelled = render_pages(pages, skbs, allocators, label=lambda s: "skb7")
    assert labelled.splitlines()[3] == (
        "  [0 .. 23000) len 23000  skb7 frag[0]  tcp :1->:2 sk_write_queue[0]"
    )
    kfree_skb(a)
    nc.drain()


def test_page_map_types_are_the_documented_schema() -> None:
    """The TypedDicts the producers are checked against (mypy) hold exactly the keys of the
    schema in docs/trace.md, which the HTML view reads."""
    assert set(PageMapPage.__required_keys__) == PAGE_KEYS
    assert set(PageMapRange.__required_keys__) == RANGE_KEYS
    assert set(PageMapCursor.__required_keys__) == CURSOR_KEYS
    assert set(PageMapSkb.__required_keys__) == SKB_KEYS
    assert set(PageMapFrag.__required_keys__) == FRAG_KEYS
