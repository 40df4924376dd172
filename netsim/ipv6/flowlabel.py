"""IPv6 automatic flow labels: ``ip6_make_flowlabel()`` (include/net/ipv6.h) and the flow hash
it is made from (``skb_get_hash_flowi6()``, include/linux/skbuff.h; ``__get_hash_from_flowi6()``,
net/core/flow_dissector.c).

Model
-----
Linux puts a 20-bit flow label on the IPv6 packets it sends (RFC 6437), so that routers that
spread flows over equal-cost paths by hashing (RFC 6438) can tell flows apart without looking
past the IPv6 header.  ``ip6_xmit`` (TCP) and ``__ip6_make_skb`` (UDP, ICMPv6) call
``ip6_make_flowlabel(net, skb, fl6->flowlabel, ip6_autoflowlabel(net, sk), fl6)``:

* a label the socket chose itself wins (netsim has no flow-label manager and no
  ``IPV6_FLOWINFO_SEND``: it is always 0 here);
* ``net.ipv6.auto_flowlabels`` decides whether to make one: 0 never, 1 unless the socket
  turned ``IPV6_AUTOFLOWLABEL`` off (the default), 2 only if the socket turned it on, 3 always;
* the label is the skb's hash rotated by 16 bits, its low 20 bits, with the top one of them
  (0x80000, ``IPV6_FLOWLABEL_STATELESS_FLAG``) set when ``net.ipv6.flowlabel_state_ranges`` is
  non-zero (0 by default in 6.18's code, whatever ip-sysctl.rst says).

The skb's hash is the socket's ``sk_txhash`` when it has one (``skb_set_owner_w`` and TCP's
``skb_set_hash_from_sk`` copy it): a random number drawn when TCP connects (the passive side
inherits its request sock's) or a datagram socket connects.  So every packet of a TCP
connection — SYN, data, ACKs, FIN — carries one label per direction, the two directions
different; a connected UDP socket's datagrams carry one label.  Without an ``sk_txhash`` (an
unconnected UDP socket, the ICMPv6 control socket, a TCP reset sent for no socket) the hash
is the flow's: a keyed hash of both addresses, both ports and the protocol, made the same for
both directions (``__flow_hash_consistentify``).  Fragments copy their datagram's header
(``ip6_fragment``), GSO segments their skb's, so they share its label.

A new ``sk_txhash`` (``sk_rethink_txhash``, when TCP's retransmission timer fires and
``net.core.txrehash`` allows it) gives the socket a new label — a new path, perhaps, past a
broken one.

netsim
------
Randomness comes from the host's seeded RNG (``net.rng``): ``sk_txhash`` through
:func:`netsim.sock.sock.sk_set_txhash`, and the flow-hash key (the kernel's ``hashrnd``,
filled once by ``net_get_random_once``) on first use, so runs with the same seed give the
same labels.  The flow hash is a keyed BLAKE2s, not the kernel's SipHash over
``struct flow_keys``, and the label takes the rotated hash's low 20 bits where a
little-endian kernel masks it in network byte order: which bits land in the label differs,
what the labels do — one per flow, non-zero, the stateless bit as the sysctl says — does not.

A socket's label is worked out once and kept in ``sk.tx_flowlabel`` (-1 when it must be
worked out again): a transmit reads one integer.  It is forgotten when ``sk_txhash``
changes, when the socket's ``IPV6_AUTOFLOWLABEL`` is set, and — for every socket of the host
— when ``net.ipv6.auto_flowlabels`` or ``flowlabel_state_ranges`` is written.  An unconnected
UDP socket's label depends on the destination: it is made per datagram.  TCP's
``sk_txhash`` is drawn at the socket's first IPv6 transmit (its SYN or SYN-ACK), not in
``tcp_v6_connect``/``tcp_conn_request``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from ..sock.sock import (
    IP6_AUTO_FLOW_LABEL_FORCED,
    IP6_AUTO_FLOW_LABEL_OFF,
    Sock,
    ip6_autoflowlabel,
)

if TYPE_CHECKING:
    from ..netns import Net

__all__ = [
    "IPV6_FLOWLABEL_MASK",
    "IPV6_FLOWLABEL_STATELESS_FLAG",
    "flow_hash_from_flowi6",
    "ip6_flowlabel_from_flow",
    "ip6_make_flowlabel",
    "ip6_sk_flowlabel",
]

#: ``IPV6_FLOWLABEL_MASK``: the 20 bits of the first header word that are the label
IPV6_FLOWLABEL_MASK: Final = 0xFFFFF
#: ``IPV6_FLOWLABEL_STATELESS_FLAG``: the top label bit, the stateless half (RFC 6437)
IPV6_FLOWLABEL_STATELESS_FLAG: Final = 0x80000
#: bytes of the flow-hash key (the kernel's ``siphash_key_t hashrnd``)
_HASHRND_LEN: Final = 16


def _auto_wanted(net: Net, autolabel: bool) -> bool:
    """The test at the top of ``ip6_make_flowlabel()``: make a label at all?"""
    mode = net.sysctl_int("net.ipv6.auto_flowlabels")
    if mode == IP6_AUTO_FLOW_LABEL_OFF:
        return False
    return autolabel or mode == IP6_AUTO_FLOW_LABEL_FORCED


def _label_from_hash(net: Net, txhash: int) -> int:
    """The rest of ``ip6_make_flowlabel()``: ``rol32(hash, 16)``, 20 bits of it, and the
    stateless bit if ``net.ipv6.flowlabel_state_ranges`` says so."""
    rotated = ((txhash << 16) | (txhash >> 16)) & 0xFFFFFFFF
    label = rotated & IPV6_FLOWLABEL_MASK
    if net.sysctl_int("net.ipv6.flowlabel_state_ranges"):
        label |= IPV6_FLOWLABEL_STATELESS_FLAG
    return label


def ip6_make_flowlabel(net: Net, txhash: int, autolabel: bool) -> int:
    """``ip6_make_flowlabel()`` for an skb whose hash is ``txhash`` (non-zero: a socket's
    ``sk_txhash``), ``autolabel`` being ``ip6_autoflowlabel()`` of the sending socket: the
    label, or 0 when ``net.ipv6.auto_flowlabels`` and the socket say none."""
    if not _auto_wanted(net, autolabel):
        return 0
    return _label_from_hash(net, txhash)


def flow_hash_from_flowi6(
    net: Net, saddr: bytes, daddr: bytes, sport: int, dport: int, proto: int
) -> int:
    """``__get_hash_from_flowi6()`` → ``flow_hash_from_keys()`` (net/core/flow_dissector.c):
    a non-zero 32-bit keyed hash of the flow's addresses, ports and protocol, the same in
    both directions (``__flow_hash_consistentify``: the lower address first, and the ports
    ordered as the kernel compares them, as little-endian reads of the big-endian fields).
    The key is the host's, drawn from its RNG on first use (``net_get_random_once``)."""
    key = net.flow_hashrnd
    if not key:
        key = net.flow_hashrnd = net.rng.randbytes(_HASHRND_LEN)
    if daddr < saddr:
        saddr, daddr = daddr, saddr
    if _le16(dport) < _le16(sport):
        sport, dport = dport, sport
    keys = bytes((proto, sport >> 8, sport & 0xFF, dport >> 8, dport & 0xFF)) + saddr + daddr
    digest = hashlib.blake2s(keys, digest_size=4, key=key).digest()
    return int.from_bytes(digest, "little") or 1


