"""The trio runtime: hosts, their timer tasks and per-task state, and trio sockets.  With
``netsim.cli`` and ``netsim.testing``, the only part of netsim that imports trio."""

from .host import Host as Host
from .host import link as link
from .host import open_host as open_host
from .socket import Socket as Socket

__all__ = ["Host", "Socket", "link", "open_host"]
