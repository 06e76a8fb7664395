"""The asyncio client: ``await client.call(...)``.

::

    import asyncio
    import pluton.aio

    async def main():
        async with pluton.aio.Client("myApp") as client:
            replies = await asyncio.gather(*(client.call("system.echo.0.raw", b"%d" % i) for i in range(10)))

    asyncio.run(main())

The rules are those of :class:`pluton.Client`: timeouts in seconds, faults
raised as :class:`~pluton.Fault` (:class:`~pluton.TimeoutFault`,
:class:`~pluton.ServiceFault`), the same resend rule and lookup location.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Mapping, Optional

from .client import DEFAULT_TIMEOUT
from .exchange import (CLOSED_WITHOUT_RESPONSE, ContextValue, Data, IdSource, build_packet, connect, encode_context,
                       interpret, parse_key)
from .faults import Fault, FaultCode, TimeoutFault
from .lookup import lookup_location, rendezvous_directory
from .parser import PacketParser, ProtocolError

__all__ = ["Client"]

_CHUNK = 65536


class Client:
    """A named caller of services for asyncio programs; see :class:`pluton.Client`
    for the parameters. Calls may run concurrently (``asyncio.gather``)."""

    def __init__(self, name: str = "", timeout: Optional[float] = DEFAULT_TIMEOUT,
                 lookup: Optional[str] = None) -> None:
        self.name = name
        self.timeout = timeout
        self._lookup = lookup
        self._rendezvous: Optional[str] = None
        self._ids = IdSource()

    @property
    def client_name(self) -> str:
        """The name as sent on the wire: ``<name>:<pid>``."""
        return "%s:%d" % (self.name, os.getpid())

    @property
    def rendezvous(self) -> str:
        """The rendezvous directory (read from the lookup map once). Raises :class:`Fault`."""
        if self._rendezvous is None:
            self._rendezvous = rendezvous_directory(lookup_location(self._lookup))
        return self._rendezvous

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Nothing is held between calls; present for ``async with``."""

    async def call(self, key: str, data: Data = b"", *, timeout: Optional[float] = None,
                   context: Optional[Mapping[str, ContextValue]] = None, no_wait: bool = False,
                   no_remote: bool = False, no_retry: bool = False) -> bytes:
        """Call service ``key`` and return the response data; raises :class:`Fault`
        exactly as :meth:`pluton.Client.call`."""
        if timeout is None:
            timeout = self.timeout
        ctx = encode_context(context)
        parsed = parse_key(key)
        _, sock = connect(self.rendezvous, parsed, remote=not no_remote)
        rid = self._ids.take()
        name = self.client_name.encode("utf-8", "surrogateescape")
        packet = build_packet(rid, name, key, data, ctx, timeout, no_wait, no_remote, no_retry)
        try:
            payload = b"".join(packet)
            exchange = self._exchange(sock, payload[self._send_now(sock, payload):], rid, name, no_wait)
            if timeout and timeout > 0:
                try:
                    return await asyncio.wait_for(exchange, timeout)
                except asyncio.TimeoutError:
                    raise TimeoutFault("no response from %s within %.3g s" % (key, timeout)) from None
            return await exchange
        finally:
            sock.close()

    @staticmethod
    def _send_now(sock: socket.socket, packet: bytes) -> int:
        """Write what the socket takes at once, before the first await, so that
        the service finds the request complete when it accepts the connection
        (docs/protocol.md §8); the rest goes through the event loop."""
        try:
            return sock.send(packet)
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            return 0  # the event loop's write meets (and reports) the same condition
        except OSError as e:
            raise Fault(FaultCode.SOCKET_WRITE_FAILED, "writing the request: %s" % e.strerror, e.errno or 0) from None

    async def _exchange(self, sock: socket.socket, packet: bytes, rid: int, name: bytes, no_wait: bool) -> bytes:
        loop = asyncio.get_running_loop()
        write_error: Optional[OSError] = None
        try:
            if packet:  # what _send_now left
                await loop.sock_sendall(sock, packet)
        except (BrokenPipeError, ConnectionResetError) as e:
            write_error = e  # the service may have answered before closing (fault 3): read it
        except OSError as e:
            raise Fault(FaultCode.SOCKET_WRITE_FAILED, "writing the request: %s" % e.strerror, e.errno or 0) from None
        parser = PacketParser(b"A")
        got_any = False
        while True:
            try:
                chunk = await loop.sock_recv(sock, _CHUNK)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Fault(FaultCode.INCOMPLETE_RESPONSE, CLOSED_WITHOUT_RESPONSE, e.errno or 0) from None
            except OSError as e:
                raise Fault(FaultCode.SOCKET_READ_FAILED, "reading the response: %s" % e.strerror,
                            e.errno or 0) from None
            if not chunk:
                if no_wait and not got_any and write_error is None:
                    return b""  # the service took the request and closed
                raise Fault(FaultCode.INCOMPLETE_RESPONSE, CLOSED_WITHOUT_RESPONSE,
                            (write_error.errno or 0) if write_error else 0)
            got_any = True
            try:
                _, done = parser.feed(chunk)
            except ProtocolError as e:
                raise Fault(FaultCode.RESPONSE_PACKET_FORMAT_ERROR, str(e)) from None
            if done:
                return interpret(parser.fields(), rid, name)[0]

