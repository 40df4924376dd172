"""The differential cases: misuse and edge cases of the socket API, each a short program that
runs unchanged on the live kernel's sockets and on netsim's (see harness.py).

Each case's docstring says what it does; ``note`` says what surprises people about Linux's
answer.  Both go into docs/misuse.md.  Labels name the call as the program makes it, with the
case's ports as ``P1``/``P2``/``P3``.  Only cases whose Linux answer is deterministic on
loopback belong here (``record.py --repeat 20`` checks).
"""

from __future__ import annotations

import contextlib
import struct
from socket import (
    AF_INET,
    AF_INET6,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_DONTFRAG,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    MSG_DONTWAIT,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_ACCEPTCONN,
    SO_BROADCAST,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_TYPE,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_CONGESTION,
    TCP_CORK,
    TCP_INFO,
    TCP_KEEPIDLE,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
)

import trio
import trio.testing
from harness import Env, case

from netsim import (
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_RECVERR,
    IPV6_MTU,
    SO_RCVBUFFORCE,
    SO_SNDBUFFORCE,
    UDP_CORK,
    UDP_GRO,
    UDP_SEGMENT,
)

SOL_IP = IPPROTO_IP
SOL_IPV6 = IPPROTO_IPV6
SOL_TCP = IPPROTO_TCP
SOL_UDP = IPPROTO_UDP

LO4 = "127.0.0.1"
LO6 = "::1"
LO: dict[int, str] = {AF_INET: LO4, AF_INET6: LO6}
ANY: dict[int, str] = {AF_INET: "0.0.0.0", AF_INET6: "::"}
FAMILIES = {4: AF_INET, 6: AF_INET6}
MAPPED_LO = "::ffff:127.0.0.1"

Sock = trio.socket.SocketType


def _addr(family: int, host: str, port: int) -> tuple[str, int]:
    return (host, port)


async def _listener(env: Env, family: int = AF_INET, backlog: int = 8) -> Sock:
    """A TCP listener on loopback port P1 (setup: not recorded)."""
    sock = env.socket(family, SOCK_STREAM)
    await sock.bind((LO[family], env.p1))
    sock.listen(backlog)
    return sock


async def _tcp_pair(env: Env, family: int = AF_INET) -> tuple[Sock, Sock]:
    """A connected ``(client, server)`` over loopback; the listener on P1 is closed again."""
    listener = await _listener(env, family)
    client = env.socket(family, SOCK_STREAM)
    await client.connect((LO[family], env.p1))
    server = env.adopt((await listener.accept())[0])
    listener.close()
    return client, server


async def _udp_pair(env: Env, family: int = AF_INET) -> tuple[Sock, Sock]:
    """UDP sockets ``a`` on P1 and ``b`` on P2, connected to each other."""
    a = env.socket(family, SOCK_DGRAM)
    b = env.socket(family, SOCK_DGRAM)
    await a.bind((LO[family], env.p1))
    await b.bind((LO[family], env.p2))
    await a.connect((LO[family], env.p2))
    await b.connect((LO[family], env.p1))
    return a, b


def _int(value: int) -> bytes:
    return struct.pack("i", value)


# ==============================================================================================
# Addresses and bind()
# ==============================================================================================

for _v, _fam in FAMILIES.items():
    for _kind, _type in (("tcp", SOCK_STREAM), ("udp", SOCK_DGRAM)):

        def _make_bind_twice(
            family: int = _fam, type_: int = _type, kind: str = _kind, v: int = _v
        ) -> None:
            async def fn(env: Env) -> None:
                s = env.socket(family, type_)
                await env.step("s.bind((LO, P1))", s.bind((LO[family], env.p1)))
                await env.step("s.bind((LO, P2))", s.bind((LO[family], env.p2)))
                await env.step("s.getsockname()", s.getsockname)

            case(
                "bind",
                "A socket is bound once; the second bind() fails even to another port.",
                name=f"bind_twice_{kind}{v}",
                doc=f"Bind a {kind.upper()}/IPv{v} socket, then bind it again.",
            )(fn)

        _make_bind_twice()


@case("bind", "Only this host's addresses: no ip_nonlocal_bind.")
async def bind_nonlocal_v4(env: Env) -> None:
    """Bind to an IPv4 address no interface has."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind(('203.0.113.7', P1))", s.bind(("203.0.113.7", env.p1)))


@case("bind")
async def bind_nonlocal_v6(env: Env) -> None:
    """Bind to an IPv6 address no interface has."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.bind(('2001:db8::1', P1))", s.bind(("2001:db8::1", env.p1)))


@case("bind", "All of 127.0.0.0/8 is local: lo's route covers the whole block.")
async def bind_127_0_0_2(env: Env) -> None:
    """Bind to 127.0.0.2, which no interface lists."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind(('127.0.0.2', P1))", s.bind(("127.0.0.2", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind")
async def bind_in_use_tcp(env: Env) -> None:
    """Two TCP sockets bind the same address and port; the first listens."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("a.listen()", lambda: a.listen(8))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind", "A bound (not listening) TCP port is taken too: bind() conflicts, not listen().")
async def bind_in_use_tcp_not_listening(env: Env) -> None:
    """Two TCP sockets bind the same address and port; neither listens."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case(
    "bind",
    "SO_REUSEADDR lets two TCP sockets bind one port, but only one may listen on it; "
    "the conflict moves to listen().",
)
async def bind_reuseaddr_tcp_two_listeners(env: Env) -> None:
    """Two TCP sockets with SO_REUSEADDR bind one port; both try to listen."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))
    await env.step("a.listen()", lambda: a.listen(8))
    await env.step("b.listen()", lambda: b.listen(8))


@case("bind", "With SO_REUSEADDR a listener still blocks other binds to its port.")
async def bind_reuseaddr_tcp_after_listen(env: Env) -> None:
    """Two TCP sockets with SO_REUSEADDR; the first binds and listens, the second binds."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("a.listen()", lambda: a.listen(8))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind", "SO_REUSEPORT on both: two listeners share the port (the kernel balances SYNs).")
async def bind_reuseport_tcp(env: Env) -> None:
    """Two TCP sockets with SO_REUSEPORT bind and listen on one port."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    a.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    b.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("a.listen()", lambda: a.listen(8))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))
    await env.step("b.listen()", lambda: b.listen(8))


@case("bind", "SO_REUSEPORT must be set on both sockets.")
async def bind_reuseport_one_side(env: Env) -> None:
    """Only the second TCP socket sets SO_REUSEPORT."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    b.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind")
async def bind_in_use_udp(env: Env) -> None:
    """Two UDP sockets bind the same address and port."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind", "For UDP, SO_REUSEADDR on both sockets is enough to share a port.")
async def bind_reuseaddr_udp(env: Env) -> None:
    """Two UDP sockets with SO_REUSEADDR bind the same address and port."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET, SOCK_DGRAM)
    a.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    b.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    await env.step("a.bind((LO, P1))", a.bind((LO4, env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind")
async def bind_reuseport_udp(env: Env) -> None:
    """Two UDP sockets with SO_REUSEPORT bind the same address and port."""
    a = env.socket(AF_INET6, SOCK_DGRAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    a.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    b.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    await env.step("a.bind((LO6, P1))", a.bind((LO6, env.p1)))
    await env.step("b.bind((LO6, P1))", b.bind((LO6, env.p1)))


@case("bind", "The wildcard overlaps every specific address on the port.")
async def bind_wildcard_then_specific(env: Env) -> None:
    """A TCP socket binds 0.0.0.0:P1, another 127.0.0.1:P1."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("a.bind(('0.0.0.0', P1))", a.bind(("0.0.0.0", env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind", "Different specific addresses do not conflict.")
async def bind_two_loopback_addresses(env: Env) -> None:
    """UDP sockets bind 127.0.0.1:P1 and 127.0.0.2:P1."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("a.bind(('127.0.0.1', P1))", a.bind(("127.0.0.1", env.p1)))
    await env.step("b.bind(('127.0.0.2', P1))", b.bind(("127.0.0.2", env.p1)))


@case("bind")
async def bind_port_zero(env: Env) -> None:
    """Bind to port 0: the kernel picks an ephemeral port."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.bind((LO6, 0))", s.bind((LO6, 0)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind")
async def bind_port_65535(env: Env) -> None:
    """Bind to the highest port."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind((LO, 65535))", s.bind((LO4, 65535)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "Python checks the port range before the kernel sees it.")
async def bind_port_65536(env: Env) -> None:
    """Bind to port 65536."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind((LO, 65536))", s.bind((LO4, 65536)))


@case("bind")
async def bind_port_negative(env: Env) -> None:
    """Bind to port -1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind((LO6, -1))", s.bind((LO6, -1)))


@case(
    "bind",
    "trio resolves the address first: an IPv6 literal on an AF_INET socket fails in "
    "getaddrinfo(), before the kernel could say EAFNOSUPPORT.",
)
async def bind_ipv6_address_on_inet(env: Env) -> None:
    """Bind an AF_INET socket to ::1."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind(('::1', P1))", s.bind(("::1", env.p1)))


@case(
    "bind",
    "trio resolves with AI_V4MAPPED on a dual-stack AF_INET6 socket: an IPv4 literal becomes "
    "::ffff:a.b.c.d.",
)
async def bind_ipv4_literal_on_inet6(env: Env) -> None:
    """Bind an AF_INET6 socket to 127.0.0.1."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.bind(('127.0.0.1', P1))", s.bind(("127.0.0.1", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case(
    "bind",
    "trio resolves names through getaddrinfo(); with /etc/hosts naming only 127.0.0.1 "
    "'localhost', an AF_INET6 socket gets ::ffff:127.0.0.1.",
)
async def bind_localhost_on_inet6(env: Env) -> None:
    """Bind an AF_INET6 socket to 'localhost'."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('localhost', P1))", s.bind(("localhost", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind")
async def bind_localhost_on_inet(env: Env) -> None:
    """Bind an AF_INET socket to 'localhost'."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind(('localhost', P1))", s.bind(("localhost", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "An empty host is the wildcard address.")
async def bind_empty_host(env: Env) -> None:
    """Bind to ('', P1)."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind(('', P1))", s.bind(("", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "Linux accepts the limited broadcast address as a TCP socket's local address.")
async def bind_broadcast_tcp(env: Env) -> None:
    """Bind a TCP socket to 255.255.255.255."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind(('255.255.255.255', P1))", s.bind(("255.255.255.255", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "A multicast group address is a valid local address (to receive the group).")
async def bind_multicast_udp(env: Env) -> None:
    """Bind a UDP socket to 224.0.0.1."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind(('224.0.0.1', P1))", s.bind(("224.0.0.1", env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "Even for TCP, which can never use it.")
async def bind_multicast_tcp(env: Env) -> None:
    """Bind a TCP socket to 224.0.0.1."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind(('224.0.0.1', P1))", s.bind(("224.0.0.1", env.p1)))


@case("bind")
async def bind_multicast_v6_udp(env: Env) -> None:
    """Bind a UDP/IPv6 socket to the global-scope multicast address ff0e::1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('ff0e::1', P1))", s.bind(("ff0e::1", env.p1)))


@case("bind", "A link-local address needs a scope id (an interface).")
async def bind_link_local_no_scope(env: Env) -> None:
    """Bind to fe80::1 without a scope id."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('fe80::1', P1))", s.bind(("fe80::1", env.p1)))


@case("bind")
async def bind_link_local_bad_scope(env: Env) -> None:
    """Bind to fe80::1 with scope id 99, an interface that does not exist."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('fe80::1', P1, 0, 99))", s.bind(("fe80::1", env.p1, 0, 99)))


@case("bind", "The scope id of a non-link-local address is ignored.")
async def bind_scope_id_on_loopback(env: Env) -> None:
    """Bind to ::1 with scope id 1 (lo)."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.bind(('::1', P1, 0, 1))", s.bind(("::1", env.p1, 0, 1)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "bind() ignores the flow label; getsockname() reports 0.")
async def bind_flowinfo(env: Env) -> None:
    """Bind to ::1 with flowinfo 5."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('::1', P1, 5, 0))", s.bind(("::1", env.p1, 5, 0)))
    await env.step("s.getsockname()", s.getsockname)


@case("bind", "Python refuses a flow label wider than 20 bits.")
async def bind_flowinfo_too_big(env: Env) -> None:
    """Bind to ::1 with flowinfo 2**20."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.bind(('::1', P1, 1 << 20, 0))", s.bind(("::1", env.p1, 1 << 20, 0)))


@case("bind", "connect() bound the socket already (autobind).")
async def bind_after_udp_connect(env: Env) -> None:
    """Connect a UDP socket, then bind it."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.connect((LO, P2))", s.connect((LO4, env.p2)))
    await env.step("s.bind((LO, P1))", s.bind((LO4, env.p1)))


@case("bind", "listen() bound the socket already (autobind).")
async def bind_after_listen(env: Env) -> None:
    """listen() on an unbound TCP socket, then bind it."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.listen()", lambda: s.listen(8))
    await env.step("s.bind((LO, P1))", s.bind((LO4, env.p1)))


@case("bind")
async def bind_closed(env: Env) -> None:
    """Close a socket, then bind it."""
    s = env.socket(AF_INET, SOCK_STREAM)
    s.close()
    await env.step("s.bind((LO, P1))", s.bind((LO4, env.p1)))


@case("bind")
async def bind_mapped_on_v6only(env: Env) -> None:
    """Set IPV6_V6ONLY, then bind to ::ffff:127.0.0.1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    s.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await env.step("s.bind(('::ffff:127.0.0.1', P1))", s.bind((MAPPED_LO, env.p1)))


@case("bind", "trio checks the shape of the address (a ValueError, where Python says TypeError).")
async def bind_tuple_too_long_inet(env: Env) -> None:
    """Bind an AF_INET socket to a 3-tuple."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind((LO, P1, 0))", lambda: s.bind((LO4, env.p1, 0)))


@case("bind")
async def bind_not_a_tuple(env: Env) -> None:
    """Bind to a bare string."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.bind('127.0.0.1')", lambda: s.bind("127.0.0.1"))


@case("bind", "trio passes a port given as a string to getaddrinfo(), which reads it as a number.")
async def bind_port_as_string(env: Env) -> None:
    """Bind to (LO, str(P1))."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind((LO, str(P1)))", lambda: s.bind((LO4, str(env.p1))))
    await env.step("s.getsockname()", s.getsockname)


@case("bind")
async def getsockname_unbound(env: Env) -> None:
    """getsockname() of new sockets, both families."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("a.getsockname()", a.getsockname)
    await env.step("b.getsockname()", b.getsockname)


@case("bind")
async def getpeername_unconnected(env: Env) -> None:
    """getpeername() of a bound, unconnected socket."""
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    await a.bind((LO4, env.p1))
    await env.step("a.getpeername()", a.getpeername)
    await env.step("b.getpeername()", b.getpeername)


