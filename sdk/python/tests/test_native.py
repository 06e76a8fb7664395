"""The native model (docs/sdk.md): Request objects, the handler form and its
exception rules, the loop form, implicit initialization, stops and on_stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness import SDK, Manager, connect, read_to_eof, spawn, wait_connectable, wait_for
from pluton import Client, Fault, FaultCode, ServiceFault
from pluton.stats import ExitReason, SlotState

SRC = str(SDK / "src")


class Svc:
    """A service script run in accept mode at <tmp>/t..0.raw.socket (any function of t.*.0.raw)."""

    def __init__(self, tmp, body: str, env=None) -> None:
        self.tmp = tmp
        self.script = tmp / "svc.py"
        self.script.write_text("import sys\nsys.path.insert(0, %r)\n" % SRC + textwrap.dedent(body))
        self.socket = tmp / "t..0.raw.socket"
        self.err = tmp / "stderr"
        fd = os.open(self.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.proc = spawn([str(self.script)], {}, env=dict({"plutonAcceptSocket": str(self.socket)}, **(env or {})),
                          stderr=fd)
        os.close(fd)
        wait_connectable(self.socket)
        self.client = Client("tester", lookup=str(tmp), timeout=5.0)

    def call(self, data=b"", key="t.x.0.raw", **kw):
        return self.client.call(key, data, **kw)

    def stderr(self) -> str:
        return self.err.read_text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def svc(tmp_path):
    made = []

    def make(body, env=None):
        s = Svc(tmp_path, body, env)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


HANDLER = """
import os, pluton

def handle(request):
    d = request.data
    if d == b"value":
        raise ValueError("bad value %d" % 7)
    if d == b"empty":
        raise KeyError()
    if d == b"fault":
        raise pluton.Fault(42, "my own fault")
    if d == b"text":
        return "héllo"
    if d == b"none":
        return None
    if d == b"bytearray":
        return bytearray(b"ba")
    if d == b"int":
        return 5
    if d == b"self":
        request.respond(b"answered myself")
        return b"ignored"
    if d == b"self-then-raise":
        request.fault(77, "first")
        raise RuntimeError("after answering")
    if d == b"twice":
        request.respond(b"one")
        request.respond(b"two")
    return b"%d" % os.getpid()

pluton.Service("handler").serve(handle)
"""


def test_handler_exceptions_become_fault_6_and_the_instance_keeps_serving(svc):
    s = svc(HANDLER)
    pid = s.call(b"pid")
    with pytest.raises(ServiceFault) as e:
        s.call(b"value")
    assert (e.value.code, e.value.text) == (FaultCode.SERVICE_EXCEPTION, "ValueError: bad value 7")
    assert e.value.name == "serviceException"
    with pytest.raises(ServiceFault) as e:
        s.call(b"empty")
    assert (e.value.code, e.value.text) == (6, "KeyError")
    assert s.call(b"pid") == pid  # the same process answers the next request
    err = s.stderr()
    assert "Traceback (most recent call last)" in err and 'raise ValueError("bad value %d" % 7)' in err
    assert "ValueError: bad value 7" in err


def test_handler_results_and_faults(svc):
    s = svc(HANDLER)
    with pytest.raises(ServiceFault) as e:
        s.call(b"fault")
    assert (e.value.code, e.value.text) == (42, "my own fault")
    assert s.call(b"text") == "héllo".encode()
    assert s.call(b"none") == b""
    assert s.call(b"bytearray") == b"ba"
    with pytest.raises(ServiceFault) as e:
        s.call(b"int")
    assert e.value.code == 6 and e.value.text.startswith("TypeError: response data must be bytes")
    assert s.call(b"self") == b"answered myself"
    with pytest.raises(ServiceFault) as e:
        s.call(b"self-then-raise")
    assert (e.value.code, e.value.text) == (77, "first")
    assert s.call(b"twice") == b"one"  # the second respond raised; the client has the first
    wait_for(lambda: "the request was already answered" in s.stderr(), what="the traceback of the second respond")
    assert s.proc.poll() is None


REQUEST_FIELDS = """
import json, pluton
service = pluton.Service("fields")
for request in service:
    k = request.key
    request.respond(json.dumps({
        "data": request.data.decode(), "key": str(k), "parts": [k.application, k.function, k.version, k.serialization],
        "client": request.client_name, "id": request.id, "ctx": request.context("c1"), "missing": request.context("x"),
        "remaining": request.remaining, "timeout": request.timeout, "no_wait": request.no_wait,
        "keep_affinity": request.keep_affinity, "answered": request.answered}))
