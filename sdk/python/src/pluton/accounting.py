"""Per-request bookkeeping of a service: counters, the stats slot, the reports."""

from __future__ import annotations

from time import monotonic_ns, time_ns
from typing import Optional

from .stats import Outcome, Reporter, SlotState, StatsSlot

_OK = Outcome.OK.value
_FAULT = Outcome.FAULT.value


class Accounting:
    """Counts requests and, in manager mode, publishes them to the stats slot
    and the report pipe (either may be None: then it only counts).

    :meth:`begin` and :meth:`end` run on every request, so they read the clock
    once each (``time.time_ns``: ``since`` is wall-clock time, and the
    duration is the difference of the two readings, never negative) and write
    the slot through its pre-bound writers.
    """

    def __init__(self, slot: Optional[StatsSlot] = None, reporter: Optional[Reporter] = None) -> None:
        self.slot = slot
        self.reporter = reporter
        self.requests = 0
        self.responses = 0
        self.faults = 0
        self.busy_micros = 0
        self._started_ns = 0
        self._busy, self._finished = slot.writers() if slot is not None else (None, None)
        #: The slot's maximumRequests as read at start (0 = none). The manager
        #: writes it before the instance starts (docs/protocol.md §4).
        self.maximum_requests = slot.maximum_requests if slot is not None else 0

    def begin(self) -> None:
        """A request is being read: state busy, requests + 1."""
        now = time_ns()
        self._started_ns = now
        self.requests += 1
        if self._busy is not None:
            self._busy(now // 1000, self.requests)

    def end(self, outcome: int, request_bytes: int, response_bytes: int,
            function: bytes, next_state: int) -> None:
        """The request is finished (``outcome``, an :class:`Outcome`); the slot
        moves to ``next_state`` (a :class:`SlotState`)."""
        now = time_ns()
        duration = (now - self._started_ns) // 1000
        if duration < 0:  # the wall clock was set back
            duration = 0
        self.busy_micros += duration
        if outcome == _OK:
            self.responses += 1
        elif outcome == _FAULT:
            self.faults += 1
        if self._finished is not None:
            self._finished(next_state, now // 1000, self.requests, self.responses,
                           self.faults, self.busy_micros)
        if self.reporter is not None:
            self.reporter.add(outcome, duration, request_bytes, response_bytes, function)

    def set_state(self, state: SlotState) -> None:
        """Change the slot state outside a request (e.g. affinity wait ended)."""
        if self.slot is not None:
            self.slot.set_state(state)

    def may_accept(self) -> bool:
        """About to block in accept. False once the manager's maximumRequests
        (0 = none) have been read; else send the report batch first if its
        oldest entry is 1 s old."""
        if 0 < self.maximum_requests <= self.requests:
            return False
        reporter = self.reporter
        if reporter is not None and monotonic_ns() >= reporter.due_ns:
            reporter.flush()
        return True

    def stop(self, exit_reason: int) -> None:
        """At exit: state stopping, exitReason, and the final report (even empty)."""
        if self.slot is not None:
            self.slot.stopping(exit_reason)
            self.slot.close()
            self.slot = None
            self._busy = self._finished = None
        if self.reporter is not None:
            self.reporter.flush()
            self.reporter = None
