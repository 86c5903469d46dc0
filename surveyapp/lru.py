"""A bounded per-process cache: the least recently used entry goes first when it is full."""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(OrderedDict[K, V]):
    """At most ``maxsize`` entries (added with ``put``); ``recent`` makes a hit the most recent.

    The respondent pages' caches (form classes, visible pages, page frames) are keyed by things
    often seen by one respondent only, so a cache that emptied itself when full would throw the
    common entries out with the rare ones. Safe enough under threads: a key evicted by another
    thread between the lookup and the move is simply not moved.
    """

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def recent(self, key: K) -> V | None:
        """The entry for ``key`` (None when absent), now the most recently used."""
        value = self.get(key)
        if value is not None:
            with suppress(KeyError):  # evicted by another thread just now
                self.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Add or replace an entry; when full, the least recently used one goes first."""
        if key not in self and len(self) >= self.maxsize:
            with suppress(KeyError):  # emptied by another thread just now
                self.popitem(last=False)
        self[key] = value
