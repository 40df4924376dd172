"""TCP: the connection state machine, ``tcp_sendmsg_locked`` and the transmit path, ACK
processing, the receive queue, timers (net/ipv4/tcp*.c).  Sans-IO; the runtime's
``netsim.runtime.tcp`` adds the waiting."""

from .proto import tcp_accept as tcp_accept
from .proto import tcp_bind as tcp_bind
from .proto import tcp_close as tcp_close
from .proto import tcp_connect as tcp_connect
from .proto import tcp_ioctl as tcp_ioctl
from .proto import tcp_listen as tcp_listen
from .proto import tcp_shutdown as tcp_shutdown
from .recvmsg import tcp_recvmsg as tcp_recvmsg
from .sendmsg import tcp_sendmsg as tcp_sendmsg
from .sendmsg import tcp_sendmsg_locked as tcp_sendmsg_locked
from .sock import TcpSkbCb as TcpSkbCb
from .sock import TcpSock as TcpSock
from .state import STATE_NAMES as STATE_NAMES

__all__ = [
    "STATE_NAMES",
    "TcpSkbCb",
    "TcpSock",
    "tcp_accept",
    "tcp_bind",
    "tcp_close",
    "tcp_connect",
    "tcp_ioctl",
    "tcp_listen",
    "tcp_recvmsg",
    "tcp_sendmsg",
    "tcp_sendmsg_locked",
    "tcp_shutdown",
]
