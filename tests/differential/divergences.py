"""Where netsim answers differently from Linux today: ``{case: what differs}``.

Each entry marks the case's netsim test ``xfail(strict=True)``, so a fix makes the test XPASS,
which fails until the entry is deleted here.  Then regenerate the docs (they show these notes):
``python3 tests/differential/record.py --docs``.  ``record.py --netsim CASE`` prints a case's
steps side by side.

The entries are grouped by cause; each says what Linux (through trio's real socket) answers and
what netsim answers instead.
"""

from __future__ import annotations

KNOWN_DIVERGENCES: dict[str, str] = {
    # -- addresses: netsim's Socket parses them itself; trio's real socket resolves them ------
    "bind_ipv6_address_on_inet": (
        "trio resolves ('::1', port) for an AF_INET socket with getaddrinfo(): "
        "gaierror(EAI_ADDRFAMILY); netsim raises OSError(EAFNOSUPPORT)."
    ),
    "bind_ipv4_literal_on_inet6": (
        "trio resolves '127.0.0.1' for a dual-stack AF_INET6 socket with AI_V4MAPPED and binds "
        "::ffff:127.0.0.1; netsim's parse_sockaddr says EINVAL."
    ),
    "bind_localhost_on_inet6": (
        "trio resolves 'localhost' (AI_V4MAPPED on AF_INET6): ::ffff:127.0.0.1 here; netsim "
        "accepts only numeric hosts (EINVAL)."
    ),
    "bind_localhost_on_inet": (
        "trio resolves 'localhost' to 127.0.0.1; netsim accepts only numeric hosts (EINVAL)."
    ),
    "connect_localhost_name": (
        "trio resolves 'localhost' before connect(); netsim says EINVAL (names are resolved "
        "only inside host.as_trio_network())."
    ),
    "v4_literal_connect_on_inet6": (
        "connect(('127.0.0.1', port)) on an AF_INET6 socket: trio maps it to ::ffff:127.0.0.1 "
        "and connects; netsim says EINVAL."
    ),
    "bind_port_as_string": (
        "trio passes a str port to getaddrinfo(), which accepts '20001'; netsim raises TypeError."
    ),
    "bind_tuple_too_long_inet": (
        "trio checks the tuple's shape first: ValueError ('address should be a (host, port) "
        "tuple'); netsim raises TypeError."
    ),
    "bind_not_a_tuple": "bind('127.0.0.1'): trio raises ValueError; netsim raises TypeError.",
    "udp_sendto_bad_address": (
        "sendto() with a 3-tuple on AF_INET: trio raises ValueError; netsim raises TypeError."
    ),
    "bind_flowinfo_too_big": (
        "Python refuses flowinfo >= 2**20 (OverflowError: 'flowinfo must be 0-1048575'); "
        "netsim accepts it."
    ),
    # -- bind -------------------------------------------------------------------------------------
    "bind_broadcast_tcp": (
        "Linux lets a socket bind 255.255.255.255 (inet_addr_valid_or_nonlocal accepts "
        "RTN_BROADCAST); netsim says EADDRNOTAVAIL."
    ),
    "bind_multicast_udp": (
        "Linux lets a socket bind a multicast group address (RTN_MULTICAST) and getsockname() "
        "names it; netsim says EADDRNOTAVAIL."
    ),
    "bind_multicast_tcp": "TCP bind to 224.0.0.1: Linux accepts it; netsim says EADDRNOTAVAIL.",
    "bind_multicast_v6_udp": (
        "__inet6_bind skips the local-address check for multicast (ff0e::1); netsim says "
        "EADDRNOTAVAIL."
    ),
    "bind_link_local_no_scope": (
        "bind to fe80::1 without a scope id: Linux says EINVAL (a link-local address needs an "
        "interface); netsim says EADDRNOTAVAIL."
    ),
    "bind_link_local_bad_scope": (
        "bind to fe80::1 with scope id 99 (no such interface): Linux says ENODEV; netsim "
        "EADDRNOTAVAIL."
    ),
    "bind_reuseaddr_tcp_two_listeners": (
        "two SO_REUSEADDR sockets bound to one port: Linux's second listen() re-checks the port "
        "(inet_csk_listen_start -> get_port) and says EADDRINUSE; netsim's tcp_listen lets both "
        "listen."
    ),
    # -- connect: trio's connect is non-blocking, the kernel's socket stays SS_CONNECTING -------
    "connect_refused_tcp4": (
        "after a refused connect(), recv() on Linux returns b'' (the RST's tcp_done left "
        "RCV_SHUTDOWN: a non-blocking connect never reaches __inet_stream_connect's "
        "tcp_disconnect); netsim disconnects the socket and says ENOTCONN."
    ),
    "connect_refused_tcp6": "as connect_refused_tcp4, over IPv6: recv() b'' vs netsim's ENOTCONN.",
    "connect_refused_then_again": (
        "the connect() after a refusal: Linux says ECONNABORTED (SS_CONNECTING, socket closed, "
        "no error left; it then resets the socket) and the third connect() succeeds; netsim's "
        "second connect() succeeds and the third says EISCONN."
    ),
    "connect_twice_tcp": (
        "the connect() after a successful (non-blocking) one returns 0, to any address, and "
        "only marks the socket SS_CONNECTED; netsim says EISCONN at once."
    ),
    "connect_cancelled_then_again": (
        "trio closes a socket whose connect() was cancelled, so the next connect() is EBADF and "
        "fileno() is -1; netsim leaves it open in SYN_SENT and says EALREADY."
    ),
    "connect_while_connecting": (
        "a second task's connect() while the first waits: trio (EALREADY is a BlockingIOError "
        "to Python) goes on to wait for writability and raises trio.BusyResourceError; "
        "netsim raises OSError(EALREADY)."
    ),
    "connect_any_v4": (
        "connect(('0.0.0.0', port)): tcp_connect keeps 0.0.0.0 as inet_daddr instead of the "
        "route's destination (fl4->daddr, 127.0.0.1, as udp_connect does), the handshake never "
        "completes and connect() hangs; Linux connects to 127.0.0.1."
    ),
    "connect_any_v6": "connect(('::', port)) hangs in netsim as connect_any_v4; Linux uses ::1.",
    "connect_self": (
        "a TCP socket connecting to its own address (a simultaneous open with itself, "
        "tcp_rcv_synsent_state_process's SYN-without-ACK branch) hangs in netsim; Linux "
        "connects and the socket reads what it sent."
    ),
    "connect_udp_port_zero": (
        "UDP connect() to port 0: Linux's getpeername() says ENOTCONN (inet_getname wants "
        "inet_dport != 0); netsim names ('127.0.0.1', 0)."
    ),
    "connect_subnet_broadcast": (
        "connect() to 127.255.255.255 (lo's broadcast): UDP without SO_BROADCAST is EACCES "
        "(RTCF_BROADCAST), TCP is ENETUNREACH (tcp_v4_connect refuses broadcast and multicast "
        "routes); netsim's UDP connects and its TCP sends a SYN (ECONNREFUSED)."
    ),
    "connect_link_local_no_scope": (
        "UDP connect() to fe80::1 without a scope id: Linux says EINVAL; netsim ENETUNREACH."
    ),
    # -- listen and accept ------------------------------------------------------------------------
    "accept_inherits_options": (
        "an accepted socket inherits SO_KEEPALIVE (sk_clone_lock copies sk_flags); netsim's "
        "child reads 0."
    ),
    "shutdown_listener_rd": (
        "shutdown(SHUT_RD) on a listener stops it (inet_shutdown -> tcp_disconnect -> "
        "inet_csk_listen_stop): SO_ACCEPTCONN 0, accept() EINVAL, new connects refused; "
        "netsim keeps listening (accept() waits, connects succeed)."
    ),
    "shutdown_listener_wr": (
        "shutdown(SHUT_WR) on a listener is a no-op returning 0 on Linux; netsim says ENOTCONN."
    ),
    "accept_after_peer_reset": (
        "needs SO_LINGER (ENOPROTOOPT in netsim); Linux still accepts a connection reset "
        "before accept() and its first recv() says ECONNRESET."
    ),
    # -- send, recv and their flags ---------------------------------------------------------------
    "recv_dontwait_tcp": (
        "trio turns EAGAIN into a wait, so recv(MSG_DONTWAIT) on a trio socket waits; netsim's "
        "Socket raises EAGAIN (what the system call says)."
    ),
    "recv_dontwait_udp": "as recv_dontwait_tcp, for UDP: trio waits, netsim raises EAGAIN.",
    "msg_waitall_partial": (
        "trio's sockets are non-blocking, and MSG_WAITALL on a non-blocking socket returns the "
        "3 bytes queued; netsim waits for all 6."
    ),
    "recv_zero_udp": (
        "Python answers recv(0) without a system call, so the datagram stays queued; netsim's "
        "recv(0) consumes it."
    ),
    "recv_into_readonly_udp": (
        "recv_into(bytes) must fail before anything is read (TypeError) and leave the datagram "
        "queued; netsim dequeues it and then fails copying into the read-only buffer: the "
        "datagram is lost."
    ),
    "msg_oob_tcp": (
        "MSG_OOB is ignored: Linux makes the last byte urgent, a plain recv() stops before it "
        "(b'a'), recv(MSG_OOB) returns b'b' once, then EINVAL; netsim delivers b'abcd' inline."
    ),
    "msg_oob_tcp_inline": "SO_OOBINLINE is ENOPROTOOPT in netsim (and MSG_OOB is ignored).",
    "recv_oob_none": (
        "recv(MSG_OOB) with no urgent data is EINVAL on Linux; netsim reads normal data (b'p')."
    ),
    "sendmsg_cmsg_ip_ttl": (
        "UDP sendmsg() with (SOL_IP, IP_TTL, 5) is accepted by Linux (ip_cmsg_send); netsim's "
        "_gso_cmsg rejects every control message but UDP_SEGMENT with EINVAL."
    ),
    "sendmsg_cmsg_unknown_level": (
        "a control message at a level UDP does not know is skipped by Linux; netsim says EINVAL."
    ),
    # -- shutdown and close -----------------------------------------------------------------------
    "shutdown_connected_udp": (
        "UDP recv() after SHUT_RD: Linux's non-blocking recvmsg keeps saying EAGAIN while poll "
        "says readable, so trio's recv() waits; netsim returns b''."
    ),
    "so_linger_zero_close": (
        "SO_LINGER is ENOPROTOOPT in netsim; with {1, 0}, Linux's close() sends an RST and the "
        "peer's recv() says ECONNRESET (netsim: a FIN, b'')."
    ),
    # -- SOL_SOCKET options -----------------------------------------------------------------------
    "so_linger_roundtrip": (
        "SO_LINGER (struct linger, 8 bytes) is ENOPROTOOPT in netsim; Linux reads "
        "b'\\x00'*8, then (1, 5) back."
    ),
    "so_linger_short": "setsockopt(SO_LINGER, int): Linux EINVAL, netsim ENOPROTOOPT.",
    "so_bool_roundtrip": "SO_OOBINLINE is ENOPROTOOPT in netsim; Linux reads 0, then 1.",
    "so_rcvlowat_tcp": (
        "TCP caps SO_RCVLOWAT at tcp_rmem[2] / 2 = 16777216 (tcp_set_rcvlowat): -1 and 2**30 "
        "read back 16777216; netsim reads INT_MAX and 2**30."
    ),
    "so_sndlowat": "getsockopt(SO_SNDLOWAT) is 1 on Linux; netsim says ENOPROTOOPT.",
    "so_priority": "SO_PRIORITY is ENOPROTOOPT in netsim; Linux sets and reads 6.",
    "so_dontroute": "SO_DONTROUTE is ENOPROTOOPT in netsim; Linux sets and reads 1.",
    "so_bad_value_types": (
        "setsockopt(..., 1 << 31): Python raises TypeError (it falls back to the buffer form); "
        "netsim raises OverflowError."
    ),
    "so_value_none": (
        "setsockopt(level, opt, None, 4) passes a NULL pointer: Linux says EFAULT; netsim "
        "sets the option from 4 zero bytes."
    ),
    "so_getsockopt_buflen": (
        "getsockopt(..., 0) returns the int (Python treats buflen 0 as 'no buffer'), netsim "
        "returns b''; getsockopt(..., -1) is Python's OSError without errno, netsim EINVAL."
    ),
    "unknown_level": (
        "getsockopt() at an unknown level on an AF_INET socket: Linux EOPNOTSUPP "
        "(do_ip_getsockopt); netsim ENOPROTOOPT (AF_INET6 and setsockopt agree)."
    ),
    "sol_ipv6_on_inet": (
        "getsockopt(SOL_IPV6, ...) on an AF_INET TCP socket: Linux EOPNOTSUPP; netsim ENOPROTOOPT."
    ),
    "tcp_info_udp": "getsockopt(SOL_TCP, TCP_INFO) on AF_INET UDP: Linux EOPNOTSUPP; netsim "
    "ENOPROTOOPT.",
    "wrong_protocol_level": (
        "getsockopt(SOL_TCP, TCP_NODELAY) on AF_INET UDP: Linux EOPNOTSUPP; netsim ENOPROTOOPT."
    ),
    # -- SOL_IP and SOL_IPV6 ----------------------------------------------------------------------
    "ip_tos_tcp": (
        "TCP keeps the ECN bits of IP_TOS (__ip_sock_set_tos masks them for SOCK_STREAM): "
        "0x1ff reads 252, 0x2b reads 40; netsim reads 255 and 43."
    ),
    "ipv6_unicast_hops": (
        "IPV6_UNICAST_HOPS 0 reads back 0 on Linux (only -1 means the default); netsim reads 64."
    ),
    "ipv6_tclass": (
        "IPV6_TCLASS is ENOPROTOOPT in netsim; Linux takes -1..255 (-1: default 0, 256: EINVAL)."
    ),
    "ipv6_v6only_after_specific_bind": (
        "bind() to a specific IPv6 address sets sk_ipv6only (__inet6_bind): IPV6_V6ONLY then "
        "reads 1; netsim reads 0."
    ),
    "v6_bound_sendto_mapped": (
        "a socket bound to ::1 is IPv6-only after the bind, so sendto(::ffff:127.0.0.1) is "
        "ENETUNREACH on Linux; netsim sends it."
    ),
    "v6only_udp_sendto_mapped": (
        "an IPV6_V6ONLY UDP socket's sendto(::ffff:127.0.0.1) is ENETUNREACH "
        "(udpv6_sendmsg); netsim sends it."
    ),
    "mapped_bound_sendto_v6": (
        "a UDP socket bound to ::ffff:127.0.0.1 cannot send to ::1: Linux says EAFNOSUPPORT; "
        "netsim sends it."
    ),
    # -- SOL_TCP and SOL_UDP ----------------------------------------------------------------------
    "tcp_notsent_lowat": (
        "TCP_NOTSENT_LOWAT takes any int on Linux (-1 reads back -1); netsim says EINVAL for "
        "a negative value."
    ),
    "tcp_info": (
        "getsockopt(SOL_TCP, TCP_INFO[, buflen]) is EINVAL in netsim; Linux returns the struct "
        "(280 bytes in 6.18; tcpi_state 7 for a new socket, 1 established; snd_mss 32741 on "
        "loopback), its first buflen bytes, or the first 4 bytes as an int."
    ),
    "tcp_keepidle": ("TCP_KEEPIDLE is ENOPROTOOPT in netsim; Linux reads 7200 and takes 1..32767."),
    "tcp_congestion": (
        "TCP_CONGESTION is ENOPROTOOPT in netsim; Linux takes b'reno' (reads it back) and says "
        "ENOENT for an unknown name."
    ),
    # -- UDP ---------------------------------------------------------------------------------------
    "udp_subnet_broadcast": (
        "sendto(127.255.255.255) without SO_BROADCAST is EACCES on Linux (a broadcast route); "
        "netsim sends it, so the reader gets b'x' before b'y'."
    ),
}
