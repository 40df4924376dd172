"""``current``: the per-task state ``sk_page_frag()`` draws from.

Each (host, trio task) pair has a :class:`TaskContext` — the emulated ``task_struct`` — holding
the task's fragment allocator (``current->task_frag``).  It is created empty (``dup_task_struct``
sets ``task_frag.page = NULL``: nothing is inherited) and filled on the first send; the runtime
drains it when the trio task exits (``do_exit``) or when the host closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..mm import FragAllocator

if TYPE_CHECKING:
    from ..netns import Net

__all__ = ["TaskContext"]


class TaskContext:
    """One task's view of one host: its ``task_frag``."""

    __slots__ = ("_frag", "name", "net")

    def __init__(self, net: Net, name: str = "") -> None:
        self.net = net
        self.name = name
        self._frag: FragAllocator | None = None

    @property
    def task_frag(self) -> FragAllocator | None:
        """The allocator, if the task has sent anything yet."""
        return self._frag

    def frag_allocator(self, net: Net) -> FragAllocator:
        """``&current->task_frag``, created with the host's allocator on first use."""
        frag = self._frag
        if frag is None:
            if net is not self.net:
                raise ValueError(f"task context of {self.net!r} used on {net!r}")
            frag = self._frag = net.new_frag_allocator()
        return frag

    def exit(self) -> None:
        """``do_exit``: drain the task's fragment allocator."""
        frag = self._frag
        if frag is not None:
            self._frag = None
            frag.drain()

    def __repr__(self) -> str:
        return f"<TaskContext {self.name!r} frag={self._frag!r}>"
