"""Manager mode: a real listening socket on fd 3, a stats segment on fd 4 and a
report pipe on fd 5, with the example echo as the instance."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from harness import HELLO, SDK, Manager, connect, exchange, read_response, read_to_eof, request_packet, wait_for
from pluton import stats
from pluton.parser import decode_one
from pluton.stats import ExitReason, Outcome, SlotState
from pluton.wire import encode_context_pair, response_from_fields

MAX_REQUESTS, SHUTDOWN_REQUEST = 48, 52


def stop(proc, timeout=1.0):
    """SIGTERM ``proc``; return (exit code, seconds it took)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=5)
    return rc, time.monotonic() - started


def test_request_slot_and_report(manager):
    p = manager.start()
    s = manager.slot()
    assert (s.pid, s.state, s.requests) == (p.pid, SlotState.IDLE, 0)
    before = stats.now_micros()
    resp = exchange(manager.socket_path, HELLO)
    assert resp == b"0A,3b100,12aplSend:26446,%dsecho:%d/0,5qHello,0z\n" % (len(b"echo:%d/0" % p.pid), p.pid)
    wait_for(lambda: manager.slot().responses == 1, what="the response to be counted")
    s = manager.slot()
    assert (s.state, s.requests, s.responses, s.faults) == (SlotState.IDLE, 1, 1, 0)
    assert s.busy_micros > 0 and before <= s.since <= stats.now_micros()
    assert manager.no_report()  # one entry younger than 1 s is held back

    rc, took = stop(p)
    assert rc == 0 and took < 1.0, manager.stderr()
    s = manager.slot()
    assert (s.state, s.exit_reason) == (SlotState.STOPPING, ExitReason.SERVICE_SHUTDOWN)
    (record,) = manager.reports(1)
    version, pid, slot, entries = stats.unpack_report(record)
    assert (version, pid, slot, len(entries)) == (1, p.pid, 0, 1)
    e = entries[0]
    assert (e.outcome, e.request_bytes, e.response_bytes, e.function) == (Outcome.OK, 5, 5, b"echo")
    assert 0 < e.duration_micros < 1_000_000
    assert record[16 + 32:] == bytes(528 - 48)


def test_sigterm_when_idle_takes_the_shutdown_request_as_exit_reason(manager):
    p = manager.start()
    manager.set_u32(0, SHUTDOWN_REQUEST, ExitReason.EXCESS_PROCESSES)
    time.sleep(0.05)  # let it block in accept
    rc, took = stop(p)
    assert rc == 0 and took < 1.0
    assert manager.slot().exit_reason == ExitReason.EXCESS_PROCESSES
    (record,) = manager.reports(1)
    assert stats.unpack_report(record)[3] == []


def test_sigterm_while_busy_finishes_the_request(manager):
    p = manager.start()
    with connect(manager.socket_path) as c:
        c.sendall(request_packet(context=encode_context_pair(b"echo.sleepMS", b"300")))
        wait_for(lambda: manager.slot().state == SlotState.BUSY, what="busy")
        p.send_signal(signal.SIGTERM)
        assert read_to_eof(c).endswith(b"5qHello,0z\n")
    assert p.wait(timeout=5) == 0
    s = manager.slot()
    assert (s.state, s.responses, s.exit_reason) == (SlotState.STOPPING, 1, ExitReason.SERVICE_SHUTDOWN)


def test_maximum_requests(manager):
    manager.set_u32(0, MAX_REQUESTS, 2)
    p = manager.start()
    assert exchange(manager.socket_path, HELLO).endswith(b"5qHello,0z\n")
    assert exchange(manager.socket_path, request_packet(rid=101)).endswith(b"5qHello,0z\n")
    assert p.wait(timeout=5) == 0
    s = manager.slot()
    assert (s.state, s.requests, s.exit_reason) == (SlotState.STOPPING, 2, ExitReason.MAX_REQUESTS)
    (record,) = manager.reports(1)
    assert [e.outcome for e in stats.unpack_report(record)[3]] == [Outcome.OK, Outcome.OK]


