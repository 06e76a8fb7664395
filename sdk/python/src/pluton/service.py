"""The service side: :class:`Service` reads requests and sends responses.

A service is a plain program that loops::

    service = pluton.Service("echo")
    while service.get_request():
        service.send_response(service.request_data)
    service.terminate()

:meth:`Service.initialize` picks the mode (docs/protocol.md §3): *accept* when
``plutonAcceptSocket`` is set, *manager* when fds 3/4/5 are the manager's
listening socket, stats segment and report pipe, else *stand-alone* (requests
on fd 3, responses on fd 4).
"""

from __future__ import annotations

import atexit
import errno
import os
import select
import signal
import socket
import stat
from typing import Any, Callable, Iterator, List, Optional, TypeVar, Union

from .accounting import Accounting
from .faults import Fault, FaultCode
from .iov import write_all
from .parser import MSG_UNEXPECTED_EOF, NetStringError, PacketError, ProtocolError, TruncatedPacketError
from .reader import PacketReader
from .request_view import RequestView
from .servicekey import ServiceKey, ServiceKeyError
from .stats import NO_SLOT, ExitReason, Outcome, Reporter, SlotState, StatsSlot
from .wire import ResponsePacket, request_from_fields, response_parts

ACCEPT_SOCKET_ENV = "plutonAcceptSocket"
PACKET_TRACE_ENV = "plutonPacketTrace"
SLOT_ENV = "plutonSlot"

#: Seconds an idle affinity connection is kept when the segment does not say.
DEFAULT_AFFINITY_TIMEOUT = 60

_LISTEN_FD, _SEGMENT_FD, _REPORT_FD = 3, 4, 5
_FAUX_IN, _FAUX_OUT = 3, 4
_CLIENT_GONE = (errno.EPIPE, errno.ECONNRESET)

Data = Union[bytes, bytearray, memoryview, str]
_T = TypeVar("_T")


class _Stop(BaseException):
    """Raised by the SIGTERM handler to break out of a blocking accept or wait."""


