"""The stats segment slot writes and the report record layout, in process."""

from __future__ import annotations

import os
import struct

import pytest

from pluton import stats
from pluton.stats import Outcome, Reporter, SlotState, StatsSlot


@pytest.fixture
def segment(tmp_path):
    path = tmp_path / "seg.mmap"
    path.write_bytes(stats.pack_header(3, 42) + bytes(3 * stats.SLOT_SIZE))
    fd = os.open(path, os.O_RDWR)
    yield path, fd
    os.close(fd)


def test_header_layout():
    h = stats.pack_header(7, 60)
    assert len(h) == 64 and h[:4] == b"PLSS"
    assert struct.unpack_from("<IIIII", h, 4) == (1, 64, 64, 7, 60)
    assert h[24:] == bytes(40)


def test_slot_writes_touch_only_their_bytes(segment):
    path, fd = segment
    slot = StatsSlot.open(fd, 1)
    assert slot is not None and slot.affinity_timeout == 42
    slot.started(4321)
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.pid, s.state, s.requests) == (4321, SlotState.IDLE, 0) and s.since > 0
    slot.busy(111, 5)
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.state, s.since, s.requests, s.responses) == (SlotState.BUSY, 111, 5, 0)
    slot.finished(SlotState.AFFINITY, 222, 5, 4, 1, 999)
    raw = path.read_bytes()
    assert struct.unpack_from("<IIQQQQQ", raw, 64 + 64) == (4321, 3, 222, 5, 4, 1, 999)
    slot.stopping(stats.ExitReason.MAX_REQUESTS)
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.state, s.exit_reason, s.requests) == (SlotState.STOPPING, 6, 5)
    assert path.read_bytes()[64:128] == bytes(64) and path.read_bytes()[192:] == bytes(64)
    slot.close()


def test_manager_fields_are_read_live(segment):
    path, fd = segment
    slot = StatsSlot.open(fd, 0)
    assert slot is not None and slot.maximum_requests == 0 and slot.shutdown_request == 0
    os.pwrite(fd, struct.pack("<II", 10, 8), 64 + 48)
    assert (slot.maximum_requests, slot.shutdown_request) == (10, 8)
    slot.close()


@pytest.mark.parametrize("header, slot", [
    (b"PLSX" + stats.pack_header(2, 1)[4:], 0),
    (stats.pack_header(2, 1)[:4] + struct.pack("<I", 2) + stats.pack_header(2, 1)[8:], 0),
    (stats.pack_header(2, 1)[:8] + struct.pack("<I", 32) + stats.pack_header(2, 1)[12:], 0),
    (stats.pack_header(2, 1)[:12] + struct.pack("<I", 128) + stats.pack_header(2, 1)[16:], 0),
    (stats.pack_header(2, 1), 2),
    (stats.pack_header(9, 1), 0),  # the file is too small for 9 slots
])
def test_invalid_segments_are_refused(tmp_path, header, slot):
    path = tmp_path / "bad.mmap"
    path.write_bytes(header + bytes(2 * 64))
    fd = os.open(path, os.O_RDWR)
    try:
        assert StatsSlot.open(fd, slot) is None
    finally:
        os.close(fd)


def test_report_records_are_528_bytes_and_flush_at_16():
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        rep = Reporter(w, 777, 2)
        for i in range(15):
            rep.add(Outcome.OK, 10 + i, i, 2 * i, b"echo")
        with pytest.raises(BlockingIOError):
            os.read(r, 1)
        rep.add(Outcome.FAULT, 5, 1, 0, b"a-function-name-longer-than-16")
        record = os.read(r, 4096)
        assert len(record) == stats.REPORT_SIZE
        assert struct.unpack_from("<IIII", record) == (1, 777, 2, 16)
        assert struct.unpack_from("<IIII16s", record, 16) == (4, 10, 0, 0, b"echo" + bytes(12))
        version, pid, slot, entries = stats.unpack_report(record)
        assert entries[15].outcome == Outcome.FAULT and entries[15].function == b"a-function-name-"
        rep.add(Outcome.READ_ERROR, 2 ** 40, 0, 0, b"")
        rep.flush()
        version, pid, slot, entries = stats.unpack_report(os.read(r, 4096))
        assert len(entries) == 1 and entries[0].duration_micros == 0xFFFFFFFF
        rep.flush()
        assert stats.unpack_report(os.read(r, 4096))[3] == []
    finally:
        os.close(r)
        os.close(w)


def test_a_failed_report_write_disables_reporting():
    r, w = os.pipe()
    os.close(r)
    rep = Reporter(w, 1, stats.NO_SLOT)
    rep.flush()  # EPIPE: SIGPIPE is ignored by Python
    assert not rep.enabled
    rep.add(Outcome.OK, 1, 1, 1, b"f")  # no error, nothing written
    os.close(w)
