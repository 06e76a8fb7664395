"""The manager-mode statistics: the stats segment on fd 4 and the report
records on fd 5 (docs/protocol.md §4 and §5). All integers little-endian.

:class:`StatsSlot` writes this instance's slot; :class:`Reporter` batches
per-request entries into 528-byte records. The ``pack_*``/``unpack_*``
functions describe the byte layouts for tools and tests.
"""

from __future__ import annotations

import enum
import functools
import mmap
import os
import stat
import struct
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

MAGIC = b"PLSS"
SEGMENT_VERSION = 1
HEADER_SIZE = 64
SLOT_SIZE = 64
REPORT_VERSION = 1
REPORT_SIZE = 528
REPORT_ENTRIES = 16
NO_SLOT = 0xFFFFFFFF

_HEADER = struct.Struct("<4sIIIII")        # magic, version, headerSize, slotSize, slotCount, affinityTimeout
_SLOT = struct.Struct("<IIQQQQQIIII")      # the whole 64-byte slot
_PID = struct.Struct("<I")                 # offset 0
_STATE_SINCE = struct.Struct("<IQ")        # offsets 4-15
_BUSY = struct.Struct("<IQQ")              # offsets 4-23: state, since, requests
_FINISHED = struct.Struct("<IQQQQQ")       # offsets 4-47: ... responses, faults, busyMicros
_U32 = struct.Struct("<I")
_RECORD_HEAD = struct.Struct("<IIII")      # version, pid, slot, entries
_ENTRY = struct.Struct("<IIII16s")         # outcome, durationMicros, requestBytes, responseBytes, function

_U32_MAX = 0xFFFFFFFF
_STALE_NS = 1_000_000_000  # a report entry older than this is sent before blocking in accept
_NEVER = 1 << 62
_RECORD_HEAD_SIZE, _ENTRY_SIZE = _RECORD_HEAD.size, _ENTRY.size
_OFF_ENTRIES = 12  # of a report record

_OFF_MAX_REQUESTS = 48
_OFF_SHUTDOWN_REQUEST = 52
_OFF_EXIT_REASON = 56


class SlotState(enum.IntEnum):
    """The ``state`` field of a slot."""

    STARTING = 0
    IDLE = 1
    BUSY = 2
    AFFINITY = 3
    STOPPING = 4


class ExitReason(enum.IntEnum):
    """Shared by ``shutdownRequest`` and ``exitReason`` (the original's numbering)."""

    NONE = 0
    SERVICE_SHUTDOWN = 1
    UNRESPONSIVE = 2
    ABNORMAL_EXIT = 3
    LOST_IO = 4
    RUNAWAY_CHILD = 5
    MAX_REQUESTS = 6
    EXCESS_PROCESSES = 7
    IDLE_TIMEOUT = 8
    ACCEPT_FAILED = 9


class Outcome(enum.IntEnum):
    """The outcome of one request in a report entry."""

    READ_ERROR = 1
    WRITE_ERROR = 2
    FAULT = 3
    OK = 4


def now_micros() -> int:
    """Unix time in microseconds, as written to ``since``."""
    return time.time_ns() // 1000


@dataclass
class Slot:
    """A decoded 64-byte slot."""

    pid: int
    state: int
    since: int
    requests: int
    responses: int
    faults: int
    busy_micros: int
    maximum_requests: int
    shutdown_request: int
    exit_reason: int


def pack_header(slot_count: int, affinity_timeout: int) -> bytes:
    """A 64-byte segment header as the manager writes it."""
    return _HEADER.pack(MAGIC, SEGMENT_VERSION, HEADER_SIZE, SLOT_SIZE,
                        slot_count, affinity_timeout).ljust(HEADER_SIZE, b"\0")


def unpack_slot(segment: bytes, slot: int) -> Slot:
    """Decode slot ``slot`` of a whole segment."""
    v = _SLOT.unpack_from(segment, HEADER_SIZE + slot * SLOT_SIZE)
    return Slot(*v[:10])


@dataclass
class ReportEntry:
    """One finished request in a report record."""

    outcome: int
    duration_micros: int
    request_bytes: int
    response_bytes: int
    function: bytes


def unpack_report(record: bytes) -> Tuple[int, int, int, List[ReportEntry]]:
    """Decode a 528-byte record into (version, pid, slot, entries)."""
    if len(record) != REPORT_SIZE:
        raise ValueError("report record is %d bytes, not %d" % (len(record), REPORT_SIZE))
    version, pid, slot, n = _RECORD_HEAD.unpack_from(record)
    entries = []
    for i in range(min(n, REPORT_ENTRIES)):
        o, d, q, r, f = _ENTRY.unpack_from(record, _RECORD_HEAD.size + i * _ENTRY.size)
        entries.append(ReportEntry(o, d, q, r, f.rstrip(b"\0")))
    return version, pid, slot, entries