@case(
    "bind",
    "A TCP socket's names through its life: the peer's name goes away once the connection is "
    "closed (CLOSE), though the socket keeps its own.",
)
async def tcp_names_lifecycle(env: Env) -> None:
    """getsockname()/getpeername() of a client: new, bound, connected, after the peer's FIN,
    after its own shutdown, after a reset."""
    lst = await _listener(env)
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("new: getsockname()", c.getsockname)
    await c.bind((LO4, env.p2))
    await env.step("bound: getsockname()", c.getsockname)
    await env.step("bound: getpeername()", c.getpeername)
    await c.connect((LO4, env.p1))
    srv = env.adopt((await lst.accept())[0])
    await env.step("connected: getpeername()", c.getpeername)
    srv.shutdown(SHUT_WR)
    await env.step("after the peer's FIN: recv(10)", c.recv(10))
    await env.step("after the peer's FIN: getpeername()", c.getpeername)
    c.shutdown(SHUT_WR)
    await env.step("both FINs: getpeername()", c.getpeername)
    await env.step("both FINs: getsockname()", c.getsockname)


@case("bind", "The IPv6 wildcard covers IPv4 too unless IPV6_V6ONLY.")
async def bind_dual_stack_conflict(env: Env) -> None:
    """A TCP/IPv6 socket binds [::]:P1, then a TCP/IPv4 socket 127.0.0.1:P1."""
    a = env.socket(AF_INET6, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("a.bind(('::', P1))", a.bind(("::", env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind")
async def bind_v6only_no_conflict(env: Env) -> None:
    """As bind_dual_stack_conflict, with IPV6_V6ONLY on the IPv6 socket."""
    a = env.socket(AF_INET6, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    a.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await env.step("a.bind(('::', P1))", a.bind(("::", env.p1)))
    await env.step("b.bind((LO, P1))", b.bind((LO4, env.p1)))


@case("bind")
async def bind_dual_stack_conflict_udp(env: Env) -> None:
    """A UDP/IPv4 socket binds 0.0.0.0:P1, then a UDP/IPv6 socket [::]:P1."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("a.bind(('0.0.0.0', P1))", a.bind(("0.0.0.0", env.p1)))
    await env.step("b.bind(('::', P1))", b.bind(("::", env.p1)))


# ==============================================================================================
# connect()
# ==============================================================================================

for _v, _fam in FAMILIES.items():

    def _make_refused(family: int = _fam, v: int = _v) -> None:
        async def fn(env: Env) -> None:
            s = env.socket(family, SOCK_STREAM)
            await env.step("s.connect((LO, P1))", s.connect((LO[family], env.p1)))
            await env.step("s.getpeername()", s.getpeername)
            await env.step("s.getsockopt(SOL_SOCKET, SO_ERROR)", lambda: s.getsockopt(1, 4))
            await env.step("s.recv(10)", s.recv(10))
            await env.step("s.send(b'x')", s.send(b"x"))

        case(
            "connect",
            "connect() reports the error and clears it, and leaves the socket unconnected "
            "(__inet_stream_connect's error path disconnects it): recv() says ENOTCONN, send() "
            "EPIPE.  (trio's non-blocking connect leaves the RST's state instead: recv() b''.)",
            name=f"connect_refused_tcp{v}",
            doc=f"TCP/IPv{v} connect() to a port nobody listens on.",
        )(fn)

    _make_refused()


@case(
    "connect",
    "A refused connect() leaves the socket unconnected and reusable: the next connect() "
    "connects.  (After trio's non-blocking connect the kernel's socket is still "
    "'connecting': the next connect() says ECONNABORTED, the one after connects.)",
)
async def connect_refused_then_again(env: Env) -> None:
    """connect() is refused; a listener appears; connect() again, twice."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await _listener(env)
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("s.getpeername()", s.getpeername)


@case(
    "connect",
    "A connected socket says EISCONN to every further connect(), to any address.  (trio's "
    "non-blocking connect leaves the kernel's socket SS_CONNECTING: there the next "
    "connect() returns 0, and only the one after says EISCONN.)",
)
async def connect_twice_tcp(env: Env) -> None:
    """Connect a TCP socket, then connect it again to another port, then again."""
    await _listener(env)
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("s.connect((LO, P2))", s.connect((LO4, env.p2)))
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("s.getpeername()", s.getpeername)


@case(
    "connect",
    "0.0.0.0 as a destination means this host: Linux connects to the loopback address.",
)
async def connect_any_v4(env: Env) -> None:
    """TCP connect() to 0.0.0.0:P1 with a listener on 127.0.0.1:P1."""
    await _listener(env)
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect(('0.0.0.0', P1))", s.connect(("0.0.0.0", env.p1)))
    await env.step("s.getpeername()", s.getpeername)
    await env.step("s.getsockname()", s.getsockname)


@case("connect", ":: as a destination means this host too (::1).")
async def connect_any_v6(env: Env) -> None:
    """TCP connect() to [::]:P1 with a listener on [::1]:P1."""
    await _listener(env, AF_INET6)
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.connect(('::', P1))", s.connect(("::", env.p1)))
    await env.step("s.getpeername()", s.getpeername)


@case("connect", "UDP connect() to 0.0.0.0 names the loopback address as the peer.")
async def connect_any_udp(env: Env) -> None:
    """UDP connect() to 0.0.0.0:P1."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.connect(('0.0.0.0', P1))", s.connect(("0.0.0.0", env.p1)))
    await env.step("s.getpeername()", s.getpeername)
    await env.step("s.getsockname()", s.getsockname)


@case(
    "connect",
    "No route on a host with only lo (connect_subnet_broadcast shows TCP refusing a "
    "broadcast route).",
)
async def connect_broadcast_tcp(env: Env) -> None:
    """TCP connect() to 255.255.255.255."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect(('255.255.255.255', P1))", s.connect(("255.255.255.255", env.p1)))


@case("connect")
async def connect_multicast_tcp(env: Env) -> None:
    """TCP connect() to 224.0.0.1."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect(('224.0.0.1', P1))", s.connect(("224.0.0.1", env.p1)))


@case("connect", "A host with only lo has no route to anywhere else.")
async def connect_unroutable_v4(env: Env) -> None:
    """TCP connect() to 203.0.113.7 on a host with only lo."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect(('203.0.113.7', P1))", s.connect(("203.0.113.7", env.p1)))


@case("connect")
async def connect_unroutable_v6(env: Env) -> None:
    """TCP connect() to 2001:db8::1 on a host with only lo."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.connect(('2001:db8::1', P1))", s.connect(("2001:db8::1", env.p1)))


@case("connect")
async def connect_unroutable_udp(env: Env) -> None:
    """UDP connect() to 203.0.113.7 on a host with only lo."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.connect(('203.0.113.7', P1))", s.connect(("203.0.113.7", env.p1)))


@case("connect", "Port 0 is a port like any other to TCP: the SYN goes out and is reset.")
async def connect_port_zero_tcp(env: Env) -> None:
    """TCP connect() to port 0."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect((LO, 0))", s.connect((LO4, 0)))


@case(
    "connect",
    "UDP connect() to port 0 succeeds, but the socket has no peer: getpeername() says ENOTCONN.",
)
async def connect_udp_port_zero(env: Env) -> None:
    """UDP connect() to port 0, then use the socket."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.connect((LO, 0))", s.connect((LO4, 0)))
    await env.step("s.getpeername()", s.getpeername)
    await env.step("s.send(b'x')", s.send(b"x"))


@case(
    "connect",
    "255.255.255.255 has no route on a host with only lo: ENETUNREACH comes before any "
    "SO_BROADCAST check (connect_subnet_broadcast shows that check).",
)
async def connect_udp_broadcast(env: Env) -> None:
    """UDP connect() to 255.255.255.255 without SO_BROADCAST."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.connect(('255.255.255.255', P1))", s.connect(("255.255.255.255", env.p1)))


@case("connect", "A broadcast address with a route: UDP needs SO_BROADCAST, TCP never connects.")
async def connect_subnet_broadcast(env: Env) -> None:
    """connect() to 127.255.255.255: UDP without and with SO_BROADCAST, then TCP."""
    u = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("udp.connect(('127.255.255.255', P1))", u.connect(("127.255.255.255", env.p1)))
    u.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    await env.step("udp.connect(('127.255.255.255', P1))", u.connect(("127.255.255.255", env.p1)))
    await env.step("udp.getpeername()", u.getpeername)
    t = env.socket(AF_INET, SOCK_STREAM)
    await env.step("tcp.connect(('127.255.255.255', P1))", t.connect(("127.255.255.255", env.p1)))


@case("connect")
async def connect_udp_broadcast_allowed(env: Env) -> None:
    """UDP connect() to 255.255.255.255 with SO_BROADCAST (a host with only lo)."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    await env.step("s.connect(('255.255.255.255', P1))", s.connect(("255.255.255.255", env.p1)))


@case("connect", "A UDP socket may connect again, to another peer.")
async def connect_udp_reconnect(env: Env) -> None:
    """UDP connect() to P1, then to P2."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.connect((LO6, P1))", s.connect((LO6, env.p1)))
    await env.step("s.connect((LO6, P2))", s.connect((LO6, env.p2)))
    await env.step("s.getpeername()", s.getpeername)


@case("connect")
async def connect_closed(env: Env) -> None:
    """Close a socket, then connect it."""
    s = env.socket(AF_INET, SOCK_STREAM)
    s.close()
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))


@case("connect", "A listening socket counts as connected here.")
async def connect_listener(env: Env) -> None:
    """connect() a listening TCP socket."""
    lst = await _listener(env)
    await env.step("lst.connect((LO, P2))", lst.connect((LO4, env.p2)))


@case(
    "connect",
    "A listener with backlog 0 still takes one connection; the next SYN is dropped and "
    "connect() waits (SYN retries).",
)
async def connect_full_backlog_blocks(env: Env) -> None:
    """listen(0); two clients connect."""
    await _listener(env, AF_INET, 0)
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("a.connect((LO, P1))", a.connect((LO4, env.p1)))
    await env.step("b.connect((LO, P1))", b.connect((LO4, env.p1)))


@case(
    "connect",
    "trio closes a socket whose connect() was cancelled (a connect cannot be taken back), "
    "so the second connect() finds it closed.  netsim does the same; on the blocking "
    "reference the step's timeout ending the connect() counts as that cancellation.",
)
async def connect_cancelled_then_again(env: Env) -> None:
    """A connect() that waits is cancelled; connect() again."""
    lst = await _listener(env, AF_INET, 0)
    a = env.socket(AF_INET, SOCK_STREAM)
    await a.connect((LO4, env.p1))
    b = env.socket(AF_INET, SOCK_STREAM)
    await env.step("b.connect((LO, P1))", b.connect((LO4, env.p1)))
    env.adopt((await lst.accept())[0])
    await env.step("b.connect((LO, P1))", b.connect((LO4, env.p1)))
    await env.step("b.fileno() == -1", lambda: b.fileno() == -1)


@case(
    "connect",
    "A blocking connect() on a socket that is already connecting does not fail at once: "
    "__inet_stream_connect notes EALREADY and then waits for the same handshake (0 if it "
    "completes, EALREADY only when the wait times out).  (On trio's non-blocking socket the "
    "kernel says EALREADY at once, which Python raises as BlockingIOError and trio takes "
    "for 'in progress': it waits for writability, which another task is doing — "
    "trio.BusyResourceError.)",
)
async def connect_while_connecting(env: Env) -> None:
    """One task's connect() waits (the listener's backlog is full); another task connects the
    same socket."""
    await _listener(env, AF_INET, 0)
    a = env.socket(AF_INET, SOCK_STREAM)
    await a.connect((LO4, env.p1))
    b = env.socket(AF_INET, SOCK_STREAM)

    async def first() -> None:
        # the step's connect, cut off, closes the socket (trio's rule): this one may then
        # end with ClosedResourceError, which is not what the case looks at
        with contextlib.suppress(OSError, trio.ClosedResourceError):
            await b.connect((LO4, env.p1))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await env.settle()
        await env.step("b.connect((LO, P1)) in a second task", b.connect((LO4, env.p1)))
        nursery.cancel_scope.cancel()


@case("connect", "TCP may connect to itself (a simultaneous open with itself).")
async def connect_self(env: Env) -> None:
    """A TCP socket bound to P1 connects to its own address, and talks to itself."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind((LO4, env.p1))
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("s.getpeername()", s.getpeername)
    await env.step("s.send(b'hi')", s.send(b"hi"))
    await env.step("s.recv(10)", s.recv(10))


@case("connect")
async def connect_ephemeral_source(env: Env) -> None:
    """An unbound TCP socket connects: its name is the loopback address and a new port."""
    await _listener(env, AF_INET6)
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.connect((LO6, P1))", s.connect((LO6, env.p1)))
    await env.step("s.getsockname()", s.getsockname)


@case("connect", "The source address is the bound one, even 127.0.0.2.")
async def connect_from_127_0_0_2(env: Env) -> None:
    """A client bound to 127.0.0.2 connects; the server names its peer."""
    lst = await _listener(env)
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind(("127.0.0.2", env.p2))
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("lst.accept()", lst.accept(), show=lambda r: r[1])


@case("connect", "A connect() is its own bind: the same 4-tuple twice is EADDRNOTAVAIL.")
async def connect_same_four_tuple(env: Env) -> None:
    """Two SO_REUSEADDR clients bound to the same port connect to the same server."""
    await _listener(env)
    a = env.socket(AF_INET, SOCK_STREAM)
    b = env.socket(AF_INET, SOCK_STREAM)
    for s in (a, b):
        s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        await s.bind((LO4, env.p2))
    await env.step("a.connect((LO, P1))", a.connect((LO4, env.p1)))
    await env.step("b.connect((LO, P1))", b.connect((LO4, env.p1)))


@case("connect", "trio resolves names with getaddrinfo() before connecting.")
async def connect_localhost_name(env: Env) -> None:
    """TCP connect() to ('localhost', P1)."""
    await _listener(env)
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect(('localhost', P1))", s.connect(("localhost", env.p1)))
    await env.step("s.getpeername()", s.getpeername)


# ==============================================================================================
# listen() and accept()
# ==============================================================================================


@case("listen")
async def listen_udp(env: Env) -> None:
    """listen() on a UDP socket."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.listen()", lambda: s.listen(8))


@case("listen")
async def accept_udp(env: Env) -> None:
    """accept() on a UDP socket."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await s.bind((LO6, env.p1))
    await env.step("s.accept()", s.accept())


@case("listen")
async def accept_not_listening(env: Env) -> None:
    """accept() on a bound TCP socket that does not listen."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind((LO4, env.p1))
    await env.step("s.accept()", s.accept())


@case("listen", "listen() on an unbound socket binds the wildcard address and a new port.")
async def listen_unbound(env: Env) -> None:
    """listen() on an unbound TCP socket."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.listen()", lambda: s.listen(8))
    await env.step("s.getsockname()", s.getsockname)


@case("listen", "Calling listen() again only changes the backlog.")
async def listen_twice(env: Env) -> None:
    """listen() twice."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind((LO4, env.p1))
    await env.step("s.listen(1)", lambda: s.listen(1))
    await env.step("s.listen(100)", lambda: s.listen(100))


@case("listen")
async def listen_after_connect(env: Env) -> None:
    """listen() on a connected TCP socket."""
    client, _ = await _tcp_pair(env)
    await env.step("client.listen()", lambda: client.listen(8))


@case("listen", "A negative backlog is taken as 0.")
async def listen_negative_backlog(env: Env) -> None:
    """listen(-1), then connect."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind((LO4, env.p1))
    await env.step("s.listen(-1)", lambda: s.listen(-1))
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("c.connect((LO, P1))", c.connect((LO4, env.p1)))


