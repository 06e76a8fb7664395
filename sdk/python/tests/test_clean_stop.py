"""Clean stops under the real plutonManager (docs/sdk.md rule 4): the
on_stop hook and the finally block of a service run, in that order, whenever
an instance ends normally: recycled at maximum-requests, replaced by a
reload, stopped by idle-timeout scale-down, stopped with the manager. Every
instance that exited leaves its marker."""

from __future__ import annotations

import os
import re
import sys
import time

from harness import REPO, RealManager, wait_for
from pluton import Client

SERVICE = """import os, sys
sys.path.insert(0, %r)
import pluton

def mark(line):
    with open(os.path.join(sys.argv[1], str(os.getpid())), "a") as f:
        f.write(line + "\\n")

service = pluton.Service("cleanup")
service.on_stop(lambda: mark("on_stop"))
try:
    service.serve(lambda request: request.data)
finally:
    mark("finally")
"""


def test_cleanup_runs_on_recycle_reload_idle_and_manager_stop(tmp_path):
    markers = tmp_path / "m"
    markers.mkdir()
    script = tmp_path / "cleanup.py"
    script.write_text(SERVICE % str(REPO / "sdk" / "python" / "src"))
    exe = "exec %s %s %s\n" % (sys.executable, script, markers)
    configs = {
        "py.recycle.0.raw": exe + "maximum-requests 2\nenable-leak-ramping false\nexec-failure-backoff 0\n",
        "py.reload.0.raw": exe + "prestart-processes true\n",
        "py.idle.0.raw": exe + "minimum-processes 0\nidle-timeout 10\n",
        "py.stop.0.raw": exe + "prestart-processes true\n",
    }
    m = RealManager(configs)
    try:
        c = Client(lookup=str(m.lookup))
        assert c.call("py.idle.0.raw", b"x") == b"x"
        for _ in range(4):
            assert c.call("py.recycle.0.raw", b"r") == b"r"
        wait_for(lambda: "Process Start: py.reload.0.raw" in m.log(), timeout=15, what="py.reload started")
        wait_for(lambda: "Process Start: py.stop.0.raw" in m.log(), timeout=15, what="py.stop started")
        cfg = m.config / "py.reload.0.raw"
        cfg.write_text(configs["py.reload.0.raw"] + "idle-timeout 300\n")
        later = time.time() + 2
        os.utime(cfg, (later, later))
        m.proc.send_signal(1)  # SIGHUP: the changed service's new version replaces the old
        for what, n in (("reload", 1), ("recycle", 2), ("idle", 1)):
            wait_for(lambda: len(re.findall(r"Child Exit: normal py\.%s\.0\.raw/" % what, m.log())) >= n,
                     timeout=30, what="%d normal exits of py.%s" % (n, what))
        m.proc.send_signal(15)
        m.proc.wait(timeout=30)
        log = m.log()
        exits = re.findall(r"Child Exit: (\S+) py\.(\w+)\.0\.raw/\S+ .*pid=(\d+)", log)
        seen = {}
        for status, how, pid in exits:
            assert status == "normal", log
            assert (markers / pid).read_text() == "on_stop\nfinally\n", (how, pid)
            seen[how] = seen.get(how, 0) + 1
        assert seen.get("recycle", 0) >= 2 and all(seen.get(h) for h in ("reload", "idle", "stop")), seen
        assert "SIGKILL sent" not in log
    finally:
        m.close()
