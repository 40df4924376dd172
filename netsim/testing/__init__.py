"""Testing helpers and the pytest plugin (fixtures: ``page_leak_check``, ``page_allocator``,
``frag_allocator``)."""

from .leaks import assert_no_page_leaks as assert_no_page_leaks

__all__ = ["assert_no_page_leaks"]
