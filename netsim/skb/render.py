"""Text pictures of an skb for people learning the frag model.

``skb_describe(skb)`` draws the head ruler (headroom | data | tailroom), the lengths, and one
line per frag with the page it points into, its offset range and the page's refcount — the
"anatomy" diagram of Documentation/networking/skbuff.rst, filled in with live values.  A page
a fragment allocator is still carving shows its count split into the frags' holders and the
allocator's own share (:func:`page_refs`): a ``page_frag_cache`` page's count includes the
prepaid bias (32768 on a fresh page), which is nobody's frag.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..mm.frag_protocol import FragAllocator
from ..mm.page import PAGE_SIZE, Page
from ..mm.page_frag import PageFrag
from ..mm.page_frag_cache import PageFragCache
from .buff import SkBuff

__all__ = ["page_refs", "render_pages", "skb_describe", "skb_layout"]

_CSUM: Final = {0: "NONE", 1: "UNNECESSARY", 2: "COMPLETE", 3: "PARTIAL"}


def page_refs(page: Page) -> str:
    """A page's reference count, read as a learner needs it: on the page a
    ``page_frag_cache`` is carving, the count includes the cache's prepaid ``pagecnt_bias``
    (``ref 32774 = 14 holders + bias 32760 of page_frag_cache``); on the old ``page_frag``'s
    current page, one reference is the allocator's own; elsewhere every reference is a
    holder's (``ref 2``)."""
    head = page.head
    count = head.refcount
    owner = head.frag_owner
    if isinstance(owner, PageFragCache) and owner.page is head:
        bias = owner.pagecnt_bias
        return f"ref {count} = {_holders(count - bias)} + bias {bias} of {owner.name}"
    if isinstance(owner, PageFrag) and owner.page is head:
        return f"ref {count} = {_holders(count - 1)} + 1 of {owner.name}"
    return f"ref {count}"


def _holders(n: int) -> str:
    return f"{n} holder" if n == 1 else f"{n} holders"


def skb_describe(skb: SkBuff, indent: str = "") -> str:
    """A multi-line description of ``skb``: geometry, lengths, checksum state, frags."""
    headlen = skb.len - skb.data_len
    shinfo = skb.shinfo
    lines = [
        f"{indent}skb len={skb.len} data_len={skb.data_len} headlen={headlen} "
        f"truesize={skb.truesize} ip_summed={_CSUM.get(skb.ip_summed, skb.ip_summed)}"
        + (" cloned" if skb.cloned else "")
        + (" FREED" if skb.freed else ""),
        f"{indent}  head [0 .. headroom {skb.data} | data {skb.tail - skb.data} "
        f"| tailroom {skb.end - skb.tail} .. end {skb.end}] + skb_shared_info",
        f"{indent}  nr_frags={len(shinfo.frags)} gso_size={shinfo.gso_size} "
        f"gso_segs={shinfo.gso_segs} dataref={shinfo.dataref:#x}",
    ]
    for i, frag in enumerate(shinfo.frags):
        page = frag.page
        head = page.head
        where = f"pfn {page.pfn:#x}" + (
            f" (tail {page.index} of {head.pfn:#x})" if page.is_tail else ""
        )
        state = "freed" if page.freed else page_refs(page)
        lines.append(
            f"{indent}  frag[{i}] {where} order {head.order} "
            f"[{frag.offset} .. {frag.offset + frag.len}) len {frag.len} ({state})"
        )
    for j, sub in enumerate(shinfo.frag_list):
        lines.append(f"{indent}  frag_list[{j}]:")
        lines.append(skb_describe(sub, indent + "    "))
    return "\n".join(lines)


