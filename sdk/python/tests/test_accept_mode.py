"""Accept mode: plutonAcceptSocket names the socket the service binds itself."""

from __future__ import annotations

import os
import signal

import pytest

from harness import ECHO, HELLO, SDK, connect, exchange, read_response, read_to_eof, request_packet, spawn, wait_connectable

SRC = SDK / "src"


@pytest.fixture
def accept_echo(tmp_path):
    """(socket path, process, stderr path) of an echo in accept mode; a stale file is in the way."""
    path = tmp_path / "system.echo.0.raw.socket"
    path.write_text("stale")
    err = tmp_path / "stderr"
    fd = os.open(err, os.O_WRONLY | os.O_CREAT)
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(path)}, stderr=fd)
    os.close(fd)
    wait_connectable(path)  # also a connection closed without a byte, which is ignored
    yield path, p, err
    if p.poll() is None:
        p.kill()
    p.wait(timeout=5)


def test_exchange(accept_echo):
    path, p, _ = accept_echo
    resp = exchange(path, HELLO)
    assert resp == b"0A,3b100,12aplSend:26446,%dsecho:%d/0,5qHello,0z\n" % (len(b"echo:%d/0" % p.pid), p.pid)
    assert exchange(path, request_packet(b"again", rid=101)).endswith(b"5qagain,0z\n")


def test_keep_affinity_on_one_connection(accept_echo):
    path, _, _ = accept_echo
    with connect(path) as c:
        for rid in (100, 101, 102):
            c.sendall(request_packet(b"LMN", rid=rid, flags=b"0g,0h,"))
            assert read_response(c).request_id == rid
        c.sendall(request_packet(b"last", rid=103))  # without keepAffinity: closed after it
        assert read_to_eof(c).endswith(b"4qlast,0z\n")


def test_a_bad_packet_is_dropped_and_the_service_keeps_serving(accept_echo):
    """Client errors never stop the service (in accept mode as in manager mode)."""
    path, p, _ = accept_echo
    assert exchange(path, b"0Q,1b1,0{,0z\n") == b""
    assert exchange(path, HELLO).endswith(b"5qHello,0z\n")
    assert p.poll() is None


def test_eof_mid_packet_is_dropped(accept_echo):
    path, p, _ = accept_echo
    with connect(path) as c:
        c.sendall(HELLO[:30])
    assert exchange(path, HELLO).endswith(b"5qHello,0z\n")
    assert p.poll() is None


def test_sigterm_ends_the_loop(accept_echo):
    path, p, err = accept_echo
    assert exchange(path, HELLO).endswith(b"5qHello,0z\n")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=5) == 0
    assert "echo stats: Rq=1" in err.read_text()  # the on_stop hook ran


def test_unusable_socket_path_fails_initialize(tmp_path):
    err = tmp_path / "stderr"
    fd = os.open(err, os.O_WRONLY | os.O_CREAT)
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(tmp_path / "no" / "such.socket")}, stderr=fd)
    os.close(fd)
    assert p.wait(timeout=10) == 42
    assert "pluton::Fault=-51 (openAcceptSocketFailed:" in err.read_text()


_GONE_CLIENT_SERVICE = r"""
import signal, sys, time
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "default":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
import pluton
service = pluton.Service("echo")
for request in service:
    if request.data == b"late":
        time.sleep(0.1)  # the client has gone by now
    request.respond(request.data)
"""


@pytest.mark.parametrize("sigpipe", ["ignored", "default"])
def test_a_client_gone_before_the_response_is_not_fatal(tmp_path, sigpipe):
    """Writing to a client that has closed is EPIPE, never SIGPIPE, whatever
    the program did with SIGPIPE before initialize."""
    path = tmp_path / "system.echo.0.raw.socket"
    p = spawn(["-c", _GONE_CLIENT_SERVICE, str(SRC), sigpipe], {}, env={"plutonAcceptSocket": str(path)})
    try:
        wait_connectable(path)
        with connect(path) as c:
            c.sendall(request_packet(b"late"))
        assert exchange(path, HELLO).endswith(b"5qHello,0z\n")
        assert p.poll() is None
    finally:
        p.kill()
        p.wait(timeout=5)