@case("listen")
async def accept_names_peer(env: Env) -> None:
    """accept() returns the connection and the peer's address; the names on both ends."""
    lst = await _listener(env)
    c = env.socket(AF_INET, SOCK_STREAM)
    await c.connect((LO4, env.p1))
    conn = await env.step("lst.accept()", lst.accept())
    if conn is not None:
        srv = conn[0]
        await env.step("srv.getsockname()", srv.getsockname)
        await env.step("srv.getpeername()", srv.getpeername)
        await env.step("c.getpeername()", c.getpeername)


@case("listen")
async def accept_nothing_pending(env: Env) -> None:
    """accept() with no connection pending waits."""
    lst = await _listener(env, AF_INET6)
    await env.step("lst.accept()", lst.accept())


@case("listen")
async def accept_closed(env: Env) -> None:
    """accept() on a closed listener."""
    lst = await _listener(env)
    lst.close()
    await env.step("lst.accept()", lst.accept())


@case("listen")
async def listen_closed(env: Env) -> None:
    """listen() on a closed socket."""
    s = env.socket(AF_INET, SOCK_STREAM)
    s.close()
    await env.step("s.listen()", lambda: s.listen(8))


@case("listen", "A dual-stack IPv6 listener names IPv4 peers as ::ffff:a.b.c.d.")
async def accept_v4_on_dual_stack_listener(env: Env) -> None:
    """An IPv6 listener on [::]:P1; an IPv4 client connects to 127.0.0.1:P1."""
    lst = env.socket(AF_INET6, SOCK_STREAM)
    await lst.bind(("::", env.p1))
    lst.listen(8)
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("c.connect((LO, P1))", c.connect((LO4, env.p1)))
    conn = await env.step("lst.accept()", lst.accept(), show=lambda r: r[1])
    if conn is not None:
        await env.step("srv.getsockname()", conn[0].getsockname)


@case("listen")
async def accept_v4_on_v6only_listener(env: Env) -> None:
    """An IPV6_V6ONLY listener on [::]:P1; an IPv4 client connects to 127.0.0.1:P1."""
    lst = env.socket(AF_INET6, SOCK_STREAM)
    lst.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await lst.bind(("::", env.p1))
    lst.listen(8)
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("c.connect((LO, P1))", c.connect((LO4, env.p1)))


@case("listen", "An accepted socket inherits the listener's options.")
async def accept_inherits_options(env: Env) -> None:
    """Set SO_RCVBUF, SO_KEEPALIVE and TCP_NODELAY on a listener; read them on the child."""
    lst = env.socket(AF_INET, SOCK_STREAM)
    lst.setsockopt(SOL_SOCKET, SO_RCVBUF, 20000)
    lst.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    lst.setsockopt(SOL_TCP, TCP_NODELAY, 1)
    await lst.bind((LO4, env.p1))
    lst.listen(8)
    c = env.socket(AF_INET, SOCK_STREAM)
    await c.connect((LO4, env.p1))
    srv = env.adopt((await lst.accept())[0])
    await env.step("srv.getsockopt(SOL_SOCKET, SO_RCVBUF)", lambda: srv.getsockopt(1, SO_RCVBUF))
    await env.step("srv.getsockopt(SOL_SOCKET, SO_KEEPALIVE)", lambda: srv.getsockopt(1, 9))
    await env.step("srv.getsockopt(SOL_TCP, TCP_NODELAY)", lambda: srv.getsockopt(6, 1))


@case(
    "listen",
    "shutdown(SHUT_RD) on a listener stops it (tcp_disconnect): it no longer listens.",
)
async def shutdown_listener_rd(env: Env) -> None:
    """shutdown(SHUT_RD) on a listener, then accept() and a client connect()."""
    lst = await _listener(env)
    await env.step("lst.shutdown(SHUT_RD)", lambda: lst.shutdown(SHUT_RD))
    await env.step("lst.getsockopt(SOL_SOCKET, SO_ACCEPTCONN)", lambda: lst.getsockopt(1, 30))
    await env.step("lst.accept()", lst.accept())
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("c.connect((LO, P1))", c.connect((LO4, env.p1)))


@case("listen")
async def shutdown_listener_wr(env: Env) -> None:
    """shutdown(SHUT_WR) on a listener."""
    lst = await _listener(env)
    await env.step("lst.shutdown(SHUT_WR)", lambda: lst.shutdown(SHUT_WR))
    await env.step("lst.getsockopt(SOL_SOCKET, SO_ACCEPTCONN)", lambda: lst.getsockopt(1, 30))


@case("listen", "Closing a listener resets connections nobody accepted.")
async def close_listener_with_pending(env: Env) -> None:
    """A client connects; the listener closes before accept(); the client reads."""
    lst = await _listener(env)
    c = env.socket(AF_INET, SOCK_STREAM)
    await env.step("c.connect((LO, P1))", c.connect((LO4, env.p1)))
    lst.close()
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.recv(10)", c.recv(10))


@case("listen")
async def recv_on_listener(env: Env) -> None:
    """recv() and send() on a listening socket."""
    lst = await _listener(env)
    await env.step("lst.recv(10)", lst.recv(10))
    await env.step("lst.send(b'x')", lst.send(b"x"))


# ==============================================================================================
# send() and recv()
# ==============================================================================================


@case(
    "io",
    "An unconnected TCP socket says EPIPE to send() (a stream that is not open), ENOTCONN to "
    "recv(); UDP says EDESTADDRREQ.",
)
async def send_before_connect(env: Env) -> None:
    """send() and recv() on new TCP and UDP sockets."""
    t = env.socket(AF_INET, SOCK_STREAM)
    u = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("tcp.send(b'x')", t.send(b"x"))
    await env.step("tcp.recv(10)", t.recv(10))
    await env.step("udp.send(b'x')", u.send(b"x"))
    await env.step("udp.recv(10)", u.recv(10))


@case(
    "io",
    "An unconnected TCP socket ignores sendto()'s address (no Fast Open asked for): EPIPE, "
    "as for send().",
)
async def sendto_unconnected_tcp(env: Env) -> None:
    """sendto() on an unconnected TCP socket, with a listener at the address."""
    await _listener(env)
    t = env.socket(AF_INET, SOCK_STREAM)
    await env.step("t.sendto(b'x', (LO, P1))", t.sendto(b"x", (LO4, env.p1)))


@case("io", "On a connected TCP socket the address of sendto() is ignored.")
async def sendto_connected_tcp(env: Env) -> None:
    """sendto() to some other address on a connected TCP socket."""
    c, s = await _tcp_pair(env)
    await env.step("c.sendto(b'x', (LO, P3))", c.sendto(b"x", (LO4, env.p3)))
    await env.step("s.recv(10)", s.recv(10))


@case("io")
async def send_after_shut_wr(env: Env) -> None:
    """shutdown(SHUT_WR), then send(); the peer reads EOF."""
    c, s = await _tcp_pair(env, AF_INET6)
    await env.step("c.shutdown(SHUT_WR)", lambda: c.shutdown(SHUT_WR))
    await env.step("c.send(b'x')", c.send(b"x"))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.send(b'back')", s.send(b"back"))
    await env.step("c.recv(10)", c.recv(10))


@case("io", "EOF is sticky: every recv() after the peer's FIN returns b''.")
async def recv_after_peer_close(env: Env) -> None:
    """The peer sends and closes; recv() three times."""
    c, s = await _tcp_pair(env)
    await s.send(b"bye")
    s.close()
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.recv(10)", c.recv(10))


@case("io", "After SHUT_RD, recv() returns b'' at once instead of waiting.")
async def recv_after_shut_rd(env: Env) -> None:
    """shutdown(SHUT_RD) then recv(), with nothing queued."""
    c, _ = await _tcp_pair(env)
    await env.step("c.shutdown(SHUT_RD)", lambda: c.shutdown(SHUT_RD))
    await env.step("c.recv(10)", c.recv(10))


@case("io", "Data that arrives after SHUT_RD is still queued and readable on Linux.")
async def recv_data_after_shut_rd(env: Env) -> None:
    """shutdown(SHUT_RD); the peer sends; recv()."""
    c, s = await _tcp_pair(env)
    c.shutdown(SHUT_RD)
    await env.step("s.send(b'late')", s.send(b"late"))
    await env.step("c.recv(10)", c.recv(10))


@case(
    "io",
    "MSG_DONTWAIT makes this one call non-blocking: EAGAIN.  (trio retries EAGAIN itself — "
    "it waits for readability and calls again — so recv(MSG_DONTWAIT) on trio's own "
    "sockets waits like a plain recv().)",
)
async def recv_dontwait_tcp(env: Env) -> None:
    """recv(MSG_DONTWAIT) on a connected TCP socket with nothing to read."""
    c, _ = await _tcp_pair(env)
    await env.step("c.recv(10, MSG_DONTWAIT)", c.recv(10, MSG_DONTWAIT))


@case("io", "As recv_dontwait_tcp.")
async def recv_dontwait_udp(env: Env) -> None:
    """recv(MSG_DONTWAIT) on a bound UDP socket with nothing to read."""
    a, _ = await _udp_pair(env, AF_INET6)
    await env.step("a.recv(10, MSG_DONTWAIT)", a.recv(10, MSG_DONTWAIT))


@case("io")
async def recv_blocks_tcp(env: Env) -> None:
    """recv() with nothing to read waits."""
    c, _ = await _tcp_pair(env)
    await env.step("c.recv(10)", c.recv(10))


@case("io")
async def recv_blocks_udp(env: Env) -> None:
    """recv() on a UDP socket with nothing to read waits."""
    a, _ = await _udp_pair(env)
    await env.step("a.recv(10)", a.recv(10))


@case("io", "MSG_PEEK leaves the bytes queued.")
async def msg_peek_tcp(env: Env) -> None:
    """send(b'hello'); recv(3, MSG_PEEK); recv(10)."""
    c, s = await _tcp_pair(env)
    await c.send(b"hello")
    await env.step("s.recv(3, MSG_PEEK)", s.recv(3, MSG_PEEK))
    await env.step("s.recv(10, MSG_PEEK)", s.recv(10, MSG_PEEK))
    await env.step("s.recv(10)", s.recv(10))


@case("io")
async def msg_peek_udp(env: Env) -> None:
    """A datagram peeked at, then read."""
    a, b = await _udp_pair(env)
    await a.send(b"hello")
    await env.step("b.recvfrom(3, MSG_PEEK)", b.recvfrom(3, MSG_PEEK))
    await env.step("b.recvfrom(10)", b.recvfrom(10))
    await env.step("b.recv(10)", b.recv(10))


@case(
    "io",
    "recv_into() with MSG_TRUNC returns the datagram's full length, larger than the buffer; "
    "the rest of the datagram is gone.",
)
async def msg_trunc_udp(env: Env) -> None:
    """A 10-byte datagram read into a 4-byte buffer with MSG_TRUNC."""
    a, b = await _udp_pair(env)
    await a.send(b"0123456789")
    await a.send(b"next")
    buf = bytearray(4)
    await env.step("b.recv_into(buf4, 4, MSG_TRUNC)", b.recv_into(buf, 4, MSG_TRUNC))
    env.note("buf4", buf)
    await env.step("b.recv(10)", b.recv(10))


@case("io", "recvmsg() says MSG_TRUNC in its flags when the datagram did not fit.")
async def recvmsg_trunc_flag_udp(env: Env) -> None:
    """A 10-byte datagram read with recvmsg(4)."""
    a, b = await _udp_pair(env, AF_INET6)
    await a.send(b"0123456789")
    await env.step("b.recvmsg(4)", b.recvmsg(4), show=lambda r: (r[0], r[2] & MSG_TRUNC, r[3]))


@case("io", "On TCP, MSG_TRUNC discards the bytes instead of copying them.")
async def msg_trunc_tcp(env: Env) -> None:
    """recv_into(buf, 3, MSG_TRUNC) on a stream holding b'hello'."""
    c, s = await _tcp_pair(env)
    await c.send(b"hello")
    buf = bytearray(b"....")
    await env.step("s.recv_into(buf, 3, MSG_TRUNC)", s.recv_into(buf, 3, MSG_TRUNC))
    env.note("buf", buf)
    await env.step("s.recv(10)", s.recv(10))


@case(
    "io",
    "MSG_WAITALL waits for all 6 bytes (the kernel's timeout would end it with the 3 it "
    "has).  (trio's sockets are non-blocking, and MSG_WAITALL on a non-blocking socket "
    "returns at once with what is there: b'abc'.)",
)
async def msg_waitall_partial(env: Env) -> None:
    """recv(6, MSG_WAITALL) with 3 bytes queued."""
    c, s = await _tcp_pair(env)
    await c.send(b"abc")
    await env.step("s.recv(6, MSG_WAITALL)", s.recv(6, MSG_WAITALL))


@case("io")
async def msg_waitall_full(env: Env) -> None:
    """recv(6, MSG_WAITALL) with 6 bytes queued in two sends."""
    c, s = await _tcp_pair(env)
    await c.send(b"abc")
    await c.send(b"def")
    await env.step("s.recv(6, MSG_WAITALL)", s.recv(6, MSG_WAITALL))


@case("io", "The peer's FIN ends a MSG_WAITALL read short; the next one says EOF at once.")
async def msg_waitall_eof(env: Env) -> None:
    """recv(6, MSG_WAITALL) twice with 3 bytes queued and then the peer's FIN."""
    c, s = await _tcp_pair(env)
    await c.send(b"abc")
    c.shutdown(SHUT_WR)
    await env.step("s.recv(6, MSG_WAITALL)", s.recv(6, MSG_WAITALL))
    await env.step("s.recv(6, MSG_WAITALL)", s.recv(6, MSG_WAITALL))


@case("io", "MSG_DONTWAIT wins over MSG_WAITALL: the read returns what is queued.")
async def msg_waitall_dontwait(env: Env) -> None:
    """recv(6, MSG_WAITALL | MSG_DONTWAIT) with 3 bytes queued, then with none."""
    c, s = await _tcp_pair(env)
    await c.send(b"abc")
    await env.step("s.recv(6, MSG_WAITALL | MSG_DONTWAIT)", s.recv(6, MSG_WAITALL | MSG_DONTWAIT))
    await env.step("s.recv(6, MSG_WAITALL | MSG_DONTWAIT)", s.recv(6, MSG_WAITALL | MSG_DONTWAIT))


@case("io", "MSG_DONTWAIT at EOF is EOF (b''), not EAGAIN.")
async def recv_dontwait_eof(env: Env) -> None:
    """The peer shuts down writing; recv(MSG_DONTWAIT) twice."""
    c, s = await _tcp_pair(env, AF_INET6)
    await c.send(b"last")
    c.shutdown(SHUT_WR)
    await env.step("s.recv(10, MSG_DONTWAIT)", s.recv(10, MSG_DONTWAIT))
    await env.step("s.recv(10, MSG_DONTWAIT)", s.recv(10, MSG_DONTWAIT))


@case("io", "A zero-length TCP send() sends nothing at all.")
async def send_zero_tcp(env: Env) -> None:
    """send(b'') on TCP; the peer reads without waiting."""
    c, s = await _tcp_pair(env)
    await env.step("c.send(b'')", c.send(b""))
    await env.step("s.recv(10)", s.recv(10))


