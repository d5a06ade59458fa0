"""What this process remembers about entries that failed here.

Two things, both only hints (a restart forgets them, which costs a longer wait or one
extra counted delivery, never an effect):

- the last error: such an entry is not in flight anywhere, so the reclaimer retries it
  after the backoff alone instead of waiting for `reclaim_min_idle_ms`, and the error
  goes into the dead letter if it is given up;
- how many of its Redis deliveries were lost to a database outage: Redis counts every
  delivery, the runtime subtracts these so an outage never spends `max_deliveries`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MAX_REMEMBERED = 10_000

Key = tuple[str, str]  # (stream, entry id)


@dataclass
class _Record:
    error: str | None = None
    uncounted: int = 0


class FailureBook:
    """A bounded LRU of `_Record`s, keyed by (stream, entry id)."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._limit = limit
        self._records: OrderedDict[Key, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def error(self, key: Key) -> str | None:
        record = self._records.get(key)
        return None if record is None else record.error

    def uncounted(self, key: Key) -> int:
        record = self._records.get(key)
        return 0 if record is None else record.uncounted

    def failed(self, key: Key, error: str) -> None:
        """A counted failure (the handler or its transaction raised)."""
        self._touch(key).error = error

    def unavailable(self, key: Key, error: str | None) -> None:
        """One Redis delivery of the entry was lost to a database outage. `error` marks it
        for a prompt retry by the reclaimer; None leaves the retry to its current holder."""
        record = self._touch(key)
        record.uncounted += 1
        if error is not None:
            record.error = error

    def forget(self, key: Key) -> None:
        self._records.pop(key, None)

    def _touch(self, key: Key) -> _Record:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
        else:
            self._records.move_to_end(key)
        while len(self._records) > self._limit:
            self._records.popitem(last=False)
        return record
