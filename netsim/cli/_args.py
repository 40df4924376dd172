"""Argument types the ``netsim`` commands share (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse

from ..mm import available_frag_allocators

__all__ = ["allocator_name", "file_name"]


def allocator_name(text: str) -> str:
    """A registered fragment allocator's name (``--allocator``), else a usage error that
    lists the available ones."""
    known = available_frag_allocators()
    if text not in known:
        raise argparse.ArgumentTypeError(
            f"unknown allocator {text!r}; available: {', '.join(sorted(known))}"
        )
    return text


def file_name(text: str) -> str:
    """A file name for an option that writes one (``--json FILE``, ``--pcap FILE``): not
    empty."""
    if not text:
        raise argparse.ArgumentTypeError("needs a file name")
    return text