def test_noWait_closes_before_the_response(manager):
    p = manager.start()
    assert exchange(manager.socket_path, request_packet(flags=b"0e,")) == b""
    wait_for(lambda: manager.slot().responses == 1, what="the noWait response to be counted")
    assert stop(p)[0] == 0
    (record,) = manager.reports(1)
    e = stats.unpack_report(record)[3][0]
    assert (e.outcome, e.request_bytes, e.response_bytes) == (Outcome.OK, 5, 0)


def test_keep_affinity_three_requests_on_one_connection(manager):
    p = manager.start()
    with connect(manager.socket_path) as c:
        for rid in (100, 101, 102):
            flags = b"0g,0h," if rid == 100 else b"0g,0h,0i,"
            c.sendall(request_packet(b"LMN", rid=rid, flags=flags))
            r = read_response(c)
            assert (r.request_id, r.data) == (rid, b"LMN")
            wait_for(lambda: manager.slot().state == SlotState.AFFINITY, what="the affinity wait")
        assert manager.slot().requests == 3
    wait_for(lambda: manager.slot().state == SlotState.IDLE, what="back to accept")
    assert exchange(manager.socket_path, HELLO).endswith(b"5qHello,0z\n")
    assert stop(p)[0] == 0


def test_affinity_times_out(tmp_path):
    m = Manager(tmp_path, affinity_timeout=1)
    try:
        p = m.start()
        with connect(m.socket_path) as c:
            c.sendall(request_packet(flags=b"0g,0h,"))
            read_response(c)
            started = time.monotonic()
            assert c.recv(10) == b""  # the service gave up on the connection
            assert 0.8 < time.monotonic() - started < 3
        wait_for(lambda: m.slot().state == SlotState.IDLE, what="idle")
        assert stop(p)[0] == 0
    finally:
        m.close()


def test_sigterm_while_waiting_on_affinity(manager):
    p = manager.start()
    with connect(manager.socket_path) as c:
        c.sendall(request_packet(flags=b"0g,0h,"))
        read_response(c)
        wait_for(lambda: manager.slot().state == SlotState.AFFINITY, what="the affinity wait")
        rc, took = stop(p)
        assert rc == 0 and took < 1.0
        assert c.recv(10) == b""
    assert manager.slot().exit_reason == ExitReason.SERVICE_SHUTDOWN


def test_client_errors_are_hidden(manager):
    p = manager.start()
    assert exchange(manager.socket_path, b"0Q,3b100,3b100,0z\n") == b""
    with connect(manager.socket_path) as c:  # a client that gives up mid-packet
        c.sendall(HELLO[:20])
    assert exchange(manager.socket_path, HELLO).endswith(b"5qHello,0z\n")
    wait_for(lambda: manager.slot().responses == 1, what="the response")
    assert p.poll() is None
    assert stop(p)[0] == 0
    (record,) = manager.reports(1)
    assert [e.outcome for e in stats.unpack_report(record)[3]] == \
        [Outcome.READ_ERROR, Outcome.READ_ERROR, Outcome.OK]
    assert manager.slot().requests == 1  # requests handed to the code (§4.2); read errors are not


def test_report_is_written_when_it_holds_16_entries(manager):
    p = manager.start()
    for rid in range(100, 117):
        exchange(manager.socket_path, request_packet(rid=rid))
    (record,) = manager.reports(1)
    assert len(stats.unpack_report(record)[3]) == 16
    assert stop(p)[0] == 0
    (final,) = manager.reports(1)
    assert len(stats.unpack_report(final)[3]) == 1


def test_old_entries_are_sent_within_a_second_or_two_when_idle(manager):
    """accept returns every second (SO_RCVTIMEO, §8.4), and an entry 1 s old is then sent."""
    p = manager.start()
    exchange(manager.socket_path, HELLO)
    assert manager.no_report(0.1)
    (record,) = manager.reports(1, timeout=4.0)
    assert len(stats.unpack_report(record)[3]) == 1
    assert stop(p)[0] == 0


