"""Remote keys and jobs through the local manager's gateway socket
(docs/remote.md): host A runs ``plutonManager -N embedded`` (its own NATS
server), host B joins A's NATS with the URL A wrote in
``<R>/plutonManager.nats`` and serves keys A does not; a client on A calls
them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from harness import ECHO, pluton_bin, wait_for
from pluton import Client, Fault, FaultCode

ECHO_KEY = "pyremote.echo.0.raw"
JOB_KEY = "pyremote.job.0.raw"


def _echo_config(extra: str = "") -> str:
    return "exec %s %s\nminimum-processes 1\nmaximum-processes 2\nprestart-processes true\n" \
           "exec-failure-backoff 0\n%s" % (sys.executable, ECHO, extra)


class Host:
    """A plutonManager with ``-N`` over its own short temporary directory."""

    def __init__(self, nats: str, services: Dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="plrm"))
        self.config, self.rendezvous, self.lookup = self.dir / "c", self.dir / "r", self.dir / "lookup.map"
        self.config.mkdir()
        for key, text in services.items():
            (self.config / key).write_text(text)
        self.log_path = self.dir / "manager.log"
        env = dict(os.environ, plutonHome=str(self.dir))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([pluton_bin("plutonManager"), "-C", str(self.config), "-R",
                                          str(self.rendezvous), "-L", str(self.lookup), "-N", nats],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        wait_for(lambda: "Manager ready:" in self.log() or self.proc.poll() is not None, timeout=30,
                 what="the manager to be ready")
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def nats_url(self) -> str:
        return (self.rendezvous / "plutonManager.nats").read_text().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def hosts():
    started: List[Host] = []
    try:
        a = Host("embedded", {})
        started.append(a)
        b = Host(a.nats_url, {ECHO_KEY: _echo_config(), JOB_KEY: _echo_config("jobs true\n")})
        started.append(b)
        wait_for(lambda: "Job Class: %s" % JOB_KEY in b.log(), timeout=30, what="B's job class")
        # B's export is visible once a call from A through the gateway succeeds.
        c = Client("probe", lookup=str(a.lookup), timeout=5)

        def reachable() -> bool:
            try:
                return c.call(ECHO_KEY, b"probe") == b"probe"
            except Fault:
                return False
        wait_for(reachable, timeout=30, what="B's keys to be reachable from A")
        yield a, b
    finally:
        for h in reversed(started):
            h.close()


def _client(a: Host, timeout: Optional[float] = 5.0) -> Client:
    return Client("pytest", lookup=str(a.lookup), timeout=timeout)


def test_a_key_served_only_by_the_other_host(hosts):
    a, _ = hosts
    assert not (a.rendezvous / ("%s.socket" % ECHO_KEY)).exists()
    with _client(a) as c:
        call = c.submit(ECHO_KEY, b"hello remote", context={"echo.sleepMS": "1"})
        assert call.result() == b"hello remote"
        assert call.service_name.startswith("echo:") or call.service_name, call.service_name
        # Several in parallel, through the same selector loop.
        calls = [c.submit(ECHO_KEY, b"n%d" % i) for i in range(8)]
        assert [x.result() for x in calls] == [b"n%d" % i for i in range(8)]


def test_remote_faults_keep_code_and_text(hosts):
    a, _ = hosts
    with _client(a) as c:
        with pytest.raises(Fault) as e:
            c.call(ECHO_KEY, b"x", context={"echo.sleepMS": "-1"})
        assert e.value.code == 111
        assert "sleep time negative" in str(e.value)
        with pytest.raises(Fault) as e:
            c.call("pyremote.nowhere.0.raw", b"x")
        assert e.value.code == FaultCode.SERVICE_NOT_FOUND
        assert "no host serves it" in str(e.value)


def test_no_remote_fails_fast(hosts):
    a, _ = hosts
    with _client(a) as c:
        t0 = time.monotonic()
        with pytest.raises(Fault) as e:
            c.call(ECHO_KEY, b"x", no_remote=True)
        assert e.value.code == -30
        assert "no socket" in str(e.value)
        assert time.monotonic() - t0 < 1.0


def test_the_deadline_travels_as_the_timeout(hosts):
    a, _ = hosts
    with _client(a, timeout=1.0) as c:
        t0 = time.monotonic()
        with pytest.raises(Fault) as e:
            c.call(ECHO_KEY, b"slow", context={"echo.sleepMS": "5000"})
        took = time.monotonic() - t0
        assert e.value.code == -19, e.value
        assert took < 3.0, took
        # The service is still usable afterwards.
        assert c.call(ECHO_KEY, b"after", timeout=10) == b"after"


def test_a_refusing_gateway_is_named(tmp_path):
    import socket as s
    r = tmp_path / "r"
    r.mkdir()
    stale = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    stale.bind(str(r / "plutonRemote.socket"))  # bound, never listening: connect is refused
    try:
        with Client("pytest", lookup=str(r)) as c:
            with pytest.raises(Fault) as e:
                c.call("pyremote.absent.0.raw", b"x")
            assert e.value.code == -30
            assert "remote gateway %s/plutonRemote.socket: Connection refused" % r in str(e.value)
    finally:
        stale.close()


def test_no_gateway_is_still_not_found(tmp_path):
    r = tmp_path / "r"
    r.mkdir()
    with Client("pytest", lookup=str(r)) as c:
        with pytest.raises(Fault) as e:
            c.call("pyremote.absent.0.raw", b"x")
        assert e.value.code == -30
        assert "no socket" in str(e.value)
        with pytest.raises(Fault) as e:
            c.submit_job(JOB_KEY, b"x")
        assert e.value.code == -30
        assert "no remote gateway" in str(e.value)


def test_submit_job_and_wait_for_its_result(hosts):
    a, _ = hosts
    with _client(a, timeout=10) as c:
        s = c.submit_job(JOB_KEY, b"job payload", context={"k": "v"}, job_id="py-job-1")
        assert s["id"] == "py-job-1"
        assert s["duplicate"] is False
        assert s["sequence"] > 0
        r = c.job_result("py-job-1", timeout=30)
        assert r["ok"] is True
        assert r["data"] == b"job payload"
        assert r["key"] == JOB_KEY
        assert r["attempts"] == 1
        again = c.submit_job(JOB_KEY, b"again", job_id="py-job-1")
        assert again["duplicate"] is True
        made = c.submit_job(JOB_KEY, "text payload")
        assert made["id"] and made["id"] != "py-job-1"
        assert c.job_result(made["id"], timeout=30)["data"] == b"text payload"


def test_job_faults(hosts):
    a, _ = hosts
    with _client(a, timeout=10) as c:
        with pytest.raises(Fault) as e:
            c.submit_job(JOB_KEY, b"x", job_id="bad id")
        assert e.value.code == -22
        assert "bad id" in str(e.value)
        with pytest.raises(Fault) as e:
            c.submit_job("nodots", b"x")
        assert e.value.code == -31
        with pytest.raises(Fault) as e:
            c.submit_job(JOB_KEY, b"x", context={"pluton.x": "1"})
        assert e.value.code == FaultCode.CONTEXT_RESERVED_NAMESPACE
        t0 = time.monotonic()
        with pytest.raises(Fault) as e:
            c.job_result("py-never-submitted", timeout=0.5)
        assert e.value.code == -19
        assert time.monotonic() - t0 < 3.0
        # A job whose every attempt fails has a failed result with the last fault.
        c.submit_job(JOB_KEY, b"x", context={"echo.sleepMS": "-1"}, job_id="py-job-fails")
        r = c.job_result("py-job-fails", timeout=40)
        assert r["ok"] is False
        assert r["faultCode"] == 111
        assert r["faultText"] == "sleep time negative"


def test_the_asyncio_client_reaches_remote_keys(hosts):
    import asyncio

    from pluton import aio

    a, _ = hosts

    async def run() -> None:
        async with aio.Client("pytest-aio", lookup=str(a.lookup), timeout=5) as c:
            assert await c.call(ECHO_KEY, b"async remote") == b"async remote"
            with pytest.raises(Fault) as e:
                await c.call(ECHO_KEY, b"x", no_remote=True)
            assert e.value.code == -30
    asyncio.run(run())


def test_no_wait_through_the_gateway(hosts):
    a, _ = hosts
    with _client(a) as c:
        assert c.call(ECHO_KEY, b"fire and forget", no_wait=True) == b""
        assert c.call(ECHO_KEY, b"then a call") == b"then a call"


def test_the_serving_host_killed_mid_call(hosts):
    """A third host serving its own key is SIGKILLed while a call through the
    gateway is in flight: the call fails within its timeout (-19), nothing
    hangs, and later calls get -30 at once."""
    a, _ = hosts
    key = "pyremote.victim.0.raw"
    victim = Host(a.nats_url, {key: _echo_config()})
    try:
        with _client(a, timeout=3.0) as c:
            def up() -> bool:
                try:
                    return c.call(key, b"up") == b"up"
                except Fault:
                    return False
            wait_for(up, timeout=30, what="the victim's key to be reachable")
            call = c.submit(key, b"slow", context={"echo.sleepMS": "10000"})
            time.sleep(0.5)
            t0 = time.monotonic()
            victim.proc.kill()
            victim.proc.wait(timeout=10)
            with pytest.raises(Fault) as e:
                call.result()
            print("in flight:", e.value.code, e.value)
            assert e.value.code in (-19, -20), e.value
            assert time.monotonic() - t0 < 3.0 + 1.0
            t0 = time.monotonic()
            with pytest.raises(Fault) as e:
                c.call(key, b"after")
            print("after:", e.value.code, e.value)
            assert e.value.code in (-30, -19), e.value
            assert time.monotonic() - t0 < 3.0 + 1.0
            assert c.call(ECHO_KEY, b"others still served") == b"others still served"
    finally:
        victim.close()