@case("io", "A zero-length UDP datagram is a datagram: the reader gets b''.")
async def send_zero_udp(env: Env) -> None:
    """send(b'') on UDP; the peer reads."""
    a, b = await _udp_pair(env)
    await env.step("a.send(b'')", a.send(b""))
    await env.step("b.recvfrom(10)", b.recvfrom(10))


@case("io", "Python answers recv(0) with b'' itself, without a system call.")
async def recv_zero_tcp(env: Env) -> None:
    """recv(0) on a connected TCP socket."""
    c, _ = await _tcp_pair(env)
    await env.step("c.recv(0)", c.recv(0))


@case("io", "Python answers recv(0) without a system call, so the datagram stays queued.")
async def recv_zero_udp(env: Env) -> None:
    """recv(0) on UDP with a datagram queued, then recv(MSG_DONTWAIT)."""
    a, b = await _udp_pair(env)
    await a.send(b"gone")
    await env.step("b.recv(0)", b.recv(0))
    await env.step("b.recv(10)", b.recv(10))


@case("io")
async def recv_negative(env: Env) -> None:
    """recv(-1)."""
    c, _ = await _tcp_pair(env)
    await env.step("c.recv(-1)", lambda: c.recv(-1))


@case(
    "io",
    "A read-only buffer is refused before anything is read: the datagram is still there.",
)
async def recv_into_readonly_udp(env: Env) -> None:
    """recv_into(b'....'), then recv()."""
    a, b = await _udp_pair(env)
    await a.send(b"data")
    await env.step("b.recv_into(b'....')", lambda: b.recv_into(b"...."))
    await env.step("b.recv(10)", b.recv(10))


@case("io")
async def recv_into_readonly_tcp(env: Env) -> None:
    """recv_into(b'....') on TCP, then recv()."""
    c, s = await _tcp_pair(env)
    await c.send(b"data")
    await env.step("s.recv_into(b'....')", lambda: s.recv_into(b"...."))
    await env.step("s.recv(10)", s.recv(10))


@case("io")
async def recv_into_nbytes_too_big(env: Env) -> None:
    """recv_into(bytearray(4), 10)."""
    c, s = await _tcp_pair(env)
    await c.send(b"data")
    await env.step("s.recv_into(bytearray(4), 10)", lambda: s.recv_into(bytearray(4), 10))
    await env.step("s.recv(10)", s.recv(10))


@case("io")
async def send_str(env: Env) -> None:
    """send('text') — a str, not bytes."""
    c, _ = await _tcp_pair(env)
    await env.step("c.send('text')", lambda: c.send("text"))  # type: ignore[arg-type]


@case("io")
async def send_memoryview(env: Env) -> None:
    """send(memoryview) and send(bytearray)."""
    c, s = await _tcp_pair(env)
    await env.step("c.send(memoryview(b'abc'))", c.send(memoryview(b"abc")))
    await env.step("c.send(bytearray(b'de'))", c.send(bytearray(b"de")))
    await env.step("s.recv(10)", s.recv(10))


@case(
    "io",
    "trio lets one task at a time wait to read a socket (the kernel would let both sleep; "
    "netsim follows trio).",
)
async def recv_two_tasks(env: Env) -> None:
    """One task waits in recv(); another task calls recv() on the same socket."""
    c, _ = await _tcp_pair(env)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(c.recv, 10)
        await env.settle()
        await env.step("c.recv(10) in a second task", c.recv(10))
        nursery.cancel_scope.cancel()


@case(
    "io",
    "Closing a socket wakes the task waiting in recv() with trio.ClosedResourceError "
    "(trio's rule, which netsim follows; a blocking close() from another thread would leave "
    "the recv() asleep).",
)
async def close_while_recv_waits(env: Env) -> None:
    """One task waits in recv(); another closes the socket."""
    c, _ = await _tcp_pair(env, AF_INET6)

    async def reader() -> None:
        await env.step("task: c.recv(10)", c.recv(10))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await env.settle()
        await env.step("c.close()", c.close)


@case("io", "UDP has no urgent data: send(MSG_OOB) is EOPNOTSUPP; recv() ignores the flag.")
async def msg_oob_udp(env: Env) -> None:
    """send(MSG_OOB) and recv(MSG_OOB) on UDP."""
    a, b = await _udp_pair(env)
    await env.step("a.send(b'x', MSG_OOB)", a.send(b"x", MSG_OOB))
    await a.send(b"y")
    await env.step("b.recv(10, MSG_OOB)", b.recv(10, MSG_OOB))


@case(
    "io",
    "The last byte of a MSG_OOB send is urgent: a normal recv() stops before it and never "
    "returns it; recv(MSG_OOB) returns it once.",
)
async def msg_oob_tcp(env: Env) -> None:
    """send(b'ab', MSG_OOB); the peer reads normally, then with MSG_OOB."""
    c, s = await _tcp_pair(env)
    await env.step("c.send(b'ab', MSG_OOB)", c.send(b"ab", MSG_OOB))
    await c.send(b"cd")
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(1, MSG_OOB)", s.recv(1, MSG_OOB))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(1, MSG_OOB)", s.recv(1, MSG_OOB))


@case("io", "With SO_OOBINLINE the urgent byte stays in the stream; recv(MSG_OOB) is EINVAL.")
async def msg_oob_tcp_inline(env: Env) -> None:
    """As msg_oob_tcp, with SO_OOBINLINE on the receiver."""
    c, s = await _tcp_pair(env)
    s.setsockopt(SOL_SOCKET, SO_OOBINLINE, 1)
    await env.step("c.send(b'ab', MSG_OOB)", c.send(b"ab", MSG_OOB))
    await c.send(b"cd")
    await env.step("s.recv(1, MSG_OOB)", s.recv(1, MSG_OOB))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(10)", s.recv(10))


@case("io", "No urgent data is EINVAL, not EAGAIN.")
async def recv_oob_none(env: Env) -> None:
    """recv(MSG_OOB) on a connection that has had no urgent data."""
    c, s = await _tcp_pair(env)
    await c.send(b"plain")
    await env.step("s.recv(1, MSG_OOB)", s.recv(1, MSG_OOB))
    await env.step("s.recv(10)", s.recv(10))


@case("io", "A reset is reported once (ECONNRESET); then recv() says EOF and send() EPIPE.")
async def recv_after_reset(env: Env) -> None:
    """The peer closes with unread data (an RST); recv(), recv(), send()."""
    c, s = await _tcp_pair(env)
    await c.send(b"unread")
    s.close()
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.send(b'x')", c.send(b"x"))


@case(
    "io",
    "Writing to a peer that has closed succeeds once; its RST makes the next send() EPIPE.",
)
async def send_after_peer_close(env: Env) -> None:
    """The peer closes (FIN); send() twice, then recv()."""
    c, s = await _tcp_pair(env)
    s.close()
    await env.step("c.send(b'x')", c.send(b"x"))
    await env.step("c.send(b'y')", c.send(b"y"))
    await env.step("c.recv(10)", c.recv(10))


@case(
    "io",
    "A connected UDP socket learns of ICMP port unreachable: the next call says ECONNREFUSED, "
    "once.",
)
async def udp_connected_port_unreachable(env: Env) -> None:
    """A UDP socket connected to a port nobody has sends, then reads."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await s.connect((LO4, env.p1))
    await env.step("s.send(b'x')", s.send(b"x"))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(10)", s.recv(10))


@case("io", "An unconnected UDP socket is not told about ICMP errors (without IP_RECVERR).")
async def udp_unconnected_port_unreachable(env: Env) -> None:
    """An unconnected UDP socket sends to a port nobody has, then reads."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await s.bind((LO6, env.p2))
    await env.step("s.sendto(b'x', (LO6, P1))", s.sendto(b"x", (LO6, env.p1)))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.sendto(b'x', (LO6, P1))", s.sendto(b"x", (LO6, env.p1)))


@case("io")
async def recv_closed(env: Env) -> None:
    """recv() and send() on a closed socket."""
    c, _ = await _tcp_pair(env)
    c.close()
    await env.step("c.recv(10)", c.recv(10))
    await env.step("c.send(b'x')", c.send(b"x"))


@case("io")
async def sendmsg_buffers_udp(env: Env) -> None:
    """sendmsg() of three buffers is one datagram."""
    a, b = await _udp_pair(env)
    await env.step("a.sendmsg([b'ab', b'', b'cd'])", a.sendmsg([b"ab", b"", b"cd"]))
    await env.step("b.recv(10)", b.recv(10))


@case("io", "IP_TTL as a control message sets the TTL of one datagram.")
async def sendmsg_cmsg_ip_ttl(env: Env) -> None:
    """sendmsg() with (SOL_IP, IP_TTL, 5) and with TTL 0."""
    a, b = await _udp_pair(env)
    await env.step("a.sendmsg([b'x'], [(SOL_IP, IP_TTL, int 5)])", a.sendmsg(
        [b"x"], [(SOL_IP, IP_TTL, _int(5))]
    ))  # fmt: skip
    await env.step("b.recv(10)", b.recv(10))
    await env.step("a.sendmsg([b'x'], [(SOL_IP, IP_TTL, int 0)])", a.sendmsg(
        [b"x"], [(SOL_IP, IP_TTL, _int(0))]
    ))  # fmt: skip


@case("io", "Control messages of a level the protocol does not know are skipped.")
async def sendmsg_cmsg_unknown_level(env: Env) -> None:
    """sendmsg() on UDP with a control message at level 999."""
    a, b = await _udp_pair(env)
    await env.step("a.sendmsg([b'x'], [(999, 1, int 0)])", a.sendmsg([b"x"], [(999, 1, _int(0))]))
    await env.step("b.recv(10)", b.recv(10))


@case("io", "TCP's sendmsg() ignores IP-level control messages.")
async def sendmsg_cmsg_tcp(env: Env) -> None:
    """sendmsg() on TCP with (SOL_IP, IP_TTL, 5)."""
    c, s = await _tcp_pair(env)
    await env.step("c.sendmsg([b'x'], [(SOL_IP, IP_TTL, int 5)])", c.sendmsg(
        [b"x"], [(SOL_IP, IP_TTL, _int(5))]
    ))  # fmt: skip
    await env.step("s.recv(10)", s.recv(10))


@case("io", "A UDP_SEGMENT control message splits one send into several datagrams.")
async def sendmsg_cmsg_udp_segment(env: Env) -> None:
    """sendmsg() of 2500 bytes with (SOL_UDP, UDP_SEGMENT, 1000)."""
    a, b = await _udp_pair(env)
    await env.step("a.sendmsg([2500 bytes], [(SOL_UDP, UDP_SEGMENT, u16 1000)])", a.sendmsg(
        [b"z" * 2500], [(SOL_UDP, UDP_SEGMENT, struct.pack("H", 1000))]
    ))  # fmt: skip
    for _ in range(3):
        await env.step("len(b.recv(4000))", b.recv(4000), show=len)


@case("io", "MSG_MORE holds a UDP datagram open until a send without it.")
async def msg_more_udp(env: Env) -> None:
    """send(b'ab', MSG_MORE), send(b'cd'); the peer reads one datagram."""
    a, b = await _udp_pair(env)
    await env.step("a.send(b'ab', MSG_MORE)", a.send(b"ab", 0x8000))
    await env.step("b.recv(10)", b.recv(10))
    await env.step("a.send(b'cd')", a.send(b"cd"))
    await env.step("b.recv(10)", b.recv(10))


@case("io", "A TCP socket has no source address to report: recvfrom()'s address is None.")
async def recvfrom_tcp(env: Env) -> None:
    """recvfrom() and recvmsg() on a connected TCP socket."""
    c, s = await _tcp_pair(env)
    await c.send(b"abc")
    await env.step("s.recvfrom(2)", s.recvfrom(2))
    await env.step("s.recvmsg(10)", s.recvmsg(10), show=lambda r: (r[0], r[1], r[3]))


@case(
    "io",
    "A connection reset before accept() is still accepted; the first recv() reports the reset.",
)
async def accept_after_peer_reset(env: Env) -> None:
    """A client connects and aborts (SO_LINGER 0) before the listener accepts."""
    lst = await _listener(env)
    c = env.socket(AF_INET, SOCK_STREAM)
    await c.connect((LO4, env.p1))
    c.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    conn = await env.step("lst.accept()", lst.accept(), show=lambda r: r[1])
    if conn is not None:
        srv = conn[0]
        await env.step("srv.recv(10)", srv.recv(10))
        await env.step("srv.recv(10)", srv.recv(10))


# ==============================================================================================
# shutdown() and close()
# ==============================================================================================


@case("close")
async def shutdown_unconnected_tcp(env: Env) -> None:
    """shutdown() of a new TCP socket."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.shutdown(SHUT_RDWR)", lambda: s.shutdown(SHUT_RDWR))
    await env.step("s.shutdown(SHUT_WR)", lambda: s.shutdown(SHUT_WR))


@case("close")
async def shutdown_unconnected_udp(env: Env) -> None:
    """shutdown() of a bound, unconnected UDP socket."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await s.bind((LO4, env.p1))
    await env.step("s.shutdown(SHUT_RD)", lambda: s.shutdown(SHUT_RD))


@case(
    "close",
    "After SHUT_RD a blocking UDP recv() returns b'' (__skb_wait_for_more_packets sees "
    "RCV_SHUTDOWN).  (A non-blocking recvmsg keeps saying EAGAIN while poll() says "
    "readable, so on trio's own sockets recv() waits forever.)",
)
async def shutdown_connected_udp(env: Env) -> None:
    """shutdown(SHUT_RDWR) on a connected UDP socket, then recv() and send()."""
    a, _ = await _udp_pair(env)
    await env.step("a.shutdown(SHUT_RDWR)", lambda: a.shutdown(SHUT_RDWR))
    await env.step("a.recv(10)", a.recv(10))
    await env.step("a.send(b'x')", a.send(b"x"))


@case("close", "Datagrams queued before SHUT_RD are still read; then recv() says EOF.")
async def shutdown_rd_udp_queued(env: Env) -> None:
    """A datagram arrives; shutdown(SHUT_RD); recv() twice."""
    a, b = await _udp_pair(env, AF_INET6)
    await a.send(b"queued")
    await env.step("b.shutdown(SHUT_RD)", lambda: b.shutdown(SHUT_RD))
    await env.step("b.recv(10)", b.recv(10))
    await env.step("b.recv(10)", b.recv(10))


@case("close")
async def shutdown_bad_how(env: Env) -> None:
    """shutdown(3) and shutdown(-1) on a connected socket."""
    c, _ = await _tcp_pair(env)
    await env.step("c.shutdown(3)", lambda: c.shutdown(3))
    await env.step("c.shutdown(-1)", lambda: c.shutdown(-1))


@case("close", "Shutting down twice is fine.")
async def shutdown_twice(env: Env) -> None:
    """shutdown(SHUT_WR) twice, then SHUT_RDWR."""
    c, s = await _tcp_pair(env)
    await env.step("c.shutdown(SHUT_WR)", lambda: c.shutdown(SHUT_WR))
    await env.step("c.shutdown(SHUT_WR)", lambda: c.shutdown(SHUT_WR))
    await env.step("c.shutdown(SHUT_RDWR)", lambda: c.shutdown(SHUT_RDWR))
    await env.step("s.recv(10)", s.recv(10))


