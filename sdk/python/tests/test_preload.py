"""The template side of preload (docs/preload.md), against a stand-in manager:
readiness, hostile fork requests, end of file, a failing warm-up hook, and an
instance whose parent never becomes the manager. The forked instance serving
under the real manager is tested in go/cmd/plutonManager/preload_test.go."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Iterator, Tuple

import pytest

SRC = str(Path(__file__).resolve().parent.parent / "src")

TEMPLATE = textwrap.dedent("""
    import sys
    sys.path.insert(0, %r)
    import pluton
    service = pluton.Service("t")
    service.on_preload(lambda: print("warm", file=sys.stderr, flush=True))
    if "fail" in sys.argv:
        service.on_preload(lambda: 1 / 0)
    service.serve(lambda request: request.data)
""") % SRC


def start(*args: str) -> Tuple[subprocess.Popen, socket.socket]:
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = dict(os.environ, plutonPreload=str(theirs.fileno()))
    env.pop("plutonSlot", None)
    proc = subprocess.Popen([sys.executable, "-c", TEMPLATE, *args], env=env, pass_fds=(theirs.fileno(),),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    theirs.close()
    mine.settimeout(15)
    return proc, mine


@pytest.fixture
def template() -> Iterator[Tuple[subprocess.Popen, socket.socket]]:
    proc, sock = start()
    yield proc, sock
    sock.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_ready_then_end_of_file_exits(template):
    proc, sock = template
    assert sock.recv(64) == b"R"
    sock.close()
    assert proc.wait(10) == 0
    assert b"warm" in proc.stderr.read()


@pytest.mark.parametrize("msg,nfds", [
    (b"X", 0),          # not a fork request
    (b"F 1", 0),        # no descriptors
    (b"F 1", 1),        # too few descriptors
    (b"F one", 4),      # not a slot number
    (b"F 1 2", 4),      # trailing junk
])
def test_bad_fork_request_is_refused(template, msg, nfds):
    proc, sock = template
    assert sock.recv(64) == b"R"
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(nfds)]
    try:
        socket.send_fds(sock, [msg], fds) if fds else sock.send(msg)
    finally:
        for fd in fds:
            os.close(fd)
    reply = sock.recv(256)
    assert reply.startswith(b"E bad fork request"), reply
    # the template is still there and still refuses cleanly
    sock.send(b"X")
    assert sock.recv(256).startswith(b"E bad fork request")
    assert proc.poll() is None


def test_failing_warm_up_ends_the_template_before_ready():
    proc, sock = start("fail")
    try:
        assert sock.recv(64) == b""  # end of file: never ready
        assert proc.wait(10) != 0
        assert b"ZeroDivisionError" in proc.stderr.read()
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_instance_whose_parent_is_not_the_manager_exits(template):
    """This test process is not a child subreaper: the forked instance is
    reparented elsewhere, says so on the stderr it was given, and exits."""
    proc, sock = template
    assert sock.recv(64) == b"R"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory() as d:
        listener.bind(os.path.join(d, "s"))
        listener.listen(1)
        seg = os.open(os.path.join(d, "seg"), os.O_RDWR | os.O_CREAT, 0o600)
        rep_r, rep_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(sock, [b"F 3"], [listener.fileno(), seg, rep_w, err_w])
            for fd in (seg, rep_w, err_w):
                os.close(fd)
            reply = sock.recv(256)
            assert reply.startswith(b"P "), reply
            assert int(reply[2:]) > 1
            text = b""
            while True:
                ready, _, _ = select.select([err_r], [], [], 15)
                assert ready, "the instance neither exited nor wrote within 15 s"
                chunk = os.read(err_r, 4096)
                if not chunk:
                    break
                text += chunk
            assert b"did not become the parent" in text
        finally:
            listener.close()
            os.close(err_r)
            os.close(rep_r)
    assert proc.poll() is None  # the template lives on
