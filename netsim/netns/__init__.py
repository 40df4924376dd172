"""``struct net``: one host's network namespace, sans-IO (devices, routes, sockets, sysctls,
counters, timers, the receive backlog)."""

from .net import Net as Net
from .timers import Timer as Timer
from .timers import TimerQueue as TimerQueue

__all__ = ["Net", "Timer", "TimerQueue"]
