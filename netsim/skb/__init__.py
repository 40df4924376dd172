"""The skb: ``struct sk_buff``, its shared info and frags, and the kernel's helpers on them
(include/linux/skbuff.h, net/core/skbuff.c).  See :mod:`netsim.skb.buff` for the model."""

from .buff import CHECKSUM_COMPLETE as CHECKSUM_COMPLETE
from .buff import CHECKSUM_NONE as CHECKSUM_NONE
from .buff import CHECKSUM_PARTIAL as CHECKSUM_PARTIAL
from .buff import CHECKSUM_UNNECESSARY as CHECKSUM_UNNECESSARY
from .buff import DEFAULT_SKB_LAYOUT as DEFAULT_SKB_LAYOUT
from .buff import GSO_BY_FRAGS as GSO_BY_FRAGS
from .buff import MAX_SKB_FRAGS as MAX_SKB_FRAGS
from .buff import SIZEOF_SK_BUFF as SIZEOF_SK_BUFF
from .buff import SIZEOF_SKB_SHARED_INFO as SIZEOF_SKB_SHARED_INFO
from .buff import SKB_DATA_ALIGN as SKB_DATA_ALIGN
from .buff import SKB_DATAREF_MASK as SKB_DATAREF_MASK
from .buff import SKB_DATAREF_SHIFT as SKB_DATAREF_SHIFT
from .buff import SKB_GSO_DODGY as SKB_GSO_DODGY
from .buff import SKB_GSO_FRAGLIST as SKB_GSO_FRAGLIST
from .buff import SKB_GSO_PARTIAL as SKB_GSO_PARTIAL
from .buff import SKB_GSO_TCP_ECN as SKB_GSO_TCP_ECN
from .buff import SKB_GSO_TCP_FIXEDID as SKB_GSO_TCP_FIXEDID
from .buff import SKB_GSO_TCPV4 as SKB_GSO_TCPV4
from .buff import SKB_GSO_TCPV6 as SKB_GSO_TCPV6
from .buff import SKB_GSO_UDP_L4 as SKB_GSO_UDP_L4
from .buff import SKB_HEAD_ALIGN as SKB_HEAD_ALIGN
from .buff import SKB_SMALL_HEAD_CACHE_SIZE as SKB_SMALL_HEAD_CACHE_SIZE
from .buff import SKB_TRUESIZE as SKB_TRUESIZE
from .buff import SKB_WITH_OVERHEAD as SKB_WITH_OVERHEAD
from .buff import SKBFL_DONT_ORPHAN as SKBFL_DONT_ORPHAN
from .buff import SKBFL_MANAGED_FRAG_REFS as SKBFL_MANAGED_FRAG_REFS
from .buff import SKBFL_PURE_ZEROCOPY as SKBFL_PURE_ZEROCOPY
from .buff import SKBFL_SHARED_FRAG as SKBFL_SHARED_FRAG
from .buff import SKBFL_ZEROCOPY_ENABLE as SKBFL_ZEROCOPY_ENABLE
from .buff import SMP_CACHE_BYTES as SMP_CACHE_BYTES
from .buff import BadSkbError as BadSkbError
from .buff import SkbCb as SkbCb
from .buff import SkbFrag as SkbFrag
from .buff import SkbLayout as SkbLayout
from .buff import SkbSharedInfo as SkbSharedInfo
from .buff import SkBuff as SkBuff
from .buff import alloc_skb as alloc_skb
from .buff import consume_skb as consume_skb
from .buff import kfree_skb as kfree_skb
from .buff import kfree_skb_list as kfree_skb_list
from .buff import kmalloc_size_roundup as kmalloc_size_roundup
from .buff import skb_clone as skb_clone
from .buff import skb_cloned as skb_cloned
from .buff import skb_head_size as skb_head_size
from .buff import skb_header_cloned as skb_header_cloned
from .buff import skb_layout_for as skb_layout_for
from .buff import skb_orphan as skb_orphan
from .buff import skb_release_data as skb_release_data
from .buff import skb_shared as skb_shared
from .ops import SkbOwner as SkbOwner
from .ops import __pskb_pull_tail as __pskb_pull_tail
from .ops import __pskb_trim_head as __pskb_trim_head
from .ops import __skb_fill_page_desc as __skb_fill_page_desc
from .ops import pskb_copy as pskb_copy
from .ops import pskb_expand_head as pskb_expand_head
from .ops import pskb_pull as pskb_pull
from .ops import pskb_trim as pskb_trim
from .ops import skb_add_frag_nocache as skb_add_frag_nocache
from .ops import skb_add_rx_frag as skb_add_rx_frag
from .ops import skb_append_pagefrags as skb_append_pagefrags
from .ops import skb_can_coalesce as skb_can_coalesce
from .ops import skb_check as skb_check
from .ops import skb_coalesce_rx_frag as skb_coalesce_rx_frag
from .ops import skb_copy as skb_copy
from .ops import skb_copy_bits as skb_copy_bits
from .ops import skb_fill_page_desc as skb_fill_page_desc
from .ops import skb_frag_off_add as skb_frag_off_add
from .ops import skb_frag_ref as skb_frag_ref
from .ops import skb_frag_size_add as skb_frag_size_add
from .ops import skb_frag_size_sub as skb_frag_size_sub
from .ops import skb_frag_unref as skb_frag_unref
from .ops import skb_len_add as skb_len_add
from .ops import skb_linearize as skb_linearize
from .ops import skb_pagelen as skb_pagelen
from .ops import skb_pull as skb_pull
from .ops import skb_push as skb_push
from .ops import skb_put as skb_put
from .ops import skb_reserve as skb_reserve
from .ops import skb_shift as skb_shift
from .ops import skb_to_bytes as skb_to_bytes
from .ops import skb_unclone_keeptruesize as skb_unclone_keeptruesize
from .ops import skb_zcopy as skb_zcopy
from .ops import trace_frag as trace_frag
from .ops import trace_record_frag as trace_record_frag
from .render import PageMap as PageMap
from .render import PageMapCursor as PageMapCursor
from .render import PageMapFrag as PageMapFrag
from .render import PageMapPage as PageMapPage
from .render import PageMapRange as PageMapRange
from .render import PageMapSkb as PageMapSkb
from .render import page_map as page_map
from .render import page_refs as page_refs
from .render import render_page_map as render_page_map
from .render import render_pages as render_pages
from .render import skb_describe as skb_describe
from .render import skb_layout as skb_layout
from .split import skb_segment as skb_segment
from .split import skb_split as skb_split

