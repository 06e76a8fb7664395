"""The client side: :class:`Client` sends requests to services.

One request::

    client = pluton.Client("myApp")
    reply = client.call("system.echo.0.raw", b"Hello")   # raises pluton.Fault

Several in parallel, each with its own deadline, on non-blocking sockets::

    requests = [pluton.Request("system.echo.0.raw", b"%d" % i) for i in range(5)]
    client.execute(requests)
    for r in requests:
        print(r.fault or r.response_data)
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from typing import Iterable, Iterator, List, Mapping, Optional, Tuple

from .exchange import Exchange, connect
from .faults import Fault, FaultCode
from .lookup import lookup_location, rendezvous_directory, socket_paths
from .request import ContextValue, Data, Request, _bytes
from .servicekey import ServiceKey, ServiceKeyError
from .wire import RequestPacket, request_parts

#: Request ids start here and wrap back here after :data:`LAST_REQUEST_ID`.
FIRST_REQUEST_ID = 100
LAST_REQUEST_ID = 10_000_000


class Client:
    """A named caller of services.

    :param name: sent as ``<name>:<pid>`` so services and logs can tell callers apart.
    :param timeout_ms: default per-request timeout (milliseconds; 0 = no limit).
    :param lookup: the lookup map file or rendezvous directory; else
        ``$plutonLookupMap``, else ``/usr/local/var/pluton/lookup.map``.
    """

    def __init__(self, name: str = "", timeout_ms: int = 4000, lookup: Optional[str] = None) -> None:
        self.name = name
        self.timeout_ms = timeout_ms
        self.lookup = lookup_location(lookup)
        self._rendezvous: Optional[str] = None
        self._next_id = FIRST_REQUEST_ID

    @property
    def client_name(self) -> str:
        """The name as sent on the wire: ``<name>:<pid>``."""
        return "%s:%d" % (self.name, os.getpid())

    @property
    def rendezvous(self) -> str:
        """The rendezvous directory (read from the lookup map once). Raises :class:`Fault`."""
        if self._rendezvous is None:
            self._rendezvous = rendezvous_directory(self.lookup)
        return self._rendezvous

    def call(self, service_key: str, data: Data = b"", *,
             context: Optional[Mapping[str, ContextValue]] = None,
             no_wait: bool = False, no_remote: bool = False, no_retry: bool = False,
             timeout_ms: Optional[int] = None) -> bytes:
        """Send one request and return the response bytes; raise :class:`Fault` on failure."""
        r = Request(service_key, data, context=context, no_wait=no_wait, no_remote=no_remote,
                    no_retry=no_retry, timeout_ms=timeout_ms)
        self.execute([r])
        return r.result()

    def execute(self, requests: Iterable[Request]) -> int:
        """Run ``requests`` in parallel until each has completed or timed out.
        Each request's outcome is in its ``fault`` and ``response_data``.
        Return how many completed without a fault."""
        return sum(1 for r in self.as_completed(requests) if r.fault is None)

    def as_completed(self, requests: Iterable[Request]) -> Iterator[Request]:
        """Run ``requests`` in parallel, yielding each as it completes. Deadlines
        start now. Stopping the iteration early abandons the rest."""
        started = time.monotonic()
        selector = selectors.DefaultSelector()
        active: List[Exchange] = []
        try:
            for r in list(requests):
                ex = self._start(r, started)
                if ex is None:
                    yield r
                    continue
                ex.proceed()
                if ex.done:
                    yield r
                else:
                    selector.register(ex.sock, ex.events, ex)
                    active.append(ex)
            while active:
                now = time.monotonic()
                deadlines = [ex.deadline for ex in active if ex.deadline is not None]
                wait = max(0.0, min(deadlines) - now) if deadlines else None
                for key, _ in selector.select(wait):
                    ex = key.data
                    sock = ex.sock
                    ex.proceed()
                    if ex.done:
                        selector.unregister(sock)
                    elif ex.sock is not sock:  # retried on a new connection
                        selector.unregister(sock)
                        selector.register(ex.sock, ex.events, ex)
                    else:
                        selector.modify(sock, ex.events, ex)
                now = time.monotonic()
                for ex in active:
                    if not ex.done and ex.deadline is not None and now >= ex.deadline:
                        selector.unregister(ex.sock)
                        ex.finish(Fault(FaultCode.SERVICE_TIMEOUT, "service timeout"))
                finished = [ex for ex in active if ex.done]
                active = [ex for ex in active if not ex.done]
                for ex in finished:
                    yield ex.request
        finally:
            for ex in active:
                if not ex.done:
                    ex.finish(Fault(FaultCode.REQUEST_NOT_ADDED, "execution abandoned"))
            selector.close()

    def _start(self, r: Request, started: float) -> Optional[Exchange]:
        """Check, resolve and connect ``r``; None if it already failed (fault set)."""
        if r.in_progress:
            raise Fault(FaultCode.REQUEST_ALREADY_ADDED, r.service_key)
        r.fault = None
        r.response_data = b""
        r.service_name = ""
        fault = _check_attributes(r)
        path, sock, connected = "", r._affinity_socket, True
        if fault is None and sock is None:
            try:
                path, (sock, connected) = self._connect(r.service_key)
            except Fault as f:
                fault = f
        if fault is not None:
            r.fault = fault
            r.close()
            return None
        assert sock is not None
        request_id = self._take_id()
        client_name = _bytes(self.client_name)
        packet = RequestPacket(
            request_id=request_id, client_name=client_name, service_key=_bytes(r.service_key),
            timeout_ms=self.timeout_ms if r.timeout_ms is None else r.timeout_ms,
            no_wait=r.no_wait, no_remote=r.no_remote, no_retry=r.no_retry,
            keep_affinity=r.keep_affinity, need_affinity=r.need_affinity,
            context=r.context_payload, data=_bytes(r.data))
        timeout = packet.timeout_ms
        deadline = started + timeout / 1000.0 if timeout > 0 else None
        r._in_progress = True
        return Exchange(r, list(request_parts(packet)), request_id, client_name,
                        path, sock, connected, deadline)

    def _connect(self, service_key: str) -> Tuple[str, Tuple[socket.socket, bool]]:
        """Resolve the key to a socket path and connect: (path, socket)."""
        try:
            key = ServiceKey.parse(service_key)
        except ServiceKeyError as e:
            raise Fault(FaultCode.SERVICE_KEY_BAD, "%s: %s" % (service_key, e.reason)) from None
        for path in socket_paths(self.rendezvous, key):
            try:
                return path, connect(path)
            except FileNotFoundError:
                continue
            except OSError as e:
                raise Fault(FaultCode.CONNECT_FAILED, path, e.errno or 0) from None
        raise Fault(FaultCode.SERVICE_NOT_FOUND, service_key)

    def _take_id(self) -> int:
        rid = self._next_id
        self._next_id = rid + 1 if rid < LAST_REQUEST_ID else FIRST_REQUEST_ID
        return rid


def _check_attributes(r: Request) -> Optional[Fault]:
    """The original's attribute rules, checked before any I/O."""
    if r.keep_affinity and r.no_wait:
        return Fault(FaultCode.NO_WAIT_NOT_ALLOWED, r.service_key)
    if r.keep_affinity and not r.no_retry:
        return Fault(FaultCode.NEED_NO_RETRY, r.service_key)
    if r.need_affinity and r._affinity_socket is None:
        return Fault(FaultCode.NO_AFFINITY, r.service_key)
    return None
