"""pluton.coord against a real plutonManager (its control socket)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import RealManager, wait_for
from pluton.coord import Coord, CoordError, CoordTimeout, Message, encode

SRC = str(Path(__file__).resolve().parents[1] / "src")

# An instance stand-in: connects as service $plutonService, does what argv[1]
# says, prints "ready", then polls and prints every event it handles.
HELPER = r'''
import sys, time
from pluton.coord import Coord
c = Coord()
mode = sys.argv[1]
if mode == "hold":
    assert c.semaphores.decrement("slots") == 0
    c.mutexes.lock("m")
elif mode == "timer":
    c.timers.every("tick", 0.3, lambda: print("tick", flush=True))
elif mode == "listen":
    c.messages.on("*", lambda m: print("msg", m.name, m.args.decode(), m.sender, flush=True))
elif mode == "set":
    c.variables.set("config", sys.argv[2])
print("ready", flush=True)
end = time.monotonic() + 60
while time.monotonic() < end:
    c.wait(0.05)
'''

# A real service: a timer and a message handler delivered by the service loop.
SERVICE = r'''
import sys
import pluton
from pluton.coord import Coord
svc = pluton.Service("coordsvc")
c = Coord()
n = [0]
def beat():
    n[0] += 1
    sys.stderr.write("beat %d\n" % n[0])
    sys.stderr.flush()
c.timers.every("beat", 0.3, beat)
c.messages.on("hello", lambda m: sys.stderr.write("got %s\n" % m.args.decode()) or sys.stderr.flush())
try:
    held = c.mutexes.lock("svc-lock", timeout=0)
    sys.stderr.write("holder\n")
    sys.stderr.flush()
except pluton.coord.CoordTimeout:
    pass
svc.serve(lambda req: b"ok")
'''


@pytest.fixture(scope="module")
def manager():
    m = RealManager({})
    yield m
    m.close()


def control(m: RealManager) -> str:
    return str(m.rendezvous / "plutonControl.socket")


class Helper:
    def __init__(self, m: RealManager, service: str, *args: str) -> None:
        env = dict(os.environ, plutonControl=control(m), plutonService=service, PYTHONPATH=SRC)
        self.proc = subprocess.Popen([sys.executable, "-c", HELPER, *args], env=env, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        assert self.line() == "ready"

    def line(self, timeout: float = 10) -> str:
        import select
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert r, "no line from the helper within %ss" % timeout
        return self.proc.stdout.readline().strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)
        self.proc.stdout.close()


@pytest.fixture
def helpers():
    hs = []
    yield hs
    for h in hs:
        h.kill()


def test_killed_instance_releases_protected_semaphore_and_mutex(manager, helpers):
    c = Coord(control(manager), "py.kill.0.raw")
    assert c.semaphores.create("slots", 1, protected=True) is True
    h = Helper(manager, "py.kill.0.raw", "hold")
    helpers.append(h)
    assert c.semaphores.get("slots") == 0
    with pytest.raises(CoordTimeout) as e:
        c.mutexes.lock("m", timeout=0.1)
    assert e.value.code == "timeout" and "held by pid %d" % h.proc.pid in e.value.text
    killed = time.monotonic()
    h.proc.send_signal(signal.SIGKILL)
    with c.mutexes.lock("m", timeout=5):
        assert c.semaphores.decrement("slots", wait=True, timeout=5) == 0
    assert time.monotonic() - killed < 1.0
    c.close()


def test_wait_for_change_wakes_on_set_from_another_instance(manager, helpers):
    c = Coord(control(manager), "py.var.0.raw")
    assert c.variables.get("config") == (None, 0)
    with pytest.raises(CoordTimeout):
        c.variables.wait_for_change("config", 0, timeout=0.1)
    start = time.monotonic()
    helpers.append(Helper(manager, "py.var.0.raw", "set", "v1"))
    value, version = c.variables.wait_for_change("config", 0, timeout=10)
    assert (value, version) == (b"v1", 1)
    assert time.monotonic() - start < 10
    assert c.variables.set("config", "v2") == 2
    assert c.variables.wait_for_change("config", 1, timeout=1) == (b"v2", 2)
    c.close()


def test_broadcast_reaches_every_instance_of_the_service(manager, helpers):
    same = [Helper(manager, "py.msg.0.raw", "listen") for _ in range(3)]
    other = Helper(manager, "py.other.0.raw", "listen")
    helpers.extend(same + [other])
    c = Coord(control(manager), "py.msg.0.raw")
    got = []
    c.messages.on("reload", got.append)
    assert c.messages.broadcast("", "reload", b"now") == 4  # three helpers and c
    for h in same:
        assert h.line() == "msg reload now py.msg.0.raw"
    wait_for(lambda: c.poll() > 0 or bool(got), timeout=5, what="the sender's own copy")
    assert got == [Message("reload", b"now", "py.msg.0.raw")]
    assert c.messages.broadcast("py.*.0.raw", "all", b"x") == 5
    assert other.line() == "msg all x py.msg.0.raw"
    c.close()


def test_singleton_timer_moves_when_its_owner_is_killed(manager, helpers):
    owner = Helper(manager, "py.timer.0.raw", "timer")
    helpers.append(owner)
    ticks = []
    c = Coord(control(manager), "py.timer.0.raw")
    assert c.timers.every("tick", 0.3, lambda: ticks.append(time.monotonic())) is False
    assert owner.line() == "tick" and owner.line() == "tick"
    c.poll()
    assert ticks == []
    killed = time.monotonic()
    owner.kill()
    wait_for(lambda: c.wait(0.05) > 0, timeout=5, what="the timer to move")
    assert ticks and ticks[0] - killed < 0.3 + 0.7  # within one period, with slack
    with pytest.raises(CoordError) as e:
        c.timers.every("tick", 1.0, lambda: None)
    assert e.value.code == "conflict"
    c.timers.cancel("tick")
    c.close()


@pytest.mark.parametrize("call,code,text", [
    (lambda c: c.variables.set("v", b"x" * 65537), "too_large",
     'variable "v": value of 65537 bytes exceeds the limit of 65536 bytes'),
    (lambda c: c.messages.broadcast("", "m", b"x" * 65537), "too_large",
     'message "m": arguments of 65537 bytes exceed the limit of 65536 bytes'),
    (lambda c: c.semaphores.get("n" * 256), "too_large", "name of 256 bytes exceeds the limit of 255 bytes"),
    (lambda c: c.semaphores.increment("missing"), "not_found", 'no semaphore "missing" (create it first)'),
    (lambda c: c.mutexes.unlock("free"), "not_owner", 'mutex "free" is not held by this instance'),
    (lambda c: c.timers.every("t", 0.001, lambda: None), "bad_request",
     "timer \"t\": the period (field 'e') must be a number of milliseconds, at least 10"),
])
def test_limits_give_clear_errors(manager, call, code, text):
    with Coord(control(manager), "py.limits.0.raw") as c:
        with pytest.raises(CoordError) as e:
            call(c)
        assert (e.value.code, e.value.text) == (code, text)


def test_count_limit_and_deadlock(manager):
    with Coord(control(manager), "py.count.0.raw") as c:
        for i in range(1024):
            c.semaphores.create("s%d" % i, 0, protected=False)
        with pytest.raises(CoordError) as e:
            c.semaphores.create("one-more", 0)
        assert e.value.code == "limit" and e.value.text == 'semaphore "one-more": too many semaphores (limit 1024)'
        assert c.semaphores.create("one-more", 0, global_=True) is True  # the global scope counts apart
        with c.mutexes.lock("m"):
            with pytest.raises(CoordError) as e:
                c.mutexes.lock("m")
            assert e.value.code == "deadlock"


def test_service_loop_delivers_timer_and_messages(tmp_path):
    script = tmp_path / "svc.py"
    script.write_text(SERVICE)
    launcher = tmp_path / "svc.sh"
    launcher.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s %s\n" % (SRC, sys.executable, script))
    launcher.chmod(0o755)
    m = RealManager({"py.coordsvc.0.raw": "exec %s\nminimum-processes 2\nmaximum-processes 2\n"
                     "prestart-processes true\n" % launcher})
    try:
        wait_for(lambda: len(re.findall(r" beat \d+", m.log())) >= 2, timeout=20, what="the timer in the service")
        beats_by = set(re.findall(r"Log: (\S+) beat \d+", m.log()))
        assert len(beats_by) == 1, "one instance runs the timer: %s" % beats_by
        with Coord(control(m), "py.coordsvc.0.raw") as c:
            assert c.messages.broadcast("", "hello", b"world") == 3
        wait_for(lambda: len(re.findall(r"Log: \S+ got world", m.log())) == 2, timeout=10,
                 what="both instances to get the message")

        # The instance holding a mutex is killed by SIGKILL: a waiter gets it within 1 s.
        holder = re.findall(r"Log: \S+/\d+-(\d+) holder", m.log())
        assert len(holder) == 1, m.log()
        with Coord(control(m), "py.coordsvc.0.raw") as c:
            import threading
            got = []
            def wait_lock() -> None:
                got.append((c.mutexes.lock("svc-lock", timeout=10), time.monotonic()))
            waiter = threading.Thread(target=wait_lock)
            waiter.start()
            time.sleep(0.2)  # the waiter is queued first
            killed = time.monotonic()
            os.kill(int(holder[0]), signal.SIGKILL)
            waiter.join(15)
            assert got and got[0][1] - killed < 1.0
    finally:
        m.close()


def test_encoding_is_the_protocol_vector():
    assert encode(b"R", {b"b": b"1", b"o": b"hello", b"s": b"a.b.0.raw"}) == b"0R,1b1,5ohello,9sa.b.0.raw,0z\n"


def test_missing_environment_is_named(monkeypatch):
    monkeypatch.delenv("plutonControl", raising=False)
    with pytest.raises(CoordError, match="plutonControl is not set"):
        Coord()


def test_conformance_encode_vectors():
    import json
    vectors = json.loads((Path(__file__).resolve().parents[3] / "conformance" / "coord" / "vectors.json").read_text())
    from pluton.coord import _parse
    for v in vectors["encode"]:
        fields = {k.encode(): val.encode() for k, val in v["fields"].items()}
        assert encode(v["kind"].encode(), fields) == v["bytes"].encode()
        buf = bytearray(v["bytes"].encode())
        assert _parse(buf) == (v["kind"].encode(), fields, len(buf))
