"""A per-worker memo of rendered answers ($lookup, $validate-code): content is read-only while serving."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable


class ResultCache:
    """Least-recently-used memo of rendered FHIR answers, keyed by every input they depend on.

    Content never changes while a worker serves, so the same inputs always give the same answer;
    tx.fhir.org and HAPI cache validation results for the same reason. Cached dicts are shared
    between responses and must never be mutated. ``size`` 0 turns the cache off.
    """

    __slots__ = ("_entries", "hits", "misses", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, dict] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable | None, compute: Callable[[], dict]) -> dict:
        """Return the answer for ``key``, computing (and keeping) it on a miss; None keys are not cached."""
        if key is None or self.size <= 0:
            return compute()
        entries = self._entries
        found = entries.get(key)
        # Each OrderedDict call is atomic; under a threaded server another thread may evict or
        # trim between two calls, which costs at most a recency update, never a wrong answer.
        # try/except rather than contextlib.suppress: free when nothing is raised, and this runs
        # for every code of a batch.
        if found is not None:
            try:  # noqa: SIM105
                entries.move_to_end(key)
            except KeyError:
                pass
            self.hits += 1
            return found
        self.misses += 1
        answer = compute()  # errors propagate and are never cached
        entries[key] = answer
        if len(entries) > self.size:
            try:  # noqa: SIM105
                entries.popitem(last=False)
            except KeyError:
                pass
        return answer


NO_CACHE = ResultCache(0)
