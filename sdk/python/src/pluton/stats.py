"""The manager-mode statistics: the stats segment on fd 4 and the report
records on fd 5 (docs/protocol.md §4 and §5). All integers little-endian.

:class:`StatsSlot` writes this instance's slot and reads the header's limits;
:class:`Reporter` batches per-request entries into 528-byte records. The
``pack_*``/``unpack_*`` functions describe the byte layouts for tools and
tests.

The segment is version 2 (a 320-byte header, 192-byte slots). A version 1
segment (64-byte header and slots, written by managers before the v2 layout)
is still accepted: its slots have the same fields at offsets 0-59 but no
request identity, and its header has no limits, so the defaults apply.
"""

from __future__ import annotations

import enum
import mmap
import os
import stat
import struct
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

MAGIC = b"PLSS"
SEGMENT_VERSION = 2
HEADER_SIZE = 320
SLOT_SIZE = 192
V1_HEADER_SIZE = 64
V1_SLOT_SIZE = 64
CLIENT_NAME_SIZE = 112
RECORDER_PREFIX_SIZE = 256
REPORT_VERSION = 1
REPORT_SIZE = 528
REPORT_ENTRIES = 16
NO_SLOT = 0xFFFFFFFF
#: ``recorderIndex`` of an instance that is not recording.
NOT_RECORDING = 0xFFFFFFFF

# magic, version, headerSize, slotSize, slotCount, affinityTimeout, recorderCycle,
# maximumRequestSize, requestReadTimeout (ms), maximumPending, threadsPerInstance
_HEADER = struct.Struct("<4sIIIIIIIIII")
_HEADER_V1 = struct.Struct("<4sIIIII")
_OFF_RECORDER_PREFIX = 64
_SLOT_HEAD = struct.Struct("<IIQQQQQIIII")  # offsets 0-59
_IDENTITY = struct.Struct("<QII")          # offsets 64-79: requestID, recorderIndex, clientNameLength
_PID = struct.Struct("<I")                 # offset 0
_STATE_SINCE = struct.Struct("<IQ")        # offsets 4-15
_BUSY = struct.Struct("<IQQ")              # offsets 4-23: state, since, requests
_COUNTERS = struct.Struct("<QQQ")          # offsets 24-47: responses, faults, busyMicros
_STARTED = struct.Struct("<IQQQQQ")        # offsets 4-47
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
_OFF_IDENTITY = 64
_OFF_CLIENT_NAME = 80


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
class Header:
    """A decoded segment header (§4.1). Limits of 0 mean "no limit" (or, for
    ``maximum_pending``, the SDK default); a version 1 header has none."""

    version: int
    slot_count: int
    affinity_timeout: int
    recorder_cycle: int = 0
    maximum_request_size: int = 0
    request_read_timeout_ms: int = 0
    maximum_pending: int = 0
    recorder_prefix: bytes = b""
    #: ``maximum-threads`` (offset 40): 0 or 1 means one request at a time.
    threads_per_instance: int = 0


@dataclass
class Slot:
    """A decoded slot (§4.2)."""

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
    request_id: int = 0
    recorder_index: int = 0
    client_name: bytes = b""


def pack_header(slot_count: int, affinity_timeout: int, *, recorder_cycle: int = 0,
                maximum_request_size: int = 0, request_read_timeout_ms: int = 0,
                maximum_pending: int = 0, recorder_prefix: bytes = b"", threads_per_instance: int = 0) -> bytes:
    """A 320-byte version 2 segment header as the manager writes it."""
    head = _HEADER.pack(MAGIC, SEGMENT_VERSION, HEADER_SIZE, SLOT_SIZE, slot_count, affinity_timeout,
                        recorder_cycle, maximum_request_size, request_read_timeout_ms, maximum_pending,
                        threads_per_instance)
    prefix = recorder_prefix[:RECORDER_PREFIX_SIZE - 1]
    return (head.ljust(_OFF_RECORDER_PREFIX, b"\0") + prefix).ljust(HEADER_SIZE, b"\0")


def pack_header_v1(slot_count: int, affinity_timeout: int) -> bytes:
    """A 64-byte version 1 segment header (managers before the v2 layout)."""
    return _HEADER_V1.pack(MAGIC, 1, V1_HEADER_SIZE, V1_SLOT_SIZE,
                           slot_count, affinity_timeout).ljust(V1_HEADER_SIZE, b"\0")


def unpack_header(segment: bytes) -> Header:
    """Decode a segment header; raise ValueError if it is not one (§4.1 checks)."""
    if len(segment) < V1_HEADER_SIZE:
        raise ValueError("stats segment: %d bytes is shorter than a header" % len(segment))
    magic, version, hsize, ssize, count, affinity = _HEADER_V1.unpack_from(segment)
    if magic != MAGIC:
        raise ValueError("stats segment: magic %r, want %r" % (magic, MAGIC))
    if (version, hsize, ssize) == (1, V1_HEADER_SIZE, V1_SLOT_SIZE):
        return Header(1, count, affinity)
    if (version, hsize, ssize) != (SEGMENT_VERSION, HEADER_SIZE, SLOT_SIZE):
        raise ValueError("stats segment: version %d with header/slot size %d/%d, want %d with %d/%d"
                         % (version, hsize, ssize, SEGMENT_VERSION, HEADER_SIZE, SLOT_SIZE))
    if len(segment) < HEADER_SIZE:
        raise ValueError("stats segment: %d bytes is shorter than the %d-byte header" % (len(segment), HEADER_SIZE))
    v = _HEADER.unpack_from(segment)
    prefix = bytes(segment[_OFF_RECORDER_PREFIX:HEADER_SIZE]).split(b"\0", 1)[0]
    return Header(version, count, affinity, v[6], v[7], v[8], v[9], prefix, v[10])


