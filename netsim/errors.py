"""Errors netsim raises.

Two families, kept apart on purpose:

* What a **user of a socket** sees is ``OSError`` with Linux's errno and message, exactly as a
  real socket raises it (``EMSGSIZE``, ``ENOMEM``, ``EPIPE`` …).  :func:`kernel_error` builds one,
  the way ``trio.testing._fake_net`` does.
* What a **kernel bug** would be — a use-after-free, a double ``put_page``, a refcount going
  negative, a page still referenced when everything should have been given back — raises
  :class:`BadPageError` or :class:`PageLeakError`.  The kernel would print "BUG: Bad page state"
  or leak silently; netsim refuses to let either pass.

Every netsim exception class lives here, in a module the compiled build leaves as Python: a
class inheriting two builtin exceptions (``NetsimError`` and ``RuntimeError``) cannot be a
native mypyc class.  The layers re-export theirs (``netsim.skb.BadSkbError``,
``netsim.tcp.state.TcpStateError``, ``netsim.wire.WireError``).
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "MemoryLimitWarning",
    "BadPageError",
    "BadSkbError",
    "NetsimError",
    "PageLeakError",
    "TcpStateError",
    "WireError",
    "exception_leaves",
    "kernel_error",
]


class NetsimError(Exception):
    """Base class for errors that are netsim's own (not errno-carrying socket errors)."""


class MemoryLimitWarning(UserWarning):
    """A page limit that cannot work as meant: at or below the reserve the allocator keeps
    for atomic and memalloc allocations, so no ordinary allocation (a socket's page frags)
    can ever succeed."""


class BadPageError(NetsimError, RuntimeError):
    """A page was used in a way that would be a kernel bug: use after free, double put,
    a refcount dropping below zero, or an allocator invariant broken."""


class BadSkbError(NetsimError, RuntimeError):
    """An skb was misused in a way the kernel would BUG() on: ``skb_over_panic``,
    ``skb_under_panic``, a double free, or an operation on a freed skb."""


class TcpStateError(NetsimError, RuntimeError):
    """A state change the TCP state machine does not have."""


class WireError(NetsimError, ValueError):
    """Bytes that are not a valid header, or a header that cannot be emitted."""


class PageLeakError(NetsimError, AssertionError):
    """Pages were still referenced when everything should have been given back.

    ``report`` holds the leak report (one line per live page).
    """

    def __init__(self, message: str, report: str = "") -> None:
        super().__init__(f"{message}\n{report}" if report else message)
        self.report = report


def kernel_error(code: int, detail: str | None = None) -> OSError:
    """Return ``OSError(code, strerror(code))`` — what a Linux syscall failing with ``-code``
    raises in Python.  ``detail`` is appended to the message for netsim-specific context."""
    message = os.strerror(code)
    if detail:
        message = f"{message} ({detail})"
    return OSError(code, message)


def exception_leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc`` and its nested exception groups (trio's nurseries wrap
    what their tasks raise), in order; ``[exc]`` for a plain exception."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(reversed(item.exceptions))
        else:
            leaves.append(item)
    return leaves


# Re-exported for convenience in cores: ``from netsim.errors import errno``.
errno = _errno
