"""The trio runtime: hosts, their timer tasks and per-task state, and trio sockets.  With
``netsim.cli`` and ``netsim.testing``, the only part of netsim that imports trio."""

from .host import Host as Host
from .host import link as link
from .host import open_host as open_host
from .host import render_pages as render_pages
from .socket import Socket as Socket
from .tap import TapLink as TapLink
from .tap import open_tap_link as open_tap_link
from .wire import StreamLink as StreamLink
from .wire import open_stream_link as open_stream_link
from .wire import open_unix_link as open_unix_link

__all__ = [
    "Host",
    "Socket",
    "StreamLink",
    "TapLink",
    "link",
    "open_host",
    "open_stream_link",
    "open_tap_link",
    "open_unix_link",
    "render_pages",
]
