"""The client: lookup, faults, timeouts, parallel requests, affinity, retries."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest

from harness import ECHO, Manager, spawn, wait_connectable, wait_for
from pluton import Client, Fault, FaultCode, Request
from pluton.parser import decode_one
from pluton.stats import SlotState
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
    c = Client("tester", lookup=str(echo_dir))
    assert c.call("system.echo.0.raw", b"Hello") == b"Hello"
    assert c.call("system.echo.0.raw", "text é") == "text é".encode()
    assert c.call("system.echo.0.raw") == b""
    big = os.urandom(3 << 20)
    assert c.call("system.echo.0.raw", big) == big


def test_request_outcome_fields(echo_dir):
    r = Request("system.echo.0.raw", b"x", context={"echo.sleepMS": "1"}, handle="mine")
    assert r.has_fault and r.fault.code == FaultCode.REQUEST_NOT_ADDED and not r.done
    assert Client(lookup=str(echo_dir)).execute([r]) == 1
    assert r.done and r.fault is None and r.result() == b"x" and r.handle == "mine"
    assert r.service_name.startswith("echo:") and r.service_name.endswith("/0")


def test_lookup_map_file_and_environment(echo_dir, tmp_path_factory, monkeypatch):
    lookup_map = tmp_path_factory.mktemp("map") / "lookup.map"
    lookup_map.write_text("# pluton lookup map 3001\nrendezvous %s\n"
                          "system.raw.0.echo %s/system.echo.0.raw.socket\n" % (echo_dir, echo_dir))
    assert Client(lookup=str(lookup_map)).call("system.echo.0.raw", b"m") == b"m"
    monkeypatch.setenv("plutonLookupMap", str(lookup_map))
    c = Client()
    assert c.lookup == str(lookup_map) and c.rendezvous == str(echo_dir)
    assert c.call("system.echo.0.raw", b"e") == b"e"


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
    with pytest.raises(Fault) as e:
        Client(lookup=str(echo_dir)).call("system.echo.0.raw", b"x", context={"echo.sleepMS": "-1"})
    assert (e.value.code, e.value.text) == (111, "sleep time negative")
    assert e.value.message() == "pluton::Fault=111 'sleep time negative'"


def test_reserved_context_keys_are_refused():
    with pytest.raises(Fault) as e:
        Request("system.echo.0.raw").set_context("pluton.thing", "1")
    assert e.value.code == FaultCode.CONTEXT_RESERVED_NAMESPACE
    assert e.value.text == "Context Key uses reserved prefix of 'pluton.'"


def test_lookup_faults(tmp_path):
    c = Client(lookup=str(tmp_path))
    with pytest.raises(Fault) as e:
        c.call("nosuch.thing.0.raw")
    assert (e.value.code, e.value.text) == (FaultCode.SERVICE_NOT_FOUND, "nosuch.thing.0.raw")
    with pytest.raises(Fault) as e:
        c.call("nosuch.thing.00.raw")
    assert e.value.code == FaultCode.SERVICE_KEY_BAD and "ambiguous leading zero" in e.value.text
    refusing = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    refusing.bind(str(tmp_path / "dead.service.0.raw.socket"))  # bound, never listening
    with pytest.raises(Fault) as e:
        c.call("dead.service.0.raw")
    assert e.value.code == FaultCode.CONNECT_FAILED and e.value.errno > 0
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


def test_timeout(echo_dir):
    c = Client(lookup=str(echo_dir), timeout_ms=150)
    started = time.monotonic()
    with pytest.raises(Fault) as e:
        c.call("system.echo.0.raw", context={"echo.sleepMS": "2000"})
    assert (e.value.code, e.value.text) == (FaultCode.SERVICE_TIMEOUT, "service timeout")
    assert time.monotonic() - started < 1.0


def test_noWait(echo_dir):
    assert Client(lookup=str(echo_dir)).call("system.echo.0.raw", b"fire", no_wait=True) == b""


def test_parallel_requests_each_with_its_own_deadline(tmp_path):
    m = Manager(tmp_path, slots=3)
    try:
        procs = [m.start(slot=i) for i in range(3)]
        c = Client("par", lookup=str(tmp_path))
        reqs = [Request("system.echo.0.raw", b"%d" % i, context={"echo.sleepMS": "500"}) for i in range(3)]
        started = time.monotonic()
        assert c.execute(reqs) == 3
        assert time.monotonic() - started < 1.2  # one after the other would take 1.5 s
        assert [r.response_data for r in reqs] == [b"0", b"1", b"2"]
        assert {r.service_name for r in reqs} == {"echo:%d/0" % p.pid for p in procs}

        slow = Request("system.echo.0.raw", b"slow", context={"echo.sleepMS": "600"}, timeout_ms=100)
        fast = Request("system.echo.0.raw", b"fast")
        order = [r.data for r in c.as_completed([slow, fast])]
        assert order == [b"fast", b"slow"]
        assert slow.fault.code == FaultCode.SERVICE_TIMEOUT and fast.result() == b"fast"
    finally:
        m.close()


def test_keep_affinity_reuses_one_connection(manager, tmp_path):
    p = manager.start()
    c = Client(lookup=str(tmp_path))
    r = Request("system.echo.0.raw", b"a", keep_affinity=True, no_retry=True)
    assert c.execute([r]) == 1 and r.has_affinity
    wait_for(lambda: manager.slot().state == SlotState.AFFINITY, what="the affinity wait")
    r.need_affinity = True
    for data in (b"b", b"c"):
        r.data = data
        assert c.execute([r]) == 1 and r.response_data == data
    assert manager.slot().requests == 3
    r.close()
    wait_for(lambda: manager.slot().state == SlotState.IDLE, what="back to accept")
    assert p.poll() is None


@pytest.mark.parametrize("attrs, code", [
    (dict(keep_affinity=True), FaultCode.NEED_NO_RETRY),
    (dict(keep_affinity=True, no_retry=True, no_wait=True), FaultCode.NO_WAIT_NOT_ALLOWED),
    (dict(need_affinity=True), FaultCode.NO_AFFINITY),
])
def test_attribute_rules(tmp_path, attrs, code):
    r = Request("system.echo.0.raw", **attrs)
    assert Client(lookup=str(tmp_path)).execute([r]) == 0
    assert r.fault.code == code


def test_wire_fields_and_request_ids(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data))
    try:
        c = Client("myApp", timeout_ms=1234, lookup=str(tmp_path))
        assert c.call("fake.x.0.raw", b"one") == b"one"
        assert c.call("fake.x.0.raw", b"two", context={"k": "v"}, no_remote=True) == b"two"
        first = request_from_fields(decode_one(fake.requests[0], b"Q")[0])
        assert (first.request_id, first.client_name, first.timeout_ms) == (100, b"myApp:%d" % os.getpid(), 1234)
        assert fake.requests[1] == (b"0Q,3b101,%da%s,12cfake.x.0.raw,4l1234,0f,8j1kk,1vv,,3ktwo,0z\n"
                                    % (len(c.client_name), c.client_name.encode()))
    finally:
        fake.close()
    c._next_id = 10_000_000
    assert (c._take_id(), c._take_id()) == (10_000_000, 100)


def test_routing_mismatch_is_retried_once(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw", lambda n, data: answer(data, request_id=999))
    try:
        with pytest.raises(Fault) as e:
            Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"r")
        assert (e.value.code, e.value.text) == (FaultCode.RESPONSE_PACKET_FORMAT_ERROR, "")
        assert len(fake.requests) == 2 and fake.requests[0] == fake.requests[1]
        with pytest.raises(Fault):
            Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"r", no_retry=True)
        assert len(fake.requests) == 3
    finally:
        fake.close()


def test_incomplete_response_then_success_on_retry(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw",
                       lambda n, data: answer(data)[:12] if n == 1 else answer(data))
    try:
        assert Client(lookup=str(tmp_path)).call("fake.x.0.raw", b"again") == b"again"
        assert len(fake.requests) == 2
    finally:
        fake.close()


def test_incomplete_and_bad_responses(tmp_path):
    fake = FakeService(tmp_path, "fake.x.0.raw",
                       lambda n, data: b"" if n <= 2 else b"0A,3b100,xx")
    try:
        c = Client(lookup=str(tmp_path))
        with pytest.raises(Fault) as e:
            c.call("fake.x.0.raw")
        assert (e.value.code, e.value.text) == (FaultCode.INCOMPLETE_RESPONSE, "Socket closed with incomplete response")
        with pytest.raises(Fault) as e:
            c.call("fake.x.0.raw", no_retry=True)
        assert e.value.code == FaultCode.RESPONSE_PACKET_FORMAT_ERROR
        assert e.value.text == "leading netString character not a digit"
    finally:
        fake.close()
