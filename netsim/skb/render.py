"""Pictures of skbs and pages for people learning the frag model, in text and as data.

``skb_describe(skb)`` draws the "anatomy" diagram of Documentation/networking/skbuff.rst
filled in with live values: a ruler of the linear buffer ::

      head          data                         tail             end
      |headroom 24  |data 148                    |tailroom 212    |skb_shared_info 320
      0             24                           172              384

(proportional where it fits about 72 columns, each segment at least wide enough for its
label and its offset), the lengths, the linear data split into the headers the skb has set
(``network_header``, ``transport_header``) and payload, and one line per frag with the page
it points into, its offset range and the page's reference count.  A page a fragment
allocator is still carving shows its count split into the frags' holders and the allocator's
own share (:func:`page_refs`): a ``page_frag_cache`` page's count includes the prepaid bias
(32768 on a fresh page), which is nobody's frag.

:func:`page_map` is the same knowledge as data — every live page with its holders, the
allocators' cursors and the byte ranges the frags of labelled skbs hold, and every skb's
geometry — the frame format of ``netsim trace --json`` (docs/trace.md);
:func:`render_pages` draws a page map as text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, TypedDict

from ..mm.frag_protocol import FragAllocator
from ..mm.page import PAGE_SIZE, Page
from ..mm.page_frag import PageFrag
from ..mm.page_frag_cache import PageFragCache
from .buff import SKB_DATAREF_MASK, SkBuff

__all__ = [
    "PageMap",
    "PageMapCursor",
    "PageMapFrag",
    "PageMapPage",
    "PageMapRange",
    "PageMapSkb",
    "page_map",
    "page_refs",
    "render_page_map",
    "render_pages",
    "skb_describe",
    "skb_layout",
]

_CSUM: Final = {0: "NONE", 1: "UNNECESSARY", 2: "COMPLETE", 3: "PARTIAL"}

# skb->protocol values (include/uapi/linux/if_ether.h); the skb layer sits below netsim.dev
_ETH_P_IP: Final = 0x0800
_ETH_P_IPV6: Final = 0x86DD

#: columns :func:`skb_describe`'s ruler aims for (it grows past them rather than overlap)
RULER_WIDTH: Final = 72


# -- references -------------------------------------------------------------------------------


def _allocator_share(head: Page) -> tuple[int, str | None, str]:
    """What the allocator carving ``head`` holds of its count: ``(references, "bias" | "own"
    | None, allocator name)``."""
    owner = head.frag_owner
    if isinstance(owner, PageFragCache) and owner.page is head:
        return owner.pagecnt_bias, "bias", owner.name
    if isinstance(owner, PageFrag) and owner.page is head:
        return 1, "own", owner.name
    return 0, None, ""


def _refs_text(count: int, share: int, kind: str | None, name: str) -> str:
    if kind == "bias":
        return f"ref {count} = {_holders(count - share)} + bias {share} of {name}"
    if kind == "own":
        return f"ref {count} = {_holders(count - share)} + {share} of {name}"
    return f"ref {count}"


def page_refs(page: Page) -> str:
    """A page's reference count, read as a learner needs it: on the page a
    ``page_frag_cache`` is carving, the count includes the cache's prepaid ``pagecnt_bias``
    (``ref 32774 = 14 holders + bias 32760 of page_frag_cache``); on the old ``page_frag``'s
    current page, one reference is the allocator's own; elsewhere every reference is a
    holder's (``ref 2``)."""
    head = page.head
    share, kind, name = _allocator_share(head)
    return _refs_text(head.refcount, share, kind, name)


def _holders(n: int) -> str:
    return f"{n} holder" if n == 1 else f"{n} holders"


# -- skb_describe ---------------------------------------------------------------------------


