"""netsim: an emulator of the Linux kernel's network transmit path, in Python, on trio.

Sockets build real skbs whose payload sits in page fragments handed out by a pluggable
fragment allocator (the old ``page_frag`` or the series' ``page_frag_cache``); bytes are real
and every page reference is given back.  The layers below ``netsim.runtime`` are sans-IO.

Subpackages: :mod:`netsim.mm` (pages and fragment allocators), :mod:`netsim.skb` (the skb),
:mod:`netsim.wire` (headers and checksums), :mod:`netsim.stats` (counters).
"""

from . import _build  # first: it refuses compiled modules older than their sources
from . import tls as tls  # registers the "tls" TCP ULP
from .dev import FaultPlan as FaultPlan
from .dev import GilbertElliott as GilbertElliott
from .errors import BadPageError as BadPageError
from .errors import MemoryLimitWarning as MemoryLimitWarning
from .errors import NetsimError as NetsimError
from .errors import PageLeakError as PageLeakError
from .mm import GFP_ATOMIC as GFP_ATOMIC
from .mm import GFP_KERNEL as GFP_KERNEL
from .mm import FragAllocator as FragAllocator
from .mm import FragSpan as FragSpan
from .mm import Page as Page
from .mm import PageAllocator as PageAllocator
from .mm import PageFrag as PageFrag
from .mm import PageFragCache as PageFragCache
from .mm import PageFragCacheCountdown as PageFragCacheCountdown
from .mm import available_frag_allocators as available_frag_allocators
from .mm import get_frag_allocator as get_frag_allocator
from .runtime import Host as Host
from .runtime import Socket as Socket
from .runtime import StreamLink as StreamLink
from .runtime import link as link
from .runtime import open_host as open_host
from .runtime import open_stream_link as open_stream_link
from .runtime import open_tap_link as open_tap_link
from .runtime import open_unix_link as open_unix_link
from .runtime import render_pages as render_pages
from .skb import MAX_SKB_FRAGS as MAX_SKB_FRAGS
from .skb import SkbFrag as SkbFrag
from .skb import SkbSharedInfo as SkbSharedInfo
from .skb import SkBuff as SkBuff
from .skb import skb_describe as skb_describe
from .skb import skb_layout as skb_layout
from .sock.constants import *  # noqa: F403
from .sock.constants import __all__ as _constants
from .stats import Counters as Counters
from .stats import StatsSnapshot as StatsSnapshot
from .stats import TraceEvent as TraceEvent
from .stats import Tracer as Tracer

__version__ = "0.1.0.dev0"
#: ``"compiled (mypyc)"`` or ``"pure Python"``: which build of the sans-IO core is running
BUILD = _build.BUILD = _build.build_name()

__all__ = [
    *_constants,
    "GFP_ATOMIC",
    "GFP_KERNEL",
    "MAX_SKB_FRAGS",
    "BadPageError",
    "Counters",
    "FaultPlan",
    "FragAllocator",
    "FragSpan",
    "GilbertElliott",
    "Host",
    "MemoryLimitWarning",
    "NetsimError",
    "Page",
    "PageAllocator",
    "PageFrag",
    "PageFragCache",
    "PageFragCacheCountdown",
    "PageLeakError",
    "SkBuff",
    "Socket",
    "SkbFrag",
    "SkbSharedInfo",
    "StatsSnapshot",
    "StreamLink",
    "TraceEvent",
    "Tracer",
    "available_frag_allocators",
    "get_frag_allocator",
    "link",
    "open_host",
    "open_stream_link",
    "open_tap_link",
    "open_unix_link",
    "render_pages",
    "skb_describe",
    "skb_layout",
]
