"""The ``netsim`` command line (``netsim nc`` lands with the nc issue)."""

__all__: list[str] = []
