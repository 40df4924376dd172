"""``struct sk_buff``, ``struct skb_shared_info`` and ``skb_frag_t``: the objects, their
allocation, cloning and freeing (include/linux/skbuff.h, net/core/skbuff.c).

Geometry (Documentation/networking/skbuff.rst)::

    head          data                 tail              end
     |  headroom   | linear data         |   tailroom      | skb_shared_info
     +-------------+---------------------+-----------------+------------------------------+
                                                            frags[0..nr_frags) -> pages
                                                            frag_list -> more skbs

* ``head`` is the linear buffer (a ``bytearray``); ``data``, ``tail`` and ``end`` are offsets
  into it (``head`` itself is offset 0).
* ``len`` counts every payload byte: the linear part (``headlen = len - data_len``) plus the
  frags plus the frag_list.  ``data_len`` counts the non-linear part.  Invariant:
  ``len == headlen + Σ frag.len + Σ frag_list[j].len`` and ``nr_frags <= MAX_SKB_FRAGS``.
* ``truesize`` is the memory charged to the owning socket: ``SKB_TRUESIZE(end)`` at
  allocation, plus exactly the bytes a TX copy adds, plus a driver-chosen size per RX frag.
* The shared info — frags, ``frag_list``, GSO fields, ``dataref`` — is **shared by clones**.
  ``skb_clone`` takes no page references: it bumps ``dataref``.  ``kfree_skb`` on a clone only
  drops ``dataref``; whoever drops the last data reference unrefs every frag page.

netsim keeps ``frags`` dense: ``nr_frags`` is ``len(frags)``.  ``__skb_fill_page_desc`` at
``i == nr_frags`` therefore also counts the new slot; every kernel caller follows it with
``nr_frags = i + 1``, so no path can observe the difference.

Heads are plain ``bytearray``\\ s sized as ``kmalloc`` would size them (including the dedicated
small-head cache of 6.3+); they are not charged to the page allocator.  Page memory — the frags
— is what the leak check and the counters follow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from ..errors import BadSkbError as BadSkbError
from ..mm.page import Page, put_page
from ..stats import Counters

__all__ = [
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "GSO_BY_FRAGS",
    "MAX_SKB_FRAGS",
    "SKBFL_DONT_ORPHAN",
    "SKBFL_MANAGED_FRAG_REFS",
    "SKBFL_PURE_ZEROCOPY",
    "SKBFL_SHARED_FRAG",
    "SKBFL_ZEROCOPY_ENABLE",
    "SKB_DATAREF_MASK",
    "SKB_DATAREF_SHIFT",
    "SKB_GSO_DODGY",
    "SKB_GSO_FRAGLIST",
    "SKB_GSO_PARTIAL",
    "SKB_GSO_TCPV4",
    "SKB_GSO_TCPV6",
    "SKB_GSO_TCP_ECN",
    "SKB_GSO_TCP_FIXEDID",
    "SKB_GSO_UDP_L4",
    "SKB_SMALL_HEAD_CACHE_SIZE",
    "SIZEOF_SKB_SHARED_INFO",
    "SIZEOF_SK_BUFF",
    "SMP_CACHE_BYTES",
    "BadSkbError",
    "SkBuff",
    "SkbCb",
    "SkbFrag",
    "SkbSharedInfo",
    "SKB_DATA_ALIGN",
    "SKB_HEAD_ALIGN",
    "SKB_TRUESIZE",
    "SKB_WITH_OVERHEAD",
    "DEFAULT_SKB_LAYOUT",
    "SkbLayout",
    "skb_layout_for",
    "alloc_skb",
    "consume_skb",
    "kfree_skb",
    "kfree_skb_list",
    "kmalloc_size_roundup",
    "skb_clone",
    "skb_cloned",
    "skb_head_size",
    "skb_header_cloned",
    "skb_orphan",
    "skb_release_data",
    "skb_shared",
]

#: ``CONFIG_MAX_SKB_FRAGS`` default (net/Kconfig; range 17..45).  Hosts may configure another.
MAX_SKB_FRAGS: Final = 17

# ip_summed (include/linux/skbuff.h)
CHECKSUM_NONE: Final = 0
CHECKSUM_UNNECESSARY: Final = 1
CHECKSUM_COMPLETE: Final = 2
CHECKSUM_PARTIAL: Final = 3

# skb_shared_info.flags
SKBFL_ZEROCOPY_ENABLE: Final = 1 << 0
SKBFL_SHARED_FRAG: Final = 1 << 1
SKBFL_PURE_ZEROCOPY: Final = 1 << 2
SKBFL_DONT_ORPHAN: Final = 1 << 3
SKBFL_MANAGED_FRAG_REFS: Final = 1 << 4

# skb_shared_info.gso_type
SKB_GSO_TCPV4: Final = 1 << 0
SKB_GSO_DODGY: Final = 1 << 1
SKB_GSO_TCP_ECN: Final = 1 << 2
SKB_GSO_TCP_FIXEDID: Final = 1 << 3
SKB_GSO_TCPV6: Final = 1 << 4
SKB_GSO_PARTIAL: Final = 1 << 13
SKB_GSO_UDP_L4: Final = 1 << 17
SKB_GSO_FRAGLIST: Final = 1 << 18
#: ``gso_size`` meaning "segment along the frag_list layout".
GSO_BY_FRAGS: Final = 0xFFFF

SKB_DATAREF_SHIFT: Final = 16
SKB_DATAREF_MASK: Final = (1 << SKB_DATAREF_SHIFT) - 1

# Sizes on x86-64 (pahole of 6.18): struct sk_buff is 232 bytes; skb_shared_info is a 48-byte
# header plus 16 bytes per frag slot.
SMP_CACHE_BYTES: Final = 64
SIZEOF_SK_BUFF: Final = 232
SIZEOF_SKB_SHARED_INFO: Final = 48 + 16 * MAX_SKB_FRAGS
_PAGE_SIZE: Final = 4096
# net/core/skbuff.c: heads no larger than SKB_SMALL_HEAD_SIZE come from a dedicated cache.
# SKB_SMALL_HEAD_SIZE = SKB_HEAD_ALIGN(max(MAX_TCP_HEADER, GRO_MAX_HEAD_PAD)); with
# LL_MAX_HEADER 128 (this tree), MAX_HEADER = 176, MAX_TCP_HEADER = 320,
# GRO_MAX_HEAD_PAD = 176 + 128 + NET_SKB_PAD 64 = 368
_SMALL_HEAD_REQUEST: Final = 368


def SKB_DATA_ALIGN(x: int) -> int:
    """Round up to ``SMP_CACHE_BYTES``."""
    return (x + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES


class SkbLayout:
    """The sizes a kernel build fixes through ``CONFIG_MAX_SKB_FRAGS`` (include/linux/skbuff.h,
    net/core/skbuff.c): ``MAX_SKB_FRAGS`` itself, ``sizeof(struct skb_shared_info)`` (a 48-byte
    header and 16 bytes per frag slot), and everything derived from it — ``SKB_HEAD_ALIGN``,
    ``SKB_WITH_OVERHEAD``, ``SKB_TRUESIZE``, ``SKB_SMALL_HEAD_CACHE_SIZE``, ``SKB_MAX_ALLOC``.

    A host is built with one (``Net.skb_layout``); every skb carries its host's
    (``skb.layout``), so heads, truesizes and frag caps follow the host's configuration.  The
    module-level constants and functions (:data:`MAX_SKB_FRAGS`, :func:`SKB_TRUESIZE`, …)
    are the default build's, ``CONFIG_MAX_SKB_FRAGS=17``.  Get one with :func:`skb_layout_for`.
    """

    __slots__ = (
        "max_frags",
        "max_alloc",
        "overhead",
        "shinfo_aligned",
        "shinfo_size",
        "small_head_cache_size",
    )

    def __init__(self, max_frags: int) -> None:
        self.max_frags = max_frags
        self.shinfo_size = 48 + 16 * max_frags
        self.shinfo_aligned = SKB_DATA_ALIGN(self.shinfo_size)
        self.overhead = SKB_DATA_ALIGN(SIZEOF_SK_BUFF) + self.shinfo_aligned
        small = self.head_align(_SMALL_HEAD_REQUEST)
        # SKB_SMALL_HEAD_CACHE_SIZE is kept off powers of two (one cache line more), so that
        # a small head is told from a kmalloc'd one by its size
        self.small_head_cache_size = small + SMP_CACHE_BYTES if small & (small - 1) == 0 else small
        self.max_alloc = self.with_overhead(_PAGE_SIZE << 2)  # SKB_MAX_ORDER(0, 2)

    def head_align(self, x: int) -> int:
        """``SKB_HEAD_ALIGN(x)``: bytes a head of ``x`` usable bytes needs, shared info
        included."""
        return ((x + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES) + self.shinfo_aligned

    def with_overhead(self, x: int) -> int:
        """``SKB_WITH_OVERHEAD(x)``: usable bytes of an ``x``-byte head once the shared info
        is taken out."""
        return x - self.shinfo_aligned

    def truesize(self, x: int) -> int:
        """``SKB_TRUESIZE(x)``: the minimum truesize of an skb with ``x`` bytes of head."""
        return x + self.overhead

    def head_size(self, size: int) -> int:
        """Usable head bytes (``skb_end_offset``) that ``kmalloc_reserve`` gives a request
        for ``size``: the small-head cache when ``SKB_HEAD_ALIGN(size)`` fits in it, else the
        kmalloc size class; minus the shared info."""
        obj = self.head_align(size)
        small = self.small_head_cache_size
        return (small if obj <= small else kmalloc_size_roundup(obj)) - self.shinfo_aligned

    def __repr__(self) -> str:
        return (
            f"<SkbLayout MAX_SKB_FRAGS={self.max_frags} shinfo={self.shinfo_size}"
            f" small_head={self.small_head_cache_size}>"
        )


def skb_layout_for(max_frags: int = MAX_SKB_FRAGS) -> SkbLayout:
    """The :class:`SkbLayout` of a kernel built with ``CONFIG_MAX_SKB_FRAGS=max_frags``
    (17..45, net/Kconfig); one shared instance per value."""
    layout = _LAYOUTS.get(max_frags)
    if layout is None:
        raise ValueError(f"CONFIG_MAX_SKB_FRAGS must be 17..45, not {max_frags}")
    return layout


_LAYOUTS: Final = {n: SkbLayout(n) for n in range(17, 46)}
#: The default build's layout (``CONFIG_MAX_SKB_FRAGS=17``).
DEFAULT_SKB_LAYOUT: Final = _LAYOUTS[MAX_SKB_FRAGS]
_SHINFO_ALIGNED: Final = DEFAULT_SKB_LAYOUT.shinfo_aligned
_SKB_OVERHEAD: Final = DEFAULT_SKB_LAYOUT.overhead


def SKB_HEAD_ALIGN(x: int) -> int:
    """Bytes a head of ``x`` usable bytes needs, shared info included (default build)."""
    return ((x + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES) + _SHINFO_ALIGNED


def SKB_WITH_OVERHEAD(x: int) -> int:
    """Usable bytes of a ``x``-byte head once the shared info is taken out (default build)."""
    return x - _SHINFO_ALIGNED


def SKB_TRUESIZE(x: int) -> int:
    """The minimum truesize of an skb with ``x`` bytes of head (default build)."""
    return x + _SKB_OVERHEAD


#: ``SKB_SMALL_HEAD_CACHE_SIZE`` of the default build: 384 + 320 = 704 (not a power of two).
SKB_SMALL_HEAD_CACHE_SIZE: Final = DEFAULT_SKB_LAYOUT.small_head_cache_size

_KMALLOC_SIZES: Final = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def kmalloc_size_roundup(size: int) -> int:
    """``kmalloc_size_roundup()``: the slab size class (or, above 8 KiB, the page-order size)
    that a ``kmalloc(size)`` really gets."""
    for cls in _KMALLOC_SIZES:
        if size <= cls:
            return cls
    pages = (size + 4095) >> 12
    return 4096 << (pages - 1).bit_length()


class SkbCb(Protocol):
    """A protocol's control block (``skb->cb``): copied by value on clone, as ``memcpy`` does."""

    def copy(self) -> Any:
        """A copy to give the clone."""


