"""``inet6_protos[]`` (net/ipv6/protocol.c ``inet6_add_protocol``): IPv6's transport handlers by
next-header value, filled in by the transports as they are imported (see
:mod:`netsim.ipv4.protocol`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..ipv4.protocol import ErrHandler
from ..skb import SkBuff

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["INET6_ERR_HANDLERS", "INET6_PROTOS", "inet6_add_protocol"]

#: the receive handlers by next-header value
INET6_PROTOS: Final[dict[int, Callable[[Net, SkBuff], None]]] = {}
#: the ICMPv6 error handlers by next-header value
INET6_ERR_HANDLERS: Final[dict[int, ErrHandler]] = {}


def inet6_add_protocol(
    protocol: int, handler: Callable[[Net, SkBuff], None], err_handler: ErrHandler | None = None
) -> None:
    """``inet6_add_protocol()``: deliver IPv6 packets of ``protocol`` to ``handler``."""
    INET6_PROTOS[protocol] = handler
    if err_handler is not None:
        INET6_ERR_HANDLERS[protocol] = err_handler
