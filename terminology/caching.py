"""Bounded per-worker caches: one LRU implementation (cachetools) with hit, miss and eviction counts.

Every table a worker fills from callers' input is a ``BoundedCache``, bounded by entries or by
(estimated) bytes, so no request can grow a worker for good. Content is read-only while a worker
serves, so a cached answer never goes stale. ``cache_totals()`` adds up the live caches of each
name for the metrics (``/metrics``: ``terminology_cache_*``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass

from cachetools import LRUCache

_lru_getitem = LRUCache.__getitem__
# Every live cache of the process, by name, for the metrics; weak, so a dropped app's caches go.
_LIVE: dict[str, weakref.WeakSet[BoundedCache]] = {}


class BoundedCache(LRUCache):
    """A least-recently-used cache bounded by entries, or by bytes when ``sizeof`` is given.

    ``sizeof(key, value)`` estimates what one entry costs; an entry larger than ``largest``
    (default: the whole bound) is answered but not kept. ``max_entries`` also bounds the number
    of entries of a cache bounded by bytes. ``maxsize`` 0 turns the cache off.
    Reads and writes take a lock, so threaded servers cannot corrupt the LRU order; ``compute``
    runs outside it.
    """

    # A cache is one object, not a mapping compared by contents (and it sits in a WeakSet).
    __hash__ = object.__hash__
    __eq__ = object.__eq__

    def __init__(
        self,
        name: str,
        maxsize: int,
        sizeof: Callable[[Hashable, object], int] | None = None,
        largest: int | None = None,
        max_entries: int | None = None,
    ) -> None:
        super().__init__(maxsize=max(maxsize, 0), getsizeof=(lambda entry: entry[1]) if sizeof else None)
        self.name = name
        self.unit = "bytes" if sizeof else "entries"
        self.sizeof = sizeof
        self.largest = self.maxsize if largest is None else min(largest, self.maxsize)
        self.max_entries = max_entries
        self.hits = self.misses = self.evictions = 0
        self._lock = threading.Lock()
        _LIVE.setdefault(name, weakref.WeakSet()).add(self)

    def popitem(self):
        """Evict the least recently used entry (counted)."""
        self.evictions += 1
        return super().popitem()

    def get_or_compute(self, key: Hashable | None, compute: Callable[[], object]):
        """Return the value for ``key``, computing (and keeping) it on a miss; None keys are not cached.

        Errors raised by ``compute`` propagate and are never cached.
        """
        if key is None or not self.maxsize:
            return compute()
        # acquire/release and the direct LRUCache lookup: this runs for every item of a batch.
        lock = self._lock
        lock.acquire()
        try:
            entry = _lru_getitem(self, key)
            self.hits += 1
            return entry[0]
        except KeyError:
            self.misses += 1
        finally:
            lock.release()
        value = compute()
        self.put(key, value)
        return value

    def lookup(self, key: Hashable, count: bool = True):
        """Return the cached value for ``key``, or None; ``count`` False leaves counting to the caller.

        (The response cache counts a hit only once the caller may have the answer.)
        """
        with self._lock:
            try:
                entry = self[key]
            except KeyError:
                self.misses += count
                return None
            self.hits += count
            return entry[0]

    def put(self, key: Hashable, value: object) -> None:
        """Keep ``value`` under ``key`` unless it is larger than one entry may be."""
        if not self.maxsize:
            return
        size = self.sizeof(key, value) if self.sizeof else 1
        if size > self.largest:
            return
        with self._lock:
            self[key] = (value, size)
            if self.max_entries is not None:
                while len(self) > self.max_entries:
                    self.popitem()


@dataclass(slots=True)
class CacheTotals:
    """The counts of every live cache of one name, added up."""

    name: str
    unit: str
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    size: int = 0
    maxsize: int = 0


def cache_totals() -> Iterator[CacheTotals]:
    """Yield the added-up counts of each cache name in this process."""
    for name, caches in sorted(_LIVE.items()):
        live = list(caches)
        if not live:
            continue
        totals = CacheTotals(name, live[0].unit)
        for cache in live:
            totals.hits += cache.hits
            totals.misses += cache.misses
            totals.evictions += cache.evictions
            totals.size += cache.currsize if cache.unit == "bytes" else len(cache)
            totals.maxsize += cache.maxsize
        yield totals


def approximate_entry_size(key: object, value: object) -> int:
    """Estimate the bytes one cache entry of plain Python data holds (key and value)."""
    return approximate_size(key) + approximate_size(value)


def approximate_size(value: object) -> int:
    """Estimate the bytes a key or value of plain Python data holds (strings dominate)."""
    if isinstance(value, str | bytes):
        return 50 + len(value)
    if isinstance(value, tuple | list | frozenset | set):
        return 56 + 8 * len(value) + sum(approximate_size(item) for item in value)
    if isinstance(value, dict):
        return 64 + sum(approximate_size(k) + approximate_size(v) for k, v in value.items())
    return 32
