"""Wire formats: header parse/emit and checksums.  No protocol state lives here
(smoltcp's ``src/wire``, gVisor's ``header/``)."""

from .checksum import csum_add as csum_add
from .checksum import csum_block_add as csum_block_add
from .checksum import csum_fold as csum_fold
from .checksum import csum_partial as csum_partial
from .checksum import csum_partial_many as csum_partial_many
from .errors import WireError as WireError
from .icmp import ICMP_DEST_UNREACH as ICMP_DEST_UNREACH
from .icmp import ICMP_ECHO as ICMP_ECHO
from .icmp import ICMP_ECHOREPLY as ICMP_ECHOREPLY
from .icmp import ICMP_ERROR_ROOM as ICMP_ERROR_ROOM
from .icmp import ICMP_FRAG_NEEDED as ICMP_FRAG_NEEDED
from .icmp import ICMP_HLEN as ICMP_HLEN
from .icmp import ICMP_PORT_UNREACH as ICMP_PORT_UNREACH
from .icmp import ICMP_PROT_UNREACH as ICMP_PROT_UNREACH
from .icmp import ICMP_TIME_EXCEEDED as ICMP_TIME_EXCEEDED
from .icmp import ICMPV6_DEST_UNREACH as ICMPV6_DEST_UNREACH
from .icmp import ICMPV6_ECHO_REPLY as ICMPV6_ECHO_REPLY
from .icmp import ICMPV6_ECHO_REQUEST as ICMPV6_ECHO_REQUEST
from .icmp import ICMPV6_ERROR_ROOM as ICMPV6_ERROR_ROOM
from .icmp import ICMPV6_PARAMPROB as ICMPV6_PARAMPROB
from .icmp import ICMPV6_PKT_TOOBIG as ICMPV6_PKT_TOOBIG
from .icmp import ICMPV6_PORT_UNREACH as ICMPV6_PORT_UNREACH
from .icmp import ICMPV6_TIME_EXCEED as ICMPV6_TIME_EXCEED
from .icmp import IcmpHeader as IcmpHeader
from .icmp import icmp4_error as icmp4_error
from .icmp import icmp4_port_unreachable as icmp4_port_unreachable
from .icmp import icmp6_error as icmp6_error
from .icmp import icmp6_port_unreachable as icmp6_port_unreachable
from .ipv4 import IP_DF as IP_DF
from .ipv4 import IP_MAX_MTU as IP_MAX_MTU
from .ipv4 import IP_MF as IP_MF
from .ipv4 import IP_OFFSET as IP_OFFSET
from .ipv4 import IPPROTO_FRAGMENT as IPPROTO_FRAGMENT
from .ipv4 import IPPROTO_ICMP as IPPROTO_ICMP
from .ipv4 import IPPROTO_ICMPV6 as IPPROTO_ICMPV6
from .ipv4 import IPPROTO_IPV6 as IPPROTO_IPV6
from .ipv4 import IPPROTO_TCP as IPPROTO_TCP
from .ipv4 import IPPROTO_UDP as IPPROTO_UDP
from .ipv4 import IPV4_HLEN as IPV4_HLEN
from .ipv4 import Ipv4Header as Ipv4Header
from .ipv4 import csum_tcpudp_magic as csum_tcpudp_magic
from .ipv4 import ip4_build_header as ip4_build_header
from .ipv4 import ip4_pseudo_csum as ip4_pseudo_csum
from .ipv6 import FRAG_HLEN as FRAG_HLEN
from .ipv6 import IP6_MAX_MTU as IP6_MAX_MTU
from .ipv6 import IP6_MF as IP6_MF
from .ipv6 import IP6_OFFSET as IP6_OFFSET
from .ipv6 import IPV6_HLEN as IPV6_HLEN
from .ipv6 import IPV6_MIN_MTU as IPV6_MIN_MTU
from .ipv6 import Ipv6FragHeader as Ipv6FragHeader
from .ipv6 import Ipv6Header as Ipv6Header
from .ipv6 import csum_ipv6_magic as csum_ipv6_magic
from .ipv6 import ip6_build_header as ip6_build_header
from .ipv6 import ip6_pseudo_csum as ip6_pseudo_csum
from .tcp import MAX_TCP_OPTION_SPACE as MAX_TCP_OPTION_SPACE
from .tcp import TCP_HLEN as TCP_HLEN
from .tcp import TCP_MAX_WSCALE as TCP_MAX_WSCALE
from .tcp import TCPHDR_ACK as TCPHDR_ACK
from .tcp import TCPHDR_AE as TCPHDR_AE
from .tcp import TCPHDR_CWR as TCPHDR_CWR
from .tcp import TCPHDR_ECE as TCPHDR_ECE
from .tcp import TCPHDR_FIN as TCPHDR_FIN
from .tcp import TCPHDR_PSH as TCPHDR_PSH
from .tcp import TCPHDR_RST as TCPHDR_RST
from .tcp import TCPHDR_SYN as TCPHDR_SYN
from .tcp import TCPHDR_URG as TCPHDR_URG
from .tcp import TCPOLEN_MSS as TCPOLEN_MSS
from .tcp import TCPOLEN_SACK_PERM as TCPOLEN_SACK_PERM
from .tcp import TCPOLEN_SACKPERM_ALIGNED as TCPOLEN_SACKPERM_ALIGNED
from .tcp import TCPOLEN_TIMESTAMP as TCPOLEN_TIMESTAMP
from .tcp import TCPOLEN_TSTAMP_ALIGNED as TCPOLEN_TSTAMP_ALIGNED
from .tcp import TCPOLEN_WINDOW as TCPOLEN_WINDOW
from .tcp import TCPOLEN_WSCALE_ALIGNED as TCPOLEN_WSCALE_ALIGNED
from .tcp import TCPOPT_EOL as TCPOPT_EOL
from .tcp import TCPOPT_MSS as TCPOPT_MSS
from .tcp import TCPOPT_NOP as TCPOPT_NOP
from .tcp import TCPOPT_SACK as TCPOPT_SACK
from .tcp import TCPOPT_SACK_PERM as TCPOPT_SACK_PERM
from .tcp import TCPOPT_TIMESTAMP as TCPOPT_TIMESTAMP
from .tcp import TCPOPT_WINDOW as TCPOPT_WINDOW
from .tcp import TcpHeader as TcpHeader
from .tcp import TcpOptions as TcpOptions
from .tcp import after as after
from .tcp import before as before
from .tcp import between as between
from .tcp import seq_add as seq_add
from .tcp import tcp4_checksum as tcp4_checksum
from .tcp import tcp6_checksum as tcp6_checksum
from .tcp import tcp_build_header as tcp_build_header
from .tcp import tcp_verify as tcp_verify
from .udp import CSUM_MANGLED_0 as CSUM_MANGLED_0
from .udp import UDP_HLEN as UDP_HLEN
from .udp import UdpHeader as UdpHeader
from .udp import udp4_checksum as udp4_checksum
from .udp import udp6_checksum as udp6_checksum
from .udp import udp_build_header as udp_build_header
from .udp import udp_verify as udp_verify

