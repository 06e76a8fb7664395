"""How an instance reads requests and writes responses (docs/protocol.md §8,
sdk/python/README.md "How the instance takes connections"): one receive buffer
kept between requests and grown once to a netstring's announced size, the
request data handed over in place (Request.view), large responses written
from where they lie, and a packet that arrives slowly never holding the
instance against other clients."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from harness import Manager, connect, exchange, read_to_eof, request_packet
from pluton import Request, Service
from pluton.parser import TruncatedPacketError, decode_one
from pluton.wire import response_from_fields


def echoed(resp: bytes) -> bytes:
    fields, rest = decode_one(resp, b"A")
    assert rest == b""
    r = response_from_fields(fields)
    assert r.fault_code == 0, r.fault_text
    return r.data


class InProcess:
    """A Service in accept mode, served by a thread of the test, so that a test
    can give it any handler and look at its state."""

    def __init__(self, path: Path, handler: Callable[[Request], object]) -> None:
        self.path = path
        self.service = Service("t")
        self.errors: List[BaseException] = []
        self._handler = handler
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.service.serve(self._handler)  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)

    def start(self) -> "InProcess":
        self.service.initialize()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.service._stop = True  # accept returns within a second (SO_RCVTIMEO)
        self._thread.join(5)
        assert not self._thread.is_alive()
        assert self.errors == []


@pytest.fixture
def in_process(tmp_path, monkeypatch) -> Iterator[Callable[[Callable[[Request], object]], InProcess]]:
    started: List[InProcess] = []
    monkeypatch.setenv("plutonAcceptSocket", str(tmp_path / "t.socket"))

    def start(handler: Callable[[Request], object]) -> InProcess:
        s = InProcess(tmp_path / "t.socket", handler).start()
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def trickle(path: Path, packet: bytes, pieces: int, pause: float = 0.01) -> bytes:
    """Send ``packet`` in ``pieces`` writes with pauses between them; return the response."""
    with connect(path) as c:
        step = max(1, len(packet) // pieces)
        for at in range(0, len(packet), step):
            c.sendall(packet[at:at + step])
            time.sleep(pause)
        return read_to_eof(c)


@pytest.mark.parametrize("size, pieces", [
    (0, 1), (1, 1), (1000, 3), (65000, 1), (65536, 1), (65536, 7), (70000, 2),
    (1 << 20, 1), (1 << 20, 9), (3 << 20, 4),
])
def test_sizes_across_the_buffer_boundaries(manager, size, pieces):
    # Each size twice (the second reads into the kept, grown buffer), then a
    # small request, which must not see anything of the large one.
    manager.start()
    data = bytes(range(251)) * (size // 251) + bytes(size % 251)
    for _ in range(2):
        assert echoed(trickle(manager.socket_path, request_packet(data), pieces, 0.002)) == data
    assert echoed(exchange(manager.socket_path, request_packet(b"small"))) == b"small"


def test_a_slow_large_request_does_not_hold_the_instance(tmp_path):
    # The first client's packet has begun but stalls: the instance waits for it
    # with fd 3 in the poll, so the second client is answered at once; the
    # first is answered when its packet completes.
    m = Manager(tmp_path, request_read_timeout_ms=5000)
    try:
        m.start()
        big = b"x" * 300000
        packet = request_packet(big)
        with connect(m.socket_path) as slow:
            slow.sendall(packet[:100000])
            time.sleep(0.2)  # the instance has read that and waits for more
            started = time.monotonic()
            assert echoed(exchange(m.socket_path, request_packet(b"quick"))) == b"quick"
            assert time.monotonic() - started < 0.5
            slow.sendall(packet[100000:])
            assert echoed(read_to_eof(slow)) == big
    finally:
        m.close()


def test_a_stalled_packet_is_dropped_at_its_deadline(tmp_path):
    m = Manager(tmp_path, request_read_timeout_ms=400)
    try:
        m.start()
        with connect(m.socket_path) as slow:
            slow.sendall(request_packet(b"y" * 200000)[:150000])
            started = time.monotonic()
            assert read_to_eof(slow) == b""  # closed without an answer
            assert 0.2 < time.monotonic() - started < 2.0
        assert echoed(exchange(m.socket_path, request_packet(b"next"))) == b"next"
    finally:
        m.close()


def test_view_data_and_size(in_process):
    seen: List[tuple] = []

    def handler(request: Request) -> object:
        view = request.view
        seen.append((type(view), view.readonly, bytes(view), request.size, type(request.data), request.data))
        return view
    s = in_process(handler)
    payload = b"abc" * 40000
    assert echoed(exchange(s.path, request_packet(payload))) == payload
    assert echoed(exchange(s.path, request_packet(b""))) == b""
    assert seen == [(memoryview, True, payload, len(payload), bytes, payload),
                    (memoryview, True, b"", 0, bytes, b"")]


def test_data_kept_past_the_request_stays_intact(in_process):
    # request.data is the request's own bytes: the next request, read into
    # the same buffer, does not change it.
    kept: List[bytes] = []

    def handler(request: Request) -> object:
        kept.append(request.data)
        return b"ok"
    s = in_process(handler)
    first, second = b"1" * 100000, b"2" * 100000
    exchange(s.path, request_packet(first))
    exchange(s.path, request_packet(second))
    assert kept == [first, second]


@pytest.mark.parametrize("answer, want", [
    (lambda r: bytearray(b"ba" * 50000), b"ba" * 50000),
    (lambda r: memoryview(b"mv" * 50000), b"mv" * 50000),
    (lambda r: memoryview(b"mv" * 50000)[::2], b"m" * 50000),  # not contiguous: copied
    (lambda r: memoryview(bytearray(b"\x01\x00" * 4)).cast("H"), b"\x01\x00" * 4),  # not bytes: copied
    (lambda r: r.view[1:4], b"ell"),
    (lambda r: "text \u00e9", "text \u00e9".encode()),
    (lambda r: None, b""),
])
def test_answers_of_any_buffer(in_process, answer, want):
    s = in_process(answer)
    assert echoed(exchange(s.path, request_packet(b"Hello"))) == want


def test_an_idle_instance_gives_back_a_large_buffer(in_process):
    s = in_process(lambda r: r.view)
    big = b"z" * (1 << 20)
    assert echoed(exchange(s.path, request_packet(big))) == big
    assert any(len(b) > 1 << 20 for b in s.service._spares)
    deadline = time.monotonic() + 5
    while any(len(b) > 256 << 10 for b in s.service._spares) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(len(b) <= 256 << 10 for b in s.service._spares)  # dropped after an accept that timed out
    assert echoed(exchange(s.path, request_packet(b"after"))) == b"after"


def test_concurrent_large_requests_reuse_their_buffers(in_process):
    # Up to four buffers are kept: four clients at once, again and again, each
    # answered with its own data.
    s = in_process(lambda r: r.view)
    payloads = [bytes([65 + i]) * (300000 + i) for i in range(4)]
    for _ in range(3):
        got: List[bytes] = [b""] * len(payloads)

        def one(i: int, got: List[bytes] = got) -> None:
            got[i] = echoed(exchange(s.path, request_packet(payloads[i])))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert got == payloads
    assert 1 <= len(s.service._spares) <= 4
    assert len({id(b) for b in s.service._spares}) == len(s.service._spares)


def test_an_announced_size_alone_does_not_allocate_it(in_process):
    # A length prefix of 60 MB with a few bytes behind it: the buffer grows to
    # 4 MiB at most until more arrives; the connection waits for its deadline.
    s = in_process(lambda r: b"")
    with connect(s.path) as c:
        c.sendall(b"0Q,1b1,17csystem.echo.0.raw,60000000kxyz")
        deadline = time.monotonic() + 5
        while not s.service._pending and time.monotonic() < deadline:
            time.sleep(0.02)
        pending = list(s.service._pending)
        assert len(pending) == 1 and len(pending[0].buf) <= 4 << 20
        c.sendall(b"x" * 100000)
        time.sleep(0.2)
        assert len(pending[0].buf) <= 4 << 20


def test_a_client_that_reads_nothing_of_a_large_response_is_taken_as_gone(tmp_path):
    # The rest of a large response is written blocking, each writev bounded
    # by SO_SNDTIMEO (the read timeout): a client that reads nothing does
    # not hold the instance.
    m = Manager(tmp_path, request_read_timeout_ms=500)
    try:
        m.start()
        big = b"r" * (4 << 20)
        with connect(m.socket_path) as deaf:
            deaf.sendall(request_packet(big))
            time.sleep(0.1)
            started = time.monotonic()
            assert echoed(exchange(m.socket_path, request_packet(b"next"))) == b"next"
            assert 0.3 < time.monotonic() - started < 3.0
    finally:
        m.close()


def test_an_affinity_connection_reads_on_after_a_large_response(manager):
    # After a blocking write the connection is non-blocking again: the next
    # request on it is read as usual.
    manager.start()
    big = b"a" * (1 << 20)
    with connect(manager.socket_path) as c:
        c.sendall(request_packet(big, rid=1, flags=b"0h,"))
        fields = None
        got = b""
        while fields is None:
            chunk = c.recv(1 << 20)
            assert chunk
            got += chunk
            try:
                fields, rest = decode_one(got, b"A")
            except TruncatedPacketError:  # not whole yet
                fields = None
        assert response_from_fields(fields).data == big and rest == b""
        c.sendall(request_packet(b"again", rid=2))
        assert echoed(read_to_eof(c)) == b"again"