class SkbFrag:
    """``skb_frag_t``: ``{page, offset, len}``.  ``page`` may be a 4 KiB sub-page of a compound
    page; the range may cross sub-page boundaries (consumers walk it per page)."""

    __slots__ = ("len", "offset", "page")

    def __init__(self, page: Page, offset: int, len: int) -> None:
        self.page = page
        self.offset = offset
        self.len = len

    @property
    def end(self) -> int:
        """``offset + len``: where a coalescing copy would have to start."""
        return self.offset + self.len

    def view(self) -> memoryview:
        """The frag's bytes (``skb_frag_address`` + ``len``), read-write."""
        return self.page.view[self.offset : self.offset + self.len]

    def copy(self) -> SkbFrag:
        """The descriptor, duplicated (no page reference taken)."""
        return SkbFrag(self.page, self.offset, self.len)

    def __repr__(self) -> str:
        return f"SkbFrag(pfn={self.page.pfn:#x}, offset={self.offset}, len={self.len})"


class SkbSharedInfo:
    """``struct skb_shared_info``: what clones share."""

    __slots__ = (
        "dataref",
        "destructor_arg",
        "flags",
        "frag_list",
        "frags",
        "gso_segs",
        "gso_size",
        "gso_type",
        "tx_flags",
    )

    def __init__(self) -> None:
        self.frags: list[SkbFrag] = []
        self.flags = 0
        self.tx_flags = 0
        self.gso_size = 0
        self.gso_segs = 0
        self.gso_type = 0
        self.frag_list: list[SkBuff] = []
        self.dataref = 1
        self.destructor_arg: object | None = None

    @property
    def nr_frags(self) -> int:
        """Frag slots in use."""
        return len(self.frags)

    def __repr__(self) -> str:
        return (
            f"<SkbSharedInfo nr_frags={len(self.frags)} frag_list={len(self.frag_list)} "
            f"gso_size={self.gso_size} gso_segs={self.gso_segs} dataref={self.dataref:#x}>"
        )


