"""Memory: pages, the page allocator, and the fragment allocators behind ``sk_page_frag()``.

This package is the emulated ``mm/``: it knows nothing about sockets or skbs.  See
:mod:`netsim.mm.page` (pages and reference counts), :mod:`netsim.mm.allocator` (the page
allocator), :mod:`netsim.mm.page_frag` (the old ``struct page_frag``),
:mod:`netsim.mm.page_frag_cache` (the series' ``page_frag_cache``) and
:mod:`netsim.mm.frag_allocator` (the protocol both implement, and the registry).
"""

from ..errors import MemoryLimitWarning as MemoryLimitWarning
from .allocator import PageAccount as PageAccount
from .allocator import PageAllocator as PageAllocator
from .allocator import PageSource as PageSource
from .allocator import track_page_allocators as track_page_allocators
from .frag_allocator import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from .frag_allocator import FragAllocator as FragAllocator
from .frag_allocator import FragAllocatorFactory as FragAllocatorFactory
from .frag_allocator import FragSpan as FragSpan
from .frag_allocator import available_frag_allocators as available_frag_allocators
from .frag_allocator import get_frag_allocator as get_frag_allocator
from .gfp import GFP_ATOMIC as GFP_ATOMIC
from .gfp import GFP_KERNEL as GFP_KERNEL
from .gfp import GFP_NOIO as GFP_NOIO
from .gfp import GFP_NOWAIT as GFP_NOWAIT
from .gfp import Gfp as Gfp
from .gfp import gfp_pfmemalloc_allowed as gfp_pfmemalloc_allowed
from .gfp import gfpflags_allow_blocking as gfpflags_allow_blocking
from .page import PAGE_OFFSET as PAGE_OFFSET
from .page import PAGE_SHIFT as PAGE_SHIFT
from .page import PAGE_SIZE as PAGE_SIZE
from .page import Page as Page
from .page import compound_head as compound_head
from .page import free_frozen_pages as free_frozen_pages
from .page import get_order as get_order
from .page import get_page as get_page
from .page import page_address as page_address
from .page import page_ref_add as page_ref_add
from .page import page_ref_count as page_ref_count
from .page import page_ref_inc as page_ref_inc
from .page import page_ref_sub_and_test as page_ref_sub_and_test
from .page import put_page as put_page
from .page import put_page_testzero as put_page_testzero
from .page import set_page_count as set_page_count
from .page_frag import SKB_FRAG_PAGE_ORDER as SKB_FRAG_PAGE_ORDER
from .page_frag import PageFrag as PageFrag
from .page_frag_cache import PAGE_FRAG_CACHE_MAX_ORDER as PAGE_FRAG_CACHE_MAX_ORDER
from .page_frag_cache import PAGE_FRAG_CACHE_MAX_SIZE as PAGE_FRAG_CACHE_MAX_SIZE
from .page_frag_cache import PAGE_FRAG_CACHE_ORDER_MASK as PAGE_FRAG_CACHE_ORDER_MASK
from .page_frag_cache import PAGE_FRAG_CACHE_PFMEMALLOC_BIT as PAGE_FRAG_CACHE_PFMEMALLOC_BIT
from .page_frag_cache import PageFragCache as PageFragCache
from .page_frag_cache import PageFragCacheCountdown as PageFragCacheCountdown
from .page_frag_cache import encoded_page_decode_order as encoded_page_decode_order
from .page_frag_cache import encoded_page_decode_pfmemalloc as encoded_page_decode_pfmemalloc
from .page_frag_cache import encoded_page_decode_virt as encoded_page_decode_virt

__all__ = [
    "ENTRY_POINT_GROUP",
    "GFP_ATOMIC",
    "GFP_KERNEL",
    "GFP_NOIO",
    "GFP_NOWAIT",
    "PAGE_FRAG_CACHE_MAX_ORDER",
    "PAGE_FRAG_CACHE_MAX_SIZE",
    "PAGE_FRAG_CACHE_ORDER_MASK",
    "PAGE_FRAG_CACHE_PFMEMALLOC_BIT",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "SKB_FRAG_PAGE_ORDER",
    "FragAllocator",
    "FragAllocatorFactory",
    "FragSpan",
    "Gfp",
    "Page",
    "MemoryLimitWarning",
    "PageAccount",
    "PageAllocator",
    "PageFrag",
    "PageFragCache",
    "PageFragCacheCountdown",
    "PageSource",
    "available_frag_allocators",
    "compound_head",
    "encoded_page_decode_order",
    "encoded_page_decode_pfmemalloc",
    "encoded_page_decode_virt",
    "free_frozen_pages",
    "get_frag_allocator",
    "get_order",
    "get_page",
    "gfp_pfmemalloc_allowed",
    "gfpflags_allow_blocking",
    "page_address",
    "page_ref_add",
    "page_ref_count",
    "page_ref_inc",
    "page_ref_sub_and_test",
    "put_page",
    "put_page_testzero",
    "set_page_count",
    "track_page_allocators",
]