__all__ = [
    "CSUM_MANGLED_0",
    "FRAG_HLEN",
    "ICMPV6_DEST_UNREACH",
    "ICMPV6_ECHO_REPLY",
    "ICMPV6_ECHO_REQUEST",
    "ICMPV6_ERROR_ROOM",
    "ICMPV6_PARAMPROB",
    "ICMPV6_PKT_TOOBIG",
    "ICMPV6_PORT_UNREACH",
    "ICMPV6_TIME_EXCEED",
    "ICMP_DEST_UNREACH",
    "ICMP_ECHO",
    "ICMP_ECHOREPLY",
    "ICMP_ERROR_ROOM",
    "ICMP_FRAG_NEEDED",
    "ICMP_HLEN",
    "ICMP_PORT_UNREACH",
    "ICMP_PROT_UNREACH",
    "ICMP_TIME_EXCEEDED",
    "IP6_MAX_MTU",
    "IP6_MF",
    "IP6_OFFSET",
    "IPPROTO_FRAGMENT",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_IPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IPV4_HLEN",
    "IPV6_HLEN",
    "IPV6_MIN_MTU",
    "IP_DF",
    "IP_MAX_MTU",
    "IP_MF",
    "IP_OFFSET",
    "IcmpHeader",
    "Ipv4Header",
    "Ipv6FragHeader",
    "Ipv6Header",
    "MAX_TCP_OPTION_SPACE",
    "TCPHDR_ACK",
    "TCPHDR_AE",
    "TCPHDR_CWR",
    "TCPHDR_ECE",
    "TCPHDR_FIN",
    "TCPHDR_PSH",
    "TCPHDR_RST",
    "TCPHDR_SYN",
    "TCPHDR_URG",
    "TCPOLEN_MSS",
    "TCPOLEN_SACKPERM_ALIGNED",
    "TCPOLEN_SACK_PERM",
    "TCPOLEN_TIMESTAMP",
    "TCPOLEN_TSTAMP_ALIGNED",
    "TCPOLEN_WINDOW",
    "TCPOLEN_WSCALE_ALIGNED",
    "TCPOPT_EOL",
    "TCPOPT_MSS",
    "TCPOPT_NOP",
    "TCPOPT_SACK",
    "TCPOPT_SACK_PERM",
    "TCPOPT_TIMESTAMP",
    "TCPOPT_WINDOW",
    "TCP_HLEN",
    "TCP_MAX_WSCALE",
    "TcpHeader",
    "TcpOptions",
    "UDP_HLEN",
    "UdpHeader",
    "WireError",
    "after",
    "before",
    "between",
    "csum_add",
    "csum_block_add",
    "csum_fold",
    "csum_ipv6_magic",
    "csum_partial",
    "csum_partial_many",
    "csum_tcpudp_magic",
    "icmp4_error",
    "icmp4_port_unreachable",
    "icmp6_error",
    "icmp6_port_unreachable",
    "ip4_build_header",
    "ip4_pseudo_csum",
    "ip6_build_header",
    "ip6_pseudo_csum",
    "seq_add",
    "tcp4_checksum",
    "tcp6_checksum",
    "tcp_build_header",
    "tcp_verify",
    "udp4_checksum",
    "udp6_checksum",
    "udp_build_header",
    "udp_verify",
]