class SkBuff:
    """``struct sk_buff``.  Create with :func:`alloc_skb`; free with :func:`kfree_skb` or
    :func:`consume_skb`."""

    __slots__ = (
        "cb",
        "cloned",
        "csum",
        "csum_offset",
        "csum_start",
        "data",
        "data_len",
        "destructor",
        "dev",
        "dst",
        "end",
        "freed",
        "head",
        "ignore_df",
        "ip_summed",
        "len",
        "mac_header",
        "network_header",
        "nohdr",
        "pfmemalloc",
        "protocol",
        "shinfo",
        "sk",
        "layout",
        "stats",
        "tail",
        "transport_header",
        "truesize",
        "tstamp",
        "users",
    )

    head: bytearray
    shinfo: SkbSharedInfo
    stats: Counters
    #: the host's build sizes (``CONFIG_MAX_SKB_FRAGS``): caps and truesizes follow it
    layout: SkbLayout
    sk: Any
    destructor: Callable[[SkBuff], None] | None
    cb: Any
    dev: Any
    dst: Any

    def __init__(
        self,
        head: bytearray,
        shinfo: SkbSharedInfo,
        truesize: int,
        stats: Counters,
        layout: SkbLayout = DEFAULT_SKB_LAYOUT,
    ):
        self.head = head
        self.data = 0
        self.tail = 0
        self.end = len(head)
        self.len = 0
        self.data_len = 0
        self.truesize = truesize
        self.shinfo = shinfo
        self.cloned = False
        self.nohdr = False
        self.users = 1
        self.ip_summed = CHECKSUM_NONE
        self.csum = 0
        self.csum_start = 0
        self.csum_offset = 0
        self.pfmemalloc = False
        self.mac_header = -1
        self.network_header = -1
        self.transport_header = -1
        self.protocol = 0
        self.sk = None
        self.destructor = None
        self.cb = None
        self.dev = None
        self.dst = None
        self.ignore_df = False
        self.tstamp = 0.0
        self.stats = stats
        self.layout = layout
        self.freed = False

    # -- geometry --------------------------------------------------------------------------

    @property
    def headlen(self) -> int:
        """``skb_headlen()``: bytes in the linear part."""
        return self.len - self.data_len

    @property
    def nr_frags(self) -> int:
        """``skb_shinfo(skb)->nr_frags``."""
        return len(self.shinfo.frags)

    @property
    def frags(self) -> list[SkbFrag]:
        """``skb_shinfo(skb)->frags[0..nr_frags)`` (the live list, shared with clones)."""
        return self.shinfo.frags

    @property
    def frag_list(self) -> list[SkBuff]:
        """``skb_shinfo(skb)->frag_list`` as a list."""
        return self.shinfo.frag_list

    @property
    def headroom(self) -> int:
        """``skb_headroom()``."""
        return self.data

    @property
    def tailroom(self) -> int:
        """``skb_tailroom()``: 0 for a nonlinear skb, as in the kernel."""
        return 0 if self.data_len else self.end - self.tail

    def linear(self) -> memoryview:
        """The linear data, ``head[data:tail]``."""
        return memoryview(self.head)[self.data : self.tail]

    def __repr__(self) -> str:
        state = " freed" if self.freed else (" cloned" if self.cloned else "")
        return (
            f"<SkBuff len={self.len} data_len={self.data_len} headlen={self.len - self.data_len}"
            f" nr_frags={len(self.shinfo.frags)} truesize={self.truesize}{state}>"
        )


