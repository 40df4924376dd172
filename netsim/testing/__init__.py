"""Testing helpers and the pytest plugin (fixtures: ``page_leak_check``, ``page_allocator``,
``frag_allocator``; the capture switch ``--netsim-capture``, whose captures and tshark check
live in :mod:`netsim.testing.capture`)."""

from .leaks import assert_no_page_leaks as assert_no_page_leaks

__all__ = ["assert_no_page_leaks"]
