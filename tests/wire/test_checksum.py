"""RFC 1071 known answers and the block-add identity used by skb_add_frag_nocache."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.wire import csum_add, csum_block_add, csum_fold, csum_partial, csum_partial_many


def _reference(data: bytes) -> int:
    """Word-by-word one's-complement sum with end-around carry (RFC 1071 §4.1)."""
    if len(data) % 2:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_rfc1071_example() -> None:
    # RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, checksum 220d
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert csum_partial(data) == 0xDDF2
    assert csum_fold(csum_partial(data)) == 0x220D


def test_ipv4_header_known_answer() -> None:
    # a classic IPv4 header (checksum field zeroed) whose checksum is b861
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert csum_fold(csum_partial(header)) == 0xB861
    with_csum = header[:10] + b"\xb8\x61" + header[12:]
    assert csum_fold(csum_partial(with_csum)) == 0


def test_all_zero_and_all_ones() -> None:
    assert csum_partial(b"") == 0
    assert csum_partial(bytes(100)) == 0
    assert csum_partial(b"\xff\xff" * 10) == 0xFFFF


@settings(max_examples=200, database=None, derandomize=True)
@given(st.binary(max_size=3000))
def test_matches_word_by_word_reference(data: bytes) -> None:
    assert csum_partial(data) == _reference(data)


@settings(max_examples=200, database=None, derandomize=True)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_block_add_at_odd_offsets_equals_whole(data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert csum_partial_many(chunks) == csum_partial(data)
    total, offset = 0, 0
    for chunk in chunks:
        total = csum_block_add(total, csum_partial(chunk), offset)
        offset += len(chunk)
    assert total == csum_partial(data)


def test_csum_add_is_ones_complement() -> None:
    rng = random.Random(1)
    for _ in range(1000):
        a, b = rng.randrange(0x10000), rng.randrange(0x10000)
        s = a + b
        assert csum_add(a, b) == (s & 0xFFFF) + (s >> 16)