def skb_head_size(size: int, layout: SkbLayout = DEFAULT_SKB_LAYOUT) -> int:
    """Usable head bytes (``skb_end_offset``) that ``kmalloc_reserve`` gives a request for
    ``size``: the small-head cache (704 bytes by default) when ``SKB_HEAD_ALIGN(size)`` fits in
    it, else the kmalloc size class, minus the shared info."""
    return layout.head_size(size)


def alloc_skb(
    size: int, *, stats: Counters, gfp: int = 0, layout: SkbLayout = DEFAULT_SKB_LAYOUT
) -> SkBuff:
    """``alloc_skb(size, gfp)`` (net/core/skbuff.c ``__alloc_skb``): an skb with no headroom
    and at least ``size`` bytes of tailroom.  The head is sized as ``kmalloc_reserve`` sizes it:
    the small-head cache when ``SKB_HEAD_ALIGN(size)`` fits, else the kmalloc size class;
    ``end`` is that minus the shared info, and ``truesize = SKB_TRUESIZE(end)`` — all in the
    host's ``layout`` (its ``CONFIG_MAX_SKB_FRAGS``).
    """
    if size < 0:
        raise ValueError(f"alloc_skb({size})")
    obj = ((size + SMP_CACHE_BYTES - 1) & -SMP_CACHE_BYTES) + layout.shinfo_aligned
    small = layout.small_head_cache_size
    end = (small if obj <= small else kmalloc_size_roundup(obj)) - layout.shinfo_aligned
    skb = SkBuff(bytearray(end), SkbSharedInfo(), end + layout.overhead, stats, layout)
    stats.skb_alloc += 1
    tracer = stats.tracer
    if tracer is not None:
        tracer.emit(
            "skb_alloc",
            "__alloc_skb",
            "",
            {"skb": tracer.skb(skb), "size": size, "end": end, "truesize": skb.truesize},
        )
    return skb


