"""The client: lookup, faults, timeouts, parallel calls, the resend rule."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest

from harness import ECHO, Manager, spawn, wait_connectable, wait_for
from pluton import Call, Client, Fault, FaultCode, ServiceFault, TimeoutFault
from pluton.parser import decode_one
from pluton.wire import ResponsePacket, encode_response, request_from_fields


@pytest.fixture
def echo_dir(tmp_path):
    """An accept-mode echo listening at <tmp>/system.echo.0.raw.socket."""
    path = tmp_path / "system.echo.0.raw.socket"
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(path)})
    wait_connectable(path)
    yield tmp_path
    p.kill()
    p.wait(timeout=5)


class FakeService:
    """A scripted service in a thread: ``reply(n, request_bytes)`` returns the
    bytes to send on the n-th connection (then the connection is closed)."""

    def __init__(self, directory: Path, key: str, reply: Callable[[int, bytes], bytes]) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(directory / (key + ".socket")))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.requests: List[bytes] = []
        self._stopped = False
        self._reply = reply
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stopped:
                try:
                    conn, _ = self.listener.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.settimeout(5)
                    data = b""
                    while not data.endswith(b"0z\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    self.requests.append(data)
                    conn.sendall(self._reply(len(self.requests), data))
        except OSError:
            return

    def close(self) -> None:
        self._stopped = True
        self._thread.join(timeout=5)
        self.listener.close()


def answer(data: bytes, **changes) -> bytes:
    """A correct response to request ``data``, with ``changes`` applied."""
    req = request_from_fields(decode_one(data, b"Q")[0])
    resp = ResponsePacket(req.request_id, req.client_name, b"fake:1/0", data=req.data)
    for k, v in changes.items():
        setattr(resp, k, v)
    return encode_response(resp)


def test_call_echo(echo_dir):
    with Client("tester", lookup=str(echo_dir)) as c:
        assert c.call("system.echo.0.raw", b"Hello") == b"Hello"
        assert c.call("system.echo.0.raw", "text é") == "text é".encode()
        assert c.call("system.echo.0.raw") == b""
        big = os.urandom(3 << 20)
        assert c.call("system.echo.0.raw", big) == big


def test_submit_returns_a_call(echo_dir):
    c = Client(lookup=str(echo_dir))
    call = c.submit("system.echo.0.raw", b"x", context={"echo.sleepMS": "1"})
    assert isinstance(call, Call) and call.key == "system.echo.0.raw" and call.data == b"x"
    assert call.result() == b"x" and call.done() and call.exception() is None
    assert call.service_name.startswith("echo:") and call.service_name.endswith("/0")


def test_lookup_map_file_and_environment(echo_dir, tmp_path_factory, monkeypatch):
    lookup_map = tmp_path_factory.mktemp("map") / "lookup.map"
    lookup_map.write_text("# pluton lookup map 3001\nrendezvous %s\n"
                          "system.raw.0.echo %s/system.echo.0.raw.socket\n" % (echo_dir, echo_dir))
    assert Client(lookup=str(lookup_map)).call("system.echo.0.raw", b"m") == b"m"
    monkeypatch.setenv("plutonLookupMap", str(lookup_map))
    c = Client()
    assert c.lookup == str(lookup_map) and c.rendezvous == str(echo_dir)
    assert c.call("system.echo.0.raw", b"e") == b"e"


def test_default_lookup_location(echo_dir, tmp_path_factory, monkeypatch):
    """§7.1: <home>/lookup.map (home = $plutonHome, ...), then /usr/local/var/pluton/lookup.map;
    without either, a fault naming every path tried and what to do."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.delenv("plutonLookupMap", raising=False)
    monkeypatch.setenv("plutonHome", str(home))
    system_map = "/usr/local/var/pluton/lookup.map"
    if not os.path.exists(system_map):
        with pytest.raises(Fault) as e:
            Client().call("system.echo.0.raw", b"x")
        assert e.value.code == FaultCode.MAP_INITIALIZATION_FAILED
        assert e.value.text == ("no lookup map at %s/lookup.map or %s: is plutonManager running? Start it, "
                                "or set plutonLookupMap or pass lookup=" % (home, system_map))
    (home / "lookup.map").write_text("# pluton lookup map 3001\nrendezvous %s\n" % echo_dir)
    assert Client().call("system.echo.0.raw", b"h") == b"h"
    monkeypatch.delenv("plutonHome")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (home / "pluton").mkdir()
    (home / "pluton" / "lookup.map").write_text("# pluton lookup map 3001\nrendezvous %s\n" % echo_dir)
    c = Client()
    assert c.lookup == "%s/pluton/lookup.map" % home
    assert c.call("system.echo.0.raw", b"x") == b"x"


