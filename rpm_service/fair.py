"""Waiting jobs served fairly: round robin across visitors, first come first served within one visitor.

A class shares one queue. Served in arrival order, a visitor who asks for ten runs at once (or opens four tabs)
makes everyone behind them wait for all ten; served round robin, each visitor with something waiting gets the next
free worker in turn, so a student's single run starts after at most one run of each other visitor. Both job
services (the in-process ``JobRunner`` and the Ray service in ``ray_jobs``) keep their waiting jobs in a
``FairQueue``; a visitor is whoever the page says it is (``explorer.ui.client_id``: one per browser, not per tab).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator


class FairQueue:
    """Jobs waiting to start, taken round robin across their owners (the visitor who first asked for each).

    ``append(job, owner)`` queues a job; ``popleft()`` takes the next one: the oldest job of the visitor whose turn it
    is, and that visitor goes to the back of the turn order (a visitor who arrives later joins just before the one
    served last). ``appendleft(job)`` puts a job back in front of
    everything (it was taken but could not start). Iterating gives the order in which the jobs would start if nothing
    changed (a job's position in the queue). Jobs are compared by identity.
    """

    def __init__(self):
        self._front: collections.deque = collections.deque()
        self._by: dict[str, collections.deque] = {}
        self._turn: collections.deque[str] = collections.deque()  # owners with something waiting, next first
        self._owner: dict[int, str] = {}
        self._last: str | None = None  # the owner served last (at the back of the turn order while it waits)

    def append(self, job, owner: str = "") -> None:
        self._owner[id(job)] = owner
        if owner not in self._by:
            self._by[owner] = collections.deque()
            if self._turn and self._turn[-1] == self._last:  # a newcomer goes before whoever was just served
                self._turn.insert(len(self._turn) - 1, owner)
            else:
                self._turn.append(owner)
        self._by[owner].append(job)

    def appendleft(self, job) -> None:
        self._owner.setdefault(id(job), "")
        self._front.appendleft(job)

    def popleft(self):
        if self._front:
            job = self._front.popleft()
        elif self._turn:
            owner = self._turn.popleft()
            job = self._by[owner].popleft()
            self._last = owner
            if self._by[owner]:
                self._turn.append(owner)
            else:
                del self._by[owner]
        else:
            raise IndexError("pop from an empty FairQueue")
        self._owner.pop(id(job), None)
        return job

    def remove(self, job) -> None:
        """Take ``job`` out of the queue (``ValueError`` if it is not in it)."""
        owner = self._owner.pop(id(job), None)
        if owner is None:
            raise ValueError("job not in the queue")
        for q in (self._front, self._by.get(owner, ())):
            for i, j in enumerate(q):
                if j is job:
                    del q[i]
                    break
            else:
                continue
            break
        if owner in self._by and not self._by[owner]:
            del self._by[owner]
            self._turn.remove(owner)

    def clear(self) -> None:
        self.__init__()

    def owner(self, job) -> str | None:
        return self._owner.get(id(job))

    def owners(self) -> list[str]:
        """Visitors with a job waiting, in turn order."""
        return list(self._turn)

    def __len__(self) -> int:
        return len(self._owner)

    def __bool__(self) -> bool:
        return bool(self._owner)

    def __contains__(self, job) -> bool:
        return id(job) in self._owner

    def __iter__(self) -> Iterator:
        """The order the jobs would start in: the front, then one per owner in turn, round after round."""
        yield from self._front
        queues = [list(self._by[o]) for o in self._turn]
        depth = max((len(q) for q in queues), default=0)
        for i in range(depth):
            for q in queues:
                if i < len(q):
                    yield q[i]
