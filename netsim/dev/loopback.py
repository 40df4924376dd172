"""``lo``: the loopback device (drivers/net/loopback.c).

Linux's loopback transmit orphans the skb (its socket's ``sk_wmem_alloc`` is released right
there), counts it, and hands **the same skb** to ``netif_rx``: nothing is segmented, copied or
checksummed — ``CHECKSUM_PARTIAL`` skbs arrive as they were sent and count as verified, and a
GSO skb arrives whole.  netsim does exactly that; ``netif_rx`` queues the skb on the host's
backlog, which is drained before the sending call returns (softirq at ``local_bh_enable``).

Features as ``gen_lo_setup`` sets them: SG, FRAGLIST, the software GSO types, HW_CSUM,
RXCSUM, HIGHDMA, LOOPBACK; MTU 65536.
"""

from __future__ import annotations

from typing import ClassVar, Final

from ..skb import SkBuff, skb_orphan
from .device import (
    NET_XMIT_SUCCESS,
    NETIF_F_FRAGLIST,
    NETIF_F_GSO_SOFTWARE,
    NETIF_F_HIGHDMA,
    NETIF_F_HW_CSUM,
    NETIF_F_LOOPBACK,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NetDevice,
)

__all__ = ["LOOPBACK_FEATURES", "LOOPBACK_MTU", "Loopback"]

LOOPBACK_MTU: Final = 65536
LOOPBACK_FEATURES: Final = (
    NETIF_F_SG
    | NETIF_F_FRAGLIST
    | NETIF_F_GSO_SOFTWARE
    | NETIF_F_HW_CSUM
    | NETIF_F_RXCSUM
    | NETIF_F_HIGHDMA
    | NETIF_F_LOOPBACK
)


class Loopback(NetDevice):
    """The loopback device: transmit is receive."""

    kind: ClassVar[str] = "loopback"

    def __init__(self, name: str = "lo", *, mtu: int = LOOPBACK_MTU) -> None:
        super().__init__(name, mtu=mtu, features=LOOPBACK_FEATURES)

    def start_xmit(self, skb: SkBuff) -> int:
        """``loopback_xmit``: orphan, count, and receive the very same skb."""
        skb_orphan(skb)
        self.tx_packets += 1
        self.tx_bytes += skb.len
        self.receive(skb)
        return NET_XMIT_SUCCESS