@pytest.mark.parametrize("content, code", [
    (None, FaultCode.OPEN_FOR_MMAP_FAILED),
    ("# pluton lookup map 3001\nsystem.raw.0.echo /x\n", FaultCode.MAP_INITIALIZATION_FAILED),
    ("# pluton lookup map 1001\nrendezvous /tmp\n", FaultCode.SHM_VERSION_MIS_MATCH),
])
def test_lookup_map_errors(tmp_path, content, code):
    path = tmp_path / "lookup.map"
    if content is not None:
        path.write_text(content)
    with pytest.raises(Fault) as e:
        Client(lookup=str(path)).call("system.echo.0.raw")
    assert e.value.code == code


def test_service_fault(echo_dir):
    with pytest.raises(ServiceFault) as e:
        Client(lookup=str(echo_dir)).call("system.echo.0.raw", b"x", context={"echo.sleepMS": "-1"})
    assert (e.value.code, e.value.text) == (111, "sleep time negative")
    assert e.value.message() == "pluton::Fault=111 'sleep time negative'"
    assert e.value.service_name.startswith("echo:")


def test_reserved_context_keys_are_refused(echo_dir):
    with pytest.raises(Fault) as e:
        Client(lookup=str(echo_dir)).call("system.echo.0.raw", context={"pluton.thing": "1"})
    assert e.value.code == FaultCode.CONTEXT_RESERVED_NAMESPACE
    assert e.value.text == "context key 'pluton.thing' uses the reserved prefix 'pluton.'"


def test_lookup_faults(tmp_path):
    c = Client(lookup=str(tmp_path))
    with pytest.raises(Fault) as e:
        c.call("nosuch.thing.0.raw")
    assert e.value.code == FaultCode.SERVICE_NOT_FOUND
    assert e.value.text == "nosuch.thing.0.raw: no socket %s/nosuch.thing.0.raw.socket or %s/nosuch..0.raw.socket" \
        % (tmp_path, tmp_path)
    with pytest.raises(Fault) as e:
        c.call("nosuch.thing.00.raw")
    assert e.value.code == FaultCode.SERVICE_KEY_BAD and "ambiguous leading zero" in e.value.text
    refusing = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    refusing.bind(str(tmp_path / "dead.service.0.raw.socket"))  # bound, never listening
    with pytest.raises(Fault) as e:
        c.call("dead.service.0.raw")
    assert e.value.code == FaultCode.CONNECT_FAILED and e.value.errno > 0
    assert "dead.service.0.raw.socket: Connection refused" in e.value.text
    refusing.close()


def test_wildcard_socket(tmp_path):
    path = tmp_path / "system..0.raw.socket"
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(path)})
    try:
        wait_connectable(path)
        assert Client(lookup=str(tmp_path)).call("system.anything.0.raw", b"w") == b"w"
    finally:
        p.kill()
        p.wait(timeout=5)


def test_timeout_in_seconds(echo_dir):
    c = Client(lookup=str(echo_dir), timeout=0.15)
    started = time.monotonic()
    with pytest.raises(TimeoutFault) as e:
        c.call("system.echo.0.raw", context={"echo.sleepMS": "2000"})
    assert e.value.code == FaultCode.SERVICE_TIMEOUT and isinstance(e.value, Fault)
    assert e.value.text == "no response from system.echo.0.raw within 0.15 s"
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    with pytest.raises(TimeoutFault):
        Client(lookup=str(echo_dir)).call("system.echo.0.raw", context={"echo.sleepMS": "2000"}, timeout=0.1)
    assert time.monotonic() - started < 1.0


def test_timeout_goes_on_the_wire_in_milliseconds(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data))
    try:
        Client(lookup=str(tmp_path), timeout=1.5).call("fake.x.0.raw", b"a")
        Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"b", timeout=0.25)
        Client(lookup=str(tmp_path), timeout=None).call("fake.x.0.raw", b"c")
        got = [request_from_fields(decode_one(r, b"Q")[0]).timeout_ms for r in fake.requests]
        assert got == [1500, 250, 0]
    finally:
        fake.close()


def test_noWait(echo_dir):
    assert Client(lookup=str(echo_dir)).call("system.echo.0.raw", b"fire", no_wait=True) == b""


