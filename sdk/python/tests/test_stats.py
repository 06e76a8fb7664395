"""The stats segment slot writes and the report record layout, in process."""

from __future__ import annotations

import os
import struct

import pytest

from pluton import stats
from pluton._spec import HEADER_FIELDS
from pluton.stats import Outcome, Reporter, SlotState, StatsSlot


@pytest.fixture
def segment(tmp_path):
    path = tmp_path / "seg.mmap"
    path.write_bytes(stats.pack_header(3, 42, recorder_cycle=3, maximum_request_size=1000,
                                       request_read_timeout_ms=2500, maximum_pending=8,
                                       recorder_prefix=b"/tmp/rec/") + bytes(3 * stats.SLOT_SIZE))
    fd = os.open(path, os.O_RDWR)
    yield path, fd
    os.close(fd)


def test_header_layout():
    h = stats.pack_header(7, 60, recorder_cycle=3, maximum_request_size=1 << 20, request_read_timeout_ms=5000,
                          maximum_pending=9, recorder_prefix=b"/var/rec/x.")
    assert len(h) == 320 and h[:4] == b"PLSS"
    assert struct.unpack_from("<IIIIIIIIII", h, 0)[1:] == (2, 320, 192, 7, 60, 3, 1 << 20, 5000, 9)
    assert h[40:64] == bytes(24)
    assert h[64:64 + 11] == b"/var/rec/x." and h[64 + 11:] == bytes(256 - 11)
    assert stats.unpack_header(h).threads_per_instance == 0
    threaded = stats.pack_header(8, 60, threads_per_instance=4)
    off, size = HEADER_FIELDS["threadsPerInstance"]
    assert threaded[off:off + size] == (4).to_bytes(4, "little") and threaded[off + size:64] == bytes(64 - off - size)
    assert stats.unpack_header(threaded).threads_per_instance == 4
    hd = stats.unpack_header(h)
    assert (hd.version, hd.slot_count, hd.affinity_timeout, hd.recorder_cycle, hd.maximum_request_size,
            hd.request_read_timeout_ms, hd.maximum_pending, hd.recorder_prefix) == \
        (2, 7, 60, 3, 1 << 20, 5000, 9, b"/var/rec/x.")


def test_slot_writes_touch_only_their_bytes(segment):
    path, fd = segment
    slot = StatsSlot.open(fd, 1)
    assert slot is not None and slot.header.affinity_timeout == 42 and slot.has_identity
    assert (slot.header.maximum_request_size, slot.header.request_read_timeout_ms,
            slot.header.maximum_pending, slot.header.recorder_prefix) == (1000, 2500, 8, b"/tmp/rec/")
    base = 320 + 192
    slot.write_pid(4321)
    slot.started()
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.pid, s.state, s.requests, s.recorder_index) == (4321, SlotState.IDLE, 0, stats.NOT_RECORDING)
    assert s.since > 0
    slot.busy(111, 5)
    slot.identity(12345, 2, b"plSend:26446")
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.state, s.since, s.requests, s.responses) == (SlotState.BUSY, 111, 5, 0)
    assert (s.request_id, s.recorder_index, s.client_name) == (12345, 2, b"plSend:26446")
    slot.answered(4, 1, 999)
    raw = path.read_bytes()
    assert struct.unpack_from("<IIQQQQQ", raw, base) == (4321, SlotState.BUSY, 111, 5, 4, 1, 999)  # still busy
    slot.identity(7, stats.NOT_RECORDING, b"x" * 200)  # cut to 112 bytes
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.request_id, s.client_name) == (7, b"x" * 112)
    slot.set_state(SlotState.IDLE)
    slot.stopping(stats.ExitReason.MAX_REQUESTS)
    s = stats.unpack_slot(path.read_bytes(), 1)
    assert (s.state, s.exit_reason, s.requests) == (SlotState.STOPPING, 6, 5)
    raw = path.read_bytes()
    assert raw[320:base] == bytes(192) and raw[base + 192:] == bytes(192)  # the other slots
    assert raw[base + 48:base + 56] == bytes(8) and raw[base + 60:base + 64] == bytes(4)  # manager fields, reserved
    slot.close()


def test_manager_fields_are_read_live(segment):
    path, fd = segment
    slot = StatsSlot.open(fd, 0)
    assert slot is not None and slot.maximum_requests == 0 and slot.shutdown_request == 0
    os.pwrite(fd, struct.pack("<II", 10, 8), 320 + 48)
    assert (slot.maximum_requests, slot.shutdown_request) == (10, 8)
    slot.close()


def test_a_version_1_segment_is_accepted_without_identity(tmp_path):
    path = tmp_path / "v1.mmap"
    path.write_bytes(stats.pack_header_v1(2, 7) + bytes(2 * 64))
    fd = os.open(path, os.O_RDWR)
    try:
        slot = StatsSlot.open(fd, 1)
        assert slot is not None and not slot.has_identity and slot.header.affinity_timeout == 7
        slot.write_pid(99)
        slot.started()
        slot.busy(5, 1)
        slot.identity(100, 1, b"name")  # nothing to write in v1
        slot.answered(1, 0, 10)
        raw = path.read_bytes()
        assert struct.unpack_from("<IIQQQQQ", raw, 64 + 64) == (99, SlotState.BUSY, 5, 1, 1, 0, 10)
        assert raw[:128] == stats.pack_header_v1(2, 7) + bytes(64)
        slot.close()
    finally:
        os.close(fd)


_GOOD = stats.pack_header(2, 1)


@pytest.mark.parametrize("header, slot", [
    (b"PLSX" + _GOOD[4:], 0),
    (_GOOD[:4] + struct.pack("<I", 3) + _GOOD[8:], 0),
    (_GOOD[:8] + struct.pack("<I", 64) + _GOOD[12:], 0),
    (_GOOD[:12] + struct.pack("<I", 64) + _GOOD[16:], 0),
    (_GOOD, 2),
    (stats.pack_header(9, 1), 0),  # the file is too small for 9 slots
])
def test_invalid_segments_are_refused(tmp_path, header, slot):
    path = tmp_path / "bad.mmap"
    path.write_bytes(header + bytes(2 * 192))
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
