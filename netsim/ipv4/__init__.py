"""IPv4: routing, ``ip_append_data`` and output, fragmentation and reassembly, ICMP, software
GSO (net/ipv4/)."""

from .output import ip_append_data as ip_append_data
from .output import ip_local_out as ip_local_out
from .output import ip_make_skb as ip_make_skb
from .route import Rtable as Rtable
from .route import ip_route_output as ip_route_output

__all__ = ["Rtable", "ip_append_data", "ip_local_out", "ip_make_skb", "ip_route_output"]
