"""``inet_protos[]`` (net/ipv4/protocol.c ``inet_add_protocol``): IPv4's transport handlers by
protocol number, which the transports fill in when their packages are imported — so IP reaches
TCP and UDP without importing them.  ``err_handler`` is what ICMP calls with an error about a
datagram we sent (``net_protocol.err_handler``): ``(net, quoted, ihl, type, code, info)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..skb import SkBuff

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["INET_ERR_HANDLERS", "INET_PROTOS", "ErrHandler", "inet_add_protocol"]

#: ``err_handler(net, quoted, ihl, icmp_type, code, info)``
ErrHandler = Callable[["Net", bytes, int, int, int, int], None]

#: the receive handlers by IP protocol number
INET_PROTOS: Final[dict[int, Callable[[Net, SkBuff], None]]] = {}
#: the ICMP error handlers by IP protocol number
INET_ERR_HANDLERS: Final[dict[int, ErrHandler]] = {}


def inet_add_protocol(
    protocol: int, handler: Callable[[Net, SkBuff], None], err_handler: ErrHandler | None = None
) -> None:
    """``inet_add_protocol()``: deliver IPv4 packets of ``protocol`` to ``handler``."""
    INET_PROTOS[protocol] = handler
    if err_handler is not None:
        INET_ERR_HANDLERS[protocol] = err_handler
