"""The event store: an append-only JSONL file, one event per line.

Reading validates the whole log: a torn final line is tolerated, anything else that does
not decode, or a gap in `seq`, is corruption.
"""

from __future__ import annotations

import json
import os
from typing import List, Optional, Tuple

from wfengine.events import Event, EventError


class CorruptLogError(Exception):
    """The log is damaged somewhere other than its final line."""


class EventStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fh = None
        self.last_seq = 0

    @staticmethod
    def read(path: str) -> Tuple[List[Event], bool]:
        """(events, torn): every complete event, and whether a torn final line follows."""
        with open(path, "rb") as f:
            raw = f.read()
        torn = bool(raw) and not raw.endswith(b"\n")  # the final write was cut short
        lines = raw.split(b"\n")
        tail = lines.pop()  # text after the last newline: empty, or a torn line
        events: List[Event] = []
        for number, line in enumerate(lines, 1):
            try:
                event = Event.from_dict(json.loads(line))
            except (ValueError, EventError) as exc:
                if number == len(lines) and not tail:
                    torn = True  # the last line is not valid JSON: torn
                    break
                raise CorruptLogError(f"line {number}: {exc}") from None
            if event.seq != len(events) + 1:
                raise CorruptLogError(f"line {number}: seq {event.seq}, expected {len(events) + 1}")
            events.append(event)
        return events, torn

    def open(self, events: List[Event]) -> None:
        """Open the log for appending after `events` were replayed."""
        self._fh = open(self.path, "w", encoding="utf-8")
        self.last_seq = events[-1].seq if events else 0
        dir_fd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def append(self, event: Event) -> Event:
        assert self._fh is not None, "store not opened"
        self.last_seq += 1
        event.seq = self.last_seq
        self._fh.write(json.dumps(event.to_dict()) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return event

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def load(path: str) -> Optional[Tuple[List[Event], bool]]:
    """The log's events, or None if there is no log yet."""
    if not os.path.exists(path):
        return None
    return EventStore.read(path)
