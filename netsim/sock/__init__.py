"""``struct sock``: buffers and memory accounting, ``sk_page_frag()``, the task context,
socket addresses, constants, and the per-host sysctls (net/core/sock.c, include/net/sock.h)."""

from .constants import *  # noqa: F403
from .constants import __all__ as _constants
from .iov import MsgIter as MsgIter
from .sock import Sock as Sock
from .sock import SockWait as SockWait
from .sock import sk_page_frag as sk_page_frag
from .sock import sk_page_frag_refill as sk_page_frag_refill
from .sysctl import Sysctl as Sysctl
from .task import TaskContext as TaskContext

__all__ = [
    *_constants,
    "MsgIter",
    "Sock",
    "SockWait",
    "Sysctl",
    "TaskContext",
    "sk_page_frag",
    "sk_page_frag_refill",
]