def _ruler(skb: SkBuff, indent: str) -> list[str]:
    """Three lines: boundary names, the segments, the offsets under each boundary."""
    marks: list[tuple[int, str]] = [(0, "head"), (skb.data, "data"), (skb.tail, "tail")]
    marks.append((skb.end, "end"))
    bounds: list[int] = []
    names: list[str] = []
    for offset, name in marks:
        if bounds and bounds[-1] == offset:
            names[-1] += "/" + name
        else:
            bounds.append(offset)
            names.append(name)
    seg_names = {0: "headroom", skb.data: "data", skb.tail: "tailroom"}
    labels: list[str] = []
    minimum: list[int] = []
    for k in range(len(bounds) - 1):
        start = bounds[k]
        label = f"{seg_names.get(start, '?')} {bounds[k + 1] - start}"
        labels.append(label)
        # "|" + label + a space; the boundary's name and number above and below it likewise
        minimum.append(max(len(label), len(names[k]), len(str(start))) + 2)
    shinfo = f"skb_shared_info {skb.layout.shinfo_aligned}"
    budget = RULER_WIDTH - len(indent) - 2 - len(shinfo) - 1
    total = bounds[-1] or 1
    widths = [
        max(m, round((bounds[k + 1] - bounds[k]) * budget / total)) for k, m in enumerate(minimum)
    ]
    while sum(widths) > budget:
        slack = [w - m for w, m in zip(widths, minimum, strict=True)]
        k = max(range(len(widths)), key=lambda i: slack[i])
        if slack[k] <= 0:
            break
        widths[k] -= 1
    top = bar = under = ""
    for k, width in enumerate(widths):
        top += names[k].ljust(width)
        bar += ("|" + labels[k]).ljust(width)
        under += str(bounds[k]).ljust(width)
    top += names[-1]
    bar += "|" + shinfo
    under += str(bounds[-1])
    pad = indent + "  "
    return [pad + top, pad + bar, pad + under]


def _ip_version(skb: SkBuff) -> int:
    if skb.protocol == _ETH_P_IP:
        return 4
    if skb.protocol == _ETH_P_IPV6:
        return 6
    nh = skb.network_header
    if 0 <= nh < len(skb.head):
        version = skb.head[nh] >> 4
        if version in (4, 6):
            return version
    family = getattr(skb.sk, "sk_family", 0) if skb.sk is not None else 0
    return {2: 4, 10: 6}.get(family, 0)


def _transport_proto(skb: SkBuff, version: int) -> int:
    head = skb.head
    nh = skb.network_header
    if nh >= 0 and nh + 10 <= len(head) and head[nh] >> 4 == version:
        proto = head[nh + 9] if version == 4 else head[nh + 6]
        if proto in (6, 17):
            return proto
    proto = getattr(skb.sk, "sk_protocol", 0) if skb.sk is not None else 0
    return proto if isinstance(proto, int) else 0


