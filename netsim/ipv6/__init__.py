"""IPv6: routing, ``ip6_append_data`` and output, fragmentation and reassembly, ICMPv6
(net/ipv6/)."""

from ..dev.device import ETH_P_IPV6
from ..dev.ptype import dev_add_pack
from ..wire.ipv4 import IPPROTO_ICMPV6
from .icmp import icmpv6_rcv
from .input import ipv6_rcv
from .output import ip6_append_data as ip6_append_data
from .output import ip6_local_out as ip6_local_out
from .output import ip6_make_skb as ip6_make_skb
from .protocol import inet6_add_protocol
from .route import Rt6Info as Rt6Info
from .route import ip6_route_output as ip6_route_output

__all__ = ["Rt6Info", "ip6_append_data", "ip6_local_out", "ip6_make_skb", "ip6_route_output"]

# inet6_init(): IPv6 joins the packet-type table, ICMPv6 the protocol table
dev_add_pack(ETH_P_IPV6, ipv6_rcv)
inet6_add_protocol(IPPROTO_ICMPV6, icmpv6_rcv)
