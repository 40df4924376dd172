"""UDP over IPv4 and IPv6: ``udp_sendmsg``/``udpv6_sendmsg`` with corking and ``UDP_SEGMENT``,
the receive queue, ``udp_recvmsg``, ICMP errors (net/ipv4/udp.c, net/ipv6/udp.c)."""

from .input import udp_ioctl as udp_ioctl
from .input import udp_recv_would_wait as udp_recv_would_wait
from .input import udp_recvmsg as udp_recvmsg
from .output import udp_sendmsg as udp_sendmsg
from .output import udpv6_sendmsg as udpv6_sendmsg
from .proto import udp_bind as udp_bind
from .proto import udp_connect as udp_connect
from .proto import udp_disconnect as udp_disconnect
from .sock import UdpSock as UdpSock

__all__ = [
    "UdpSock",
    "udp_bind",
    "udp_connect",
    "udp_disconnect",
    "udp_ioctl",
    "udp_recv_would_wait",
    "udp_recvmsg",
    "udp_sendmsg",
    "udpv6_sendmsg",
]