def test_fault_is_counted(manager):
    p = manager.start()
    resp = exchange(manager.socket_path, request_packet(context=encode_context_pair(b"echo.sleepMS", b"-5")))
    assert resp.endswith(b"3p111,19rsleep time negative,0z\n")
    wait_for(lambda: manager.slot().faults == 1, what="the fault to be counted")
    assert manager.slot().responses == 0
    assert stop(p)[0] == 0
    assert stats.unpack_report(manager.reports(1)[0])[3][0].outcome == Outcome.FAULT


def test_bad_segment_runs_without_stats(tmp_path):
    m = Manager(tmp_path, header=b"XXXX" + stats.pack_header(1, 10)[4:])
    try:
        p = m.start(wait=False)
        assert exchange(m.socket_path, HELLO).endswith(b"5qHello,0z\n")
        assert stop(p)[0] == 0
        assert m.segment.read_bytes()[320:] == bytes(192)  # untouched
        version, pid, slot, entries = stats.unpack_report(m.reports(1)[0])
        assert (pid, slot, len(entries)) == (p.pid, 0, 1)
    finally:
        m.close()


def test_unknown_slot_reports_slot_ffffffff(tmp_path):
    m = Manager(tmp_path)
    try:
        p = m.start(env={"plutonSlot": "x"}, wait=False)
        assert exchange(m.socket_path, HELLO).endswith(b"5qHello,0z\n")
        assert stop(p)[0] == 0
        assert stats.unpack_report(m.reports(1)[0])[2] == stats.NO_SLOT
    finally:
        m.close()


def test_service_name_and_log_lines(manager):
    p = manager.start()
    resp = exchange(manager.socket_path, request_packet(context=encode_context_pair(b"echo.log", b"to the manager")))
    assert re.search(rb",\d+secho:%d/0," % p.pid, resp)
    assert stop(p)[0] == 0
    assert "to the manager\n" in manager.stderr()
    assert os.path.exists(manager.socket_path)


def test_requests_that_take_the_streaming_path(manager):
    """A request that is not whole in the first read, or is unusual but valid,
    is decoded by the streaming reader: same responses."""
    p = manager.start()
    with connect(manager.socket_path) as c:  # in two pieces
        c.sendall(HELLO[:30])
        time.sleep(0.05)
        c.sendall(HELLO[30:])
        assert read_to_eof(c).endswith(b"3b100,12aplSend:26446,%dsecho:%d/0,5qHello,0z\n"
                                       % (len(b"echo:%d/0" % p.pid), p.pid))
    unusual = b"0Q,03b+42,12aplSend:26446\n17csystem.echo.0.raw,4l4000,0000000005kHello,0z\n"
    assert exchange(manager.socket_path, unusual).startswith(b"0A,2b42,12aplSend:26446,")
    big = bytes(range(256)) * 1200  # 300 KiB each way: several reads, and writev
    resp = exchange(manager.socket_path, request_packet(big))
    assert resp.endswith(b"%dq%s,0z\n" % (len(big), big))
    wait_for(lambda: manager.slot().responses == 3, what="the responses to be counted")
    assert stop(p)[0] == 0
    entries = stats.unpack_report(manager.reports(1)[0])[3]
    assert [(e.outcome, e.request_bytes, e.response_bytes) for e in entries] == \
        [(Outcome.OK, 5, 5), (Outcome.OK, 5, 5), (Outcome.OK, len(big), len(big))]


def test_pipelined_affinity_requests(manager):
    """Bytes after a request stay buffered for the next one on the connection."""
    p = manager.start()
    with connect(manager.socket_path) as c:
        c.sendall(request_packet(b"one", rid=100, flags=b"0g,0h,") + request_packet(b"two", rid=101, flags=b"0g,0h,")
                  + request_packet(b"three", rid=102))
        rest = read_to_eof(c)  # the service closes after the third, without keepAffinity
    got = []
    while rest:
        fields, rest = decode_one(rest, b"A")
        r = response_from_fields(fields)
        got.append((r.request_id, r.service_name, r.data))
    name = b"echo:%d/0" % p.pid
    assert got == [(100, name, b"one"), (101, name, b"two"), (102, name, b"three")]
    assert manager.slot().requests == 3
    assert stop(p)[0] == 0


