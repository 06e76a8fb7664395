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
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

from .accounting import Accounting
from .faults import Fault, FaultCode
from .iov import write_all
from .parser import (MSG_UNEXPECTED_EOF, NetStringError, PacketError, ProtocolError, TruncatedPacketError,
                     scan_packet)
from .reader import PacketReader
from .request_view import _NO_FIELDS, RequestView
from .servicekey import ServiceKey, ServiceKeyError
from .stats import NO_SLOT, ExitReason, Outcome, Reporter, SlotState, StatsSlot
from .wire import (T_CLIENT_NAME, T_KEEP_AFFINITY, T_NO_WAIT, T_REQUEST_DATA, T_REQUEST_ID, T_SERVICE_KEY,
                   ResponsePacket, parse_number, response_parts)

ACCEPT_SOCKET_ENV = "plutonAcceptSocket"
PACKET_TRACE_ENV = "plutonPacketTrace"
SLOT_ENV = "plutonSlot"

#: Seconds an idle affinity connection is kept when the segment does not say.
DEFAULT_AFFINITY_TIMEOUT = 60

_LISTEN_FD, _SEGMENT_FD, _REPORT_FD = 3, 4, 5
_FAUX_IN, _FAUX_OUT = 3, 4
_CLIENT_GONE = (errno.EPIPE, errno.ECONNRESET)

_REQUEST_HEAD = b"0Q,"
#: Bytes asked for by the first read of a request (the reader's chunk size).
_CHUNK = 65536
#: Response data up to this size is copied into the one buffer written;
#: larger data is written with writev, uncopied.
_INLINE_DATA = 65536
#: How many distinct service keys :meth:`Service._new_key` remembers.
_KEY_CACHE_SIZE = 256

# Plain ints for the per-request calls (enum members cost a conversion each time).
_OK, _FAULT, _READ_ERROR, _WRITE_ERROR = (Outcome.OK.value, Outcome.FAULT.value,
                                          Outcome.READ_ERROR.value, Outcome.WRITE_ERROR.value)