class Service(RequestView):
    """One service instance. ``name`` becomes the ``s`` field ``<name>:<pid>/0``.

    Request accessors (``request_data``, ``service_key``, ``function``,
    ``get_context()``...) describe the request returned by the last
    :meth:`get_request`. :attr:`fault` holds the reason when the loop stopped
    because of an error.
    """

    MANAGER = "manager"
    ACCEPT = "accept"
    STANDALONE = "standalone"

    def __init__(self, name: str = "") -> None:
        self.name = name
        #: Why :meth:`get_request` returned False or a send failed, else None.
        self.fault: Optional[Fault] = None
        self._mode: Optional[str] = None
        self._listener: Optional[socket.socket] = None
        self._conn: Optional[socket.socket] = None
        self._tracing = PACKET_TRACE_ENV in os.environ
        self._reader = PacketReader(b"Q", trace=self._tracing)
        self._acct = Accounting()
        self._affinity_timeout = DEFAULT_AFFINITY_TIMEOUT
        self._owe_response = False
        self._stop = False
        self._signalled = False
        self._interruptible = False
        self._exit_reason: Optional[int] = None
        self._old_sigterm: Any = None
        self._terminated = False
        self._service_name = b""

    # -- life cycle ------------------------------------------------------------

    @property
    def mode(self) -> Optional[str]:
        """``"manager"``, ``"accept"`` or ``"standalone"``; None before :meth:`initialize`."""
        return self._mode

    @property
    def has_fault(self) -> bool:
        """True if :attr:`fault` is set."""
        return self.fault is not None

    def initialize(self) -> None:
        """Pick the mode and set it up. Call it after the program's own setup.

        Raises :class:`Fault`: ``ALREADY_INITIALIZED``, ``OPEN_ACCEPT_SOCKET_FAILED``
        or ``NO_FAUX_STDIN`` (stand-alone mode without an fd 3).
        """
        if self._mode is not None:
            raise Fault(FaultCode.ALREADY_INITIALIZED)
        self._service_name = ("%s:%d/0" % (self.name, os.getpid())).encode("utf-8", "surrogateescape")
        path = os.environ.get(ACCEPT_SOCKET_ENV)
        if path is not None:
            self._listener = _open_accept_socket(path)
            self._mode = self.ACCEPT
        elif _is_manager_environment():
            self._start_manager_mode()
            self._mode = self.MANAGER
        else:
            try:
                if not os.get_inheritable(_FAUX_IN):
                    raise Fault(FaultCode.NO_FAUX_STDIN, "fd 3 is close-on-exec: not inherited")
            except OSError as e:
                raise Fault(FaultCode.NO_FAUX_STDIN, "", e.errno or 0) from None
            self._reader.reset(_fd_reader(_FAUX_IN))
            self._mode = self.STANDALONE

    def _start_manager_mode(self) -> None:
        listener = socket.socket(fileno=_LISTEN_FD)
        listener.settimeout(None)  # the socket is shared: keep it blocking
        self._listener = listener
        slot_index = _slot_from_env()
        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread: SIGTERM keeps its default action
            self._old_sigterm = None
        atexit.register(self.terminate)
        slot = StatsSlot.open(_SEGMENT_FD, slot_index) if slot_index is not None else None
        if slot is not None:
            os.close(_SEGMENT_FD)  # the mapping holds its own reference
            slot.started(os.getpid())
            if slot.affinity_timeout > 0:
                self._affinity_timeout = slot.affinity_timeout
        reporter = Reporter(_REPORT_FD, os.getpid(), NO_SLOT if slot_index is None else slot_index)
        self._acct = Accounting(slot, reporter)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop = True
        self._signalled = True
        if self._interruptible:
            self._interruptible = False
            raise _Stop()

    def terminate(self) -> None:
        """Close the sockets and, in manager mode, record the exit (state stopping,
        exitReason, final report). Safe to call more than once."""
        if self._terminated or self._mode is None:
            return
        self._terminated = True
        self._stop = True
        self._close_conn()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._mode == self.MANAGER:
            self._acct.stop(self._final_exit_reason())
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
            atexit.unregister(self.terminate)

    def _final_exit_reason(self) -> int:
        if self._exit_reason is not None:
            return self._exit_reason
        wanted = self._acct.slot.shutdown_request if self._acct.slot else 0
        if self._signalled:
            return wanted or ExitReason.SERVICE_SHUTDOWN
        return wanted

    def __enter__(self) -> "Service":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()

    def __iter__(self) -> Iterator["Service"]:
        """``for request in service:`` yields the service once per request."""
        while self.get_request():
            yield self

    # -- requests --------------------------------------------------------------

    def get_request(self) -> bool:
        """Wait for the next request. False means stop: call :meth:`terminate`
        and exit; :attr:`fault` says why if it was an error (no fault: the
        manager asked to stop, the request limit was reached, or end of input)."""
        if self._mode is None:
            self.initialize()
        if self._owe_response:
            raise Fault(FaultCode.GET_REQUEST_NOT_NEXT, "a response to the previous request is still owed")
        self._set_request(None, None)
        while not self._stop:
            if not self._next_connection():
                continue
            self._acct.begin()
            try:
                fields = self._reader.read_packet()
                if fields is None:  # the client closed without sending a byte
                    if self._mode == self.ACCEPT:  # e.g. a probe: not worth stopping for
                        self._close_conn()
                        continue
                    raise TruncatedPacketError(MSG_UNEXPECTED_EOF)
                packet = request_from_fields(fields)
                key = _request_key(packet.service_key)
            except ProtocolError as e:
                code = (FaultCode.REQUEST_NET_STRING_PARSE_ERROR if isinstance(e, NetStringError)
                        else FaultCode.REQUEST_DECODE_FAILED)
                self._client_error(Fault(code, str(e)))
                continue
            except OSError as e:
                self._client_error(Fault(FaultCode.SOCKET_READ_FAILED, "", e.errno or 0))
                continue
            self._trace(b"PktIn: ", self._reader.take_trace())
            self._set_request(packet, key)
            self._owe_response = True
            if packet.no_wait:
                self._close_conn()
            return True
        return False

    def _next_connection(self) -> bool:
        """Get a source holding the next request; False to re-check :attr:`_stop`."""
        if self._mode == self.STANDALONE:
            if not self._reader.fill():
                self._stop = True  # clean end of input
                return False
            return True
        if self._conn is not None and self._await_affinity():
            return True
        if self._mode == self.MANAGER and self._acct.limit_reached():
            self._exit_reason = ExitReason.MAX_REQUESTS
            self._stop = True
            return False
        return self._accept()

    def _accept(self) -> bool:
        assert self._listener is not None
        self._acct.before_accept()
        try:
            accepted = self._blocking(self._listener.accept)
        except OSError as e:
            if e.errno == errno.ECONNABORTED:
                return False
            self.fault = Fault(FaultCode.ACCEPT_FAILED, "", e.errno or 0)
            self._exit_reason = ExitReason.ACCEPT_FAILED
            self._stop = True
            return False
        if accepted is None:
            return False
        self._conn = accepted[0]
        self._reader.reset(self._conn.recv_into)
        return True

    def _await_affinity(self) -> bool:
        """Wait (slot state affinity) for the next request on the kept connection.
        On timeout, client close or stop, close it and return False."""
        assert self._conn is not None
        if self._reader.started:  # the client already sent more
            return True
        poller = select.poll()
        poller.register(self._conn, select.POLLIN)
        try:
            events = self._blocking(lambda: poller.poll(self._affinity_timeout * 1000))
            ready = bool(events) and self._reader.fill()
        except OSError:
            ready = False
        if not ready:
            self._close_conn()
            self._acct.set_state(SlotState.IDLE)
        return ready

    def _blocking(self, call: Callable[[], _T]) -> Optional[_T]:
        """Run a blocking call that SIGTERM breaks; None if it did (or had already come)."""
        try:
            return self._interruptible_call(call)
        except _Stop:
            return None

    def _interruptible_call(self, call: Callable[[], _T]) -> _T:
        # Any _Stop the handler raises while _interruptible is set, even in the
        # finally clause, is caught by _blocking: it never reaches the caller.
        self._interruptible = True
        try:
            if self._stop:
                raise _Stop()
            return call()
        finally:
            self._interruptible = False

    def _client_error(self, fault: Fault) -> None:
        """A request could not be read: count it, drop the connection, and stop
        unless in manager mode (where client errors are hidden)."""
        self._trace(b"PktIn: ", self._reader.take_trace())
        self._acct.end(Outcome.READ_ERROR, 0, 0, b"", SlotState.IDLE)
        self._close_conn()
        if self._mode != self.MANAGER:
            self.fault = fault
            self._stop = True

    # -- responses -------------------------------------------------------------

    def send_response(self, data: Data = b"") -> bool:
        """Send ``data`` (bytes, or str sent as UTF-8) as the response.

        Returns False if the write failed (:attr:`fault` is ``SOCKET_WRITE_FAILED``;
        the loop then stops). A client that has gone away is not a failure.
        """
        return self._respond(0, b"", _to_bytes(data))

    def send_fault(self, code: int, text: str = "") -> bool:
        """Send fault ``code`` with ``text`` instead of data. Use codes above 10
        for your own faults; 1-10 are predefined (see :class:`FaultCode`)."""
        return self._respond(int(code), text.encode("utf-8", "surrogateescape"), b"")

    def _respond(self, code: int, text: bytes, data: bytes) -> bool:
        if not self._owe_response:
            raise Fault(FaultCode.SEND_RESPONSE_NOT_NEXT, "no request is waiting for a response")
        self._owe_response = False
        req = self._packet
        outcome = Outcome.FAULT if code else Outcome.OK
        function = self.function.encode("utf-8", "surrogateescape")
        if req.no_wait:  # the connection is already closed: only count it
            self._acct.end(outcome, len(req.data), 0, function, SlotState.IDLE)
            return True
        parts = response_parts(ResponsePacket(req.request_id, req.client_name, self._service_name,
                                              code, text, data))
        self._trace(b"PktOut: ", *parts)
        keep = req.keep_affinity and self._conn is not None
        try:
            write_all(self._writev, parts)
        except OSError as e:
            if e.errno not in _CLIENT_GONE:
                self._close_conn()
                self.fault = Fault(FaultCode.SOCKET_WRITE_FAILED, "", e.errno or 0)
                self._exit_reason = ExitReason.LOST_IO
                self._stop = True
                self._acct.end(Outcome.WRITE_ERROR, len(req.data), 0, function, SlotState.IDLE)
                return False
            keep = False
        if not keep:
            self._close_conn()
        self._acct.end(outcome, len(req.data), len(data), function,
                       SlotState.AFFINITY if keep else SlotState.IDLE)
        return True

    def _writev(self, bufs: List[memoryview]) -> int:
        if self._conn is not None:
            return self._conn.sendmsg(bufs, [], socket.MSG_NOSIGNAL)
        return os.writev(_FAUX_OUT, bufs)

    # -- helpers ---------------------------------------------------------------

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _trace(self, prefix: bytes, *chunks: bytes) -> None:
        """With ``plutonPacketTrace`` set, write ``<prefix><packet>`` as a line to stderr."""
        if self._tracing:
            packet = b"".join(chunks)
            line = prefix + packet + (b"" if packet.endswith(b"\n") else b"\n")
            try:
                os.write(2, line)
            except OSError:
                pass


