"""GFP flags: how an allocation may behave (include/linux/gfp_types.h).

Only the bits that change what netsim's page allocator does are modelled:

* ``DIRECT_RECLAIM`` — the caller may sleep and reclaim (``gfpflags_allow_blocking``).  The
  page-frag refills strip it from their high-order attempt.
* ``KSWAPD_RECLAIM``, ``IO``, ``FS`` — carried for fidelity (GFP_KERNEL vs GFP_NOIO); netsim has
  no reclaimable memory, so they do not change the outcome.
* ``HIGH`` — GFP_ATOMIC's access to part of the reserve: the allocation may dip to half the
  min watermark.
* ``NORETRY``, ``NOWARN``, ``COMP`` — carried as the kernel sets them (``COMP`` makes a high-order
  allocation a compound page, which is what lets ``get_page`` on a tail page act on the head).
* ``MEMALLOC`` — may use the emergency reserve below the watermark; such pages come back with
  ``pfmemalloc`` set.  ``NOMEMALLOC`` forbids that and wins over ``MEMALLOC``
  (``gfp_pfmemalloc_allowed``, mm/page_alloc.c).

The values are Linux 6.18's bit positions, so a flag word prints as the kernel would show it.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = [
    "GFP_ATOMIC",
    "GFP_KERNEL",
    "GFP_NOIO",
    "GFP_NOWAIT",
    "Gfp",
    "gfp_pfmemalloc_allowed",
    "gfpflags_allow_blocking",
]


class Gfp(enum.IntFlag):
    """The ``__GFP_*`` bits netsim models (without the leading underscores)."""

    DMA = 1 << 0
    HIGH = 1 << 5
    IO = 1 << 6
    FS = 1 << 7
    ZERO = 1 << 8
    DIRECT_RECLAIM = 1 << 10
    KSWAPD_RECLAIM = 1 << 11
    NOWARN = 1 << 13
    RETRY_MAYFAIL = 1 << 14
    NOFAIL = 1 << 15
    NORETRY = 1 << 16
    MEMALLOC = 1 << 17
    COMP = 1 << 18
    NOMEMALLOC = 1 << 19


# The masks the data path tests, as plain ints: a flag word travels as an ``int`` (an
# ``IntFlag`` operation is a Python-level call); ``Gfp(word)`` shows one by name.
_DIRECT_RECLAIM: Final = int(Gfp.DIRECT_RECLAIM)
_MEMALLOC: Final = int(Gfp.MEMALLOC)
_NOMEMALLOC: Final = int(Gfp.NOMEMALLOC)
_RECLAIM: Final = int(Gfp.DIRECT_RECLAIM | Gfp.KSWAPD_RECLAIM)

#: ``GFP_KERNEL``: may sleep, reclaim, do I/O and call into filesystems.
GFP_KERNEL: Final = int(_RECLAIM | Gfp.IO | Gfp.FS)
#: ``GFP_ATOMIC``: never sleeps; may dip into part of the reserve.
GFP_ATOMIC: Final = int(Gfp.HIGH | Gfp.KSWAPD_RECLAIM)
#: ``GFP_NOWAIT``: never sleeps, no reserve access, no warning when it fails.
GFP_NOWAIT: Final = int(Gfp.KSWAPD_RECLAIM | Gfp.NOWARN)
#: ``GFP_NOIO``: may reclaim but must not start I/O (what nbd sets on its socket).
GFP_NOIO: Final = _RECLAIM


def gfpflags_allow_blocking(gfp: int) -> bool:
    """``gfpflags_allow_blocking()`` (include/linux/gfp.h): direct reclaim is allowed."""
    return bool(gfp & _DIRECT_RECLAIM)


def gfp_pfmemalloc_allowed(gfp: int) -> bool:
    """May this allocation ignore the watermarks (``gfp_pfmemalloc_allowed``, mm/page_alloc.c)?

    netsim models the ``__GFP_MEMALLOC`` route only (not ``PF_MEMALLOC`` task flags):
    ``NOMEMALLOC`` forbids, ``MEMALLOC`` allows.
    """
    if gfp & _NOMEMALLOC:
        return False
    return bool(gfp & _MEMALLOC)
