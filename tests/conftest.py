"""netsim's own suite: every test ends with the page-leak check (the plugin's opt-in fixture,
applied here to everything)."""

from __future__ import annotations

import pytest

from netsim.mm import PageAllocator


@pytest.fixture(autouse=True)
def _leak_check_every_test(page_leak_check: list[PageAllocator]) -> None:
    """Apply netsim's page-leak check to every test in this suite."""