def _to_bytes(data: Data) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    return bytes(data)


def _fd_reader(fd: int) -> Callable[[memoryview], int]:
    def read_into(view: memoryview) -> int:
        return os.readv(fd, [view])
    return read_into


def _request_key(raw: bytes) -> ServiceKey:
    """The parsed key of a request; a missing or bad key makes the packet malformed."""
    try:
        return ServiceKey.parse(raw)
    except ServiceKeyError as e:
        raise PacketError("Invalid Service Key: " + e.reason) from None


def _open_accept_socket(path: str) -> socket.socket:
    """Accept mode: unlink ``path``, bind and listen(20) there."""
    if not path:
        raise Fault(FaultCode.OPEN_ACCEPT_SOCKET_FAILED, "%s is empty" % ACCEPT_SOCKET_ENV)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock.bind(path)
        sock.listen(20)
    except OSError as e:
        sock.close()
        raise Fault(FaultCode.OPEN_ACCEPT_SOCKET_FAILED, path, e.errno or 0) from None
    return sock


def _is_manager_environment() -> bool:
    """fd 3 a listening socket, fd 4 a regular file, fd 5 a pipe, all inherited
    (open without close-on-exec): exact type tests."""
    try:
        if not all(os.get_inheritable(fd) for fd in (_LISTEN_FD, _SEGMENT_FD, _REPORT_FD)):
            return False
        if not (stat.S_ISSOCK(os.fstat(_LISTEN_FD).st_mode)
                and stat.S_ISREG(os.fstat(_SEGMENT_FD).st_mode)
                and stat.S_ISFIFO(os.fstat(_REPORT_FD).st_mode)):
            return False
        probe = socket.socket(fileno=_LISTEN_FD)
        try:
            return probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        finally:
            probe.detach()
    except OSError:
        return False


def _slot_from_env() -> Optional[int]:
    """The ``plutonSlot`` index, or None if absent or not a number."""
    value = os.environ.get(SLOT_ENV, "")
    return int(value) if value.isdigit() else None
