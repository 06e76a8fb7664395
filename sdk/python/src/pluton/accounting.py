"""Per-request bookkeeping of a service: counters, the stats slot, the reports."""

from __future__ import annotations

import time
from typing import Optional

from .stats import Outcome, Reporter, SlotState, StatsSlot, now_micros


class Accounting:
    """Counts requests and, in manager mode, publishes them to the stats slot
    and the report pipe (either may be None: then it only counts)."""

    def __init__(self, slot: Optional[StatsSlot] = None, reporter: Optional[Reporter] = None) -> None:
        self.slot = slot
        self.reporter = reporter
        self.requests = 0
        self.responses = 0
        self.faults = 0
        self.busy_micros = 0
        self._started_ns = 0

    def begin(self) -> None:
        """A request is being read: state busy, requests + 1."""
        self._started_ns = time.monotonic_ns()
        self.requests += 1
        if self.slot:
            self.slot.busy(now_micros(), self.requests)

    def end(self, outcome: Outcome, request_bytes: int, response_bytes: int,
            function: bytes, next_state: SlotState) -> None:
        """The request is finished (``outcome``); the slot moves to ``next_state``."""
        duration = (time.monotonic_ns() - self._started_ns) // 1000
        self.busy_micros += duration
        if outcome == Outcome.OK:
            self.responses += 1
        elif outcome == Outcome.FAULT:
            self.faults += 1
        if self.slot:
            self.slot.finished(next_state, now_micros(), self.requests, self.responses,
                               self.faults, self.busy_micros)
        if self.reporter:
            self.reporter.add(outcome, duration, request_bytes, response_bytes, function)

    def set_state(self, state: SlotState) -> None:
        """Change the slot state outside a request (e.g. affinity wait ended)."""
        if self.slot:
            self.slot.set_state(state)

    def before_accept(self) -> None:
        """About to block in accept: send the report batch if it is getting old."""
        if self.reporter:
            self.reporter.flush_if_stale()

    def limit_reached(self) -> bool:
        """True once the manager's maximumRequests (0 = none) has been read."""
        limit = self.slot.maximum_requests if self.slot else 0
        return 0 < limit <= self.requests

    def stop(self, exit_reason: int) -> None:
        """At exit: state stopping, exitReason, and the final report (even empty)."""
        if self.slot:
            self.slot.stopping(exit_reason)
            self.slot.close()
            self.slot = None
        if self.reporter:
            self.reporter.flush()
            self.reporter = None