class StatsSlot:
    """This instance's slot in the stats segment, mapped shared.

    Each update is one contiguous copy of the fields the protocol groups
    together; nothing else is ever written. :meth:`busy` and :meth:`finished`,
    the two writes of every request, are one ``struct.pack_into`` each on the
    mapping.
    """

    def __init__(self, mm: mmap.mmap, slot: int, affinity_timeout: int) -> None:
        self._mm = mm
        self._base = HEADER_SIZE + slot * SLOT_SIZE
        #: The header's affinityTimeout, in seconds.
        self.affinity_timeout = affinity_timeout
        # Pre-bound writers of the per-request updates (bytes 4-23 and 4-47).
        self._pack_busy = functools.partial(_BUSY.pack_into, mm, self._base + 4, SlotState.BUSY.value)
        self._pack_finished = functools.partial(_FINISHED.pack_into, mm, self._base + 4)

    @classmethod
    def open(cls, fd: int, slot: int) -> Optional["StatsSlot"]:
        """Map the segment on ``fd``; None if it fails any check of §4.1."""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size < HEADER_SIZE:
                return None
            header = os.pread(fd, HEADER_SIZE, 0)
            magic, version, hsize, ssize, count, affinity = _HEADER.unpack_from(header)
            size = HEADER_SIZE + count * SLOT_SIZE
            if (magic, version, hsize, ssize) != (MAGIC, SEGMENT_VERSION, HEADER_SIZE, SLOT_SIZE) \
                    or not 0 <= slot < count or st.st_size < size:
                return None
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError, struct.error):
            return None
        return cls(mm, slot, affinity)

    def _get(self, offset: int) -> int:
        return int(_U32.unpack_from(self._mm, self._base + offset)[0])

    @property
    def maximum_requests(self) -> int:
        """The manager's limit for this instance (0 = none), read live."""
        return self._get(_OFF_MAX_REQUESTS)

    @property
    def shutdown_request(self) -> int:
        """The exit reason the manager wants (0 = none), read live."""
        return self._get(_OFF_SHUTDOWN_REQUEST)

    def started(self, pid: int) -> None:
        """At start: pid, then state idle with zeroed counters."""
        _PID.pack_into(self._mm, self._base, pid)
        self._pack_finished(SlotState.IDLE.value, now_micros(), 0, 0, 0, 0)

    def busy(self, since: int, requests: int) -> None:
        """A request is being read: state busy, since, requests (bytes 4-23)."""
        self._pack_busy(since, requests)

    def finished(self, state: int, since: int, requests: int, responses: int,
                 faults: int, busy_micros: int) -> None:
        """A request is finished: state, since and all counters (bytes 4-47)."""
        self._pack_finished(state, since, requests, responses, faults, busy_micros)

    def writers(self) -> Tuple[Callable[[int, int], None], Callable[[int, int, int, int, int, int], None]]:
        """The callables behind :meth:`busy` and :meth:`finished`, with the same
        arguments, for a caller that updates the slot on every request."""
        return self._pack_busy, self._pack_finished

    def set_state(self, state: int) -> None:
        """Change only the state and since (bytes 4-15)."""
        _STATE_SINCE.pack_into(self._mm, self._base + 4, state, now_micros())

    def stopping(self, exit_reason: int) -> None:
        """At exit: state stopping (bytes 4-15) and exitReason (offset 56)."""
        self.set_state(SlotState.STOPPING)
        _U32.pack_into(self._mm, self._base + _OFF_EXIT_REASON, exit_reason)

    def close(self) -> None:
        """Unmap the segment."""
        self._mm.close()


class Reporter:
    """Batches report entries into 528-byte records written to the report pipe.

    Entries are packed straight into the record being filled. A failed or
    short write disables reporting for good; it never raises.
    """

    def __init__(self, fd: int, pid: int, slot: int) -> None:
        self._fd: Optional[int] = fd
        self._record = bytearray(REPORT_SIZE)
        _RECORD_HEAD.pack_into(self._record, 0, REPORT_VERSION, pid, slot, 0)
        self._count = 0
        #: ``time.monotonic_ns()`` at which the oldest unsent entry is 1 s old
        #: (:meth:`flush_if_stale`); far in the future when there is none.
        self.due_ns = _NEVER

    @property
    def enabled(self) -> bool:
        """False once a write has failed."""
        return self._fd is not None

    def add(self, outcome: int, duration_micros: int, request_bytes: int,
            response_bytes: int, function: bytes) -> None:
        """Add one entry (``function`` is cut to 16 bytes, the numbers capped at
        2³²−1); write the record when it holds 16."""
        n = self._count
        if n == 0:
            if self._fd is None:  # disabled (a failed flush leaves no entries)
                return
            self.due_ns = time.monotonic_ns() + _STALE_NS
        at = _RECORD_HEAD_SIZE + n * _ENTRY_SIZE
        try:
            _ENTRY.pack_into(self._record, at, outcome, duration_micros, request_bytes, response_bytes, function)
        except struct.error:  # a number above 2³²−1
            _ENTRY.pack_into(self._record, at, outcome, min(duration_micros, _U32_MAX),
                             min(request_bytes, _U32_MAX), min(response_bytes, _U32_MAX), function)
        self._count = n = n + 1
        if n == REPORT_ENTRIES:
            self.flush()

    def flush_if_stale(self) -> None:
        """Write the record if its oldest entry is at least 1 s old (before blocking in accept)."""
        if time.monotonic_ns() >= self.due_ns:
            self.flush()

    def flush(self) -> None:
        """Write a record now, even with no entries."""
        if self._fd is None:
            return
        record = self._record
        _U32.pack_into(record, _OFF_ENTRIES, self._count)
        try:
            ok = os.write(self._fd, record) == REPORT_SIZE
        except OSError:
            ok = False
        if self._count:
            record[_RECORD_HEAD_SIZE:] = bytes(REPORT_SIZE - _RECORD_HEAD_SIZE)
            self._count = 0
            self.due_ns = _NEVER
        if not ok:
            self._fd = None
