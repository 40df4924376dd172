"""IPv6: routing, ``ip6_append_data`` and output, fragmentation and reassembly, ICMPv6
(net/ipv6/)."""

from .output import ip6_append_data as ip6_append_data
from .output import ip6_local_out as ip6_local_out
from .output import ip6_make_skb as ip6_make_skb
from .route import Rt6Info as Rt6Info
from .route import ip6_route_output as ip6_route_output

__all__ = ["Rt6Info", "ip6_append_data", "ip6_local_out", "ip6_make_skb", "ip6_route_output"]