_IDLE, _AFFINITY = SlotState.IDLE.value, SlotState.AFFINITY.value

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

    In the socket modes a connection is a bare file descriptor: the request is
    read with one ``read`` and, when that holds the whole packet (the common
    case), decoded in one pass (:func:`~pluton.parser.scan_packet`); otherwise
    the streaming :class:`~pluton.reader.PacketReader` takes over the bytes
    read and the connection. The response is built as one buffer and written
    with one ``write``. SIGPIPE must then stay ignored (Python ignores it at
    start, and the manager starts instances with it ignored); if the program
    restores its default action before :meth:`initialize`, responses are sent
    with ``MSG_NOSIGNAL`` instead.
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
        self._accept_fd: Callable[[], Tuple[int, Any]] = _not_listening
        self._conn = -1  # the client connection's fd (socket modes), -1 if none
        self._tracing = PACKET_TRACE_ENV in os.environ
        self._reader = PacketReader(b"Q", trace=self._tracing)
        #: True while the reader holds the input of the current connection
        #: (always in stand-alone mode, and when tracing).
        self._streaming = False
        self._plain_writes = True  # SIGPIPE is ignored: write the socket with write(2)
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
        self._service_field = b""  # the response's ``s`` netstring
        self._keys: Dict[bytes, Tuple[ServiceKey, bytes]] = {}  # raw key -> (key, function for reports)
        self._function = b""  # the current request's function, for its report entry

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
        self._service_field = b"%ds%s," % (len(self._service_name), self._service_name)
        path = os.environ.get(ACCEPT_SOCKET_ENV)
        if path is not None:
            listener = _open_accept_socket(path)
            self._mode = self.ACCEPT
        elif _is_manager_environment():
            listener = self._start_manager_mode()
            self._mode = self.MANAGER
        else:
            try:
                if not os.get_inheritable(_FAUX_IN):
                    raise Fault(FaultCode.NO_FAUX_STDIN, "fd 3 is close-on-exec: not inherited")
            except OSError as e:
                raise Fault(FaultCode.NO_FAUX_STDIN, "", e.errno or 0) from None
            self._reader.reset(_fd_reader(_FAUX_IN))
            self._streaming = True
            self._mode = self.STANDALONE
            return
        self._listener = listener
        # socket.socket.accept() is _accept() (fd, address) plus a socket
        # object per connection, which costs a getsockname(2) as well.
        self._accept_fd = listener._accept  # type: ignore[attr-defined]
        self._plain_writes = signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN

    def _start_manager_mode(self) -> socket.socket:
        """Set up the slot, the reporter and the SIGTERM handler; return the listener."""
        listener = socket.socket(fileno=_LISTEN_FD)
        listener.settimeout(None)  # the socket is shared: keep it blocking
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
        return listener

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
            self._accept_fd = _not_listening
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
        acct = self._acct
        while not self._stop:
            first: Optional[bytes] = None  # bytes of the request read while waiting for it
            if self._conn >= 0:
                first = self._await_affinity()
                if first is None:
                    continue
            elif self._mode == self.STANDALONE:
                if not self._reader.fill():
                    self._stop = True  # clean end of input
                    continue
            elif not acct.may_accept():  # (manager mode) the request limit is reached
                self._exit_reason = ExitReason.MAX_REQUESTS
                self._stop = True
                continue
            elif not self._accept():
                continue
            acct.begin()
            try:
                fields = self._read_fields(first)
                if fields is None:  # the client closed without sending a byte
                    if self._mode == self.ACCEPT:  # e.g. a probe: not worth stopping for
                        self._close_conn()
                        continue
                    raise TruncatedPacketError(MSG_UNEXPECTED_EOF)
                raw_key = fields.get(T_SERVICE_KEY, b"")
                key, self._function = self._keys.get(raw_key) or self._new_key(raw_key)
            except ProtocolError as e:
                code = (FaultCode.REQUEST_NET_STRING_PARSE_ERROR if isinstance(e, NetStringError)
                        else FaultCode.REQUEST_DECODE_FAILED)
                self._client_error(Fault(code, str(e)))
                continue
            except OSError as e:
                self._client_error(Fault(FaultCode.SOCKET_READ_FAILED, "", e.errno or 0))
                continue
            if self._tracing:
                self._trace(b"PktIn: ", self._reader.take_trace())
            rid = fields.get(T_REQUEST_ID, b"")  # plain digits need none of parse_number()'s rules
            self._set_request(fields, int(rid) if rid.isdigit() and len(rid) < 19 else parse_number(rid), key)
            self._owe_response = True
            if T_NO_WAIT in fields:
                self._close_conn()
            return True
        self._set_request(_NO_FIELDS, 0, None)
        return False

    def _read_fields(self, first: Optional[bytes]) -> Optional[Dict[int, bytes]]:
        """Read the next request's fields; None at a clean end of input.

        ``first`` is what the affinity wait read, None if nothing was read yet.
        """
        if not self._streaming:
            data = first if first is not None else os.read(self._conn, _CHUNK)
            if not data:
                return None
            scanned = scan_packet(data, _REQUEST_HEAD)
            if scanned is not None and scanned[1] == len(data):
                return scanned[0]
            # Incomplete, unusual, or followed by more bytes: the reader takes over.
            self._reader.reset(_fd_reader(self._conn), data)
            self._streaming = True
        return self._reader.read_packet()

    def _new_key(self, raw: bytes) -> Tuple[ServiceKey, bytes]:
        """Parse a key not seen before, and remember it (up to :data:`_KEY_CACHE_SIZE`)."""
        key = _request_key(raw)
        entry = (key, key.function.encode("utf-8", "surrogateescape"))
        if len(self._keys) < _KEY_CACHE_SIZE:
            self._keys[raw] = entry
        return entry

    def _accept(self) -> bool:
        """Block in accept until a client connects; False to re-check :attr:`_stop`."""
        fd = -1
        try:
            # Any _Stop the handler raises while _interruptible is set, even in
            # the finally clause, is caught below. A connection accepted by
            # then is served before the loop stops.
            self._interruptible = True
            try:
                if not self._stop:
                    fd = self._accept_fd()[0]
            finally:
                self._interruptible = False
        except _Stop:
            pass
        except OSError as e:
            if e.errno == errno.ECONNABORTED:
                return False
            self.fault = Fault(FaultCode.ACCEPT_FAILED, "", e.errno or 0)
            self._exit_reason = ExitReason.ACCEPT_FAILED
            self._stop = True
            return False
        if fd < 0:
            return False
        self._conn = fd
        if self._tracing:  # the reader keeps the trace: it reads every byte
            self._reader.reset(_fd_reader(fd))
            self._streaming = True
        return True

    def _await_affinity(self) -> Optional[bytes]:
        """Wait (slot state affinity) for the next request on the kept connection.

        Return its first bytes (empty if the reader holds them); on timeout,
        client close or stop, close the connection and return None.
        """
        if self._streaming and self._reader.started:  # the client already sent more
            return b""
        poller = select.poll()
        poller.register(self._conn, select.POLLIN)
        data: Optional[bytes] = None
        try:
            if self._blocking(lambda: poller.poll(self._affinity_timeout * 1000)):
                if self._streaming:
                    data = b"" if self._reader.fill() else None
                else:
                    data = os.read(self._conn, _CHUNK) or None
        except OSError:
            data = None
        if data is None:
            self._close_conn()
            self._acct.set_state(SlotState.IDLE)
        return data

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
        self._acct.end(_READ_ERROR, 0, 0, b"", _IDLE)
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
        return self._respond(0, b"", data if type(data) is bytes else _to_bytes(data))

    def send_fault(self, code: int, text: str = "") -> bool:
        """Send fault ``code`` with ``text`` instead of data. Use codes above 10
        for your own faults; 1-10 are predefined (see :class:`FaultCode`)."""
        return self._respond(int(code), text.encode("utf-8", "surrogateescape"), b"")

    def _respond(self, code: int, text: bytes, data: bytes) -> bool:
        if not self._owe_response:
            raise Fault(FaultCode.SEND_RESPONSE_NOT_NEXT, "no request is waiting for a response")
        self._owe_response = False
        fields = self._fields
        request_bytes = len(fields.get(T_REQUEST_DATA, b""))
        outcome = _FAULT if code else _OK
        if T_NO_WAIT in fields:  # the connection is already closed: only count it
            self._acct.end(outcome, request_bytes, 0, self._function, _IDLE)
            return True
        conn = self._conn
        keep = conn >= 0 and T_KEEP_AFFINITY in fields
        try:
            if code or len(data) > _INLINE_DATA or conn < 0 or not self._plain_writes or self._tracing:
                self._write(response_parts(ResponsePacket(self._request_id, fields.get(T_CLIENT_NAME, b""),
                                                          self._service_name, code, text, data)))
            else:  # the common case: the packet as response_parts() makes it, in one write(2)
                packet = self._response_packet(fields.get(T_CLIENT_NAME, b""), data)
                n = os.write(conn, packet)
                if n < len(packet):
                    write_all(self._writev, (memoryview(packet)[n:],))
        except OSError as e:
            if e.errno not in _CLIENT_GONE:
                self._close_conn()
                self.fault = Fault(FaultCode.SOCKET_WRITE_FAILED, "", e.errno or 0)
                self._exit_reason = ExitReason.LOST_IO
                self._stop = True
                self._acct.end(_WRITE_ERROR, request_bytes, 0, self._function, _IDLE)
                return False
            keep = False
        if not keep:
            self._close_conn()
        self._acct.end(outcome, request_bytes, len(data), self._function, _AFFINITY if keep else _IDLE)
        return True

    def _response_packet(self, client_name: bytes, data: bytes) -> bytes:
        """The response packet without a fault, as one buffer (``A b [a] s [q] z``)."""
        rid = b"%d" % self._request_id
        if client_name:
            head = b"0A,%db%s,%da%s,%s" % (len(rid), rid, len(client_name), client_name, self._service_field)
        else:
            head = b"0A,%db%s,%s" % (len(rid), rid, self._service_field)
        return b"%s%dq%s,0z\n" % (head, len(data), data) if data else head + b"0z\n"

    def _write(self, parts: Sequence[bytes]) -> None:
        """Write a response given in parts (see :func:`~pluton.wire.response_parts`)."""
        self._trace(b"PktOut: ", *parts)
        write_all(self._writev, parts)

    def _writev(self, bufs: List[memoryview]) -> int:
        if self._conn < 0:
            return os.writev(_FAUX_OUT, bufs)
        if self._plain_writes:
            return os.writev(self._conn, bufs)
        conn = socket.socket(fileno=self._conn)
        try:
            return conn.sendmsg(bufs, [], socket.MSG_NOSIGNAL)
        finally:
            conn.detach()

    # -- helpers ---------------------------------------------------------------

    def _close_conn(self) -> None:
        if self._conn >= 0:
            os.close(self._conn)
            self._conn = -1
            self._streaming = False

    def _trace(self, prefix: bytes, *chunks: bytes) -> None:
        """With ``plutonPacketTrace`` set, write ``<prefix><packet>`` as a line to stderr."""
        if self._tracing:
            packet = b"".join(chunks)
            line = prefix + packet + (b"" if packet.endswith(b"\n") else b"\n")
            try:
                os.write(2, line)
            except OSError:
                pass


def _not_listening() -> Tuple[int, Any]:
    raise OSError(errno.EBADF, "the service has no listening socket")


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