"""


def test_request_fields(svc):
    import json
    s = svc(REQUEST_FIELDS)
    got = json.loads(s.call(b"payload", key="t.func.0.raw", context={"c1": "v1"}, timeout=2.0))
    assert got["data"] == "payload" and got["key"] == "t.func.0.raw"
    assert got["parts"] == ["t", "func", 0, "raw"]
    assert got["client"] == "tester:%d" % os.getpid() and got["id"] >= 100
    assert (got["ctx"], got["missing"]) == ("v1", None)
    assert 1.0 < got["remaining"] <= 2.0 and got["timeout"] == 2.0
    assert (got["no_wait"], got["keep_affinity"], got["answered"]) == (False, False, False)
    got = json.loads(s.call(b"", key="t.func.0.raw", timeout=0))
    assert got["remaining"] is None and got["timeout"] is None


def test_a_malformed_context_raises_fault_22_on_lookup(svc):
    s = svc("""
import pluton
def handle(request):
    return request.context("x") or "none"
pluton.Service("ctx").serve(handle)
""")
    with connect(s.socket) as c:
        c.sendall(b"0Q,3b100,9ct.x.0.raw,4l4000,6j1xk,0v,0z\n")
        resp = read_to_eof(c)
    assert b"3p-22," in resp and b"Unexpected Context type. Wanted: 'k', but got: 'x'" in resp


def test_loop_form_unanswered_request_gets_fault_6(svc):
    s = svc("""
import pluton
for request in pluton.Service("loop"):
    if request.data != b"skip":
        request.respond(request.data)
""")
    with pytest.raises(ServiceFault) as e:
        s.call(b"skip")
    assert (e.value.code, e.value.text) == (6, "request not answered by the service")
    assert s.call(b"next") == b"next"


STOPPING = """
import os, signal, sys, time, pluton
marks = sys.argv[1]
def mark(what):
    with open(marks, "a") as f:
        f.write(what + "\\n")
def own_handler(signum, frame):
    mark("own handler")
signal.signal(signal.SIGTERM, own_handler)
service = pluton.Service("stopper")
service.on_stop(lambda: mark("on_stop"))
try:
    with open(os.devnull) as held:
        for request in service:
            if request.data == b"slow":
                time.sleep(0.5)
            request.respond(request.data)
        mark("loop ended")
finally:
    mark("finally")
mark("exit")
"""


def test_sigterm_ends_the_loop_normally_and_chains_the_own_handler(tmp_path):
    marks = tmp_path / "marks"
    script = tmp_path / "svc.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\n" % SRC + STOPPING)
    sock = tmp_path / "t.x.0.raw.socket"
    p = spawn([str(script), str(marks)], {}, env={"plutonAcceptSocket": str(sock)})
    try:
        wait_connectable(sock)
        c = Client(lookup=str(tmp_path))
        call = c.submit("t.x.0.raw", b"slow")
        time.sleep(0.2)  # busy with it
        p.send_signal(signal.SIGTERM)
        assert call.result() == b"slow"  # the current request is finished
        assert p.wait(timeout=5) == 0
        assert marks.read_text().splitlines() == ["own handler", "on_stop", "loop ended", "finally", "exit"]
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)


def test_sigterm_when_idle_in_manager_mode_with_the_handler_form(tmp_path):
    m = Manager(tmp_path)
    script = tmp_path / "svc.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\n" % SRC + """