@case("close")
async def shutdown_rdwr_then_io(env: Env) -> None:
    """shutdown(SHUT_RDWR), then send() and recv()."""
    c, _ = await _tcp_pair(env, AF_INET6)
    c.shutdown(SHUT_RDWR)
    await env.step("c.send(b'x')", c.send(b"x"))
    await env.step("c.recv(10)", c.recv(10))


@case("close", "close() is idempotent; a closed socket's fileno() is -1.")
async def close_twice(env: Env) -> None:
    """close() twice; fileno()."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.close()", s.close)
    await env.step("s.close()", s.close)
    await env.step("s.fileno()", s.fileno)


@case("close")
async def closed_socket_calls(env: Env) -> None:
    """getsockname(), getpeername(), setsockopt(), getsockopt(), shutdown() after close()."""
    s = env.socket(AF_INET, SOCK_STREAM)
    s.close()
    await env.step("s.getsockname()", s.getsockname)
    await env.step("s.getpeername()", s.getpeername)
    await env.step("s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)", lambda: s.setsockopt(1, 2, 1))
    await env.step("s.getsockopt(SOL_SOCKET, SO_REUSEADDR)", lambda: s.getsockopt(1, 2))
    await env.step("s.shutdown(SHUT_RDWR)", lambda: s.shutdown(SHUT_RDWR))


@case(
    "close",
    "SO_LINGER {on, 0 s}: close() aborts the connection with an RST, and the peer sees "
    "ECONNRESET instead of EOF.",
)
async def so_linger_zero_close(env: Env) -> None:
    """SO_LINGER (1, 0) on the client, close(); the server reads."""
    c, s = await _tcp_pair(env)
    await env.step("c.setsockopt(SOL_SOCKET, SO_LINGER, (1, 0))", lambda: c.setsockopt(
        SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0)
    ))  # fmt: skip
    c.close()
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(10)", s.recv(10))


@case("close", "With unread data, close() sends an RST instead of a FIN.")
async def close_with_unread_data(env: Env) -> None:
    """The server closes without reading; the client reads."""
    c, s = await _tcp_pair(env, AF_INET6)
    await c.send(b"unread")
    s.close()
    await env.step("c.recv(10)", c.recv(10))


@case("close")
async def close_after_shut_wr_peer_reads(env: Env) -> None:
    """The client sends, shuts down writing; the server reads all and answers."""
    c, s = await _tcp_pair(env)
    await c.send(b"req")
    c.shutdown(SHUT_WR)
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.recv(10)", s.recv(10))
    await env.step("s.send(b'resp')", s.send(b"resp"))
    await env.step("c.recv(10)", c.recv(10))


# ==============================================================================================
# SOL_SOCKET options
# ==============================================================================================


@case("sol_socket", "The kernel doubles SO_SNDBUF/SO_RCVBUF for its bookkeeping.")
async def so_sndbuf_doubles(env: Env) -> None:
    """Set SO_SNDBUF and SO_RCVBUF to 10000; read them back."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_SNDBUF, 10000)", lambda: s.setsockopt(1, SO_SNDBUF, 10000))
    await env.step("getsockopt(SO_SNDBUF)", lambda: s.getsockopt(1, SO_SNDBUF))
    await env.step("setsockopt(SO_RCVBUF, 10000)", lambda: s.setsockopt(1, SO_RCVBUF, 10000))
    await env.step("getsockopt(SO_RCVBUF)", lambda: s.getsockopt(1, SO_RCVBUF))


@case("sol_socket", "Tiny buffers are raised to the minimums (4608 and 2304 bytes).")
async def so_buf_minimums(env: Env) -> None:
    """Set SO_SNDBUF and SO_RCVBUF to 1 and to 0; read them back."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    for val in (1, 0):
        await env.step(f"setsockopt(SO_SNDBUF, {val})", s.setsockopt, 1, 7, val)
        await env.step("getsockopt(SO_SNDBUF)", lambda: s.getsockopt(1, SO_SNDBUF))
        await env.step(f"setsockopt(SO_RCVBUF, {val})", s.setsockopt, 1, 8, val)
        await env.step("getsockopt(SO_RCVBUF)", lambda: s.getsockopt(1, SO_RCVBUF))


@case(
    "sol_socket",
    "Values above net.core.wmem_max/rmem_max are capped there (then doubled); a negative "
    "value is a huge unsigned one, capped too.",
)
async def so_buf_caps(env: Env) -> None:
    """Set SO_SNDBUF to 2**30 and SO_RCVBUF to -1; read them back."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("setsockopt(SO_SNDBUF, 1 << 30)", lambda: s.setsockopt(1, 7, 1 << 30))
    await env.step("getsockopt(SO_SNDBUF)", lambda: s.getsockopt(1, SO_SNDBUF))
    await env.step("setsockopt(SO_RCVBUF, -1)", lambda: s.setsockopt(1, 8, -1))
    await env.step("getsockopt(SO_RCVBUF)", lambda: s.getsockopt(1, SO_RCVBUF))


@case("sol_socket", "The FORCE variants skip the cap (CAP_NET_ADMIN).")
async def so_buf_force(env: Env) -> None:
    """SO_SNDBUFFORCE and SO_RCVBUFFORCE of 8 MiB."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("setsockopt(SO_SNDBUFFORCE, 8 MiB)", lambda: s.setsockopt(
        1, SO_SNDBUFFORCE, 8 << 20
    ))  # fmt: skip
    await env.step("getsockopt(SO_SNDBUF)", lambda: s.getsockopt(1, SO_SNDBUF))
    await env.step("setsockopt(SO_RCVBUFFORCE, 8 MiB)", lambda: s.setsockopt(
        1, SO_RCVBUFFORCE, 8 << 20
    ))  # fmt: skip
    await env.step("getsockopt(SO_RCVBUF)", lambda: s.getsockopt(1, SO_RCVBUF))


@case("sol_socket", "TCP's defaults come from tcp_wmem/tcp_rmem, UDP's from wmem/rmem_default.")
async def so_buf_defaults(env: Env) -> None:
    """SO_SNDBUF and SO_RCVBUF of new TCP and UDP sockets."""
    t = env.socket(AF_INET, SOCK_STREAM)
    u = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("tcp.getsockopt(SO_SNDBUF)", lambda: t.getsockopt(1, SO_SNDBUF))
    await env.step("tcp.getsockopt(SO_RCVBUF)", lambda: t.getsockopt(1, SO_RCVBUF))
    await env.step("udp.getsockopt(SO_SNDBUF)", lambda: u.getsockopt(1, SO_SNDBUF))
    await env.step("udp.getsockopt(SO_RCVBUF)", lambda: u.getsockopt(1, SO_RCVBUF))


@case("sol_socket", "Boolean options read back as 0 or 1, whatever non-zero value was set.")
async def so_bool_roundtrip(env: Env) -> None:
    """Set SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE to 5; read them back."""
    s = env.socket(AF_INET, SOCK_STREAM)
    for name, opt in (
        ("SO_REUSEADDR", SO_REUSEADDR),
        ("SO_REUSEPORT", SO_REUSEPORT),
        ("SO_KEEPALIVE", SO_KEEPALIVE),
        ("SO_BROADCAST", SO_BROADCAST),
        ("SO_OOBINLINE", SO_OOBINLINE),
    ):
        await env.step(f"getsockopt({name})", s.getsockopt, 1, opt)
        await env.step(f"setsockopt({name}, 5)", s.setsockopt, 1, opt, 5)
        await env.step(f"getsockopt({name})", s.getsockopt, 1, opt)


@case("sol_socket")
async def so_identity(env: Env) -> None:
    """SO_TYPE, SO_PROTOCOL, SO_DOMAIN of a TCP/IPv4 and a UDP/IPv6 socket."""
    t = env.socket(AF_INET, SOCK_STREAM)
    u = env.socket(AF_INET6, SOCK_DGRAM)
    for who, s in (("tcp", t), ("udp", u)):
        for name, opt in (("SO_TYPE", SO_TYPE), ("SO_PROTOCOL", SO_PROTOCOL), ("SO_DOMAIN", 39)):
            await env.step(f"{who}.getsockopt({name})", s.getsockopt, 1, opt)


@case("sol_socket", "Read-only options cannot be set.")
async def so_readonly_set(env: Env) -> None:
    """setsockopt() of SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ERROR, SO_ACCEPTCONN."""
    s = env.socket(AF_INET, SOCK_STREAM)
    for name, opt in (
        ("SO_TYPE", SO_TYPE),
        ("SO_PROTOCOL", SO_PROTOCOL),
        ("SO_DOMAIN", SO_DOMAIN),
        ("SO_ERROR", SO_ERROR),
        ("SO_ACCEPTCONN", SO_ACCEPTCONN),
    ):
        await env.step(f"setsockopt({name}, 1)", s.setsockopt, 1, opt, 1)


@case("sol_socket")
async def so_acceptconn(env: Env) -> None:
    """SO_ACCEPTCONN before and after listen()."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await s.bind((LO4, env.p1))
    await env.step("getsockopt(SO_ACCEPTCONN)", lambda: s.getsockopt(1, SO_ACCEPTCONN))
    s.listen(8)
    await env.step("getsockopt(SO_ACCEPTCONN)", lambda: s.getsockopt(1, SO_ACCEPTCONN))


@case("sol_socket", "SO_ERROR reads and clears the pending error.")
async def so_error_udp(env: Env) -> None:
    """A connected UDP socket gets ICMP port unreachable; read SO_ERROR twice."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await s.connect((LO4, env.p1))
    await s.send(b"x")
    await env.step("getsockopt(SO_ERROR)", lambda: s.getsockopt(1, SO_ERROR))
    await env.step("getsockopt(SO_ERROR)", lambda: s.getsockopt(1, SO_ERROR))


@case("sol_socket", "SO_ERROR takes the reset's error, so recv() then only says EOF.")
async def so_error_after_reset(env: Env) -> None:
    """The peer resets the connection; read SO_ERROR, then recv()."""
    c, s = await _tcp_pair(env)
    await c.send(b"unread")
    s.close()
    await env.step("c.getsockopt(SO_ERROR)", lambda: c.getsockopt(1, SO_ERROR))
    await env.step("c.getsockopt(SO_ERROR)", lambda: c.getsockopt(1, SO_ERROR))
    await env.step("c.recv(10)", c.recv(10))


@case("sol_socket", "A refused connect() consumed its error: SO_ERROR is 0 afterwards.")
async def so_error_after_refused(env: Env) -> None:
    """SO_ERROR after a refused connect()."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("s.connect((LO, P1))", s.connect((LO4, env.p1)))
    await env.step("getsockopt(SO_ERROR)", lambda: s.getsockopt(1, SO_ERROR))


@case(
    "sol_socket",
    "TCP caps SO_RCVLOWAT at half of tcp_rmem[2] and turns 0 into 1; a negative value is "
    "INT_MAX before the cap.",
)
async def so_rcvlowat_tcp(env: Env) -> None:
    """SO_RCVLOWAT of 0, -1 and 2**30 on TCP."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(SO_RCVLOWAT)", lambda: s.getsockopt(1, SO_RCVLOWAT))
    for val in (0, -1, 1 << 30, 100):
        await env.step(f"setsockopt(SO_RCVLOWAT, {val})", s.setsockopt, 1, 18, val)
        await env.step("getsockopt(SO_RCVLOWAT)", lambda: s.getsockopt(1, SO_RCVLOWAT))


@case("sol_socket", "UDP keeps SO_RCVLOWAT as given (0 becomes 1, negative INT_MAX).")
async def so_rcvlowat_udp(env: Env) -> None:
    """SO_RCVLOWAT of 0, -1 and 2**30 on UDP."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    for val in (0, -1, 1 << 30):
        await env.step(f"setsockopt(SO_RCVLOWAT, {val})", s.setsockopt, 1, 18, val)
        await env.step("getsockopt(SO_RCVLOWAT)", lambda: s.getsockopt(1, SO_RCVLOWAT))


@case("sol_socket", "SO_SNDLOWAT can be read (1) but not set.")
async def so_sndlowat(env: Env) -> None:
    """Get and set SO_SNDLOWAT."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(SO_SNDLOWAT)", lambda: s.getsockopt(1, SO_SNDLOWAT))
    await env.step("setsockopt(SO_SNDLOWAT, 10)", lambda: s.setsockopt(1, SO_SNDLOWAT, 10))


@case("sol_socket", "SO_LINGER is a struct linger {int onoff; int seconds}.")
async def so_linger_roundtrip(env: Env) -> None:
    """Read SO_LINGER, set it to (1, 5), read it again."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(SO_LINGER, 8)", lambda: s.getsockopt(1, SO_LINGER, 8))
    await env.step("setsockopt(SO_LINGER, (1, 5))", lambda: s.setsockopt(
        1, SO_LINGER, struct.pack("ii", 1, 5)
    ))  # fmt: skip
    await env.step("getsockopt(SO_LINGER, 8)", lambda: s.getsockopt(1, SO_LINGER, 8))
    await env.step("getsockopt(SO_LINGER)", lambda: s.getsockopt(1, SO_LINGER))


@case("sol_socket", "SO_LINGER needs the whole struct.")
async def so_linger_short(env: Env) -> None:
    """setsockopt(SO_LINGER) with an int."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_LINGER, 1)", lambda: s.setsockopt(1, SO_LINGER, 1))


@case("sol_socket")
async def so_unknown_option(env: Env) -> None:
    """Get and set SOL_SOCKET option 9999."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SOL_SOCKET, 9999, 1)", lambda: s.setsockopt(1, 9999, 1))
    await env.step("getsockopt(SOL_SOCKET, 9999)", lambda: s.getsockopt(1, 9999))


@case("sol_socket", "An int option needs 4 bytes: a shorter value is EINVAL.")
async def so_short_value(env: Env) -> None:
    """setsockopt(SO_REUSEADDR) with a 2-byte and a 0-byte value."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_REUSEADDR, b'\\x01\\x00')", lambda: s.setsockopt(1, 2, b"\1\0"))
    await env.step("setsockopt(SO_REUSEADDR, b'')", lambda: s.setsockopt(1, 2, b""))
    await env.step("getsockopt(SO_REUSEADDR)", lambda: s.getsockopt(1, 2))


@case("sol_socket", "A longer value is fine: the kernel reads the first 4 bytes.")
async def so_long_value(env: Env) -> None:
    """setsockopt(SO_KEEPALIVE) with an 8-byte value."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_KEEPALIVE, pack('q', 1))", lambda: s.setsockopt(
        1, SO_KEEPALIVE, struct.pack("q", 1)
    ))  # fmt: skip
    await env.step("getsockopt(SO_KEEPALIVE)", lambda: s.getsockopt(1, SO_KEEPALIVE))


