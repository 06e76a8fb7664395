"""The client side: :class:`Client` calls services.

One call::

    with pluton.Client("myApp") as client:
        reply = client.call("system.echo.0.raw", b"Hello")   # bytes, or raises pluton.Fault

Several in parallel, on non-blocking sockets, without threads::

    calls = [client.submit("system.echo.0.raw", b"%d" % i) for i in range(5)]
    for call in client.as_completed(calls):
        print(call.result())

Timeouts are seconds (float); a call's deadline starts when it is submitted.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import selectors
import socket
import time
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from .exchange import (CLOSED_WITHOUT_RESPONSE, ContextValue, Data, IdSource, build_packet, connect, connect_gateway,
                       encode_context, gateway_missing, interpret, parse_key)
from .faults import Fault, FaultCode, TimeoutFault
from .iov import consume, views
from .lookup import lookup_location, rendezvous_directory
from .parser import ProtocolError, TruncatedPacketError
from .reader import PacketReader
from .wire import encode_context_pair

#: Context keys of the gateway's job operations (docs/remote.md).
_JOB_SUBMIT = b"pluton.jobSubmit"
_JOB_RESULT = b"pluton.jobResult"

#: The default timeout of a client, in seconds.
DEFAULT_TIMEOUT = 4.0

_WRITING, _READING, _DONE = range(3)


class Call:
    """One request submitted with :meth:`Client.submit`, and its outcome.

    Like a ``concurrent.futures.Future``: :meth:`done`, :meth:`result`,
    :meth:`exception`. :meth:`result` drives the client's pending calls until
    this one completes.
    """

    def __init__(self, client: "Client", key: str, data: Data, timeout: Optional[float],
                 deadline: Optional[float]) -> None:
        #: The service key called.
        self.key = key
        #: The request data.
        self.data = data
        #: The call's timeout in seconds (None or 0 = no limit).
        self.timeout = timeout
        #: The responding instance, ``<name>:<pid>/0`` (empty if none answered).
        self.service_name = ""
        self._client = client
        self._deadline = deadline
        self._fault: Optional[Fault] = None
        self._response = b""
        self._done = False

    def done(self) -> bool:
        """True once the call has completed, with a response or a fault."""
        return self._done

    def result(self) -> bytes:
        """The response data; raises the call's :class:`~pluton.Fault`
        (:class:`~pluton.TimeoutFault`, :class:`~pluton.ServiceFault`, ...)."""
        if not self._done:
            self._client._run_until(lambda: self._done)
        if self._fault is not None:
            raise self._fault
        return self._response

    def exception(self) -> Optional[Fault]:
        """The call's fault, or None if it succeeded (waits for completion)."""
        if not self._done:
            self._client._run_until(lambda: self._done)
        return self._fault

    def _finish(self, fault: Optional[Fault], response: bytes = b"") -> None:
        self._fault = fault
        self._response = response
        self._done = True

    def __repr__(self) -> str:
        state = "pending" if not self._done else ("fault %d" % self._fault.code if self._fault else "ok")
        return "<pluton.Call %s %s>" % (self.key, state)


