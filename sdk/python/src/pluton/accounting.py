"""Per-request bookkeeping of a service: counters, the stats slot, the reports."""

from __future__ import annotations

from time import monotonic_ns, time_ns
from typing import Optional

from .stats import Outcome, Reporter, SlotState, StatsSlot

_OK = Outcome.OK.value
_FAULT = Outcome.FAULT.value
_READ_ERROR = Outcome.READ_ERROR.value
_BUSY = SlotState.BUSY.value


class Accounting:
    """Counts requests and, in manager mode, publishes them to the stats slot
    and the report pipe (either may be None: then it only counts).

    The slot follows docs/protocol.md §4.2: :meth:`begin` (the request is
    handed to the service's code) sets state busy with the request's
    identity; :meth:`end` (the request is answered) writes only the counters,
    so the state stays busy until :meth:`wait` (the instance waits for
    connections again) sets it idle or affinity.
    """

    def __init__(self, slot: Optional[StatsSlot] = None, reporter: Optional[Reporter] = None) -> None:
        self.slot = slot
        self.reporter = reporter
        self.requests = 0
        self.responses = 0
        self.faults = 0
        self.busy_micros = 0
        self._read_ns = 0  # when the current request's first byte was waited for (accept time)
        self._busy_ns = 0  # when it was handed to the service's code
        self.state = SlotState.IDLE.value
        #: The slot's maximumRequests as read at start (0 = none). The manager
        #: writes it before the instance starts (docs/protocol.md §4).
        self.maximum_requests = slot.maximum_requests if slot is not None else 0

    def begin(self, read_ns: int, request_id: int, client_name: bytes, recorder_index: int) -> None:
        """A complete request is handed to the service's code (read since ``read_ns``,
        a ``time.time_ns()``): state busy, requests + 1, the request's identity."""
        now = time_ns()
        self._read_ns = read_ns
        self._busy_ns = now
        self.requests += 1
        self.state = _BUSY
        slot = self.slot
        if slot is not None:
            slot.busy_with(now // 1000, self.requests, request_id, recorder_index, client_name)

    def end(self, outcome: int, request_bytes: int, response_bytes: int, function: bytes) -> None:
        """The request is answered (``outcome``, an :class:`Outcome`); the state stays busy."""
        now = time_ns()
        busy = (now - self._busy_ns) // 1000
        self.busy_micros += busy if busy > 0 else 0
        if outcome == _OK:
            self.responses += 1
        elif outcome == _FAULT:
            self.faults += 1
        if self.slot is not None:
            self.slot.answered(self.responses, self.faults, self.busy_micros)
        if self.reporter is not None:
            duration = (now - self._read_ns) // 1000
            self.reporter.add(outcome, duration if duration > 0 else 0, request_bytes, response_bytes, function)

    def read_error(self, read_ns: int) -> None:
        """A connection ended without a complete request: a read-error report entry only."""
        if self.reporter is not None:
            duration = (time_ns() - read_ns) // 1000
            self.reporter.add(_READ_ERROR, duration if duration > 0 else 0, 0, 0, b"")

    def wait(self, state: int) -> None:
        """About to wait for a connection (``IDLE``) or an affinity request (``AFFINITY``)."""
        if self.state != state:
            self.state = state
            if self.slot is not None:
                self.slot.set_state(state)

    def limit_reached(self) -> bool:
        """True once the manager's maximumRequests (0 = none) have been served."""
        return 0 < self.maximum_requests <= self.requests

    def flush_stale(self) -> None:
        """About to block: send the report batch if its oldest entry is 1 s old."""
        reporter = self.reporter
        if reporter is not None and monotonic_ns() >= reporter.due_ns:
            reporter.flush()

    def stop(self, exit_reason: int) -> None:
        """At exit: state stopping, exitReason, and the final report (even empty)."""
        if self.slot is not None:
            self.slot.stopping(exit_reason)
            self.slot.close()
            self.slot = None
        if self.reporter is not None:
            self.reporter.flush()
            self.reporter = None
