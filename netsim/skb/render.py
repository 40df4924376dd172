"""Text pictures of an skb for people learning the frag model.

``skb_describe(skb)`` draws the head ruler (headroom | data | tailroom), the lengths, and one
line per frag with the page it points into, its offset range and the page's refcount — the
"anatomy" diagram of Documentation/networking/skbuff.rst, filled in with live values.
"""

from __future__ import annotations

from .buff import SkBuff

__all__ = ["skb_describe"]

_CSUM = {0: "NONE", 1: "UNNECESSARY", 2: "COMPLETE", 3: "PARTIAL"}


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