def skb_clone(skb: SkBuff) -> SkBuff:
    """``skb_clone()`` (net/core/skbuff.c ``__skb_clone``): a new ``sk_buff`` sharing head and
    shared info; ``dataref + 1``; both become ``cloned``.  No page reference is taken.  The clone
    has no owner (``sk``, ``destructor``) and a by-value copy of ``cb``."""
    _check_live(skb, "skb_clone")
    n = SkBuff(skb.head, skb.shinfo, skb.truesize, skb.stats, skb.layout)
    n.data = skb.data
    n.tail = skb.tail
    n.end = skb.end
    n.len = skb.len
    n.data_len = skb.data_len
    n.cloned = True
    n.ip_summed = skb.ip_summed
    n.csum = skb.csum
    n.csum_start = skb.csum_start
    n.csum_offset = skb.csum_offset
    n.pfmemalloc = skb.pfmemalloc
    n.mac_header = skb.mac_header
    n.network_header = skb.network_header
    n.transport_header = skb.transport_header
    n.protocol = skb.protocol
    n.cb = skb.cb.copy() if skb.cb is not None else None
    n.dev = skb.dev
    n.dst = skb.dst
    n.ignore_df = skb.ignore_df
    n.tstamp = skb.tstamp
    skb.shinfo.dataref += 1
    skb.cloned = True
    stats = skb.stats
    stats.skb_alloc += 1
    stats.skb_clone += 1
    tracer = stats.tracer
    if tracer is not None:
        tracer.emit(
            "skb_clone",
            "skb_clone",
            "a second sk_buff sharing head and frags: dataref + 1, no page reference",
            {"skb": tracer.skb(n), "clone_of": tracer.skb(skb), "len": skb.len},
        )
        role = tracer.role(skb)
        if role:
            tracer.set_role(n, role)
    return n


