"""``python -m netsim``: the ``netsim`` command line."""

from .cli import main

raise SystemExit(main())
