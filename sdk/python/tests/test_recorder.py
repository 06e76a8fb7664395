"""The recorder (docs/protocol.md §9): file names, cycle arithmetic, mode 0640,
contents, replay by fd redirection, and a failing recorder."""

from __future__ import annotations

import os
import re
import stat

from harness import Manager, connect, exchange, read_to_eof, request_packet, run_standalone, wait_for
from pluton import stats
from pluton.recorder import Recorder
from pluton.wire import encode_context_pair


def test_index_arithmetic(tmp_path):
    r = Recorder(str(tmp_path / "x.").encode(), 3, 42)
    got = [r.record_in(b"p") for _ in range(7)]
    assert got == [1, 2, 0, 1, 2, 0, 1]
    unbounded = Recorder(str(tmp_path / "y.").encode(), 0, 42)
    assert [unbounded.record_in(b"p") for _ in range(3)] == [1, 2, 3]
    assert unbounded.path("in", 3) == str(tmp_path / "y.in.42.00003").encode()
    assert unbounded.path("out", 123456) == str(tmp_path / "y.out.42.123456").encode()


def test_cycle_3_files_names_mode_contents_and_replay(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    prefix = str(rec) + "/echo."
    m = Manager(tmp_path, recorder_prefix=prefix.encode(), recorder_cycle=3)
    old = os.umask(0o077)  # the files are 0640 whatever the umask
    try:
        p = m.start()
        sent, got = [], []
        for i in range(5):
            packet = request_packet(b"req%d" % i, rid=200 + i)
            sent.append(packet)
            got.append(exchange(m.socket_path, packet))
        with connect(m.socket_path) as c:  # noWait: the out-file has the response not sent
            nowait = request_packet(b"quiet", rid=300, flags=b"0e,")
            c.sendall(nowait)
            assert read_to_eof(c) == b""
        wait_for(lambda: m.slot().responses == 6, what="6 responses")
        names = sorted(os.listdir(rec))
        assert names == ["echo.in.%d.%05d" % (p.pid, i) for i in range(3)] + \
            ["echo.out.%d.%05d" % (p.pid, i) for i in range(3)]
        for name in names:
            assert stat.S_IMODE(os.stat(rec / name).st_mode) == 0o640
        # Requests 1..6 went to indexes 1, 2, 0, 1, 2, 0.
        assert (rec / ("echo.in.%d.00001" % p.pid)).read_bytes() == sent[3]
        assert (rec / ("echo.out.%d.00001" % p.pid)).read_bytes() == got[3]
        assert (rec / ("echo.in.%d.00002" % p.pid)).read_bytes() == sent[4]
        assert (rec / ("echo.in.%d.00000" % p.pid)).read_bytes() == nowait
        quiet_out = (rec / ("echo.out.%d.00000" % p.pid)).read_bytes()
        assert quiet_out.startswith(b"0A,3b300,") and quiet_out.endswith(b"5qquiet,0z\n")
        assert m.slot().recorder_index == 0
        # Replay: the in-file on fd 3 gives the recorded out-file (but for the pid in s).
        in_file = rec / ("echo.in.%d.00001" % p.pid)
        rc, resp, err = run_standalone(in_file.read_bytes(), tmp_path)
        assert rc == 0, err
        strip = re.compile(rb"\d+secho:\d+/0,")
        assert strip.sub(b"S", resp) == strip.sub(b"S", got[3])
    finally:
        os.umask(old)
        m.close()


def test_an_unwritable_prefix_is_reported_once_and_requests_are_served(tmp_path):
    m = Manager(tmp_path, recorder_prefix=str(tmp_path / "no" / "such" / "dir.").encode())
    try:
        p = m.start()
        for i in range(3):
            assert exchange(m.socket_path, request_packet(context=encode_context_pair(b"k", b"%d" % i))) \
                .endswith(b"5qHello,0z\n")
        assert p.poll() is None
        wait_for(lambda: "recording stops" in m.stderr(), what="the recorder failure line")
        assert m.stderr().count("pluton: recorder: cannot write") == 1
        assert "No such file or directory" in m.stderr()
        assert m.slot().recorder_index == stats.NOT_RECORDING
    finally:
        m.close()
