"""Python services under the real plutonManager (bin/): a wedge after the
response is killed as unresponsive, the recorder with cycle 3 and its replay,
the limits of the config reaching the instance."""

from __future__ import annotations

import os
import re
import stat
import sys
import time

import pytest

from harness import ECHO, RealManager, run_standalone, wait_for
from pluton import Client, ServiceFault


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _echo_config(extra: str = "") -> str:
    return "exec %s %s\nminimum-processes 1\nmaximum-processes 1\nprestart-processes true\n" \
           "exec-failure-backoff 0\n%s" % (sys.executable, ECHO, extra)


def test_a_wedge_after_the_response_is_killed_as_unresponsive():
    """The slot stays busy after the response (protocol.md §4.2), so an instance
    that hangs after answering is killed like one that hangs mid-request."""
    m = RealManager({"py.echo.0.raw": _echo_config("unresponsive-timeout 5\n")})
    try:
        c = Client(lookup=str(m.lookup))
        c.call("py.echo.0.raw", b"warm")
        call = c.submit("py.echo.0.raw", b"then hang", context={"echo.sleepAfter": "60"})
        assert call.result() == b"then hang"
        answered = time.monotonic()
        pid = int(re.match(r"echo:(\d+)/0", call.service_name).group(1))
        wait_for(lambda: not _alive(pid), timeout=15, what="the wedged instance to be killed")
        took = time.monotonic() - answered
        print("wedged instance killed %.2f s after its response (unresponsive-timeout 5)" % took)
        assert took < 5 + 2.5, took
        assert c.call("py.echo.0.raw", b"after") == b"after"  # a new instance serves
    finally:
        m.close()


def test_recorder_cycle_3_under_the_manager_and_replay(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    m = RealManager({"py.echo.0.raw": _echo_config("recorder-prefix %s/r.\nrecorder-cycle 3\n" % rec)})
    try:
        c = Client(lookup=str(m.lookup))
        for i in range(20):
            assert c.call("py.echo.0.raw", b"request %d" % i, context={"n": str(i)}) == b"request %d" % i
        names = sorted(os.listdir(rec))
        pids = {n.split(".")[2] for n in names}
        assert len(pids) == 1, names
        pid = pids.pop()
        assert names == ["r.in.%s.%05d" % (pid, i) for i in range(3)] + ["r.out.%s.%05d" % (pid, i) for i in range(3)]
        for name in names:
            assert stat.S_IMODE(os.stat(rec / name).st_mode) == 0o640
        # Request 20 (index 20 % 3 = 2) is in 00002.
        assert b"10krequest 19," in (rec / ("r.in.%s.00002" % pid)).read_bytes()
        strip = re.compile(rb"\d+secho:\d+/0,")
        for i in range(3):
            recorded = (rec / ("r.out.%s.%05d" % (pid, i))).read_bytes()
            rc, resp, err = run_standalone((rec / ("r.in.%s.%05d" % (pid, i))).read_bytes(), tmp_path)
            assert rc == 0, err
            assert strip.sub(b"S", resp) == strip.sub(b"S", recorded)
    finally:
        m.close()


def test_config_limits_reach_the_instance():
    m = RealManager({"py.echo.0.raw": _echo_config("maximum-request-size 1000\n")})
    try:
        c = Client(lookup=str(m.lookup))
        assert c.call("py.echo.0.raw", b"x" * 900) == b"x" * 900
        with pytest.raises(ServiceFault) as e:
            c.call("py.echo.0.raw", b"x" * 5000)
        assert (e.value.code, e.value.text) == (3, "request data of 5000 bytes exceeds maximum-request-size 1000")
    finally:
        m.close()