def test_parallel_calls_each_with_its_own_deadline(tmp_path):
    m = Manager(tmp_path, slots=3)
    try:
        procs = [m.start(slot=i) for i in range(3)]
        c = Client("par", lookup=str(tmp_path))
        calls = [c.submit("system.echo.0.raw", b"%d" % i, context={"echo.sleepMS": "500"}) for i in range(3)]
        started = time.monotonic()
        assert c.wait(calls) == calls
        assert time.monotonic() - started < 1.2  # one after the other would take 1.5 s
        assert [call.result() for call in calls] == [b"0", b"1", b"2"]
        assert {call.service_name for call in calls} == {"echo:%d/0" % p.pid for p in procs}

        slow = c.submit("system.echo.0.raw", b"slow", context={"echo.sleepMS": "600"}, timeout=0.1)
        fast = c.submit("system.echo.0.raw", b"fast")
        order = [call.data for call in c.as_completed([slow, fast])]
        assert order == [b"fast", b"slow"]
        assert isinstance(slow.exception(), TimeoutFault) and fast.result() == b"fast"
        with pytest.raises(TimeoutFault):
            slow.result()

        started = time.monotonic()
        assert list(c.map("system.echo.0.raw", [b"a", b"b", b"c"], context={"echo.sleepMS": "300"})) == \
            [b"a", b"b", b"c"]
        assert time.monotonic() - started < 0.85
        results = c.map("system.echo.0.raw", [b"ok", b"bad"], context={"echo.sleepMS": "-1"})
        with pytest.raises(ServiceFault):
            next(results)
    finally:
        m.close()


def test_a_call_that_cannot_start_completes_with_its_fault(tmp_path):
    c = Client(lookup=str(tmp_path))
    call = c.submit("no.such.0.raw", b"x")
    assert call.done() and call.exception().code == FaultCode.SERVICE_NOT_FOUND
    assert list(c.as_completed([call])) == [call]


def test_close_abandons_running_calls(echo_dir):
    c = Client(lookup=str(echo_dir))
    call = c.submit("system.echo.0.raw", b"x", context={"echo.sleepMS": "300"})
    c.close()
    assert call.done() and call.exception().code == FaultCode.REQUEST_NOT_ADDED


def test_wire_fields_and_request_ids(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data))
    try:
        c = Client("myApp", timeout=1.234, lookup=str(tmp_path))
        assert c.call("fake.x.0.raw", b"one") == b"one"
        assert c.call("fake.x.0.raw", b"two", context={"k": "v"}, no_remote=True) == b"two"
        first = request_from_fields(decode_one(fake.requests[0], b"Q")[0])
        assert (first.request_id, first.client_name, first.timeout_ms) == (100, b"myApp:%d" % os.getpid(), 1234)
        assert fake.requests[1] == (b"0Q,3b101,%da%s,12cfake.x.0.raw,4l1234,0f,8j1kk,1vv,,3ktwo,0z\n"
                                    % (len(c.client_name), c.client_name.encode()))
    finally:
        fake.close()
    c._ids._next = 10_000_000
    assert (c._ids.take(), c._ids.take()) == (10_000_000, 100)


def test_routing_mismatch_is_not_resent(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data, request_id=999))
    try:
        with pytest.raises(Fault) as e:
            Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"r")
        assert e.value.code == FaultCode.RESPONSE_PACKET_FORMAT_ERROR and "response for request 999" in e.value.text
        assert len(fake.requests) == 1
    finally:
        fake.close()


def test_a_request_that_may_have_been_read_is_never_resent(tmp_path):
    """Rule 6: the service closed after reading (it may have died on it): fault -20, one send only."""
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data)[:12] if n == 1 else answer(data))
    try:
        with pytest.raises(Fault) as e:
            Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"again")
        assert (e.value.code, e.value.text) == (
            FaultCode.INCOMPLETE_RESPONSE,
            "the service instance closed the connection without a response: it may have died while serving this "
            "request")
        assert len(fake.requests) == 1
    finally:
        fake.close()


def test_a_refused_connect_is_tried_again_once(tmp_path, monkeypatch):
    """Rule 6: a connect that failed (ECONNREFUSED) was provably not read: resent once."""
    import errno

    from pluton import exchange

    real = socket.socket.connect_ex
    attempts = []

    def flaky(self, path):
        attempts.append(path)
        if len(attempts) == 1:
            return errno.ECONNREFUSED
        return real(self, path)

    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data))
    try:
        monkeypatch.setattr(exchange.socket.socket, "connect_ex", flaky)
        assert Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"once more") == b"once more"
        assert len(attempts) == 2 and len(fake.requests) == 1
    finally:
        fake.close()


def test_bad_response(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: b"0A,3b100,xx")
    try:
        with pytest.raises(Fault) as e:
            Client(lookup=str(tmp_path)).call("fake.x.0.raw")
        assert e.value.code == FaultCode.RESPONSE_PACKET_FORMAT_ERROR
        assert e.value.text == "leading netString character not a digit"
        assert len(fake.requests) == 1
    finally:
        fake.close()