def skb_layout(
    *skbs: SkBuff, labels: dict[int, str] | None = None
) -> list[tuple[str, int, int]] | list[list[tuple[str, int, int]]]:
    """The frags of ``skb`` as ``[(page_label, offset, len), ...]``, pages labelled ``"p0"``,
    ``"p1"``, … in order of first appearance — so a coalescing test is one assertion::

        assert netsim.skb_layout(skb) == [("p0", 0, 200), ("p1", 0, 16384)]

    A tail page of a compound page is labelled by its head and sub-page (``"p0+1"``).  Given
    several skbs, the labels are shared and a list of layouts is returned.  Pass ``labels``
    (a dict) to keep labels consistent across calls.
    """
    names: dict[int, str] = {} if labels is None else labels
    layouts: list[list[tuple[str, int, int]]] = []
    for skb in skbs:
        layout: list[tuple[str, int, int]] = []
        for frag in skb.shinfo.frags:
            head = frag.page.head
            label = names.get(head.pfn)
            if label is None:
                label = names[head.pfn] = f"p{len(names)}"
            if frag.page.is_tail:
                label = f"{label}+{frag.page.index}"
            layout.append((label, frag.offset, frag.len))
        layouts.append(layout)
    return layouts[0] if len(skbs) == 1 else layouts


#: columns of the occupancy bar of :func:`render_pages`
BAR_WIDTH: Final = 64


def render_pages(
    pages: Iterable[Page],
    skbs: Iterable[tuple[str, SkBuff]] = (),
    allocators: Iterable[tuple[str, FragAllocator]] = (),
) -> str:
    """A picture of live pages: for each (by pfn) its order, size and reference count
    (:func:`page_refs`: holders and the allocator's share), an occupancy bar
    (``BAR_WIDTH`` columns: ``#`` bytes some skb frag holds, ``|`` the allocator's cursor,
    ``.`` nothing), the cursor of each allocator carving it (offset; the cache's bias, the old
    ``page_frag``'s size), and every byte range held by a frag of the labelled ``skbs``
    (frag_lists included), in offset order.  Plain text, no colour, about 80 columns."""
    held: dict[int, list[tuple[int, int, str]]] = {}

    def collect(label: str, skb: SkBuff) -> None:
        for i, frag in enumerate(skb.shinfo.frags):
            page = frag.page
            start = (page.index * PAGE_SIZE) + frag.offset
            held.setdefault(page.head.pfn, []).append(
                (start, start + frag.len, f"{label} frag[{i}]")
            )
        for j, sub in enumerate(skb.shinfo.frag_list):
            collect(f"{label} frag_list[{j}]", sub)

    for label, skb in skbs:
        if not skb.freed:
            collect(label, skb)
    cursors: dict[int, list[tuple[int, str]]] = {}
    for name, nc in allocators:
        page = nc.page
        if page is None or page.freed:
            continue
        head = page.head
        what = f"{name} ({nc.name}): offset {nc.offset}"
        if isinstance(nc, PageFragCache):
            what += f", bias {nc.pagecnt_bias}"
        elif isinstance(nc, PageFrag):
            what += f" of {nc.size}"
        cursors.setdefault(head.pfn, []).append((nc.offset, what))
    out: list[str] = []
    for page in sorted((p for p in pages if not p.freed), key=lambda p: p.pfn):
        head = page.head
        size = head.size
        out.append(
            f"page {head.pfn:#x} order {head.order} ({size} B, {head.owner or '-'})"
            f"  {page_refs(head)}"
        )
        ranges = sorted(held.get(head.pfn, []))
        marks = cursors.get(head.pfn, [])
        bar = ["."] * BAR_WIDTH
        for start, end, _ in ranges:
            last = min(-(-end * BAR_WIDTH // size), BAR_WIDTH)
            for col in range(start * BAR_WIDTH // size, last):
                bar[col] = "#"
        for offset, _ in marks:
            bar[min(offset * BAR_WIDTH // size, BAR_WIDTH - 1)] = "|"
        out.append("  [" + "".join(bar) + "]")
        for _, what in marks:
            out.append(f"  cursor {what}")
        for start, end, label in ranges:
            out.append(f"  [{start} .. {end}) len {end - start}  {label}")
    return "\n".join(out)
