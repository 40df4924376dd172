"""IPv4: routing, ``ip_append_data`` and output, fragmentation and reassembly, ICMP, software
GSO (net/ipv4/)."""

from ..dev.device import ETH_P_IP
from ..dev.ptype import dev_add_offload, dev_add_pack
from ..wire.ipv4 import IPPROTO_ICMP
from .icmp import icmp_rcv
from .input import ip_rcv
from .offload import inet_gso_segment
from .output import ip_append_data as ip_append_data
from .output import ip_local_out as ip_local_out
from .output import ip_make_skb as ip_make_skb
from .protocol import inet_add_protocol
from .route import Rtable as Rtable
from .route import ip_route_output as ip_route_output

__all__ = ["Rtable", "ip_append_data", "ip_local_out", "ip_make_skb", "ip_route_output"]

# inet_init(): IPv4 joins the packet-type table, ICMP the protocol table, GSO the offloads
dev_add_pack(ETH_P_IP, ip_rcv)
inet_add_protocol(IPPROTO_ICMP, icmp_rcv)
dev_add_offload(inet_gso_segment)
