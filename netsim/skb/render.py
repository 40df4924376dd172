"""Text pictures of an skb for people learning the frag model.

``skb_describe(skb)`` draws the head ruler (headroom | data | tailroom), the lengths, and one
line per frag with the page it points into, its offset range and the page's refcount — the
"anatomy" diagram of Documentation/networking/skbuff.rst, filled in with live values.
"""

from __future__ import annotations

from typing import Final

from .buff import SkBuff

__all__ = ["skb_describe", "skb_layout"]

_CSUM: Final = {0: "NONE", 1: "UNNECESSARY", 2: "COMPLETE", 3: "PARTIAL"}


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
        state = "freed" if page.freed else f"ref {head.refcount}"
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
