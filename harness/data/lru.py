"""One bounded cache for the harness's reuse of work (decoded frames, video encodings)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable


class ByteBudgetLRU:
    """Thread-safe map, least recently used out first, bounded by the total size of its values.

    ``size_of(value)`` gives a value's bytes; a value larger than ``max_item_bytes`` (or the whole budget) is
    not stored. ``hits`` / ``misses`` count lookups, so callers can report what was reused.
    """

    def __init__(self, budget_bytes: int, size_of: Callable[[object], int], max_item_bytes: int | None = None):
        self.budget = int(budget_bytes)
        self.max_item = int(max_item_bytes) if max_item_bytes is not None else self.budget
        self._size_of = size_of
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        size = self._size_of(value)
        if size > self.max_item or size > self.budget:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.budget:
                _, old = self._items.popitem(last=False)
                self._bytes -= self._size_of(old)

    def clear(self) -> None:
        """Drop every value and reset the counts."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def counts(self) -> dict:
        return dict(hits=self.hits, misses=self.misses)

    def __len__(self) -> int:
        return len(self._items)