def test_report_entries_name_the_function_of_each_key(manager):
    p = manager.start()
    other = HELLO.replace(b"17csystem.echo.0.raw", b"18csystem.other.0.raw")
    for packet in (HELLO, other, HELLO, HELLO.replace(b"17csystem.echo.0.raw", b"17csystem.echo.0.RAW")):
        exchange(manager.socket_path, packet)
    wait_for(lambda: manager.slot().requests == 3 and manager.slot().state == SlotState.IDLE, what="3 requests")
    assert stop(p)[0] == 0
    entries = stats.unpack_report(manager.reports(1)[0])[3]
    assert [(e.outcome, e.function) for e in entries] == \
        [(Outcome.OK, b"echo"), (Outcome.OK, b"other"), (Outcome.OK, b"echo"), (Outcome.READ_ERROR, b"")]


def test_packet_trace(manager):
    p = manager.start(env={"plutonPacketTrace": "1"})
    resp = exchange(manager.socket_path, HELLO)
    with connect(manager.socket_path) as c:  # a client error is traced too
        c.sendall(b"0Q,3b100,3b100,0z\n")
        assert read_to_eof(c) == b""
    assert stop(p)[0] == 0
    err = manager.stderr()
    assert ("PktIn: %s" % HELLO.decode()) in err and ("PktOut: %s" % resp.decode()) in err
    assert "PktIn: 0Q,3b100,3b100,0z\n" in err


THREADS_REFUSED = ("maximum-threads %d is not supported by the Python SDK: an instance serves one request "
                   "at a time; set maximum-threads 1 and raise maximum-processes")


@pytest.mark.parametrize("threads", [2, 8])
def test_maximum_threads_above_one_refuses_to_start(tmp_path, threads):
    # docs/protocol.md §4.1: threadsPerInstance > 1 is fault -104, the line on
    # stderr, a non-zero exit, and the slot left as the manager wrote it.
    m = Manager(tmp_path, slots=threads, threads_per_instance=threads)
    try:
        p = m.start(wait=False)
        assert p.wait(timeout=10) == 42  # the echo's exit status for a failed initialize
        err = m.stderr()
        assert (THREADS_REFUSED % threads) + "\n" in err.splitlines(keepends=True)
        assert "echo: initialize failed: pluton::Fault=-104 (shmThreadConfigNotService:" in err
        assert m.segment.read_bytes()[stats.HEADER_SIZE:] == bytes(stats.SLOT_SIZE * threads)
    finally:
        m.close()


def test_maximum_threads_fault_propagates_from_the_loop(tmp_path):
    # A service that does not catch the fault exits non-zero with it on stderr.
    script = tmp_path / "svc.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\nimport pluton\n"
                      "for request in pluton.Service('t'):\n    request.respond(b'x')\n" % str(SDK / "src"))
    m = Manager(tmp_path, slots=4, threads_per_instance=4)
    try:
        p = m.start(wait=False, argv=(str(script),))
        assert p.wait(timeout=10) == 1
        err = m.stderr()
        assert (THREADS_REFUSED % 4) + "\n" in err.splitlines(keepends=True)
        assert "pluton::Fault=-104" in err  # the uncaught exception
    finally:
        m.close()


@pytest.mark.parametrize("threads", [0, 1])
def test_maximum_threads_of_one_serves(tmp_path, threads):
    m = Manager(tmp_path, threads_per_instance=threads)
    try:
        p = m.start()
        assert exchange(m.socket_path, HELLO).endswith(b"5qHello,0z\n")
        assert stop(p)[0] == 0
        assert "maximum-threads" not in m.stderr()
    finally:
        m.close()