def _layout(version: int) -> Tuple[int, int]:
    return (HEADER_SIZE, SLOT_SIZE) if version == SEGMENT_VERSION else (V1_HEADER_SIZE, V1_SLOT_SIZE)


def unpack_slot(segment: bytes, slot: int) -> Slot:
    """Decode slot ``slot`` of a whole segment (of either version)."""
    hsize, ssize = _layout(_U32.unpack_from(segment, 4)[0])
    base = hsize + slot * ssize
    s = Slot(*_SLOT_HEAD.unpack_from(segment, base)[:10])
    if ssize == SLOT_SIZE:
        s.request_id, s.recorder_index, n = _IDENTITY.unpack_from(segment, base + _OFF_IDENTITY)
        start = base + _OFF_CLIENT_NAME
        s.client_name = bytes(segment[start:start + min(n, CLIENT_NAME_SIZE)])
    return s


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


_STATE_BUSY = SlotState.BUSY.value


class StatsSlot:
    """This instance's slot in the stats segment, mapped shared, and the
    segment's header as read at start (:attr:`header`).

    Each update is one contiguous copy of the fields the protocol groups
    together (§4.2); nothing else is ever written.
    """

    def __init__(self, mm: mmap.mmap, slot: int, header: Header) -> None:
        self._mm = mm
        hsize, ssize = _layout(header.version)
        self._base = hsize + slot * ssize
        #: The segment header (its limits and recorder settings).
        self.header = header
        #: True if the slot has the request identity fields (version 2).
        self.has_identity = header.version == SEGMENT_VERSION

    @classmethod
    def open(cls, fd: int, slot: int) -> Optional["StatsSlot"]:
        """Map the segment on ``fd``; None if it fails any check of §4.1."""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size < V1_HEADER_SIZE:
                return None
            header = unpack_header(os.pread(fd, HEADER_SIZE, 0))
            hsize, ssize = _layout(header.version)
            size = hsize + header.slot_count * ssize
            if not 0 <= slot < header.slot_count or st.st_size < size:
                return None
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError, struct.error):
            return None
        return cls(mm, slot, header)

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

    def write_pid(self, pid: int) -> None:
        """At start, before anything else: the pid (offset 0)."""
        _PID.pack_into(self._mm, self._base, pid)

    def started(self) -> None:
        """Once the SIGTERM handler is in place: state idle, zeroed counters (bytes 4-47)
        and no recorder file."""
        _STARTED.pack_into(self._mm, self._base + 4, SlotState.IDLE.value, now_micros(), 0, 0, 0, 0)
        if self.has_identity:
            _IDENTITY.pack_into(self._mm, self._base + _OFF_IDENTITY, 0, NOT_RECORDING, 0)

    def busy(self, since: int, requests: int) -> None:
        """A request is handed to the service's code: state busy, since, requests (bytes 4-23)."""
        _BUSY.pack_into(self._mm, self._base + 4, SlotState.BUSY.value, since, requests)

    def busy_with(self, since: int, requests: int, request_id: int, recorder_index: int,
                  client_name: bytes) -> None:
        """:meth:`busy` then :meth:`identity`, in one call (the per-request path)."""
        mm, base = self._mm, self._base
        _BUSY.pack_into(mm, base + 4, _STATE_BUSY, since, requests)
        if not self.has_identity:
            return
        name = client_name[:CLIENT_NAME_SIZE]
        if request_id < 0 or request_id > 0xFFFFFFFFFFFFFFFF:
            request_id &= 0xFFFFFFFFFFFFFFFF
        at = base + _OFF_IDENTITY
        _IDENTITY.pack_into(mm, at, request_id, recorder_index, len(name))
        mm[at + 16:at + 16 + len(name)] = name

    def identity(self, request_id: int, recorder_index: int, client_name: bytes) -> None:
        """The current request's id, recorder index and client name (bytes 64 to 80 + length)."""
        if not self.has_identity:
            return
        name = client_name[:CLIENT_NAME_SIZE]
        if request_id < 0 or request_id > 0xFFFFFFFFFFFFFFFF:
            request_id &= 0xFFFFFFFFFFFFFFFF
        at = self._base + _OFF_IDENTITY
        _IDENTITY.pack_into(self._mm, at, request_id, recorder_index, len(name))
        self._mm[at + 16:at + 16 + len(name)] = name

    def answered(self, responses: int, faults: int, busy_micros: int) -> None:
        """The request is answered: the counters (bytes 24-47); the state stays busy."""
        _COUNTERS.pack_into(self._mm, self._base + 24, responses, faults, busy_micros)

    def set_state(self, state: int) -> None:
        """Change only the state and since (bytes 4-15)."""
        _STATE_SINCE.pack_into(self._mm, self._base + 4, state, time.time_ns() // 1000)

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
