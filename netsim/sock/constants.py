"""Socket-API constants with Linux's values (include/linux/socket.h, include/uapi/...).

They equal Python's ``socket`` module constants on Linux, so code written against the standard
library (and trio, which uses those) works unchanged on an emulated host.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNSPEC",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_IP",
    "IPPROTO_IPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "IPV6_AUTOFLOWLABEL",
    "IPV6_DONTFRAG",
    "IPV6_FLOWINFO",
    "IPV6_HOPLIMIT",
    "IPV6_MTU",
    "IPV6_MTU_DISCOVER",
    "IPV6_PKTINFO",
    "IPV6_RECVERR",
    "IPV6_TCLASS",
    "IPV6_UNICAST_HOPS",
    "IPV6_V6ONLY",
    "IP_MTU",
    "IP_MTU_DISCOVER",
    "IP_PKTINFO",
    "IP_PMTUDISC_DO",
    "IP_PMTUDISC_DONT",
    "IP_PMTUDISC_INTERFACE",
    "IP_PMTUDISC_OMIT",
    "IP_PMTUDISC_PROBE",
    "IP_PMTUDISC_WANT",
    "IP_PROTOCOL",
    "IP_RECVERR",
    "IP_RETOPTS",
    "IP_TOS",
    "IP_TTL",
    "MSG_CONFIRM",
    "MSG_DONTROUTE",
    "MSG_DONTWAIT",
    "MSG_EOR",
    "MSG_ERRQUEUE",
    "MSG_MORE",
    "SIOCINQ",
    "FIONREAD",
    "SIOCOUTQ",
    "TIOCOUTQ",
    "SIOCOUTQNSD",
    "SIOCATMARK",
    "MSG_NOSIGNAL",
    "MSG_OOB",
    "MSG_PEEK",
    "MSG_PROBE",
    "MSG_TRUNC",
    "MSG_WAITALL",
    "MSG_ZEROCOPY",
    "MSG_CTRUNC",
    "MSG_SPLICE_PAGES",
    "MSG_SENDPAGE_DECRYPTED",
    "SHUT_RD",
    "SHUT_RDWR",
    "SHUT_WR",
    "SOCK_CLOEXEC",
    "SOCK_DGRAM",
    "SOCK_NONBLOCK",
    "SOCK_STREAM",
    "SOL_IP",
    "SOL_IPV6",
    "SOL_SOCKET",
    "SOL_TCP",
    "SOL_TLS",
    "SOL_UDP",
    "SOL_UDPLITE",
    "SOMAXCONN",
    "SO_ACCEPTCONN",
    "SO_BROADCAST",
    "SO_BSDCOMPAT",
    "SO_DEBUG",
    "SO_DOMAIN",
    "SO_DONTROUTE",
    "SO_ERROR",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_MARK",
    "SO_NO_CHECK",
    "SO_OOBINLINE",
    "SO_PRIORITY",
    "SO_PROTOCOL",
    "SO_RCVBUF",
    "SO_RCVBUFFORCE",
    "SO_RCVLOWAT",
    "SO_REUSEADDR",
    "SO_RESERVE_MEM",
    "SO_REUSEPORT",
    "SO_SNDBUF",
    "SO_SNDBUFFORCE",
    "SO_SNDLOWAT",
    "SO_TXREHASH",
    "SO_TYPE",
    "TCP_CONGESTION",
    "TCP_CORK",
    "TCP_DEFER_ACCEPT",
    "TCP_INFO",
    "TCP_KEEPCNT",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_LINGER2",
    "TCP_MAXSEG",
    "TCP_NODELAY",
    "TCP_NOTSENT_LOWAT",
    "TCP_QUICKACK",
    "TCP_SYNCNT",
    "TCP_ULP",
    "TCP_INQ",
    "TCP_CM_INQ",
    "TCP_USER_TIMEOUT",
    "TCP_RTO_MAX_MS",
    "TCP_WINDOW_CLAMP",
    "TLS_TX",
    "TLS_RX",
    "TLS_TX_ZEROCOPY_RO",
    "TLS_RX_EXPECT_NO_PAD",
    "TLS_SET_RECORD_TYPE",
    "TLS_GET_RECORD_TYPE",
    "TLS_1_2_VERSION",
    "TLS_1_3_VERSION",
    "TLS_CIPHER_AES_GCM_128",
    "TLS_CIPHER_AES_GCM_256",
    "TLS_CIPHER_AES_CCM_128",
    "TLS_CIPHER_CHACHA20_POLY1305",
    "TLS_CIPHER_SM4_GCM",
    "TLS_CIPHER_SM4_CCM",
    "TLS_CIPHER_ARIA_GCM_128",
    "TLS_CIPHER_ARIA_GCM_256",
    "UDP_CORK",
    "UDP_GRO",
    "UDP_SEGMENT",
]

AF_UNSPEC: Final = 0
AF_INET: Final = 2
AF_INET6: Final = 10

SOCK_STREAM: Final = 1
SOCK_DGRAM: Final = 2
SOCK_NONBLOCK: Final = 0o4000
SOCK_CLOEXEC: Final = 0o2000000

IPPROTO_IP: Final = 0
IPPROTO_ICMP: Final = 1
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_IPV6: Final = 41
IPPROTO_ICMPV6: Final = 58

SOMAXCONN: Final = 4096

# levels
SOL_SOCKET: Final = 1
SOL_IP: Final = 0
SOL_TCP: Final = 6
SOL_UDP: Final = 17
SOL_IPV6: Final = 41
SOL_TLS: Final = 282

SOL_UDPLITE: Final = 136

# SOL_SOCKET options (include/uapi/asm-generic/socket.h)
SO_DEBUG: Final = 1
SO_REUSEADDR: Final = 2
SO_TYPE: Final = 3
SO_ERROR: Final = 4
SO_DONTROUTE: Final = 5
SO_BROADCAST: Final = 6
SO_SNDBUF: Final = 7
SO_RCVBUF: Final = 8
SO_KEEPALIVE: Final = 9
SO_OOBINLINE: Final = 10
SO_NO_CHECK: Final = 11
SO_PRIORITY: Final = 12
SO_LINGER: Final = 13
SO_BSDCOMPAT: Final = 14
SO_REUSEPORT: Final = 15
SO_RCVLOWAT: Final = 18
SO_SNDLOWAT: Final = 19
SO_MARK: Final = 36
SO_ACCEPTCONN: Final = 30
SO_SNDBUFFORCE: Final = 32
SO_RCVBUFFORCE: Final = 33
SO_PROTOCOL: Final = 38
SO_DOMAIN: Final = 39
SO_RESERVE_MEM: Final = 73
SO_TXREHASH: Final = 74

# SOL_IP (include/uapi/linux/in.h)
IP_TOS: Final = 1
IP_TTL: Final = 2
IP_RETOPTS: Final = 7
IP_PKTINFO: Final = 8
IP_MTU_DISCOVER: Final = 10
IP_RECVERR: Final = 11
IP_MTU: Final = 14
IP_PROTOCOL: Final = 52
IP_PMTUDISC_DONT: Final = 0
IP_PMTUDISC_WANT: Final = 1
IP_PMTUDISC_DO: Final = 2
IP_PMTUDISC_PROBE: Final = 3
IP_PMTUDISC_INTERFACE: Final = 4
IP_PMTUDISC_OMIT: Final = 5

# SOL_IPV6 (include/uapi/linux/in6.h)
IPV6_FLOWINFO: Final = 11
IPV6_UNICAST_HOPS: Final = 16
IPV6_MTU_DISCOVER: Final = 23
IPV6_MTU: Final = 24
IPV6_RECVERR: Final = 25
IPV6_V6ONLY: Final = 26
IPV6_PKTINFO: Final = 50
IPV6_HOPLIMIT: Final = 52
IPV6_DONTFRAG: Final = 62
IPV6_TCLASS: Final = 67
IPV6_AUTOFLOWLABEL: Final = 70

# SOL_UDP (include/uapi/linux/udp.h)
UDP_CORK: Final = 1
UDP_SEGMENT: Final = 103
UDP_GRO: Final = 104

# SOL_TCP (include/uapi/linux/tcp.h)
TCP_NODELAY: Final = 1
TCP_MAXSEG: Final = 2
TCP_CORK: Final = 3
TCP_KEEPIDLE: Final = 4
TCP_KEEPINTVL: Final = 5
TCP_KEEPCNT: Final = 6
TCP_SYNCNT: Final = 7
TCP_LINGER2: Final = 8
TCP_DEFER_ACCEPT: Final = 9
TCP_WINDOW_CLAMP: Final = 10
TCP_INFO: Final = 11
TCP_QUICKACK: Final = 12
TCP_CONGESTION: Final = 13
TCP_USER_TIMEOUT: Final = 18
TCP_RTO_MAX_MS: Final = 44
TCP_ULP: Final = 31
TCP_NOTSENT_LOWAT: Final = 25
#: ``TCP_INQ``: every read reports what is left to read in a ``TCP_CM_INQ`` control message
TCP_INQ: Final = 36
TCP_CM_INQ: Final = TCP_INQ

# SOL_TLS (include/uapi/linux/tls.h)
TLS_TX: Final = 1
TLS_RX: Final = 2
TLS_TX_ZEROCOPY_RO: Final = 3
TLS_RX_EXPECT_NO_PAD: Final = 4
#: control messages at ``SOL_TLS``: the record type of a send / of what a read returned
TLS_SET_RECORD_TYPE: Final = 1
TLS_GET_RECORD_TYPE: Final = 2
TLS_1_2_VERSION: Final = 0x0303
TLS_1_3_VERSION: Final = 0x0304
TLS_CIPHER_AES_GCM_128: Final = 51
TLS_CIPHER_AES_GCM_256: Final = 52
TLS_CIPHER_AES_CCM_128: Final = 53
TLS_CIPHER_CHACHA20_POLY1305: Final = 54
TLS_CIPHER_SM4_GCM: Final = 55
TLS_CIPHER_SM4_CCM: Final = 56
TLS_CIPHER_ARIA_GCM_128: Final = 57
TLS_CIPHER_ARIA_GCM_256: Final = 58

# msg flags (include/linux/socket.h)
MSG_OOB: Final = 0x1
MSG_PEEK: Final = 0x2
MSG_DONTROUTE: Final = 0x4
MSG_PROBE: Final = 0x10
MSG_TRUNC: Final = 0x20
MSG_DONTWAIT: Final = 0x40
MSG_EOR: Final = 0x80
MSG_WAITALL: Final = 0x100
MSG_CONFIRM: Final = 0x800
MSG_ERRQUEUE: Final = 0x2000
MSG_NOSIGNAL: Final = 0x4000
MSG_MORE: Final = 0x8000
MSG_ZEROCOPY: Final = 0x4000000
MSG_CTRUNC: Final = 0x8
#: in-kernel only: splice the iterator's pages instead of copying (tls_push_sg into TCP)
MSG_SPLICE_PAGES: Final = 0x8000000
#: in-kernel only: the pages hold plaintext a device will encrypt (``skb->decrypted``)
MSG_SENDPAGE_DECRYPTED: Final = 0x100000

SHUT_RD: Final = 0
SHUT_WR: Final = 1
SHUT_RDWR: Final = 2

# socket ioctls (include/uapi/asm-generic/ioctls.h, include/uapi/linux/sockios.h)
#: bytes waiting to be read (TCP) or the next datagram's size (UDP); also ``FIONREAD``
SIOCINQ: Final = 0x541B
FIONREAD: Final = 0x541B
#: bytes sent but not yet acknowledged (TCP) or still below the socket (UDP); ``TIOCOUTQ``
SIOCOUTQ: Final = 0x5411
TIOCOUTQ: Final = 0x5411
#: bytes queued but not yet sent (TCP)
SIOCOUTQNSD: Final = 0x894B
#: the next byte read is the urgent mark (``sockatmark(3)``)
SIOCATMARK: Final = 0x8905