@case("sol_socket", "Python checks value types and the C int range itself.")
async def so_bad_value_types(env: Env) -> None:
    """setsockopt() with a str, a float and 2**31."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_REUSEADDR, 'x')", lambda: s.setsockopt(1, 2, "x"))  # type: ignore[call-overload]
    await env.step("setsockopt(SO_REUSEADDR, 1.0)", lambda: s.setsockopt(1, 2, 1.0))  # type: ignore[call-overload]
    await env.step("setsockopt(SO_REUSEADDR, 1 << 31)", lambda: s.setsockopt(1, 2, 1 << 31))


@case(
    "sol_socket",
    "setsockopt(level, opt, None, optlen) passes a NULL pointer: EFAULT.",
)
async def so_value_none(env: Env) -> None:
    """setsockopt(SO_REUSEADDR, None, 4)."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_REUSEADDR, None, 4)", lambda: s.setsockopt(1, 2, None, 4))


@case(
    "sol_socket",
    "A short buffer gets that many bytes of the int; buflen 0 means 'an int' to Python, and "
    "a negative one is Python's own OSError (no errno).",
)
async def so_getsockopt_buflen(env: Env) -> None:
    """getsockopt(SO_SNDBUF) with buflen 2, 4, 8, 0 and -1."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    s.setsockopt(1, SO_SNDBUF, 10000)
    for n in (2, 4, 8, 0, -1):
        await env.step(f"getsockopt(SO_SNDBUF, {n})", s.getsockopt, 1, SO_SNDBUF, n)


@case("sol_socket")
async def so_priority(env: Env) -> None:
    """Set SO_PRIORITY to 6 and read it back."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SO_PRIORITY, 6)", lambda: s.setsockopt(1, SO_PRIORITY, 6))
    await env.step("getsockopt(SO_PRIORITY)", lambda: s.getsockopt(1, SO_PRIORITY))


@case("sol_socket")
async def so_dontroute(env: Env) -> None:
    """Set SO_DONTROUTE and read it back."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("setsockopt(SO_DONTROUTE, 1)", lambda: s.setsockopt(1, SO_DONTROUTE, 1))
    await env.step("getsockopt(SO_DONTROUTE)", lambda: s.getsockopt(1, SO_DONTROUTE))


@case(
    "sol_socket",
    "An unknown level goes to the protocol, which passes it down to IP: setsockopt() says "
    "ENOPROTOOPT, but getsockopt() on an AF_INET socket says EOPNOTSUPP (ip_getsockopt's "
    "answer for a level not its own).",
)
async def unknown_level(env: Env) -> None:
    """getsockopt() and setsockopt() at level 999 on TCP and UDP, IPv4 and IPv6."""
    socks = {
        f"{kind}{v}": env.socket(fam, type_)
        for kind, type_ in (("tcp", SOCK_STREAM), ("udp", SOCK_DGRAM))
        for v, fam in FAMILIES.items()
    }
    for who, s in socks.items():
        await env.step(f"{who}.getsockopt(999, 1)", s.getsockopt, 999, 1)
        await env.step(f"{who}.setsockopt(999, 1, 1)", s.setsockopt, 999, 1, 1)


@case(
    "sol_socket",
    "Every level reads an int option as 4 bytes (only SOL_IP's small options take a char).",
)
async def short_values_each_level(env: Env) -> None:
    """A 1-byte value for SO_KEEPALIVE, TCP_NODELAY, UDP_CORK, IPV6_V6ONLY, IP_TOS."""
    t = env.socket(AF_INET6, SOCK_STREAM)
    u = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("tcp.setsockopt(SOL_SOCKET, SO_KEEPALIVE, b'\\x01')", lambda: t.setsockopt(
        1, SO_KEEPALIVE, b"\x01"
    ))  # fmt: skip
    await env.step("tcp.setsockopt(SOL_TCP, TCP_NODELAY, b'\\x01')", lambda: t.setsockopt(
        6, TCP_NODELAY, b"\x01"
    ))  # fmt: skip
    await env.step("udp.setsockopt(SOL_UDP, UDP_CORK, b'\\x01')", lambda: u.setsockopt(
        17, UDP_CORK, b"\x01"
    ))  # fmt: skip
    await env.step("udp.setsockopt(SOL_IPV6, IPV6_V6ONLY, b'\\x01')", lambda: u.setsockopt(
        41, IPV6_V6ONLY, b"\x01"
    ))  # fmt: skip
    await env.step("udp.setsockopt(SOL_IP, IP_TOS, b'\\x10')", lambda: u.setsockopt(
        0, IP_TOS, b"\x10"
    ))  # fmt: skip
    await env.step("udp.getsockopt(SOL_IP, IP_TOS)", lambda: u.getsockopt(0, IP_TOS))


# ==============================================================================================
# SOL_IP and SOL_IPV6
# ==============================================================================================


@case("sol_ip", "IP_TTL takes 1..255, or -1 for the default (64).")
async def ip_ttl_values(env: Env) -> None:
    """IP_TTL of 0, 256, -2, 255, -1."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("getsockopt(IP_TTL)", lambda: s.getsockopt(SOL_IP, IP_TTL))
    for val in (0, 256, -2, 255, -1):
        await env.step(f"setsockopt(IP_TTL, {val})", s.setsockopt, 0, IP_TTL, val)
        await env.step("getsockopt(IP_TTL)", lambda: s.getsockopt(SOL_IP, IP_TTL))


@case("sol_ip", "Small IP options read a 1..3-byte value as one unsigned char.")
async def ip_ttl_char_value(env: Env) -> None:
    """IP_TTL set with b'\\x05' and with b''; IP_TTL read with buflen 1."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(IP_TTL, b'\\x05')", lambda: s.setsockopt(0, IP_TTL, b"\x05"))
    await env.step("getsockopt(IP_TTL)", lambda: s.getsockopt(SOL_IP, IP_TTL))
    await env.step("getsockopt(IP_TTL, 1)", lambda: s.getsockopt(SOL_IP, IP_TTL, 1))
    await env.step("setsockopt(IP_TTL, b'')", lambda: s.setsockopt(0, IP_TTL, b""))


@case("sol_ip", "TCP keeps the ECN bits of IP_TOS to itself; the value is a byte.")
async def ip_tos_tcp(env: Env) -> None:
    """IP_TOS of 0x1ff and 0x2b on TCP."""
    s = env.socket(AF_INET, SOCK_STREAM)
    for val in (0x1FF, 0x2B):
        await env.step(f"setsockopt(IP_TOS, {val:#x})", s.setsockopt, 0, IP_TOS, val)
        await env.step("getsockopt(IP_TOS)", lambda: s.getsockopt(SOL_IP, IP_TOS))


@case("sol_ip")
async def ip_tos_udp(env: Env) -> None:
    """IP_TOS of 0x1ff and 0x2b on UDP."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    for val in (0x1FF, 0x2B):
        await env.step(f"setsockopt(IP_TOS, {val:#x})", s.setsockopt, 0, IP_TOS, val)
        await env.step("getsockopt(IP_TOS)", lambda: s.getsockopt(SOL_IP, IP_TOS))


@case(
    "sol_ip",
    "IP_MTU needs a route: ENOTCONN until the socket is connected; IPv4 caps lo's MTU of "
    "65536 at 65535 (IPV6_MTU says 65536).",
)
async def ip_mtu(env: Env) -> None:
    """IP_MTU before and after connect()."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("getsockopt(IP_MTU)", lambda: s.getsockopt(SOL_IP, IP_MTU))
    await s.connect((LO4, env.p1))
    await env.step("getsockopt(IP_MTU)", lambda: s.getsockopt(SOL_IP, IP_MTU))


@case("sol_ip")
async def ipv6_mtu(env: Env) -> None:
    """IPV6_MTU before and after connect()."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("getsockopt(IPV6_MTU)", lambda: s.getsockopt(SOL_IPV6, IPV6_MTU))
    await s.connect((LO6, env.p1))
    await env.step("getsockopt(IPV6_MTU)", lambda: s.getsockopt(SOL_IPV6, IPV6_MTU))


@case("sol_ip")
async def ip_mtu_discover(env: Env) -> None:
    """IP_MTU_DISCOVER of 6 (out of range) and 2 (IP_PMTUDISC_DO)."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("getsockopt(IP_MTU_DISCOVER)", lambda: s.getsockopt(0, IP_MTU_DISCOVER))
    await env.step("setsockopt(IP_MTU_DISCOVER, 6)", lambda: s.setsockopt(0, IP_MTU_DISCOVER, 6))
    await env.step("setsockopt(IP_MTU_DISCOVER, 2)", lambda: s.setsockopt(0, IP_MTU_DISCOVER, 2))
    await env.step("getsockopt(IP_MTU_DISCOVER)", lambda: s.getsockopt(0, IP_MTU_DISCOVER))


@case("sol_ip")
async def ip_recverr(env: Env) -> None:
    """IP_RECVERR set to 7, read back."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("setsockopt(IP_RECVERR, 7)", lambda: s.setsockopt(0, IP_RECVERR, 7))
    await env.step("getsockopt(IP_RECVERR)", lambda: s.getsockopt(0, IP_RECVERR))


@case(
    "sol_ip",
    "An AF_INET socket has no SOL_IPV6 options: ENOPROTOOPT, and EOPNOTSUPP from getsockopt().",
)
async def sol_ipv6_on_inet(env: Env) -> None:
    """IPV6_V6ONLY and IPV6_UNICAST_HOPS on AF_INET sockets."""
    t = env.socket(AF_INET, SOCK_STREAM)
    u = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("tcp.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)", lambda: t.setsockopt(41, 26, 1))
    await env.step("tcp.getsockopt(SOL_IPV6, IPV6_V6ONLY)", lambda: t.getsockopt(41, 26))
    await env.step("udp.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 5)", lambda: u.setsockopt(
        41, IPV6_UNICAST_HOPS, 5
    ))  # fmt: skip


@case("sol_ip", "An AF_INET6 socket has the SOL_IP options too (for IPv4-mapped traffic).")
async def sol_ip_on_inet6(env: Env) -> None:
    """IP_TTL and IP_TOS on an AF_INET6 socket."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("getsockopt(IP_TTL)", lambda: s.getsockopt(SOL_IP, IP_TTL))
    await env.step("setsockopt(IP_TTL, 9)", lambda: s.setsockopt(SOL_IP, IP_TTL, 9))
    await env.step("getsockopt(IP_TTL)", lambda: s.getsockopt(SOL_IP, IP_TTL))
    await env.step("setsockopt(IP_TOS, 0x10)", lambda: s.setsockopt(SOL_IP, IP_TOS, 0x10))
    await env.step("getsockopt(IP_TOS)", lambda: s.getsockopt(SOL_IP, IP_TOS))


@case("sol_ip", "IPV6_UNICAST_HOPS takes -1..255; 0 is a valid hop limit and reads back as 0.")
async def ipv6_unicast_hops(env: Env) -> None:
    """IPV6_UNICAST_HOPS of 256, -2, 0, -1, 255."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("getsockopt(IPV6_UNICAST_HOPS)", lambda: s.getsockopt(41, IPV6_UNICAST_HOPS))
    for val in (256, -2, 0, -1, 255):
        await env.step(
            f"setsockopt(IPV6_UNICAST_HOPS, {val})", s.setsockopt, 41, IPV6_UNICAST_HOPS, val
        )
        await env.step("getsockopt(IPV6_UNICAST_HOPS)", lambda: s.getsockopt(41, 16))


@case("sol_ip")
async def ipv6_tclass(env: Env) -> None:
    """IPV6_TCLASS of 0x20 and -1 (the default), and 256."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    for val in (0x20, 256, -1):
        await env.step(f"setsockopt(IPV6_TCLASS, {val})", s.setsockopt, 41, IPV6_TCLASS, val)
        await env.step("getsockopt(IPV6_TCLASS)", lambda: s.getsockopt(41, IPV6_TCLASS))


@case("sol_ip")
async def ipv6_dontfrag(env: Env) -> None:
    """IPV6_DONTFRAG set to 3, read back."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("setsockopt(IPV6_DONTFRAG, 3)", lambda: s.setsockopt(41, IPV6_DONTFRAG, 3))
    await env.step("getsockopt(IPV6_DONTFRAG)", lambda: s.getsockopt(41, IPV6_DONTFRAG))


@case(
    "sol_ip",
    "IPV6_AUTOFLOWLABEL reads what net.ipv6.auto_flowlabels makes the default (1: on) until "
    "it is set; as IPV6_DONTFRAG it takes a value of any length, a short one as 0.  IPv4 "
    "sockets have no SOL_IPV6.",
)
async def ipv6_autoflowlabel(env: Env) -> None:
    """IPV6_AUTOFLOWLABEL (70) read on UDP and TCP, set to 0, b'\\x01' and 5; IPV6_DONTFRAG
    set to b'\\x01'; IPV6_AUTOFLOWLABEL on an AF_INET socket."""
    for type_ in (SOCK_DGRAM, SOCK_STREAM):
        s = env.socket(AF_INET6, type_)
        await env.step("getsockopt(IPV6_AUTOFLOWLABEL)", s.getsockopt, 41, 70)
        for val in (0, b"\x01", 5):
            await env.step(f"setsockopt(IPV6_AUTOFLOWLABEL, {val!r})", s.setsockopt, 41, 70, val)
            await env.step("getsockopt(IPV6_AUTOFLOWLABEL)", s.getsockopt, 41, 70)
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("setsockopt(IPV6_DONTFRAG, 1)", s.setsockopt, 41, IPV6_DONTFRAG, 1)
    await env.step("setsockopt(IPV6_DONTFRAG, b'\\x01')", s.setsockopt, 41, IPV6_DONTFRAG, b"\x01")
    await env.step("getsockopt(IPV6_DONTFRAG)", s.getsockopt, 41, IPV6_DONTFRAG)
    v4 = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("v4.setsockopt(IPV6_AUTOFLOWLABEL, 1)", v4.setsockopt, 41, 70, 1)
    await env.step("v4.getsockopt(IPV6_AUTOFLOWLABEL)", v4.getsockopt, 41, 70)


@case("sol_ip", "IPV6_V6ONLY can only change before bind().")
async def ipv6_v6only_after_bind(env: Env) -> None:
    """Set IPV6_V6ONLY after bind()."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    await s.bind(("::", env.p1))
    await env.step("setsockopt(IPV6_V6ONLY, 1)", lambda: s.setsockopt(41, IPV6_V6ONLY, 1))
    await env.step("getsockopt(IPV6_V6ONLY)", lambda: s.getsockopt(41, IPV6_V6ONLY))


@case(
    "sol_ip",
    "Binding a specific IPv6 address makes the socket IPv6-only: IPV6_V6ONLY reads 1 afterwards.",
)
async def ipv6_v6only_after_specific_bind(env: Env) -> None:
    """IPV6_V6ONLY before and after bind() to ::1, and after bind() to ::ffff:127.0.0.1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    m = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.getsockopt(IPV6_V6ONLY)", lambda: s.getsockopt(41, IPV6_V6ONLY))
    await s.bind((LO6, env.p1))
    await env.step("s.getsockopt(IPV6_V6ONLY)", lambda: s.getsockopt(41, IPV6_V6ONLY))
    await m.bind((MAPPED_LO, env.p2))
    await env.step("m.getsockopt(IPV6_V6ONLY)", lambda: m.getsockopt(41, IPV6_V6ONLY))


# ==============================================================================================
# SOL_TCP and SOL_UDP
# ==============================================================================================