import pluton
service = pluton.Service("echo")
service.on_stop(lambda: sys.stderr.write("stopped cleanly\\n"))
service.serve(lambda request: request.data)
""")
    try:
        p = m.start(argv=[str(script)])
        assert Client(lookup=str(tmp_path)).call("system.echo.0.raw", b"hi") == b"hi"
        wait_for(lambda: m.slot().state == SlotState.IDLE, what="idle")
        started = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0 and time.monotonic() - started < 1.0
        assert (m.slot().state, m.slot().exit_reason) == (SlotState.STOPPING, ExitReason.SERVICE_SHUTDOWN)
        assert m.stderr().count("stopped cleanly") == 1
    finally:
        m.close()


@pytest.mark.parametrize("form", ["serve", "loop"])
def test_without_a_request_source_initialization_raises_a_clear_fault(tmp_path, form):
    """Never a silent exit 0: the implicit initialize raises, naming what to do."""
    body = ("pluton.Service('x').serve(lambda r: r.data)" if form == "serve"
            else "for request in pluton.Service('x'):\n    request.respond(b'')")
    script = tmp_path / "svc.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\nimport pluton\n%s\n" % (SRC, body))
    env = {k: v for k, v in os.environ.items() if k not in ("plutonAcceptSocket", "plutonPacketTrace")}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=20,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert "pluton.faults.Fault: pluton::Fault=-55 (noFauxSTDIN:shell mode without fd 3) 'no request source: " \
           "fd 3 is not open; run the service under plutonManager, with plTest, or as " \
           "./svc 3<request 4>response'" in out.stderr


def test_explicit_initialize_stays_available(tmp_path):
    from harness import HELLO, run_standalone
    script = tmp_path / "svc.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\nimport pluton\n" % SRC + """
service = pluton.Service("echo")
service.initialize()
assert service.mode == "standalone"
try:
    service.initialize()
except pluton.Fault as f:
    assert f.code == pluton.FaultCode.ALREADY_INITIALIZED, f
service.serve(lambda r: r.data)
""")
    rc, resp, err = run_standalone(HELLO, tmp_path, argv=[str(script)])
    assert rc == 0, err
    assert resp.endswith(b"/0,5qHello,0z\n")


def test_fault_is_an_exception_with_code_text_and_name():
    f = Fault(FaultCode.SERVICE_UNAVAILABLE, "halted")
    assert isinstance(f, Exception) and f.code == 7 and f.text == "halted" and f.name == "serviceUnavailable"
    assert issubclass(ServiceFault, Fault)


def test_sigterm_in_stand_alone_mode_finishes_the_request_then_ends_the_loop(tmp_path):
    script = tmp_path / "svc.py"
    script.write_text("import sys, time\nsys.path.insert(0, %r)\nimport pluton\n" % SRC + """
def handle(request):
    sys.stderr.write("handling\\n")
    sys.stderr.flush()
    time.sleep(0.5)
    return request.data
service = pluton.Service("sa")
service.on_stop(lambda: sys.stderr.write("on_stop ran\\n"))
service.serve(handle)
""")
    from harness import HELLO
    r, w = os.pipe()
    out = tmp_path / "out"
    fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = tmp_path / "err"
    fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        p = spawn([str(script)], {r: 3, fd_out: 4}, stderr=fd_err)
    finally:
        os.close(r)
        os.close(fd_out)
        os.close(fd_err)
    try:
        os.write(w, HELLO)  # fd 3 stays open: no end of input
        wait_for(lambda: "handling" in err.read_text(), what="the handler to start")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0, err.read_text()
        assert out.read_bytes().endswith(b"5qHello,0z\n")
        assert "on_stop ran" in err.read_text()
    finally:
        os.close(w)
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)