def _header_regions(skb: SkBuff) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of the headers the skb has set, as offsets into the head."""
    regions: list[tuple[int, int, str]] = []
    nh, th = skb.network_header, skb.transport_header
    version = _ip_version(skb)
    if nh >= 0:
        end = th if th > nh else nh + (40 if version == 6 else 20)
        regions.append((nh, end, f"IPv{version} header" if version else "network header"))
    if th >= 0:
        proto = _transport_proto(skb, version)
        if proto == 17:
            regions.append((th, th + 8, "UDP header"))
        elif proto == 6:
            doff = skb.head[th + 12] >> 4 if th + 12 < len(skb.head) else 0
            regions.append((th, th + (doff * 4 if doff >= 5 else 20), "TCP header"))
        else:
            regions.append((th, max(th, skb.data), "transport header"))
    return regions


def _linear_split(skb: SkBuff, indent: str) -> str | None:
    """``data: IPv4 header 20 | UDP header 8 | payload 72``, headers already pulled past
    noted after it; ``None`` when the skb has no header offsets set."""
    regions = _header_regions(skb)
    if not regions:
        return None
    parts: list[str] = []
    pulled: list[str] = []
    payload_start = skb.data
    for start, end, name in regions:
        if end <= skb.data:
            pulled.append(f"{name} {end - start} at {start}")
            continue
        lo, hi = max(start, skb.data), min(end, skb.tail)
        if hi > lo:
            parts.append(f"{name} {hi - lo}")
            payload_start = max(payload_start, hi)
    parts.append(f"payload {max(0, skb.tail - payload_start)}")
    text = f"{indent}  data: " + " | ".join(parts)
    if pulled:
        text += " (pulled past: " + ", ".join(pulled) + ")"
    return text


def _page_name(page: Page) -> str:
    name = f"page#{page.pfn:#x}"
    if page.is_tail:
        name += f" (sub-page {page.index} of page#{page.head.pfn:#x})"
    return name


def skb_describe(skb: SkBuff, indent: str = "") -> str:
    """A multi-line picture of ``skb``: the lengths and checksum state; a ruler of the linear
    buffer (``head | headroom | data | tailroom | end | skb_shared_info``, the offsets under
    it; ``tailroom`` is the bytes between ``tail`` and ``end``, which ``skb_tailroom()``
    reports as 0 once the skb is nonlinear); the linear data split into headers and payload
    where ``network_header``/``transport_header`` are set; the shared info (``nr_frags``, GSO,
    ``dataref``); one line per frag, ``frag[i] page#<pfn> [off, off+len) len N (ref …)``
    (:func:`page_refs`); and the frag_list members, indented."""
    shinfo = skb.shinfo
    lines = [
        f"{indent}skb len={skb.len} data_len={skb.data_len} headlen={skb.headlen} "
        f"truesize={skb.truesize} ip_summed={_CSUM.get(skb.ip_summed, skb.ip_summed)}"
        + (" cloned" if skb.cloned else "")
        + (" FREED" if skb.freed else ""),
    ]
    lines.extend(_ruler(skb, indent))
    split = _linear_split(skb, indent)
    if split is not None:
        lines.append(split)
    dataref = shinfo.dataref & SKB_DATAREF_MASK
    lines.append(
        f"{indent}  nr_frags={len(shinfo.frags)} gso_size={shinfo.gso_size} "
        f"gso_segs={shinfo.gso_segs} dataref={shinfo.dataref:#x}"
        + (f" (head and frags shared by {dataref} sk_buffs)" if dataref > 1 else "")
    )
    for i, frag in enumerate(shinfo.frags):
        page = frag.page
        state = "freed" if page.freed else page_refs(page)
        lines.append(
            f"{indent}  frag[{i}] {_page_name(page)} "
            f"[{frag.offset}, {frag.offset + frag.len}) len {frag.len} ({state})"
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


# -- page maps ------------------------------------------------------------------------------


class PageMapRange(TypedDict):
    """Bytes ``[start, end)`` of a page (offsets from the head page's start) that frag
    ``frag`` of skb ``skb`` holds; ``queue`` says where that skb sits."""

    start: int
    end: int
    skb: str
    frag: int
    queue: str


class PageMapCursor(TypedDict):
    """A fragment allocator carving the page: where its next fragment goes, and what it
    holds (``bias``: a ``page_frag_cache``'s ``pagecnt_bias``; ``size``: the old
    ``page_frag``'s size; ``None`` where it does not apply)."""

    name: str
    allocator: str
    offset: int
    bias: int | None
    size: int | None


class PageMapPage(TypedDict):
    """One live (head) page: its count split into ``holders`` and the ``allocator_share``
    (``share``: ``"bias"`` for a ``page_frag_cache``'s prepaid references, ``"own"`` for the
    old ``page_frag``'s one, ``None`` when no allocator is carving it)."""

    pfn: int
    order: int
    size: int
    refcount: int
    holders: int
    allocator_share: int
    share: str | None
    owner: str
    ranges: list[PageMapRange]
    cursors: list[PageMapCursor]


class PageMapFrag(TypedDict):
    """A frag of a :class:`PageMapSkb`: the head page's pfn and the offset from its start
    (a frag naming a sub-page of a compound page is folded onto its head, as in
    :class:`PageMapRange`)."""

    pfn: int
    offset: int
    len: int


class PageMapSkb(TypedDict):
    """An skb's lengths and geometry (``headroom``, ``data`` = ``tail - data``, ``tailroom`` =
    ``end - tail``, ``end``) and frags."""

    label: str
    queue: str
    len: int
    data_len: int
    headlen: int
    truesize: int
    headroom: int
    data: int
    tailroom: int
    end: int
    cloned: bool
    nr_frags: int
    frags: list[PageMapFrag]


class PageMap(TypedDict):
    """A picture of memory as data: the frame of ``netsim trace --json`` (docs/trace.md)."""

    pages: list[PageMapPage]
    skbs: list[PageMapSkb]


def page_map(
    pages: Iterable[Page],
    skbs: Iterable[tuple[str, SkBuff]] = (),
    allocators: Iterable[tuple[str, FragAllocator]] = (),
    label: Callable[[SkBuff], str] | None = None,
) -> PageMap:
    """Every live page of ``pages`` (sorted by pfn) with its reference count split into
    holders and the allocator's share, the cursor of each named allocator carving it, and
    the byte ranges (sorted by start) held by the frags of ``skbs`` — ``(queue, skb)`` pairs,
    frag_list members included (their queue is ``"<queue> frag_list[j]"``); and each of those
    skbs' geometry.  ``label`` names an skb (``Tracer.skb`` when tracing, so the names match
    the events'); by default an skb is named by its queue position.  Freed skbs and pages
    are left out."""
    name_of: Callable[[SkBuff], str] | None = label
    held: dict[int, list[PageMapRange]] = {}
    skb_rows: list[PageMapSkb] = []

    def collect(queue: str, skb: SkBuff) -> None:
        tag = queue if name_of is None else name_of(skb)
        frags: list[PageMapFrag] = []
        for i, frag in enumerate(skb.shinfo.frags):
            page = frag.page
            start = page.index * PAGE_SIZE + frag.offset
            pfn = page.head.pfn
            frags.append({"pfn": pfn, "offset": start, "len": frag.len})
            held.setdefault(pfn, []).append(
                {"start": start, "end": start + frag.len, "skb": tag, "frag": i, "queue": queue}
            )
        skb_rows.append(
            {
                "label": tag,
                "queue": queue,
                "len": skb.len,
                "data_len": skb.data_len,
                "headlen": skb.headlen,
                "truesize": skb.truesize,
                "headroom": skb.data,
                "data": skb.tail - skb.data,
                "tailroom": skb.end - skb.tail,
                "end": skb.end,
                "cloned": skb.cloned,
                "nr_frags": len(frags),
                "frags": frags,
            }
        )
        for j, sub in enumerate(skb.shinfo.frag_list):
            if not sub.freed:
                collect(f"{queue} frag_list[{j}]", sub)

    for queue, skb in skbs:
        if not skb.freed:
            collect(queue, skb)
    cursors: dict[int, list[PageMapCursor]] = {}
    for name, nc in allocators:
        page = nc.page
        if page is None or page.freed:
            continue
        cursors.setdefault(page.head.pfn, []).append(
            {
                "name": name,
                "allocator": nc.name,
                "offset": nc.offset,
                "bias": nc.pagecnt_bias if isinstance(nc, PageFragCache) else None,
                "size": nc.size if isinstance(nc, PageFrag) else None,
            }
        )
    rows: list[PageMapPage] = []
    heads = {p.head.pfn: p.head for p in pages if not p.freed}
    for page in sorted(heads.values(), key=lambda p: p.pfn):
        share, kind, _ = _allocator_share(page)
        rows.append(
            {
                "pfn": page.pfn,
                "order": page.order,
                "size": page.size,
                "refcount": page.refcount,
                "holders": page.refcount - share,
                "allocator_share": share,
                "share": kind,
                "owner": page.owner,
                "ranges": sorted(held.get(page.pfn, []), key=_range_key),
                "cursors": cursors.get(page.pfn, []),
            }
        )
    return {"pages": rows, "skbs": skb_rows}


def _range_key(r: PageMapRange) -> tuple[int, int, str, int]:
    return (r["start"], r["end"], r["skb"], r["frag"])


#: columns of the occupancy bar of :func:`render_pages`
BAR_WIDTH: Final = 64


def render_page_map(pmap: PageMap) -> str:
    """:func:`render_pages`'s text, from a :func:`page_map`."""
    out: list[str] = []
    for page in pmap["pages"]:
        size = page["size"]
        cursors = page["cursors"]
        refs = _refs_text(page["refcount"], page["allocator_share"], page["share"], page["owner"])
        out.append(
            f"page {page['pfn']:#x} order {page['order']} ({size} B, {page['owner'] or '-'})"
            f"  {refs}"
        )
        bar = ["."] * BAR_WIDTH
        for r in page["ranges"]:
            last = min(-(-r["end"] * BAR_WIDTH // size), BAR_WIDTH)
            for col in range(r["start"] * BAR_WIDTH // size, last):
                bar[col] = "#"
        for cursor in cursors:
            bar[min(cursor["offset"] * BAR_WIDTH // size, BAR_WIDTH - 1)] = "|"
        out.append("  [" + "".join(bar) + "]")
        for cursor in cursors:
            what = f"{cursor['name']} ({cursor['allocator']}): offset {cursor['offset']}"
            if cursor["bias"] is not None:
                what += f", bias {cursor['bias']}"
            elif cursor["size"] is not None:
                what += f" of {cursor['size']}"
            out.append(f"  cursor {what}")
        for r in page["ranges"]:
            holder = f"{r['skb']} frag[{r['frag']}]"
            if r["skb"] != r["queue"]:
                holder += f"  {r['queue']}"
            out.append(f"  [{r['start']} .. {r['end']}) len {r['end'] - r['start']}  {holder}")
    return "\n".join(out)


def render_pages(
    pages: Iterable[Page],
    skbs: Iterable[tuple[str, SkBuff]] = (),
    allocators: Iterable[tuple[str, FragAllocator]] = (),
    label: Callable[[SkBuff], str] | None = None,
) -> str:
    """A picture of live pages (:func:`page_map` drawn): for each (by pfn) its order, size and
    reference count (:func:`page_refs`: holders and the allocator's share), an occupancy bar
    (``BAR_WIDTH`` columns: ``#`` bytes some skb frag holds, ``|`` the allocator's cursor,
    ``.`` nothing), the cursor of each allocator carving it (offset; the cache's bias, the old
    ``page_frag``'s size), and every byte range held by a frag of the ``(queue, skb)`` pairs
    in ``skbs`` (frag_lists included), in offset order, named by ``label`` (with the queue
    after it) or by the queue.  Plain text, no colour, about 80 columns."""
    return render_page_map(page_map(pages, skbs, allocators, label))
