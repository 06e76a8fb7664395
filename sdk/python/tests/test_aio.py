"""The asyncio client: await client.call(...), asyncio.gather, the same faults."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness import ECHO, Manager, spawn, wait_connectable
from pluton import Fault, FaultCode, ServiceFault, TimeoutFault
from pluton.aio import Client


@pytest.fixture
def echo_dir(tmp_path):
    path = tmp_path / "system.echo.0.raw.socket"
    p = spawn([str(ECHO)], {}, env={"plutonAcceptSocket": str(path)})
    wait_connectable(path)
    yield tmp_path
    p.kill()
    p.wait(timeout=5)


def test_call_and_faults(echo_dir):
    async def main():
        async with Client("aio", lookup=str(echo_dir)) as c:
            assert await c.call("system.echo.0.raw", b"Hello") == b"Hello"
            assert await c.call("system.echo.0.raw", "é") == "é".encode()
            assert await c.call("system.echo.0.raw", b"x", no_wait=True) == b""
            with pytest.raises(ServiceFault) as e:
                await c.call("system.echo.0.raw", context={"echo.sleepMS": "-1"})
            assert (e.value.code, e.value.text) == (111, "sleep time negative")
            started = time.monotonic()
            with pytest.raises(TimeoutFault):
                await c.call("system.echo.0.raw", context={"echo.sleepMS": "2000"}, timeout=0.1)
            assert time.monotonic() - started < 1.0
            with pytest.raises(Fault) as e:
                await c.call("no.such.0.raw")
            assert e.value.code == FaultCode.SERVICE_NOT_FOUND
            big = bytes(range(256)) * 4000
            assert await c.call("system.echo.0.raw", big) == big
    asyncio.run(main())


def test_gather_runs_calls_concurrently(tmp_path):
    m = Manager(tmp_path, slots=3)
    try:
        for i in range(3):
            m.start(slot=i)

        async def main():
            c = Client(lookup=str(tmp_path))
            started = time.monotonic()
            got = await asyncio.gather(*(c.call("system.echo.0.raw", b"%d" % i, context={"echo.sleepMS": "1500"})
                                         for i in range(3)))
            return got, time.monotonic() - started
        got, took = asyncio.run(main())
        assert got == [b"0", b"1", b"2"]
        # One after the other they would take 4.5 s; concurrently one sleep (1.5 s),
        # or two when an instance holding a not-yet-complete connection also
        # accepted a second one (docs/protocol.md §8, "Known limit").
        assert took < 4.0
    finally:
        m.close()
