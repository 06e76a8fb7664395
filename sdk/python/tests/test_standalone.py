"""Stand-alone mode: requests on fd 3, responses on fd 4 (the example echo)."""

from __future__ import annotations

import os
import re

from harness import ECHO, HELLO, request_packet, run_standalone, spawn
from pluton.wire import encode_context_pair


def test_one_request(tmp_path):
    rc, resp, err = run_standalone(HELLO, tmp_path)
    assert rc == 0, err
    m = re.fullmatch(rb"0A,3b100,12aplSend:26446,(\d+)secho:(\d+)/0,5qHello,0z\n", resp)
    assert m and int(m.group(1)) == len(b"echo:%s/0" % m.group(2))


def test_two_packets_back_to_back(tmp_path):
    rc, resp, err = run_standalone(HELLO + request_packet(b"World", rid=101), tmp_path)
    assert rc == 0, err
    first, second = resp.split(b"0z\n")[:2]
    assert first.startswith(b"0A,3b100,") and first.endswith(b"5qHello,")
    assert second.startswith(b"0A,3b101,") and second.endswith(b"5qWorld,")


def test_negative_sleep_is_fault_111(tmp_path):
    rc, resp, _ = run_standalone(request_packet(context=encode_context_pair(b"echo.sleepMS", b"-1")), tmp_path)
    assert rc == 0
    assert resp.endswith(b"/0,3p111,19rsleep time negative,0z\n")


def test_context_log_and_sleeps(tmp_path):
    ctx = (encode_context_pair(b"echo.log", b"hello log") + encode_context_pair(b"echo.sleepMS", b"20")
           + encode_context_pair(b"echo.sleepAfter", b"0"))
    rc, resp, err = run_standalone(request_packet(context=ctx), tmp_path)
    assert rc == 0 and resp.endswith(b"5qHello,0z\n")
    assert b"hello log\n" in err


def test_malformed_context_is_fault_22(tmp_path):
    rc, resp, _ = run_standalone(request_packet(context=b"1xk,1vv,"), tmp_path)
    assert rc == 0
    assert resp.endswith(b"3p-22,65rService Error: Unexpected Context type. Wanted: 'k', but got: 'x',0z\n")


def test_empty_input_is_a_clean_end(tmp_path):
    rc, resp, _ = run_standalone(b"", tmp_path)
    assert (rc, resp) == (0, b"")


def test_bad_packet_stops_with_a_clear_fault(tmp_path):
    rc, resp, err = run_standalone(HELLO + b"0Q,3b100,3b100,0z\n", tmp_path)
    assert rc == 41 and resp.count(b"0z\n") == 1
    assert b"pluton::Fault=-57 (requestDecodeFailed:" in err and b"'Duplicate netString type of 'b''" in err


def test_netstring_error_is_fault_58(tmp_path):
    rc, _, err = run_standalone(b"xQ,", tmp_path)
    assert rc == 41 and b"Fault=-58" in err and b"leading netString character not a digit" in err


def test_eof_inside_a_packet(tmp_path):
    rc, resp, err = run_standalone(HELLO[:-5], tmp_path)
    assert rc == 41 and resp == b"" and b"unexpected EOF in packet" in err


def test_invalid_service_key_is_a_bad_packet(tmp_path):
    rc, _, err = run_standalone(b"0Q,1b1,9ca.b.0.RAW,0z\n", tmp_path)
    assert rc == 41 and b"Invalid Service Key: serialization type is unrecognized" in err


def test_noWait_sends_no_response(tmp_path):
    rc, resp, _ = run_standalone(request_packet(flags=b"0e,") + HELLO, tmp_path)
    assert rc == 0 and resp.count(b"0z\n") == 1 and resp.startswith(b"0A,3b100,")


def test_packet_trace(tmp_path):
    rc, resp, err = run_standalone(HELLO, tmp_path, env={"plutonPacketTrace": "1"})
    assert rc == 0
    assert b"PktIn: " + HELLO in err and b"PktOut: " + resp in err


def test_without_fd3_initialize_fails_with_42(tmp_path):
    err = tmp_path / "err"
    fd = os.open(err, os.O_WRONLY | os.O_CREAT)
    p = spawn([str(ECHO)], {}, stderr=fd)
    os.close(fd)
    assert p.wait(timeout=10) == 42
    assert "pluton::Fault=-55 (noFauxSTDIN:" in err.read_text()


def test_descriptors_opened_by_the_runtime_are_not_inherited(tmp_path):
    """fds 3/4/5 opened close-on-exec inside the process (as a runtime may do)
    select neither manager mode nor stand-alone mode."""
    import subprocess
    import sys
    code = r"""
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)   # lands on fd 3, close-on-exec
sock.bind(sys.argv[1]); sock.listen(1)
seg = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT)          # fd 4
r, w = os.pipe()                                             # fds 5 and 6
assert (sock.fileno(), seg, r) == (3, 4, 5), (sock.fileno(), seg, r)
import pluton
try:
    pluton.Service("t").initialize()
except pluton.Fault as f:
    print(f.code, f.text)
"""
    env = dict(os.environ, PYTHONPATH=str(ECHO.parent.parent / "src"))
    env.pop("plutonAcceptSocket", None)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.socket"), str(tmp_path / "seg")],
                         env=env, capture_output=True, text=True, timeout=10, close_fds=True)
    assert out.stdout.startswith("-55 no request source: fd 3 is close-on-exec (not inherited); run the service "
                                 "under plutonManager"), out.stderr


def test_an_oversize_request_is_refused_and_ends_the_loop(tmp_path):
    """§8.3 in stand-alone mode: fault 3 on fd 4, then the loop ends with that fault."""
    packet = b"0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,100000000kxx"
    rc, resp, err = run_standalone(HELLO + packet, tmp_path)
    assert rc == 41
    first, rest = resp.split(b"0z\n", 1)
    assert first.endswith(b"5qHello,")
    assert rest.startswith(b"0A,3b100,12aplSend:26446,") and rest.endswith(
        b"1p3,69rrequest data of 100000000 bytes exceeds maximum-request-size 67108864,0z\n")
    assert "pluton::Fault=3 (requestTooLarge:request too large)" in err.decode()