class _Exchange:
    """One call on the wire: write the packet, read the response."""

    def __init__(self, call: Call, sock: socket.socket, packet: List[bytes], request_id: int,
                 client_name: bytes, no_wait: bool) -> None:
        self.call = call
        self.sock = sock
        self._pending = views(packet)
        self._written = 0
        self._id = request_id
        self._client_name = client_name
        self._no_wait = no_wait
        self._reader = PacketReader(b"A", sock.recv_into, chunk_size=16384)
        self.state = _WRITING

    @property
    def events(self) -> int:
        return selectors.EVENT_READ if self.state == _READING else selectors.EVENT_WRITE

    def proceed(self) -> None:
        """Make all the progress possible without blocking."""
        try:
            if self.state == _WRITING:
                self._write()
            if self.state == _READING:
                self._read()
        except BlockingIOError:
            pass

    def _write(self) -> None:
        try:
            while self._pending:
                n = self.sock.sendmsg(self._pending, [], socket.MSG_NOSIGNAL)
                self._written += n
                consume(self._pending, n)
        except BlockingIOError:
            raise
        except OSError as e:
            if self._written and e.errno in (errno.EPIPE, errno.ECONNRESET):
                # The service closed early; it may have answered (e.g. fault 3
                # requestTooLarge before reading the body): read what it sent.
                self.state = _READING
                self._write_error = e
                return
            self.finish(Fault(FaultCode.SOCKET_WRITE_FAILED, "writing the request: %s" % e.strerror,
                              e.errno or 0))
            return
        self.state = _READING

    _write_error: Optional[OSError] = None

    def _read(self) -> None:
        try:
            while True:
                fields = self._reader.step()
                if fields is not None:
                    try:
                        data, name = interpret(fields, self._id, self._client_name)
                    except Fault as f:
                        self.call.service_name = getattr(f, "service_name", "")
                        self.finish(f)
                        return
                    self.call.service_name = name
                    self.finish(None, data)
                    return
                if self._reader.eof:
                    if self._no_wait and self._write_error is None:
                        self.finish(None)  # the service took the request and closed
                    else:
                        self.finish(Fault(FaultCode.INCOMPLETE_RESPONSE, CLOSED_WITHOUT_RESPONSE))
                    return
        except BlockingIOError:
            raise
        except TruncatedPacketError:
            self.finish(Fault(FaultCode.INCOMPLETE_RESPONSE, CLOSED_WITHOUT_RESPONSE))
        except ProtocolError as e:
            self.finish(Fault(FaultCode.RESPONSE_PACKET_FORMAT_ERROR, str(e)))
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                self.finish(Fault(FaultCode.INCOMPLETE_RESPONSE, CLOSED_WITHOUT_RESPONSE, e.errno))
            else:
                self.finish(Fault(FaultCode.SOCKET_READ_FAILED, "reading the response: %s" % e.strerror,
                                  e.errno or 0))

    def finish(self, fault: Optional[Fault], response: bytes = b"") -> None:
        self.sock.close()
        self.state = _DONE
        self.call._finish(fault, response)


