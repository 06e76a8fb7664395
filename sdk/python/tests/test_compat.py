"""pluton.compat: the original API over the native one."""

from __future__ import annotations

from harness import HELLO, SDK, request_packet, run_standalone
from pluton.wire import encode_context_pair

ORIGINAL = """
import sys
sys.path.insert(0, %r)
from pluton.compat import Service
service = Service("old")
service.initialize()
while service.get_request():
    if service.get_context("fail"):
        service.send_fault(int(service.get_context("fail")), "asked to")
    else:
        service.send_response(b"%%s %%s %%d %%s %%s %%s %%d" %% (
            service.request_data, service.function.encode(), service.version, service.serialization.encode(),
            service.service_key.encode(), service.client_name.encode(), service.timeout_ms))
service.terminate()
sys.exit(41 if service.has_fault else 0)
""" % str(SDK / "src")


def test_the_original_loop_runs_unchanged(tmp_path):
    script = tmp_path / "old.py"
    script.write_text(ORIGINAL)
    fail = request_packet(b"x", rid=101, context=encode_context_pair(b"fail", b"55"))
    rc, resp, err = run_standalone(HELLO + fail, tmp_path, argv=[str(script)])
    assert rc == 0, err
    assert b"52qHello echo 0 raw system.echo.0.raw plSend:26446 4000,0z\n" in resp
    assert resp.endswith(b"2p55,8rasked to,0z\n")
    rc, resp, err = run_standalone(b"0Q,1b1,0{,0z\n", tmp_path, argv=[str(script)])
    assert rc == 41 and resp == b""