__all__ = [
    "PageMap",
    "PageMapCursor",
    "PageMapFrag",
    "PageMapPage",
    "PageMapRange",
    "PageMapSkb",
    "page_map",
    "page_refs",
    "render_page_map",
    "render_pages",
    "BadSkbError",
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "GSO_BY_FRAGS",
    "DEFAULT_SKB_LAYOUT",
    "MAX_SKB_FRAGS",
    "SkbLayout",
    "skb_layout_for",
    "SIZEOF_SKB_SHARED_INFO",
    "SIZEOF_SK_BUFF",
    "SKBFL_DONT_ORPHAN",
    "SKBFL_MANAGED_FRAG_REFS",
    "SKBFL_PURE_ZEROCOPY",
    "SKBFL_SHARED_FRAG",
    "SKBFL_ZEROCOPY_ENABLE",
    "SKB_DATAREF_MASK",
    "SKB_DATAREF_SHIFT",
    "SKB_DATA_ALIGN",
    "SKB_GSO_DODGY",
    "SKB_GSO_FRAGLIST",
    "SKB_GSO_PARTIAL",
    "SKB_GSO_TCPV4",
    "SKB_GSO_TCPV6",
    "SKB_GSO_TCP_ECN",
    "SKB_GSO_TCP_FIXEDID",
    "SKB_GSO_UDP_L4",
    "SKB_HEAD_ALIGN",
    "SKB_SMALL_HEAD_CACHE_SIZE",
    "SKB_TRUESIZE",
    "SKB_WITH_OVERHEAD",
    "SMP_CACHE_BYTES",
    "SkBuff",
    "SkbCb",
    "SkbFrag",
    "SkbOwner",
    "SkbSharedInfo",
    "__pskb_pull_tail",
    "__skb_fill_page_desc",
    "alloc_skb",
    "consume_skb",
    "kfree_skb",
    "kfree_skb_list",
    "kmalloc_size_roundup",
    "pskb_copy",
    "skb_copy",
    "pskb_expand_head",
    "skb_unclone_keeptruesize",
    "__pskb_trim_head",
    "pskb_pull",
    "pskb_trim",
    "skb_add_frag_nocache",
    "skb_add_rx_frag",
    "skb_append_pagefrags",
    "skb_can_coalesce",
    "skb_check",
    "skb_clone",
    "skb_cloned",
    "skb_coalesce_rx_frag",
    "skb_copy_bits",
    "skb_describe",
    "skb_layout",
    "skb_fill_page_desc",
    "skb_frag_off_add",
    "skb_frag_ref",
    "skb_frag_size_add",
    "skb_frag_size_sub",
    "skb_frag_unref",
    "skb_head_size",
    "skb_header_cloned",
    "skb_len_add",
    "skb_shift",
    "skb_linearize",
    "skb_pagelen",
    "skb_pull",
    "skb_push",
    "skb_orphan",
    "skb_put",
    "skb_release_data",
    "skb_reserve",
    "skb_segment",
    "skb_shared",
    "skb_split",
    "skb_to_bytes",
    "skb_zcopy",
    "trace_frag",
    "trace_record_frag",
]