def skb_cloned(skb: SkBuff) -> bool:
    """``skb_cloned()``: the data is shared with another skb."""
    return skb.cloned and (skb.shinfo.dataref & SKB_DATAREF_MASK) != 1


def skb_header_cloned(skb: SkBuff) -> bool:
    """``skb_header_cloned()``: the header area is shared (payload-only references excluded)."""
    if not skb.cloned:
        return False
    dataref = skb.shinfo.dataref
    return (dataref & SKB_DATAREF_MASK) - (dataref >> SKB_DATAREF_SHIFT) != 1


def skb_shared(skb: SkBuff) -> bool:
    """``skb_shared()``: more than one user holds this ``sk_buff`` itself."""
    return skb.users != 1


def _check_live(skb: SkBuff, op: str) -> None:
    if skb.freed:
        raise BadSkbError(f"{op} on a freed skb (use after free): {skb!r}")


def skb_release_data(skb: SkBuff) -> None:
    """``skb_release_data()``: drop this skb's data reference; the last one unrefs every frag
    page (``put_page``) and frees the frag_list.  Zerocopy frags whose references are managed
    elsewhere (``SKBFL_MANAGED_FRAG_REFS``) are not unreferenced."""
    shinfo = skb.shinfo
    if skb.cloned:
        bias = (1 << SKB_DATAREF_SHIFT) + 1 if skb.nohdr else 1
        shinfo.dataref -= bias
        if shinfo.dataref < 0:
            raise BadSkbError(f"dataref underflow: {skb!r}")
        if shinfo.dataref:
            return
    else:
        shinfo.dataref = 0
    if not shinfo.flags & SKBFL_MANAGED_FRAG_REFS:
        for frag in shinfo.frags:
            put_page(frag.page)
    if shinfo.frag_list:
        kfree_skb_list(shinfo.frag_list)
        shinfo.frag_list = []


def skb_orphan(skb: SkBuff) -> None:
    """``skb_orphan()`` (include/linux/skbuff.h): run the destructor now (uncharging the owning
    socket) and forget the owner."""
    destructor = skb.destructor
    if destructor is not None:
        skb.destructor = None
        destructor(skb)
    skb.sk = None


def kfree_skb(skb: SkBuff) -> None:
    """``kfree_skb()`` / ``consume_skb()``: drop one user; the last user runs the destructor
    (uncharging the socket), releases the data and frees the ``sk_buff``."""
    if skb.freed:
        raise BadSkbError(f"double free of {skb!r}")
    if skb.users != 1:
        skb.users -= 1
        return
    destructor = skb.destructor
    if destructor is not None:
        skb.destructor = None
        destructor(skb)
    tracer = skb.stats.tracer
    if tracer is not None:
        # the reason is read before the data goes, the event told after it went (its
        # put_page and page_free come first), so a picture taken at the event is true
        reason = _free_reason(skb)
        role = tracer.role(skb)
        fields: dict[str, int | str] = {
            "skb": tracer.forget(skb),
            "len": skb.len,
            "nr_frags": len(skb.shinfo.frags),
        }
        if role:
            fields["role"] = role
    skb_release_data(skb)
    skb.freed = True
    skb.stats.skb_free += 1
    if tracer is not None:
        tracer.emit("skb_free", "kfree_skb", reason, fields)


def _free_reason(skb: SkBuff) -> str:
    """Why freeing ``skb`` does or does not give its pages back (for the trace)."""
    if not skb.shinfo.frags:
        return ""
    if skb.cloned and skb.shinfo.dataref & SKB_DATAREF_MASK != 1:
        return "a clone still shares the frags: no page reference is dropped yet"
    return "the last user of the frags: one put_page per frag"


consume_skb = kfree_skb


def kfree_skb_list(skbs: list[SkBuff]) -> None:
    """``kfree_skb_list()``: free every skb of a list (a frag_list, a GSO segment list)."""
    for skb in skbs:
        kfree_skb(skb)