def _le16(port: int) -> int:
    """A big-endian 16-bit field as a little-endian CPU reads it (``(__force u16)``)."""
    return ((port & 0xFF) << 8) | (port >> 8)


def ip6_flowlabel_from_flow(
    net: Net, autolabel: bool, saddr: bytes, daddr: bytes, sport: int, dport: int, proto: int
) -> int:
    """``ip6_make_flowlabel()`` for an skb with no hash yet — from a socket without
    ``sk_txhash`` (an unconnected UDP socket, ICMPv6's control socket) or none at all (a TCP
    reset): ``skb_get_hash_flowi6()`` hashes the flow (:func:`flow_hash_from_flowi6`), only
    when a label is to be made.  For ICMPv6, ``sport`` is 0 and ``dport`` the type and code
    (``fl6_icmp_type``/``fl6_icmp_code`` share the ports' place in ``struct flowi6``)."""
    if not _auto_wanted(net, autolabel):
        return 0
    return _label_from_hash(net, flow_hash_from_flowi6(net, saddr, daddr, sport, dport, proto))


def ip6_sk_flowlabel(sk: Sock) -> int:
    """The label of ``sk``'s packets, made from its ``sk_txhash`` (which must be set) and kept
    in ``sk.tx_flowlabel`` until the hash, the socket's ``IPV6_AUTOFLOWLABEL`` or the host's
    sysctls change."""
    net = sk.net
    label = ip6_make_flowlabel(net, sk.sk_txhash, ip6_autoflowlabel(net, sk))
    sk.tx_flowlabel = label
    return label
