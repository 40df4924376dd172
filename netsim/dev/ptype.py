"""How a device reaches the layer above it without importing it: the packet-type table and the
GSO offload (net/core/dev.c ``ptype_base`` / ``dev_add_pack``, ``offload_base`` /
``dev_add_offload``).

IPv4 and IPv6 put their receive functions here when their packages are imported — as
``inet_init()`` and ``inet6_init()`` call ``dev_add_pack()`` at boot — and IPv4 its software
GSO (``inet_gso_segment``, which handles both families).  A host's receive path
(:meth:`netsim.netns.Net.net_rx_action`) hands each skb to the handler of its
``skb.protocol``; a device that must segment calls :func:`skb_gso_segment`.  The tables are
static configuration shared by every host, as the kernel's are (its protocols are not per
namespace either).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..skb import SkBuff

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["PTYPE_BASE", "dev_add_offload", "dev_add_pack", "skb_gso_segment"]

#: ``ptype_base``: L3 receive handlers by ethertype (``skb.protocol``).
PTYPE_BASE: Final[dict[int, Callable[[Net, SkBuff], None]]] = {}

_GsoSegment = Callable[[SkBuff, int], list[SkBuff]]
_offload: list[_GsoSegment] = []


def dev_add_pack(ethertype: int, handler: Callable[[Net, SkBuff], None]) -> None:
    """``dev_add_pack()``: receive packets of ``ethertype`` with ``handler(net, skb)``."""
    PTYPE_BASE[ethertype] = handler


def dev_add_offload(gso_segment: _GsoSegment) -> None:
    """``dev_add_offload()``: the protocols' ``gso_segment`` callback."""
    _offload[:] = [gso_segment]


def skb_gso_segment(skb: SkBuff, features: int) -> list[SkBuff]:
    """``skb_gso_segment()``: cut a GSO skb into segments the device can send, with the
    registered protocols' callback."""
    return _offload[0](skb, features)
