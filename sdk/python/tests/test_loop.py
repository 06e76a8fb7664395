"""The service loop of docs/protocol.md §8 (pending set, request-read-timeout,
maximum-request-size, SO_RCVTIMEO) and the slot v2 accountability of §4.2."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from harness import HELLO, ECHO, Manager, connect, exchange, read_to_eof, request_packet, spawn, wait_connectable, \
    wait_for
from pluton import stats
from pluton.parser import decode_one
from pluton.stats import Outcome, SlotState
from pluton.wire import encode_context_pair, response_from_fields


def timed_exchange(path, packet):
    started = time.monotonic()
    resp = exchange(path, packet)
    return resp, time.monotonic() - started


@pytest.fixture
def limited(tmp_path):
    """One instance under a v2 segment with small limits."""
    m = Manager(tmp_path, maximum_request_size=1000, request_read_timeout_ms=600, maximum_pending=3)
    m.start()
    yield m
    m.close()


def test_silent_connections_do_not_delay_a_normal_request(limited):
    silent = [connect(limited.socket_path) for _ in range(2)]
    partial = connect(limited.socket_path)
    partial.sendall(HELLO[:25])
    try:
        time.sleep(0.1)  # the instance has taken them
        resp, took = timed_exchange(limited.socket_path, HELLO)
        assert resp.endswith(b"5qHello,0z\n")
        assert took < 0.3, "a normal request waited %.3f s behind silent connections" % took
        # The partial request completes later and is served.
        partial.sendall(HELLO[25:])
        partial.settimeout(5)
        assert read_to_eof(partial).endswith(b"5qHello,0z\n")
    finally:
        for s in silent + [partial]:
            s.close()


def test_a_pending_connection_is_closed_at_its_read_deadline(limited):
    with connect(limited.socket_path) as c:
        c.sendall(HELLO[:10])
        started = time.monotonic()
        assert read_to_eof(c) == b""  # closed without an answer
        took = time.monotonic() - started
    assert 0.4 < took < 2.5, took
    assert limited.slot().requests == 0
    with connect(limited.socket_path) as c:  # a silent one too
        started = time.monotonic()
        assert read_to_eof(c) == b""
        assert 0.4 < time.monotonic() - started < 2.5
    assert exchange(limited.socket_path, HELLO).endswith(b"5qHello,0z\n")
    proc = limited.procs[0]
    proc.terminate()
    assert proc.wait(timeout=5) == 0
    entries = stats.unpack_report(limited.reports(1)[0])[3]
    assert [e.outcome for e in entries] == [Outcome.READ_ERROR, Outcome.READ_ERROR, Outcome.OK]


def test_the_oldest_pending_connection_makes_room(limited):
    conns = [connect(limited.socket_path) for _ in range(4)]  # maximum-pending is 3
    try:
        for c in conns:
            c.sendall(b"0Q,")
            time.sleep(0.05)
        started = time.monotonic()
        assert read_to_eof(conns[0]) == b""  # evicted by the fourth
        assert time.monotonic() - started < 0.4
        assert limited.procs[0].poll() is None
    finally:
        for c in conns:
            c.close()


def test_an_oversize_length_prefix_is_answered_at_once(limited):
    head = b"0Q,3b777,12aplSend:26446,17csystem.echo.0.raw,4l4000,5000k"
    with connect(limited.socket_path) as c:
        started = time.monotonic()
        c.sendall(head)  # no body follows
        resp = read_to_eof(c)
        took = time.monotonic() - started
    assert took < 0.4, took
    r = response_from_fields(decode_one(resp, b"A")[0])
    assert (r.request_id, r.client_name, r.fault_code) == (777, b"plSend:26446", 3)
    assert r.fault_text == b"request data of 5000 bytes exceeds maximum-request-size 1000"
    assert r.service_name.startswith(b"echo:")
    # The refusal counts as a request answered with a fault (§8.3).
    wait_for(lambda: limited.slot().faults == 1 and limited.slot().state == SlotState.IDLE, what="the fault counted")
    s = limited.slot()
    assert (s.requests, s.responses, s.faults, s.request_id, s.client_name) == (1, 0, 1, 777, b"plSend:26446")
    # Before the id is seen: id 0, no client name.
    with connect(limited.socket_path) as c:
        c.sendall(b"0Q,99999999999999999999")  # 20 digits: over the limit before the type byte
        resp = read_to_eof(c)
    assert resp == b""  # over 999,999,999: a bad netstring, closed
    with connect(limited.socket_path) as c:
        c.sendall(b"0Q,2000b")
        r = response_from_fields(decode_one(read_to_eof(c), b"A")[0])
    assert (r.request_id, r.client_name, r.fault_code) == (0, b"", 3)
    # A request within the limit in one read is served; one just over it is refused.
    assert exchange(limited.socket_path, request_packet(b"x" * 900)).endswith(b"900q%s,0z\n" % (b"x" * 900))
    assert b",1p3,60rrequest data of 1001 bytes" in exchange(limited.socket_path, request_packet(b"x" * 1001))
    assert limited.procs[0].poll() is None
    limited.procs[0].terminate()
    assert limited.procs[0].wait(timeout=5) == 0
    entries = stats.unpack_report(limited.reports(1)[0])[3]
    assert [(e.outcome, e.request_bytes, e.function) for e in entries] == \
        [(Outcome.FAULT, 0, b""), (Outcome.READ_ERROR, 0, b""), (Outcome.FAULT, 0, b""), (Outcome.OK, 900, b"echo"),
         (Outcome.FAULT, 0, b"")]


def test_accept_mode_uses_the_default_limits(tmp_path):
    path = tmp_path / "s.socket"
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(path)})
    try:
        wait_connectable(path)
        with connect(path) as c:
            c.sendall(b"0Q,3b100,100000000k")
            r = response_from_fields(decode_one(read_to_eof(c), b"A")[0])
        assert (r.request_id, r.fault_code) == (100, 3)
        assert r.fault_text == b"request data of 100000000 bytes exceeds maximum-request-size 67108864"
        big = b"y" * (2 << 20)  # 2 MiB: several reads, within 64 MiB
        assert exchange(path, request_packet(big)).endswith(b"%dq%s,0z\n" % (len(big), big))
    finally:
        p.kill()
        p.wait(timeout=5)


def test_so_rcvtimeo_is_one_second_on_fd_3(manager):
    manager.start()
    raw = manager.listener.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.calcsize("ll"))
    assert struct.unpack("ll", raw) == (1, 0)


def test_busy_until_the_next_wait_and_the_request_identity(manager):
    """§4.2: the slot stays busy after the response until the instance waits
    again; the request's id and client name are in the slot."""
    p = manager.start()
    with connect(manager.socket_path) as c:
        c.sendall(request_packet(b"x", rid=4242, context=encode_context_pair(b"echo.sleepAfter", b"1")))
        assert read_to_eof(c).endswith(b"1qx,0z\n")
    wait_for(lambda: manager.slot().responses == 1, what="the response to be counted")
    s = manager.slot()
    assert s.state == SlotState.BUSY  # responded, but sleeping after it
    assert (s.request_id, s.client_name, s.recorder_index) == (4242, b"plSend:26446", stats.NOT_RECORDING)
    wait_for(lambda: manager.slot().state == SlotState.IDLE, timeout=5, what="idle after the sleep")
    assert manager.slot().since >= s.since
    assert p.poll() is None


def test_a_version_1_segment_still_works(tmp_path):
    m = Manager(tmp_path, header=stats.pack_header_v1(1, 10))
    try:
        m.start()
        assert exchange(m.socket_path, HELLO).endswith(b"5qHello,0z\n")
        wait_for(lambda: m.slot().responses == 1, what="the response")
    finally:
        m.close()


@pytest.mark.parametrize("size", [5000, 4 << 20])
def test_the_client_gets_fault_3_for_an_oversize_request(limited, size):
    from pluton import Client, ServiceFault
    with pytest.raises(ServiceFault) as e:
        Client(lookup=str(limited.tmp)).call("system.echo.0.raw", b"z" * size)
    assert (e.value.code, e.value.text) == (3, "request data of %d bytes exceeds maximum-request-size 1000" % size)