class Client:
    """A named caller of services.

    :param name: sent as ``<name>:<pid>`` so services and logs can tell callers apart.
    :param timeout: default per-call timeout in seconds (0 or None = no limit).
    :param lookup: the lookup map file or rendezvous directory; else
        ``$plutonLookupMap``, else ``<home>/lookup.map`` and
        ``/usr/local/var/pluton/lookup.map`` (docs/protocol.md §7.1), looked up
        at the first call.
    """

    def __init__(self, name: str = "", timeout: Optional[float] = DEFAULT_TIMEOUT,
                 lookup: Optional[str] = None) -> None:
        self.name = name
        self.timeout = timeout
        self._lookup = lookup
        self._rendezvous: Optional[str] = None
        self._ids = IdSource()
        self._selector: Optional[selectors.BaseSelector] = None
        self._active: Dict[Call, _Exchange] = {}

    # -- set-up ------------------------------------------------------------------

    @property
    def client_name(self) -> str:
        """The name as sent on the wire: ``<name>:<pid>``."""
        return "%s:%d" % (self.name, os.getpid())

    @property
    def lookup(self) -> str:
        """The lookup location in use. Raises :class:`Fault`
        ``MAP_INITIALIZATION_FAILED`` naming the paths tried when there is none."""
        return lookup_location(self._lookup)

    @property
    def rendezvous(self) -> str:
        """The rendezvous directory (read from the lookup map once). Raises :class:`Fault`."""
        if self._rendezvous is None:
            self._rendezvous = rendezvous_directory(self.lookup)
        return self._rendezvous

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Abandon the calls still running (fault ``REQUEST_NOT_ADDED``) and free the selector."""
        for ex in list(self._active.values()):
            ex.finish(Fault(FaultCode.REQUEST_NOT_ADDED, "abandoned: the client was closed"))
        self._active.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    # -- calls ---------------------------------------------------------------------

    def call(self, key: str, data: Data = b"", *, timeout: Optional[float] = None,
             context: Optional[Mapping[str, ContextValue]] = None, no_wait: bool = False,
             no_remote: bool = False, no_retry: bool = False) -> bytes:
        """Call service ``key`` with ``data`` (bytes, or text sent as UTF-8) and
        return the response data. Raises :class:`~pluton.Fault`:
        :class:`~pluton.ServiceFault` for a fault the service (or the manager,
        code 7) sent, :class:`~pluton.TimeoutFault` when ``timeout`` seconds
        (default: the client's) pass, a plain :class:`~pluton.Fault` otherwise."""
        return self.submit(key, data, timeout=timeout, context=context, no_wait=no_wait,
                           no_remote=no_remote, no_retry=no_retry).result()

    def submit(self, key: str, data: Data = b"", *, timeout: Optional[float] = None,
               context: Optional[Mapping[str, ContextValue]] = None, no_wait: bool = False,
               no_remote: bool = False, no_retry: bool = False) -> Call:
        """Start a call and return its :class:`Call` at once. The request is
        written as far as the socket takes it; the rest happens while the
        client waits for any call (:meth:`Call.result`, :meth:`as_completed`,
        :meth:`wait`). A call that cannot start (bad key, no service) is
        returned completed, with its fault.

        A key with no local socket goes to the local manager's remote gateway
        (``<R>/plutonRemote.socket``, a manager started with ``-N``), which
        relays it to a host serving the key on NATS, unless ``no_remote``
        (docs/remote.md)."""
        if timeout is None:
            timeout = self.timeout
        deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        c = Call(self, key, data, timeout, deadline)
        try:
            ctx = encode_context(context)
            parsed = parse_key(key)
            path, sock = connect(self.rendezvous, parsed, remote=not no_remote)
        except Fault as f:
            c._finish(f)
            return c
        return self._start(c, sock, key, data, ctx, timeout, no_wait, no_remote, no_retry)

    def _start(self, c: Call, sock: socket.socket, key: str, data: Data, ctx: bytes, timeout: Optional[float],
               no_wait: bool, no_remote: bool, no_retry: bool) -> Call:
        rid = self._ids.take()
        name = self.client_name.encode("utf-8", "surrogateescape")
        packet = build_packet(rid, name, key, data, ctx, timeout, no_wait, no_remote, no_retry)
        ex = _Exchange(c, sock, packet, rid, name, no_wait)
        ex.proceed()
        if ex.state != _DONE:
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
            self._selector.register(sock, ex.events, ex)
            self._active[c] = ex
        return c

    # -- jobs (docs/remote.md) ----------------------------------------------------

    def _gateway_call(self, key: str, data: Data, ctx: bytes, timeout: Optional[float]) -> bytes:
        if timeout is None:
            timeout = self.timeout
        deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        c = Call(self, key, data, timeout, deadline)
        path, sock, err = connect_gateway(self.rendezvous)
        if sock is None:
            raise Fault(FaultCode.SERVICE_NOT_FOUND, "%s: %s" % (key, gateway_missing(path, err)))
        return self._start(c, sock, key, data, ctx, timeout, False, False, False).result()

    def submit_job(self, key: str, data: Data = b"", *, context: Optional[Mapping[str, ContextValue]] = None,
                   job_id: str = "", timeout: Optional[float] = None) -> Dict[str, object]:
        """Enqueue a durable job of class ``key`` (a service configured with
        ``jobs true`` on some host) with payload ``data`` and ``context``,
        through the local manager's remote gateway; return
        ``{"id": str, "sequence": int, "duplicate": bool}`` (``duplicate``: the
        id was submitted before and nothing was enqueued). ``job_id``: 1-200
        letters, digits, ``-``, ``_``, ``=``; empty: the gateway makes one.
        Raises :class:`~pluton.Fault`: -30 with no gateway, -31 bad key, -22
        bad job id, 5 JetStream failed, -19 no answer within ``timeout``."""
        parse_key(key)
        ctx = encode_context(context) + encode_context_pair(_JOB_SUBMIT, job_id.encode("utf-8", "surrogateescape"))
        submitted: Dict[str, object] = json.loads(self._gateway_call(key, data, ctx, timeout))
        return submitted

    def job_result(self, job_id: str, *, timeout: Optional[float] = None) -> Dict[str, object]:
        """Wait up to ``timeout`` seconds (default: the client's) for the
        result of job ``job_id`` and return it: ``{"id", "key", "ok", "data"
        (bytes), "faultCode", "faultText", "attempts", "host", "service",
        "finished"}`` (``ok`` False: the job failed its last attempt, with
        that fault). Raises :class:`~pluton.Fault` -19 when there is no
        result in time, -22 for a bad id, -30 with no gateway."""
        ctx = encode_context_pair(_JOB_RESULT, job_id.encode("utf-8", "surrogateescape"))
        r: Dict[str, object] = json.loads(self._gateway_call("pluton.jobResult.0.raw", b"", ctx, timeout))
        r["data"] = base64.b64decode(str(r.get("data") or ""))
        r.setdefault("faultCode", 0)
        r.setdefault("faultText", "")
        r.setdefault("service", "")
        return r

    def as_completed(self, calls: Iterable[Call]) -> Iterator[Call]:
        """Yield each of ``calls`` as it completes (those already done first)."""
        waiting = []
        for c in calls:
            if c.done():
                yield c
            else:
                waiting.append(c)
        while waiting:
            self._step()
            still = []
            for c in waiting:
                if c.done():
                    yield c
                else:
                    still.append(c)
            waiting = still

    def wait(self, calls: Iterable[Call]) -> List[Call]:
        """Wait until every one of ``calls`` has completed; return them in order."""
        out = list(calls)
        self._run_until(lambda: all(c.done() for c in out))
        return out

    def map(self, key: str, items: Iterable[Data], *, timeout: Optional[float] = None,
            context: Optional[Mapping[str, ContextValue]] = None) -> Iterator[bytes]:
        """Call ``key`` once per item, all in parallel (submitted now); yield the
        responses in the order of ``items``, raising the fault of the first call
        that failed when its turn comes."""
        calls = [self.submit(key, item, timeout=timeout, context=context) for item in items]
        return (c.result() for c in calls)

    # -- the event loop ------------------------------------------------------------

    def _run_until(self, finished: Callable[[], bool]) -> None:
        while not finished():
            self._step()

    def _step(self) -> None:
        """One round: wait for any socket or the nearest deadline, make progress,
        expire calls past their deadline."""
        active = self._active
        if not active:
            return
        selector = self._selector
        assert selector is not None
        now = time.monotonic()
        nearest: Optional[float] = None
        for c in active:
            d = c._deadline
            if d is not None and (nearest is None or d < nearest):
                nearest = d
        wait = None if nearest is None else max(0.0, nearest - now)
        for skey, _ in selector.select(wait):
            ex: _Exchange = skey.data
            ex.proceed()
            if ex.state == _DONE:
                selector.unregister(skey.fileobj)
                del active[ex.call]
            else:
                selector.modify(ex.sock, ex.events, ex)
        now = time.monotonic()
        for c in [c for c, ex in active.items() if c._deadline is not None and now >= c._deadline]:
            ex = active.pop(c)
            selector.unregister(ex.sock)
            ex.finish(TimeoutFault("no response from %s within %.3g s" % (c.key, c.timeout or 0)))

