"""A bounded map of what this process used last: a Lambda container serves request after request,
so a few things learnt from one (a caller, a statement) can serve the next."""

from __future__ import annotations

import threading
from collections import OrderedDict


class Recent[K, V]:
    """The `size` entries used last; the least recently used one goes first. Safe across threads
    (Lambda serves one request at a time; local servers may not)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