@case("sol_tcp", "TCP_MAXSEG takes 0 (no limit) or 88..32767.")
async def tcp_maxseg_bounds(env: Env) -> None:
    """TCP_MAXSEG of 87, 88, 32767, 32768, -1, 0 on an unconnected socket."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(TCP_MAXSEG)", lambda: s.getsockopt(6, TCP_MAXSEG))
    for val in (87, 88, 32767, 32768, -1, 0):
        await env.step(f"setsockopt(TCP_MAXSEG, {val})", s.setsockopt, 6, 2, val)
        await env.step("getsockopt(TCP_MAXSEG)", lambda: s.getsockopt(6, TCP_MAXSEG))


@case(
    "sol_tcp",
    "On a connection TCP_MAXSEG reads the current MSS — bounded to half the largest window the "
    "peer offered, so 32741 on loopback rather than 65483.",
)
async def tcp_maxseg_connected(env: Env) -> None:
    """TCP_MAXSEG on both ends of a connection, IPv4 and with a user MSS of 1000."""
    c, s = await _tcp_pair(env)
    await env.step("c.getsockopt(TCP_MAXSEG)", lambda: c.getsockopt(6, TCP_MAXSEG))
    await env.step("s.getsockopt(TCP_MAXSEG)", lambda: s.getsockopt(6, TCP_MAXSEG))
    d = env.socket(AF_INET, SOCK_STREAM)
    d.setsockopt(6, TCP_MAXSEG, 1000)
    lst = env.socket(AF_INET, SOCK_STREAM)
    await lst.bind((LO4, env.p2))
    lst.listen(8)
    await d.connect((LO4, env.p2))
    await env.step("d.getsockopt(TCP_MAXSEG)", lambda: d.getsockopt(6, TCP_MAXSEG))


@case("sol_tcp")
async def tcp_maxseg_v6(env: Env) -> None:
    """TCP_MAXSEG of an IPv6 connection over loopback."""
    c, _ = await _tcp_pair(env, AF_INET6)
    await env.step("c.getsockopt(TCP_MAXSEG)", lambda: c.getsockopt(6, TCP_MAXSEG))


@case("sol_tcp")
async def tcp_nodelay_cork_roundtrip(env: Env) -> None:
    """TCP_NODELAY and TCP_CORK set to 5 and back to 0."""
    s = env.socket(AF_INET6, SOCK_STREAM)
    for name, opt in (("TCP_NODELAY", TCP_NODELAY), ("TCP_CORK", TCP_CORK)):
        await env.step(f"getsockopt({name})", s.getsockopt, 6, opt)
        await env.step(f"setsockopt({name}, 5)", s.setsockopt, 6, opt, 5)
        await env.step(f"getsockopt({name})", s.getsockopt, 6, opt)
        await env.step(f"setsockopt({name}, 0)", s.setsockopt, 6, opt, 0)
        await env.step(f"getsockopt({name})", s.getsockopt, 6, opt)


@case("sol_tcp", "TCP_NOTSENT_LOWAT takes any int; -1 reads back as -1 (an unsigned 'no limit').")
async def tcp_notsent_lowat(env: Env) -> None:
    """TCP_NOTSENT_LOWAT of 16384, -1 and 0."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(TCP_NOTSENT_LOWAT)", lambda: s.getsockopt(6, TCP_NOTSENT_LOWAT))
    for val in (16384, -1, 0):
        await env.step(
            f"setsockopt(TCP_NOTSENT_LOWAT, {val})", s.setsockopt, 6, TCP_NOTSENT_LOWAT, val
        )
        await env.step("getsockopt(TCP_NOTSENT_LOWAT)", lambda: s.getsockopt(6, 25))


def _tcp_info_fields(raw: bytes) -> tuple[int, ...]:
    """tcpi_state, tcpi_ca_state, tcpi_retransmits, tcpi_options, tcpi_snd_wscale/rcv_wscale
    (one byte), tcpi_snd_mss, tcpi_rcv_mss."""
    if len(raw) < 24:
        return (len(raw),)
    state, ca_state, retrans, _probes, _backoff, options, wscale = raw[:7]
    snd_mss, rcv_mss = struct.unpack_from("II", raw, 16)
    return (len(raw), state, ca_state, retrans, options, wscale, snd_mss, rcv_mss)


@case(
    "sol_tcp",
    "TCP_INFO is a struct: with a buffer, getsockopt() returns as much of it as fits "
    "(len, tcpi_state, ca_state, retransmits, options, wscales, snd_mss, rcv_mss shown); "
    "without one, Python reads its first 4 bytes as an int.",
)
async def tcp_info(env: Env) -> None:
    """TCP_INFO of a new socket, a connected one, with buflen 512, 8 and none."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("new.getsockopt(TCP_INFO, 512)", lambda: s.getsockopt(6, TCP_INFO, 512),
                   show=_tcp_info_fields)  # fmt: skip
    c, _ = await _tcp_pair(env)
    await env.step("c.getsockopt(TCP_INFO, 512)", lambda: c.getsockopt(6, TCP_INFO, 512),
                   show=_tcp_info_fields)  # fmt: skip
    await env.step("c.getsockopt(TCP_INFO, 8)", lambda: c.getsockopt(6, TCP_INFO, 8))
    await env.step("c.getsockopt(TCP_INFO)", lambda: c.getsockopt(6, TCP_INFO))


@case("sol_tcp", "UDP has no TCP_INFO.")
async def tcp_info_udp(env: Env) -> None:
    """TCP_INFO on a UDP socket."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("getsockopt(SOL_TCP, TCP_INFO, 512)", lambda: s.getsockopt(6, TCP_INFO, 512))


@case("sol_tcp")
async def tcp_keepidle(env: Env) -> None:
    """TCP_KEEPIDLE of 0, 32768, 10."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("getsockopt(TCP_KEEPIDLE)", lambda: s.getsockopt(6, TCP_KEEPIDLE))
    for val in (0, 32768, 10):
        await env.step(f"setsockopt(TCP_KEEPIDLE, {val})", s.setsockopt, 6, TCP_KEEPIDLE, val)
    await env.step("getsockopt(TCP_KEEPIDLE)", lambda: s.getsockopt(6, TCP_KEEPIDLE))


@case(
    "sol_tcp",
    "Each TCP timer and counter option has its own range: KEEPINTVL 1..32767 s, KEEPCNT "
    "1..127, SYNCNT 1..127, LINGER2 any int (negative: no FIN_WAIT2 at all), DEFER_ACCEPT "
    "rounded to whole retransmission periods, USER_TIMEOUT >= 0, WINDOW_CLAMP 0 only when "
    "closed (otherwise at least SOCK_MIN_RCVBUF / 2), QUICKACK a flag.",
)
async def tcp_timer_options(env: Env) -> None:
    """Defaults of TCP_KEEPINTVL, KEEPCNT, SYNCNT, LINGER2, DEFER_ACCEPT, USER_TIMEOUT,
    WINDOW_CLAMP, QUICKACK; then out-of-range and in-range values, read back."""
    s = env.socket(AF_INET, SOCK_STREAM)
    options = (
        ("TCP_KEEPINTVL", 5, (0, 32768, 75)),
        ("TCP_KEEPCNT", 6, (0, 128, 9)),
        ("TCP_SYNCNT", 7, (0, 128, 3)),
        ("TCP_LINGER2", 8, (-1, 0, 100000)),
        ("TCP_DEFER_ACCEPT", 9, (-1, 7, 30)),
        ("TCP_USER_TIMEOUT", 18, (-1, 5000)),
        ("TCP_WINDOW_CLAMP", 10, (-1, 100, 0)),
        ("TCP_QUICKACK", 12, (5, 0)),
    )
    for name, opt, values in options:
        await env.step(f"getsockopt({name})", s.getsockopt, 6, opt)
        for val in values:
            await env.step(f"setsockopt({name}, {val})", s.setsockopt, 6, opt, val)
            await env.step(f"getsockopt({name})", s.getsockopt, 6, opt)


@case(
    "sol_socket",
    "SO_DEBUG and SO_MARK need CAP_NET_ADMIN (the recorder runs as root); SO_NO_CHECK is a "
    "flag on UDP; SO_BSDCOMPAT is accepted and ignored (getsockopt reads 0).",
)
async def so_misc_flags(env: Env) -> None:
    """SO_DEBUG, SO_MARK, SO_NO_CHECK (11), SO_BSDCOMPAT (14) set and read back on UDP."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    for name, opt, val in (
        ("SO_DEBUG", 1, 3),
        ("SO_MARK", 36, 77),
        ("SO_NO_CHECK", 11, 2),
        ("SO_BSDCOMPAT", 14, 1),
    ):
        await env.step(f"getsockopt({name})", s.getsockopt, 1, opt)
        await env.step(f"setsockopt({name}, {val})", s.setsockopt, 1, opt, val)
        await env.step(f"getsockopt({name})", s.getsockopt, 1, opt)


@case(
    "sol_socket",
    "SO_RESERVE_MEM needs the socket's memory cgroup (sock_reserve_memory): without socket "
    "memcg accounting it is EOPNOTSUPP, after the EINVAL for a negative size; it reads 0.",
)
async def so_reserve_mem(env: Env) -> None:
    """SO_RESERVE_MEM (73) on TCP and UDP: read, reserve 4096, reserve -1."""
    for type_ in (SOCK_STREAM, SOCK_DGRAM):
        s = env.socket(AF_INET, type_)
        await env.step("getsockopt(SO_RESERVE_MEM)", s.getsockopt, 1, 73)
        await env.step("setsockopt(SO_RESERVE_MEM, 4096)", s.setsockopt, 1, 73, 4096)
        await env.step("setsockopt(SO_RESERVE_MEM, -1)", s.setsockopt, 1, 73, -1)


@case(
    "sol_socket",
    "SO_TXREHASH is TCP's (EOPNOTSUPP elsewhere): 0 or 1, or -1 for net.core.txrehash (1).",
)
async def so_txrehash(env: Env) -> None:
    """SO_TXREHASH (74) on TCP: read, set 0, 2, -2, -1; on UDP: read, set 1."""
    t = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("getsockopt(SO_TXREHASH)", t.getsockopt, 1, 74)
    for val in (0, 2, -2, -1):
        await env.step(f"setsockopt(SO_TXREHASH, {val})", t.setsockopt, 1, 74, val)
        await env.step("getsockopt(SO_TXREHASH)", t.getsockopt, 1, 74)
    u = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("udp.getsockopt(SO_TXREHASH)", u.getsockopt, 1, 74)
    await env.step("udp.setsockopt(SO_TXREHASH, 1)", u.setsockopt, 1, 74, 1)


@case("sol_tcp", "TCP_CONGESTION is a string option; an unknown algorithm is ENOENT.")
async def tcp_congestion(env: Env) -> None:
    """Read TCP_CONGESTION; set 'reno' and 'nope'."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(TCP_CONGESTION, b'reno')", lambda: s.setsockopt(
        6, TCP_CONGESTION, b"reno"
    ))  # fmt: skip
    await env.step("getsockopt(TCP_CONGESTION, 16)", lambda: s.getsockopt(6, TCP_CONGESTION, 16),
                   show=lambda b: b.rstrip(b"\0"))  # fmt: skip
    await env.step("setsockopt(TCP_CONGESTION, b'nope')", lambda: s.setsockopt(
        6, TCP_CONGESTION, b"nope"
    ))  # fmt: skip


@case("sol_tcp")
async def tcp_unknown_option(env: Env) -> None:
    """Get and set SOL_TCP option 9999."""
    s = env.socket(AF_INET, SOCK_STREAM)
    await env.step("setsockopt(SOL_TCP, 9999, 1)", lambda: s.setsockopt(6, 9999, 1))
    await env.step("getsockopt(SOL_TCP, 9999)", lambda: s.getsockopt(6, 9999))


@case(
    "sol_tcp",
    "TCP options on a UDP socket, UDP options on a TCP socket: ENOPROTOOPT — but getsockopt() "
    "on an AF_INET socket says EOPNOTSUPP (see unknown_level).",
)
async def wrong_protocol_level(env: Env) -> None:
    """TCP_NODELAY on UDP; UDP_CORK on TCP."""
    u = env.socket(AF_INET, SOCK_DGRAM)
    t = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("udp.setsockopt(SOL_TCP, TCP_NODELAY, 1)", lambda: u.setsockopt(6, 1, 1))
    await env.step("udp.getsockopt(SOL_TCP, TCP_NODELAY)", lambda: u.getsockopt(6, 1))
    await env.step("tcp.setsockopt(SOL_UDP, UDP_CORK, 1)", lambda: t.setsockopt(17, UDP_CORK, 1))
    await env.step("tcp.getsockopt(SOL_UDP, UDP_CORK)", lambda: t.getsockopt(17, UDP_CORK))


@case("sol_tcp")
async def udp_cork_roundtrip(env: Env) -> None:
    """UDP_CORK set to 5 and back to 0."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("getsockopt(UDP_CORK)", lambda: s.getsockopt(17, UDP_CORK))
    await env.step("setsockopt(UDP_CORK, 5)", lambda: s.setsockopt(17, UDP_CORK, 5))
    await env.step("getsockopt(UDP_CORK)", lambda: s.getsockopt(17, UDP_CORK))
    await env.step("setsockopt(UDP_CORK, 0)", lambda: s.setsockopt(17, UDP_CORK, 0))
    await env.step("getsockopt(UDP_CORK)", lambda: s.getsockopt(17, UDP_CORK))


@case("sol_tcp", "UDP_SEGMENT takes 0..65535.")
async def udp_segment_bounds(env: Env) -> None:
    """UDP_SEGMENT of -1, 65536, 65535, 1400."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    for val in (-1, 65536, 65535, 1400):
        await env.step(f"setsockopt(UDP_SEGMENT, {val})", s.setsockopt, 17, UDP_SEGMENT, val)
        await env.step("getsockopt(UDP_SEGMENT)", lambda: s.getsockopt(17, UDP_SEGMENT))


@case("sol_tcp", "One GSO send makes at most 128 segments (UDP_MAX_SEGMENTS): 129 is EINVAL.")
async def udp_segment_too_many(env: Env) -> None:
    """UDP_SEGMENT 100 and a 12900-byte send (129 segments), then 12800 bytes."""
    a, b = await _udp_pair(env)
    a.setsockopt(17, UDP_SEGMENT, 100)
    await env.step("a.send(12900 bytes)", a.send(b"q" * 12900))
    await env.step("a.send(12800 bytes)", a.send(b"q" * 12800))
    await env.step("len(b.recv(200))", b.recv(200), show=len)


@case("sol_tcp", "A send no larger than UDP_SEGMENT is one plain datagram.")
async def udp_segment_larger_than_datagram(env: Env) -> None:
    """UDP_SEGMENT 1000 and a 600-byte send: one datagram, no GSO."""
    a, b = await _udp_pair(env)
    a.setsockopt(17, UDP_SEGMENT, 1000)
    await env.step("a.send(600 bytes)", a.send(b"q" * 600))
    await env.step("len(b.recv(2000))", b.recv(2000), show=len)


@case("sol_tcp")
async def udp_gro_roundtrip(env: Env) -> None:
    """UDP_GRO set to 1, read back."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("setsockopt(UDP_GRO, 1)", lambda: s.setsockopt(17, UDP_GRO, 1))
    await env.step("getsockopt(UDP_GRO)", lambda: s.getsockopt(17, UDP_GRO))


@case("sol_tcp")
async def udp_unknown_option(env: Env) -> None:
    """Get and set SOL_UDP option 9999."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("setsockopt(SOL_UDP, 9999, 1)", lambda: s.setsockopt(17, 9999, 1))
    await env.step("getsockopt(SOL_UDP, 9999)", lambda: s.getsockopt(17, 9999))


# ==============================================================================================
# UDP datagrams
# ==============================================================================================


@case(
    "udp",
    "The largest UDP/IPv4 payload is 65507 bytes (65535 less the IP and UDP headers).",
)
async def udp_max_v4(env: Env) -> None:
    """sendto() of 65507 and 65508 bytes over IPv4; the reader gets the first."""
    a, b = await _udp_pair(env)
    await env.step("a.send(65507 bytes)", a.send(b"m" * 65507))
    await env.step("a.send(65508 bytes)", a.send(b"m" * 65508))
    await env.step("len(b.recv(70000))", b.recv(70000), show=len)


@case("udp", "Over IPv6 the limit is 65527 bytes (the payload length excludes the IPv6 header).")
async def udp_max_v6(env: Env) -> None:
    """sendto() of 65527 and 65528 bytes over IPv6."""
    a, b = await _udp_pair(env, AF_INET6)
    await env.step("a.send(65527 bytes)", a.send(b"m" * 65527))
    await env.step("a.send(65528 bytes)", a.send(b"m" * 65528))
    await env.step("len(b.recv(70000))", b.recv(70000), show=len)


@case("udp", "To an IPv4-mapped peer, the IPv4 limit applies.")
async def udp_max_mapped(env: Env) -> None:
    """An AF_INET6 socket sends 65507 and 65508 bytes to ::ffff:127.0.0.1."""
    b = env.socket(AF_INET, SOCK_DGRAM)
    await b.bind((LO4, env.p2))
    a = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step(
        "a.sendto(65507 bytes, (MAPPED, P2))", a.sendto(b"m" * 65507, (MAPPED_LO, env.p2))
    )
    await env.step(
        "a.sendto(65508 bytes, (MAPPED, P2))", a.sendto(b"m" * 65508, (MAPPED_LO, env.p2))
    )
    await env.step("len(b.recv(70000))", b.recv(70000), show=len)


@case("udp")
async def udp_sendto_port_zero(env: Env) -> None:
    """sendto() to port 0, IPv4 and IPv6."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("a.sendto(b'x', (LO, 0))", a.sendto(b"x", (LO4, 0)))
    await env.step("b.sendto(b'x', (LO6, 0))", b.sendto(b"x", (LO6, 0)))


@case(
    "udp",
    "255.255.255.255 has no route on a host with only lo, with or without SO_BROADCAST "
    "(udp_subnet_broadcast shows the SO_BROADCAST check).",
)
async def udp_broadcast(env: Env) -> None:
    """sendto() 255.255.255.255 without and with SO_BROADCAST (a host with only lo)."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.sendto(b'x', ('255.255.255.255', P1))", s.sendto(
        b"x", ("255.255.255.255", env.p1)
    ))  # fmt: skip
    s.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    await env.step("s.sendto(b'x', ('255.255.255.255', P1))", s.sendto(
        b"x", ("255.255.255.255", env.p1)
    ))  # fmt: skip


@case(
    "udp",
    "lo's subnet broadcast 127.255.255.255 has a route: without SO_BROADCAST sending is "
    "EACCES; with it the datagram reaches sockets bound to the wildcard.",
)
async def udp_subnet_broadcast(env: Env) -> None:
    """sendto() 127.255.255.255 without and with SO_BROADCAST; a wildcard socket reads."""
    r = env.socket(AF_INET, SOCK_DGRAM)
    await r.bind(("0.0.0.0", env.p1))
    s = env.socket(AF_INET, SOCK_DGRAM)
    await s.bind((LO4, env.p2))
    await env.step("s.sendto(b'x', ('127.255.255.255', P1))", s.sendto(
        b"x", ("127.255.255.255", env.p1)
    ))  # fmt: skip
    s.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    await env.step("s.sendto(b'y', ('127.255.255.255', P1))", s.sendto(
        b"y", ("127.255.255.255", env.p1)
    ))  # fmt: skip
    await env.step("r.recvfrom(10)", r.recvfrom(10))


@case("udp", "trio's '<broadcast>' is 255.255.255.255.")
async def udp_broadcast_name(env: Env) -> None:
    """sendto() ('<broadcast>', P1) without SO_BROADCAST."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.sendto(b'x', ('<broadcast>', P1))", s.sendto(b"x", ("<broadcast>", env.p1)))


@case("udp")
async def udp_sendto_multicast(env: Env) -> None:
    """sendto() 224.0.0.1 on a host with only lo."""
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.sendto(b'x', ('224.0.0.1', P1))", s.sendto(b"x", ("224.0.0.1", env.p1)))


@case("udp", "Datagram boundaries hold: one recv() is one datagram.")
async def udp_boundaries(env: Env) -> None:
    """Two datagrams; recv(100) twice."""
    a, b = await _udp_pair(env, AF_INET6)
    await a.send(b"one")
    await a.send(b"two")
    await env.step("b.recv(100)", b.recv(100))
    await env.step("b.recvfrom(100)", b.recvfrom(100))


@case("udp")
async def udp_recvfrom_into(env: Env) -> None:
    """recvfrom_into() a bytearray."""
    a, b = await _udp_pair(env)
    await a.send(b"abc")
    buf = bytearray(8)
    await env.step("b.recvfrom_into(buf8)", b.recvfrom_into(buf))
    env.note("buf8", buf)


@case("udp", "A connected UDP socket may still sendto() another address.")
async def udp_sendto_on_connected(env: Env) -> None:
    """a is connected to b; a sends to c on P3."""
    a, _b = await _udp_pair(env)
    c = env.socket(AF_INET, SOCK_DGRAM)
    await c.bind((LO4, env.p3))
    await env.step("a.sendto(b'x', (LO, P3))", a.sendto(b"x", (LO4, env.p3)))
    await env.step("c.recvfrom(10)", c.recvfrom(10))


@case("udp", "A connected UDP socket only receives from its peer.")
async def udp_connected_filters(env: Env) -> None:
    """b is connected to a; c sends to b; a sends to b."""
    a, b = await _udp_pair(env)
    c = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("c.sendto(b'stranger', (LO, P2))", c.sendto(b"stranger", (LO4, env.p2)))
    await env.step("a.send(b'peer')", a.send(b"peer"))
    await env.step("b.recvfrom(10)", b.recvfrom(10))


@case("udp", "A send autobinds the socket to the wildcard address and a new port.")
async def udp_autobind(env: Env) -> None:
    """An unbound UDP socket sends; getsockname() before and after."""
    b = env.socket(AF_INET, SOCK_DGRAM)
    await b.bind((LO4, env.p2))
    a = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("a.getsockname()", a.getsockname)
    await env.step("a.sendto(b'x', (LO, P2))", a.sendto(b"x", (LO4, env.p2)))
    await env.step("a.getsockname()", a.getsockname)
    await env.step("b.recvfrom(10)", b.recvfrom(10))


@case("udp")
async def udp_sendto_unroutable(env: Env) -> None:
    """sendto() 203.0.113.7 and 2001:db8::1 on a host with only lo."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    b = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("a.sendto(b'x', ('203.0.113.7', P1))", a.sendto(b"x", ("203.0.113.7", env.p1)))
    await env.step("b.sendto(b'x', ('2001:db8::1', P1))", b.sendto(b"x", ("2001:db8::1", env.p1)))


@case("udp")
async def udp_sendto_bad_address(env: Env) -> None:
    """sendto() with a 3-tuple on AF_INET, and with no address on an unconnected socket."""
    a = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("a.sendto(b'x', (LO, P1, 0))", lambda: a.sendto(b"x", (LO4, env.p1, 0)))
    await env.step("a.send(b'x')", a.send(b"x"))


@case("udp", "A datagram bigger than the receive buffer cannot be queued at all.")
async def udp_rcvbuf_small(env: Env) -> None:
    """The receiver's SO_RCVBUF is the minimum; a 60000-byte datagram and a 100-byte one."""
    a, b = await _udp_pair(env)
    b.setsockopt(SOL_SOCKET, SO_RCVBUF, 0)
    await env.step("a.send(60000 bytes)", a.send(b"r" * 60000))
    await env.step("a.send(100 bytes)", a.send(b"r" * 100))
    await env.step("len(b.recv(70000))", b.recv(70000), show=len)
    await env.step("b.recv(10)", b.recv(10))


# ==============================================================================================
# IPv6 dual stack
# ==============================================================================================


@case("dualstack", "IPV6_V6ONLY forbids IPv4-mapped destinations.")
async def v6only_udp_sendto_mapped(env: Env) -> None:
    """An IPV6_V6ONLY UDP socket sends to ::ffff:127.0.0.1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    s.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await env.step("s.sendto(b'x', ('::ffff:127.0.0.1', P1))", s.sendto(b"x", (MAPPED_LO, env.p1)))


@case("dualstack")
async def v6only_tcp_connect_mapped(env: Env) -> None:
    """An IPV6_V6ONLY TCP socket connects to ::ffff:127.0.0.1."""
    await _listener(env)
    s = env.socket(AF_INET6, SOCK_STREAM)
    s.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await env.step("s.connect(('::ffff:127.0.0.1', P1))", s.connect((MAPPED_LO, env.p1)))


@case("dualstack")
async def v6only_udp_connect_mapped(env: Env) -> None:
    """An IPV6_V6ONLY UDP socket connects to ::ffff:127.0.0.1."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    s.setsockopt(SOL_IPV6, IPV6_V6ONLY, 1)
    await env.step("s.connect(('::ffff:127.0.0.1', P1))", s.connect((MAPPED_LO, env.p1)))


@case("dualstack", "An AF_INET6 socket talks IPv4 through ::ffff:a.b.c.d.")
async def mapped_tcp_connect(env: Env) -> None:
    """An AF_INET6 client connects to an IPv4 listener through ::ffff:127.0.0.1."""
    lst = await _listener(env)
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.connect(('::ffff:127.0.0.1', P1))", s.connect((MAPPED_LO, env.p1)))
    await env.step("s.getsockname()", s.getsockname)
    await env.step("s.getpeername()", s.getpeername)
    await env.step("lst.accept()", lst.accept(), show=lambda r: r[1])


@case("dualstack", "trio turns an IPv4 literal into ::ffff:a.b.c.d for an AF_INET6 socket.")
async def v4_literal_connect_on_inet6(env: Env) -> None:
    """An AF_INET6 TCP socket connects to ('127.0.0.1', P1)."""
    await _listener(env)
    s = env.socket(AF_INET6, SOCK_STREAM)
    await env.step("s.connect(('127.0.0.1', P1))", s.connect((LO4, env.p1)))
    await env.step("s.getpeername()", s.getpeername)


@case("dualstack")
async def mapped_udp_recvfrom(env: Env) -> None:
    """An IPv4 sender, a dual-stack IPv6 receiver on [::]:P1."""
    r = env.socket(AF_INET6, SOCK_DGRAM)
    await r.bind(("::", env.p1))
    s = env.socket(AF_INET, SOCK_DGRAM)
    await s.bind((LO4, env.p2))
    await env.step("s.sendto(b'v4', (LO, P1))", s.sendto(b"v4", (LO4, env.p1)))
    await env.step("r.recvfrom(10)", r.recvfrom(10))
    await env.step("r.sendto(b'back', ('::ffff:127.0.0.1', P2))", r.sendto(
        b"back", (MAPPED_LO, env.p2)
    ))  # fmt: skip
    await env.step("s.recvfrom(10)", s.recvfrom(10))


@case("dualstack", "A socket bound to ::1 does not receive IPv4.")
async def v6_bound_no_v4(env: Env) -> None:
    """A UDP socket on [::1]:P1; an IPv4 datagram to 127.0.0.1:P1."""
    r = env.socket(AF_INET6, SOCK_DGRAM)
    await r.bind((LO6, env.p1))
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.sendto(b'v4', (LO, P1))", s.sendto(b"v4", (LO4, env.p1)))
    await env.step("r.recv(10)", r.recv(10))


@case("dualstack", "A v4-mapped bind receives IPv4 only; it conflicts with an IPv4 bind.")
async def mapped_bind(env: Env) -> None:
    """A UDP/IPv6 socket binds ::ffff:127.0.0.1:P1; an IPv4 socket binds 127.0.0.1:P1."""
    r = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("r.bind(('::ffff:127.0.0.1', P1))", r.bind((MAPPED_LO, env.p1)))
    await env.step("r.getsockname()", r.getsockname)
    s = env.socket(AF_INET, SOCK_DGRAM)
    await env.step("s.bind((LO, P1))", s.bind((LO4, env.p1)))


@case("dualstack", "A socket bound to a v4-mapped address cannot reach IPv6 peers.")
async def mapped_bound_sendto_v6(env: Env) -> None:
    """A UDP/IPv6 socket bound to ::ffff:127.0.0.1 sends to ::1."""
    r = env.socket(AF_INET6, SOCK_DGRAM)
    await r.bind((MAPPED_LO, env.p1))
    await env.step("r.sendto(b'x', (LO6, P2))", r.sendto(b"x", (LO6, env.p2)))


@case("dualstack", "An IPv6 socket bound to ::1 cannot reach IPv4 peers.")
async def v6_bound_sendto_mapped(env: Env) -> None:
    """A UDP/IPv6 socket bound to ::1 sends to ::ffff:127.0.0.1."""
    r = env.socket(AF_INET6, SOCK_DGRAM)
    await r.bind((LO6, env.p1))
    await env.step("r.sendto(b'x', (MAPPED, P2))", r.sendto(b"x", (MAPPED_LO, env.p2)))


@case(
    "dualstack",
    "A destination's flow label (without IPV6_FLOWINFO_SEND) and a scope id on a "
    "non-link-local address are ignored: getpeername() shows 0, 0.",
)
async def connect_flowinfo_scope(env: Env) -> None:
    """UDP connect() to ('::1', P1, 7, 1); getpeername()."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.connect(('::1', P1, 7, 1))", s.connect(("::1", env.p1, 7, 1)))
    await env.step("s.getpeername()", s.getpeername)


@case("dualstack")
async def connect_link_local_no_scope(env: Env) -> None:
    """UDP connect() to fe80::1 without a scope id."""
    s = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("s.connect(('fe80::1', P1))", s.connect(("fe80::1", env.p1)))


@case("dualstack")
async def v6only_default(env: Env) -> None:
    """IPV6_V6ONLY of new TCP and UDP sockets; set it to 5 and read it back."""
    t = env.socket(AF_INET6, SOCK_STREAM)
    u = env.socket(AF_INET6, SOCK_DGRAM)
    await env.step("tcp.getsockopt(IPV6_V6ONLY)", lambda: t.getsockopt(41, IPV6_V6ONLY))
    await env.step("udp.getsockopt(IPV6_V6ONLY)", lambda: u.getsockopt(41, IPV6_V6ONLY))
    await env.step("udp.setsockopt(IPV6_V6ONLY, 5)", lambda: u.setsockopt(41, IPV6_V6ONLY, 5))
    await env.step("udp.getsockopt(IPV6_V6ONLY)", lambda: u.getsockopt(41, IPV6_V6ONLY))
