"""The service side: a :class:`Service` yields :class:`~pluton.Request` objects.

The loop form::

    service = pluton.Service("hello")
    for request in service:
        request.respond(b"Hello, " + request.data)

The handler form (an exception answers a fault; the instance keeps serving)::

    def hello(request):
        return b"Hello, " + request.data

    pluton.Service("hello").serve(hello)

The first iteration (or :meth:`Service.serve`) initializes the service and
picks the mode (docs/protocol.md §3): *accept* when ``plutonAcceptSocket`` is
set, *manager* when fds 3/4/5 are the manager's listening socket, stats
segment and report pipe, else *stand-alone* (requests on fd 3, responses on
fd 4). In the socket modes connections are taken as docs/protocol.md §8
describes.
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import select
import signal
import socket
import stat
import struct
import sys
import traceback
from time import monotonic, time_ns
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .accounting import Accounting
from .faults import Fault, FaultCode
from .iov import Chunk, consume, views, write_all
from .parser import NetStringError, PacketError, ProtocolError, TooLargeError
from .preload import preload_fd, run_template
from .reader import PacketReader
from .recorder import Recorder
from .request import Buffer, Data, Request, _to_bytes
from .servicekey import ServiceKey, ServiceKeyError
from .stats import NO_SLOT, NOT_RECORDING, ExitReason, Outcome, Reporter, SlotState, StatsSlot
from .wire import (MAX_LENGTH, T_CLIENT_NAME, T_END, T_KEEP_AFFINITY, T_NO_WAIT, T_REQUEST, T_REQUEST_DATA,
                   T_REQUEST_ID, T_SERVICE_KEY, T_TIMEOUT, ResponsePacket, parse_number, response_parts)

ACCEPT_SOCKET_ENV = "plutonAcceptSocket"
PACKET_TRACE_ENV = "plutonPacketTrace"
SLOT_ENV = "plutonSlot"

#: Seconds an idle affinity connection is kept when the segment does not say.
DEFAULT_AFFINITY_TIMEOUT = 60
#: §8 defaults, used without a segment (accept mode, or a segment that fails its checks).
DEFAULT_REQUEST_READ_TIMEOUT = 5.0
DEFAULT_MAXIMUM_REQUEST_SIZE = 64 << 20
DEFAULT_MAXIMUM_PENDING = 64
#: SO_RCVTIMEO set on the listening socket, so accept returns at least once a second.
ACCEPT_TIMEOUT = 1.0

#: Handler form: gets the request, returns the response data (bytes, str, or None for empty).
Handler = Callable[[Request], Optional[Data]]

_LISTEN_FD, _SEGMENT_FD, _REPORT_FD = 3, 4, 5
_FAUX_IN, _FAUX_OUT = 3, 4
_CLIENT_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ETIMEDOUT)

#: The size of a connection's first receive buffer (grown to a packet's known size).
_CHUNK = 65536
#: Response data up to this size is copied into the one buffer written; larger
#: data is written from where it is, with the head and trailer (one writev).
_INLINE_DATA = 8192
#: A response with more than this left after the first write is written blocking.
_BLOCKING_WRITE = 128 << 10
#: A spare receive buffer larger than this is dropped when the instance is idle.
_KEEP_BUFFER = 256 << 10
#: How many receive buffers are kept for new connections (one per outstanding request).
_SPARES = 4
#: A receive buffer grows at once to the size a length prefix announces up to
#: this; beyond it, to at most 4 times the bytes received so far.
_GROW_AT_ONCE = 4 << 20
#: A netstring's length prefix (at most 9 digits) and its type byte (printable, not a digit).
_NETSTRING_HEAD = re.compile(rb"([0-9]{1,9})([\x20-\x2f\x3a-\x7e])")
#: What may still become a netstring's head once more bytes arrive.
_HEAD_SO_FAR = re.compile(rb"[0-9]{0,9}")
#: The usual start of a request, ``Q b [a] c l`` and the head of ``k``, matched
#: at once; the lengths are checked against the payloads before the fields are taken.
_USUAL_HEAD = re.compile(rb"0Q,([0-9]{1,9})b([^,]*),(?:([0-9]{1,9})a([^,]*),)?([0-9]{1,9})c([^,]*),"
                         rb"([0-9]{1,9})l([^,]*),(?:([0-9]{1,9})k)?")
_USUAL_END = b",0z\n"
#: How many distinct service keys :meth:`Service._new_key` remembers.
_KEY_CACHE_SIZE = 256

_OK, _FAULT, _WRITE_ERROR = Outcome.OK.value, Outcome.FAULT.value, Outcome.WRITE_ERROR.value
_IDLE, _AFFINITY = SlotState.IDLE.value, SlotState.AFFINITY.value

_NOT_ANSWERED = b"request not answered by the service"
_THREADS_REFUSED = ("maximum-threads %d is not supported by the Python SDK: an instance serves one request "
                    "at a time; set maximum-threads 1 and raise maximum-processes")
_NO_SOURCE = ("%s: fd %d %s; run the service under plutonManager, with plTest, "
              "or as ./svc 3<request 4>response")


class _Stop(BaseException):
    """Raised by the SIGTERM handler to break out of a blocking accept or poll."""


class _Conn:
    """A client connection: its fd, when reading started (``time_ns``), its
    read deadline (``monotonic``, None = none), and the request packet read so
    far (:meth:`Service._pull`).

    The packet is read into ``buf`` from its start: ``filled`` bytes are
    there, the netstrings before ``pos`` are parsed (into ``fields``; the
    request data is left in place, at ``data_at``, ``data_len`` bytes), and
    parsing goes on once ``filled`` reaches ``need`` (the end of a netstring
    known to be incomplete). A packet that is anything but plainly valid is
    handed to the exact streaming parser (``reader``) for the rest of the
    connection's life.
    """

    __slots__ = ("fd", "read_ns", "deadline", "reader", "buf", "filled", "pos", "need", "fields", "first",
                 "data_at", "data_len", "kept")

    def __init__(self, fd: int, read_ns: int, buf: bytearray) -> None:
        self.fd = fd
        self.read_ns = read_ns
        self.deadline: Optional[float] = None
        self.reader: Optional[PacketReader] = None
        self.buf = buf
        self.filled = 0
        self.pos = 0
        self.need = 1
        self.fields: Dict[int, bytes] = {}
        self.first = False  # the packet's first netstring (``Q``) has been parsed
        self.data_at = 0
        self.data_len = -1  # no request data netstring yet
        self.kept = False  # an affinity connection: a close between packets is no error

    def next_packet(self) -> None:
        """Start the next packet of a kept connection: the bytes read after the
        last one move to the front of the buffer."""
        rest = self.filled - self.pos
        if rest:
            self.buf[:rest] = bytes(self.buf[self.pos:self.filled])
        self.filled, self.pos, self.need = rest, 0, 1
        self.fields = {}
        self.first = False
        self.data_len = -1


class Service:
    """One service instance. ``name`` becomes the ``s`` field ``<name>:<pid>/0``.

    Iterate over it (``for request in service``) or call :meth:`serve`. The
    loop ends normally on the stop signal (SIGTERM), at the manager's request
    limit and at the end of stand-alone input; it raises the :class:`Fault`
    that stopped it otherwise (a malformed stand-alone request, a failed
    accept or write).
    """

    MANAGER = "manager"
    ACCEPT = "accept"
    STANDALONE = "standalone"

    def __init__(self, name: str = "") -> None:
        self.name = name
        #: The error that ended the loop, or None.
        self.fault: Optional[Fault] = None
        self._mode: Optional[str] = None
        self._listener: Optional[socket.socket] = None
        self._listen_fd = -1
        self._accept_fd: Callable[[], Tuple[int, Any]] = _not_listening
        self._tracing = PACKET_TRACE_ENV in os.environ
        self._keep_raw = self._tracing  # keep each request's bytes (tracing, recording)
        self._stand_reader: Optional[PacketReader] = None
        self._plain_writes = True  # SIGPIPE is ignored: write sockets with write(2)
        self._acct = Accounting()
        self._recorder: Optional[Recorder] = None
        self._affinity_timeout = float(DEFAULT_AFFINITY_TIMEOUT)
        self._read_timeout: Optional[float] = DEFAULT_REQUEST_READ_TIMEOUT
        self._max_size = DEFAULT_MAXIMUM_REQUEST_SIZE
        self._max_pending = DEFAULT_MAXIMUM_PENDING
        self._pending: List[_Conn] = []
        self._spares: List[bytearray] = []  # receive buffers of past requests, reused (at most _SPARES)
        self._conn: Optional[_Conn] = None  # the current request's connection
        self._affinity: Optional[_Conn] = None  # a keepAffinity connection between requests
        self._current: Optional[Request] = None
        self._function = b""  # the current request's function, for its report entry
        self._stop = False
        self._signalled = False
        self._interruptible = False
        self._exit_reason: Optional[int] = None
        self._old_sigterm: Any = None
        self._handler_installed = False
        self._closed = False
        self._hooks: List[Callable[[], None]] = []
        self._preload_hooks: List[Callable[[], None]] = []
        self._fork_hooks: List[Callable[[], None]] = []
        self._service_name = b""
        self._service_field = b""  # the response's ``s`` netstring
        self._keys: Dict[bytes, Tuple[ServiceKey, bytes]] = {}  # raw key -> (key, function for reports)

    # -- life cycle ------------------------------------------------------------

    @property
    def mode(self) -> Optional[str]:
        """``"manager"``, ``"accept"`` or ``"standalone"``; None before initialization."""
        return self._mode

    @property
    def stopping(self) -> bool:
        """True once the stop signal arrived (or the loop ended)."""
        return self._stop

    def on_stop(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook()`` once when the loop ends, before it returns (usable as a decorator)."""
        self._hooks.append(hook)
        return hook

    def on_preload(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook()`` once at initialization, before serving (usable as a
        decorator): the warm-up. With ``preload true`` it runs once, in the
        template, and every instance forked from it inherits what it built;
        otherwise in every instance (docs/preload.md)."""
        self._preload_hooks.append(hook)
        return hook

    def on_fork(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook()`` in each instance forked from a preload template, right
        after the fork and before serving (usable as a decorator): reopen
        there what must not be shared with the template or the other
        instances (database connections, client sockets, random state). Never
        runs in an exec'd instance (docs/preload.md)."""
        self._fork_hooks.append(hook)
        return hook

    def initialize(self) -> None:
        """Pick the mode and set it up. The first iteration or :meth:`serve` calls
        it; call it yourself only to fail early.

        Raises :class:`Fault` saying what is wrong and what to do:
        ``NO_FAUX_STDIN`` (no request source: stand-alone mode without fd 3 or
        fd 4), ``OPEN_ACCEPT_SOCKET_FAILED``, ``ALREADY_INITIALIZED``, and
        ``SHM_THREAD_CONFIG_NOT_SERVICE`` (-104) in manager mode when the
        service is configured with ``maximum-threads`` above 1: an instance of
        this SDK serves one request at a time (docs/protocol.md §4.1), so it
        refuses to start; that fault's line is also written to stderr (the
        manager's log), and a service that lets it propagate exits non-zero.
        """
        if self._mode is not None:
            raise Fault(FaultCode.ALREADY_INITIALIZED, "the service is already initialized (mode %s)" % self._mode)
        path = os.environ.get(ACCEPT_SOCKET_ENV)
        fork_fd = preload_fd()
        if fork_fd >= 0 and path is None:
            # The preload template (docs/preload.md): returns only in an
            # instance forked from it, with fds 2-5 and plutonSlot its own.
            run_template(fork_fd, self._preload_hooks, self._fork_hooks)
        else:
            for hook in self._preload_hooks:
                hook()
        if path is not None:
            listener = _open_accept_socket(path)
            mode = self.ACCEPT
        elif _is_manager_environment():
            listener = socket.socket(fileno=_LISTEN_FD)
            mode = self.MANAGER
        else:
            _check_standalone()
            self._stand_reader = PacketReader(b"Q", _fd_reader(_FAUX_IN), trace=self._tracing,
                                              max_length=self._max_size)
            self._mode = self.STANDALONE
            self._set_name()
            self._install_sigterm()
            atexit.register(self.close)
            return
        self._set_name()
        listener.settimeout(None)  # the socket is shared: keep it blocking
        # Every SDK sets the same 1 s receive timeout: accept returns EAGAIN at
        # least once a second (§8.4).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                            struct.pack("ll", int(ACCEPT_TIMEOUT), int(ACCEPT_TIMEOUT % 1 * 1e6)))
        self._listener = listener
        self._listen_fd = listener.fileno()
        # socket.socket.accept() is _accept() (fd, address) plus a socket
        # object per connection, which costs a getsockname(2) as well.
        self._accept_fd = listener._accept  # type: ignore[attr-defined]
        self._plain_writes = signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
        self._mode = mode
        if mode == self.MANAGER:
            self._start_manager_mode()
        else:
            self._install_sigterm()
        atexit.register(self.close)

    def _set_name(self) -> None:
        self._service_name = ("%s:%d/0" % (self.name, os.getpid())).encode("utf-8", "surrogateescape")
        self._service_field = b"%ds%s," % (len(self._service_name), self._service_name)

    def _start_manager_mode(self) -> None:
        """Set up the slot, its limits, the reporter, the recorder and the SIGTERM handler."""
        slot_index = _slot_from_env()
        slot = StatsSlot.open(_SEGMENT_FD, slot_index) if slot_index is not None else None
        pid = os.getpid()
        if slot is not None and slot.header.threads_per_instance > 1:
            # As the original's initialize: a threaded configuration needs a threaded service.
            slot.close()
            fault = Fault(FaultCode.SHM_THREAD_CONFIG_NOT_SERVICE, _THREADS_REFUSED % slot.header.threads_per_instance)
            try:
                os.write(2, fault.text.encode("utf-8", "surrogateescape") + b"\n")
            except OSError:
                pass
            raise fault
        if slot is not None:
            os.close(_SEGMENT_FD)  # the mapping holds its own reference
            slot.write_pid(pid)
            h = slot.header
            if h.affinity_timeout > 0:
                self._affinity_timeout = float(h.affinity_timeout)
            if slot.has_identity:
                self._max_size = h.maximum_request_size or MAX_LENGTH
                self._read_timeout = h.request_read_timeout_ms / 1000.0 if h.request_read_timeout_ms else None
                self._max_pending = h.maximum_pending or DEFAULT_MAXIMUM_PENDING
                if h.recorder_prefix:
                    self._recorder = Recorder(h.recorder_prefix, h.recorder_cycle, pid)
                    self._keep_raw = True
        self._install_sigterm()
        if slot is not None:
            slot.started()  # state idle only once the SIGTERM handler is in place
        reporter = Reporter(_REPORT_FD, pid, NO_SLOT if slot_index is None else slot_index)
        self._acct = Accounting(slot, reporter)

    def _install_sigterm(self) -> None:
        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._handler_installed = True
        except ValueError:  # not the main thread: SIGTERM keeps its action
            self._old_sigterm = None

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop = True
        self._signalled = True
        old = self._old_sigterm
        if callable(old):  # the program's own handler, installed before ours: chain to it
            old(signum, frame)
        if self._interruptible:
            self._interruptible = False
            raise _Stop()

    def close(self) -> None:
        """End the service: answer an unanswered request (fault 6), close every
        connection and, in manager mode, record the exit (state stopping,
        exitReason, final report). The loop calls it when it ends; it is also
        registered with ``atexit``. Safe to call more than once."""
        if self._closed or self._mode is None:
            return
        self._closed = True
        self._stop = True
        cur = self._current
        if cur is not None and not cur.answered:
            try:
                self._answer(cur, FaultCode.SERVICE_EXCEPTION, _NOT_ANSWERED, b"")
            except OSError:
                pass
        self._current = None
        for conn in self._pending:
            self._acct.read_error(conn.read_ns)
            os.close(conn.fd)
        self._pending = []
        for held in (self._conn, self._affinity):
            if held is not None:
                os.close(held.fd)
        self._conn = self._affinity = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self._accept_fd = _not_listening
        if self._mode == self.MANAGER:
            self._acct.stop(self._final_exit_reason())
        if self._handler_installed:
            self._handler_installed = False
            try:
                signal.signal(signal.SIGTERM, self._old_sigterm if self._old_sigterm is not None else signal.SIG_DFL)
            except (ValueError, TypeError):
                pass
        atexit.unregister(self.close)

    #: The original API's name for :meth:`close`.
    terminate = close

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
        self.close()

    def _end_loop(self) -> None:
        """The loop is over: run the on_stop hooks once, then close."""
        self._stop = True
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                traceback.print_exc()
        self.close()

    # -- the two forms -----------------------------------------------------------

    def __iter__(self) -> Iterator[Request]:
        """``for request in service:`` yields each request. A request left
        unanswered when the next is asked for is answered with fault 6."""
        next_request = self._next
        try:
            while True:
                request = next_request()
                if request is None:
                    break
                yield request
        finally:
            self._end_loop()
        if self.fault is not None:
            raise self.fault

    def serve(self, handler: Handler) -> None:
        """Serve every request with ``handler`` until the loop ends.

        The handler returns the response data (bytes, or text sent as UTF-8;
        None = empty). Raising :class:`Fault` sends that fault. Any other
        exception sends fault 6 ``"<ExceptionClass>: <message>"``, writes the
        traceback to stderr, and the instance goes on serving. A handler that
        answered the request itself (``respond``/``fault``) has its return
        value ignored.
        """
        next_request = self._next
        answer = self._answer
        try:
            while True:
                request = next_request()
                if request is None:
                    break
                try:
                    result = handler(request)
                except Fault as f:
                    if not request.answered:
                        answer(request, f.code, f.text.encode("utf-8", "surrogateescape"), b"")
                    else:  # raised after answering: nothing to send, but not silent
                        traceback.print_exc()
                    continue
                except Exception as e:
                    traceback.print_exc()
                    if not request.answered:
                        answer(request, FaultCode.SERVICE_EXCEPTION, _exception_text(e), b"")
                    continue
                if not request.answered:
                    if type(result) is not bytes:
                        try:
                            result = b"" if result is None else _to_bytes(result)
                        except TypeError as e:
                            sys.stderr.write("pluton: handler returned %s\n" % e)
                            answer(request, FaultCode.SERVICE_EXCEPTION, _exception_text(e), b"")
                            continue
                    answer(request, 0, b"", result)
        finally:
            self._end_loop()
        if self.fault is not None:
            raise self.fault

    # -- taking requests ---------------------------------------------------------

    def _next(self) -> Optional[Request]:
        """The next request, or None when the loop ends."""
        cur = self._current
        if cur is not None:
            self._current = None
            if not cur.answered:
                self._answer(cur, FaultCode.SERVICE_EXCEPTION, _NOT_ANSWERED, b"")
        elif self._mode is None:
            self.initialize()
        while not self._stop or self._drain_on_stop():
            if self._mode == self.STANDALONE:
                request = self._read_standalone()
            else:
                request = self._read_socket()
            if request is not None:
                self._current = request
                return request
        return None

    def _read_standalone(self) -> Optional[Request]:
        reader = self._stand_reader
        assert reader is not None
        read_ns = time_ns()
        try:
            if not reader.fill():
                self._stop = True  # clean end of input
                return None
            fields = reader.read_packet()
            if fields is None:
                self._stop = True
                return None
            return self._start_request(None, fields, reader.take_trace(), read_ns)
        except TooLargeError as e:
            # Answered on fd 4; the input cannot be resynchronised, so the loop ends (§8.3).
            self._trace(b"PktIn: ", reader.take_trace())
            self._too_large(None, e, read_ns)
            self.fault = Fault(FaultCode.REQUEST_TOO_LARGE, str(e))
        except ProtocolError as e:
            self._trace(b"PktIn: ", reader.take_trace())
            code = (FaultCode.REQUEST_NET_STRING_PARSE_ERROR if isinstance(e, NetStringError)
                    else FaultCode.REQUEST_DECODE_FAILED)
            self.fault = Fault(code, str(e))
        except OSError as e:
            self.fault = Fault(FaultCode.SOCKET_READ_FAILED, "fd %d: %s" % (_FAUX_IN, e.strerror), e.errno or 0)
        self._stop = True
        return None

    def _drain_on_stop(self) -> bool:
        """After the stop signal, the connections already accepted are still
        served (until their deadlines): their clients must not lose their requests."""
        return (self._signalled and not self._closed and self._mode not in (None, self.STANDALONE)
                and self._affinity is None and bool(self._pending))

    def _read_socket(self) -> Optional[Request]:
        """One step of the §8 loop; a request, or None to check for a stop and step again."""
        acct = self._acct
        if self._affinity is not None:
            return self._affinity_request()
        if self._stop:  # stopping: serve what was accepted (_drain_on_stop)
            return self._poll_pending(accepting=False)
        if 0 < acct.maximum_requests <= acct.requests and self._mode == self.MANAGER:  # acct.limit_reached()
            if self._pending:
                # Accept no more, but serve the connections already accepted
                # before leaving: their clients must not lose their requests.
                return self._poll_pending(accepting=False)
            self._exit_reason = ExitReason.MAX_REQUESTS
            self._stop = True
            return None
        if self._pending:
            return self._poll_pending()
        coord = sys.modules.get("pluton.coord")  # messages and timer ticks, between requests
        if coord is not None:
            coord.poll_all()
        acct.wait(_IDLE)
        acct.flush_stale()
        fd = self._accept()
        if fd < 0:
            if not self._pending:  # idle: give large buffers back
                self._spares = [b for b in self._spares if len(b) <= _KEEP_BUFFER]
            return None
        return self._pull(self._new_conn(fd))

    def _accept(self) -> int:
        """Accept a connection (non-blocking from then on); -1 if none came
        (the 1 s receive timeout, a stop, an aborted connection)."""
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
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            if e.errno in (errno.ECONNABORTED, errno.EAGAIN, errno.EINTR):
                return -1
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) and self._pending:
                self._drop(self._pending.pop(0))  # make room: the oldest pending connection goes
                return -1
            self.fault = Fault(FaultCode.ACCEPT_FAILED, "accept on fd %d: %s" % (self._listen_fd, e.strerror),
                               e.errno or 0)
            self._exit_reason = ExitReason.ACCEPT_FAILED
            self._stop = True
            return -1
        if fd >= 0:
            os.set_blocking(fd, False)
        return fd

    def _new_conn(self, fd: int) -> _Conn:
        """A new connection, reading into the last spare buffer if there is one."""
        spares = self._spares
        return _Conn(fd, time_ns(), spares.pop() if spares else bytearray(_CHUNK))

    def _recycle(self, buf: bytearray) -> None:
        """Keep ``buf`` (no longer any connection's) for a next connection:
        up to :data:`_SPARES` buffers, the largest when there are more."""
        spares = self._spares
        for b in spares:
            if b is buf:  # already kept
                return
        if len(spares) < _SPARES:
            spares.append(buf)
            return
        i = min(range(len(spares)), key=lambda k: len(spares[k]))
        if len(buf) > len(spares[i]):
            del spares[i]
            spares.append(buf)

    def _pull(self, conn: _Conn) -> Optional[Request]:
        """Read what is readable of ``conn`` and parse it (§8): the request once
        its packet is complete, else None with the connection pending or
        dropped. The fast path: the first read holds the whole packet."""
        if conn.reader is not None:
            return self._feed(conn)
        fd = conn.fd
        while True:
            if conn.filled >= conn.need:
                try:
                    state = self._parse(conn)
                except TooLargeError as e:
                    self._unpend(conn)
                    self._too_large(conn, e, conn.read_ns)
                    return None
                if state > 0:
                    self._unpend(conn)
                    return self._complete(conn)
                if state < 0:  # unusual: the exact parser reads it from its first byte
                    return self._slow(conn)
            buf = conn.buf
            filled = conn.filled
            need = conn.need  # always above filled here
            if need > len(buf):
                # Grown once to the size the length prefix announced (with room
                # for the end of the packet), doubled while the head goes on;
                # but never more than 4 times the bytes received, beyond the
                # first _GROW_AT_ONCE, so that an announced size alone does not
                # allocate it.
                size = need + (need >> 4) + 64
                if need == filled + 1:
                    size = max(size, 2 * len(buf))
                size = min(size, max(4 * filled, _GROW_AT_ONCE))
                if size > len(buf):
                    grown = bytearray(size)
                    grown[:filled] = buf[:filled]
                    conn.buf = buf = grown
            try:
                if filled:
                    with memoryview(buf) as whole:
                        n = os.readv(fd, [whole[filled:]])
                else:  # the first read of a packet: into the whole buffer
                    n = os.readv(fd, [buf])
            except BlockingIOError:
                if filled and not self._pending and self._wait_more(conn):
                    continue
                self._pend(conn)
                return None
            except OSError:
                n = 0
            if n == 0:  # the client closed it, or the read failed
                self._unpend(conn)
                if conn.kept and filled == 0:  # between requests: no request, no error
                    os.close(fd)
                    return None
                if filled:
                    self._trace(b"PktIn: ", bytes(buf[:filled]))
                self._drop(conn)
                return None
            conn.filled = filled + n

    def _wait_more(self, conn: _Conn) -> bool:
        """The packet of ``conn`` has begun and no other connection is pending:
        wait (§8.2: with its deadline, and fd 3) for more of it, without the
        pending set's bookkeeping. True when it is readable; False (the pending
        set takes over) at a new connection, the deadline or the stop signal."""
        now = monotonic()
        if conn.deadline is None and self._read_timeout is not None:
            conn.deadline = now + self._read_timeout
        wait = ACCEPT_TIMEOUT if conn.deadline is None else min(ACCEPT_TIMEOUT, conn.deadline - now)
        if wait <= 0:
            return False
        poller = select.poll()
        poller.register(conn.fd, select.POLLIN)
        accepting = not self._stop and self._listen_fd >= 0
        if accepting:
            poller.register(self._listen_fd, select.POLLIN)
        events = self._blocking(lambda: poller.poll(int(wait * 1000) + 1))
        return len(events) == 1 and events[0][0] == conn.fd

    def _parse(self, conn: _Conn) -> int:
        """Parse the complete netstrings of ``conn``'s packet: 1 when the packet is
        complete, 0 when it needs more bytes, -1 when anything about it is unusual
        (a bad netstring, a duplicate type, a length prefix of ten digits or
        more...): the exact parser then reads it and raises its error. Raise
        :class:`TooLargeError` as soon as a length prefix exceeds the limit."""
        buf, pos, filled, fields = conn.buf, conn.pos, conn.filled, conn.fields
        if pos == 0:
            m = _USUAL_HEAD.match(buf, 0, filled)
            if m is not None:
                nb, b, na, a, nc, c, nl, tl, nk = m.groups()
                limit = self._max_size
                if (len(b) == int(nb) and len(c) == int(nc) and len(tl) == int(nl)
                        and (na is None or len(a) == int(na)) and m.end() <= limit):
                    # No netstring of it can exceed the limit (each is shorter than the match).
                    conn.first = True
                    fields[T_REQUEST_ID] = b
                    if na is not None:
                        fields[T_CLIENT_NAME] = a
                    fields[T_SERVICE_KEY] = c
                    fields[T_TIMEOUT] = tl
                    if nk is None:
                        pos = m.end()
                    else:
                        pos = m.start(9)  # the general loop below takes ``k`` unless it ends the packet here
                        n = int(nk)
                        start = m.end()
                        end = start + n
                        if n <= limit and end + 4 <= filled and buf[end:end + 4] == _USUAL_END:
                            fields[T_REQUEST_DATA] = b""  # left in place
                            fields[T_END] = b""
                            conn.data_at, conn.data_len = start, n
                            conn.pos = end + 4
                            return 1
        head = _NETSTRING_HEAD.match
        while True:
            m = head(buf, pos, filled)
            if m is None:
                if _HEAD_SO_FAR.fullmatch(buf, pos, filled) is None:
                    return -1
                conn.pos, conn.need = pos, filled + 1
                return 0
            n = int(m.group(1))
            if n > self._max_size:
                raise TooLargeError(n, self._max_size, dict(fields) if conn.first else {})
            start = m.end()
            end = start + n
            if end >= filled:
                conn.pos, conn.need = pos, end + 1
                return 0
            c = buf[end]
            if c != 0x2C and c != 0x0A:
                return -1
            t = buf[start - 1]
            pos = end + 1
            if not conn.first:
                if t != T_REQUEST:
                    return -1
                conn.first = True
            elif t > T_END or t in fields:
                return -1
            elif t == T_REQUEST_DATA:
                fields[t] = b""  # left in place: data_at, data_len
                conn.data_at, conn.data_len = start, n
            else:
                fields[t] = bytes(buf[start:end])
                if t == T_END:
                    conn.pos = pos
                    return 1

    def _complete(self, conn: _Conn) -> Optional[Request]:
        """Hand over the complete packet of ``conn``, its data where it was read."""
        buf = conn.buf
        raw = bytes(buf[:conn.pos]) if self._keep_raw else b""
        if T_KEEP_AFFINITY not in conn.fields:
            # The connection ends with this request: its buffer serves the next
            # connection, once this request is over (Request.view says so).
            self._recycle(buf)
        n = conn.data_len
        if n < 0:
            return self._start_request(conn, conn.fields, raw, conn.read_ns)
        if n <= _INLINE_DATA:  # small data: its own bytes cost less than a view of the buffer
            at = conn.data_at
            with memoryview(buf) as whole:
                data = whole[at:at + n].tobytes()
            return self._start_request(conn, conn.fields, raw, conn.read_ns, data, 0, n)
        return self._start_request(conn, conn.fields, raw, conn.read_ns, buf, conn.data_at, n)

    def _slow(self, conn: _Conn) -> Optional[Request]:
        """Hand the bytes read so far to the exact streaming parser."""
        data = bytes(conn.buf[:conn.filled])
        reader = PacketReader(b"Q", _fd_reader(conn.fd), chunk_size=max(_CHUNK, len(data)),
                              trace=self._keep_raw, max_length=self._max_size)
        reader.reset(_fd_reader(conn.fd), data)
        conn.reader = reader
        return self._feed(conn)

    def _feed(self, conn: _Conn) -> Optional[Request]:
        """Read what is readable of ``conn`` through its streaming parser; a
        request once complete, else None with the connection pending or dropped."""
        reader = conn.reader
        assert reader is not None
        try:
            while True:
                fields = reader.step()
                if fields is not None:
                    self._unpend(conn)
                    return self._start_request(conn, fields, reader.take_trace(), conn.read_ns)
                if reader.eof:
                    self._unpend(conn)
                    self._drop(conn)
                    return None
        except BlockingIOError:
            self._pend(conn)
            return None
        except TooLargeError as e:
            self._unpend(conn)
            self._too_large(conn, e, conn.read_ns)
            return None
        except ProtocolError:
            self._trace(b"PktIn: ", reader.take_trace())
            self._unpend(conn)
            self._drop(conn)
            return None
        except OSError:
            self._unpend(conn)
            self._drop(conn)
            return None

    def _pend(self, conn: _Conn) -> None:
        """Keep an incomplete connection in the pending set (§8.2)."""
        if conn.deadline is None and self._read_timeout is not None:
            conn.deadline = monotonic() + self._read_timeout
        if conn in self._pending:
            return
        while len(self._pending) >= self._max_pending:
            self._drop(self._pending.pop(0))  # the oldest makes room
        self._pending.append(conn)

    def _unpend(self, conn: _Conn) -> None:
        if self._pending and conn in self._pending:
            self._pending.remove(conn)

    def _poll_pending(self, accepting: bool = True) -> Optional[Request]:
        """Wait on fd 3 (unless not accepting) and the pending connections;
        serve the first that completes."""
        now = monotonic()
        nearest: Optional[float] = None
        for conn in list(self._pending):
            if conn.deadline is not None:
                if conn.deadline <= now:
                    self._pending.remove(conn)
                    self._drop(conn)
                elif nearest is None or conn.deadline < nearest:
                    nearest = conn.deadline
        if not self._pending:
            return None
        acct = self._acct
        acct.wait(_IDLE)
        acct.flush_stale()
        poller = select.poll()
        if accepting:
            poller.register(self._listen_fd, select.POLLIN)
        by_fd = {}
        for conn in self._pending:
            poller.register(conn.fd, select.POLLIN)
            by_fd[conn.fd] = conn
        # Wake at least once a second (reports, the request limit, a stop).
        wait = ACCEPT_TIMEOUT if nearest is None else min(ACCEPT_TIMEOUT, max(0.0, nearest - now))
        if accepting:
            events = self._blocking(lambda: poller.poll(int(wait * 1000) + 1))
        else:  # leaving: wait for the pending connections even after the stop signal
            events = poller.poll(int(wait * 1000) + 1)
        if not events:
            return None
        listener_ready = False
        for fd, _ in events:
            if fd == self._listen_fd:
                listener_ready = True
                continue
            ready = by_fd.get(fd)
            if ready is not None:
                request = self._pull(ready)
                if request is not None:
                    return request
        if accepting and listener_ready and not self._stop:
            fd = self._accept()
            if fd >= 0:
                return self._pull(self._new_conn(fd))
        return None

    def _affinity_request(self) -> Optional[Request]:
        """Wait (slot state affinity) for the next request on the kept connection."""
        conn = self._affinity
        assert conn is not None
        reader = conn.reader
        if reader is not None:
            if reader.started:  # the client already sent more
                self._affinity = None
                conn.read_ns = time_ns()
                return self._feed(conn)
        else:
            conn.next_packet()
            if conn.filled:  # the client already sent more
                self._affinity = None
                conn.read_ns = time_ns()
                return self._pull(conn)
        self._acct.wait(_AFFINITY)
        poller = select.poll()
        poller.register(conn.fd, select.POLLIN)
        events = self._blocking(lambda: poller.poll(int(self._affinity_timeout * 1000)))
        self._affinity = None
        if not events:  # timeout or stop: not a request, no report entry
            os.close(conn.fd)
            return None
        conn.read_ns = time_ns()
        conn.deadline = None
        if reader is not None:
            return self._feed(conn)
        return self._pull(conn)

    def _start_request(self, conn: Optional[_Conn], fields: Dict[int, bytes], raw: bytes, read_ns: int,
                       payload: Union[bytes, bytearray, None] = None, at: int = 0,
                       size: int = 0) -> Optional[Request]:
        """Hand a complete request packet to the service's code."""
        raw_key = fields.get(T_SERVICE_KEY, b"")
        entry = self._keys.get(raw_key)
        if entry is None:
            try:
                entry = self._new_key(raw_key)
            except PacketError as e:
                self._trace(b"PktIn: ", raw)
                if conn is None:
                    self.fault = Fault(FaultCode.REQUEST_DECODE_FAILED, str(e))
                    self._stop = True
                else:
                    self._drop(conn)
                return None
        key, self._function = entry
        if self._tracing:
            self._trace(b"PktIn: ", raw)
        rid = fields.get(T_REQUEST_ID, b"")  # plain digits need none of parse_number()'s rules
        request_id = int(rid) if rid.isdigit() and len(rid) < 19 else parse_number(rid)
        index = NOT_RECORDING
        recorder = self._recorder
        if recorder is not None and recorder.enabled:
            index = recorder.record_in(raw)
            if not recorder.enabled:  # that file could not be written
                index = NOT_RECORDING
        self._acct.begin(read_ns, request_id, fields.get(T_CLIENT_NAME, b""), index)
        if conn is not None and T_NO_WAIT in fields:
            os.close(conn.fd)  # noWait: the client has what it needs
            conn = None
        self._conn = conn
        return Request(self, fields, request_id, key, read_ns, payload, at, size)

    def _new_key(self, raw: bytes) -> Tuple[ServiceKey, bytes]:
        """Parse a key not seen before, and remember it (up to :data:`_KEY_CACHE_SIZE`)."""
        key = _request_key(raw)
        entry = (key, key.function.encode("utf-8", "surrogateescape"))
        if len(self._keys) < _KEY_CACHE_SIZE:
            self._keys[raw] = entry
        return entry

    def _drop(self, conn: _Conn) -> None:
        """Close a connection that gave no complete request: a read error."""
        os.close(conn.fd)
        self._recycle(conn.buf)
        self._acct.read_error(conn.read_ns)

    def _too_large(self, conn: Optional[_Conn], e: TooLargeError, read_ns: int) -> None:
        """§8.3: answer fault 3 at once, without reading the body, and close. The
        refusal counts as a request answered with a fault (no function, 0 bytes)."""
        fields = e.fields
        rid = parse_number(fields.get(T_REQUEST_ID, b""))
        client_name = fields.get(T_CLIENT_NAME, b"")
        self._acct.begin(read_ns, rid, client_name, NOT_RECORDING)
        parts = response_parts(ResponsePacket(rid, client_name, self._service_name,
                                               FaultCode.REQUEST_TOO_LARGE, str(e).encode(), b""))
        self._trace(b"PktOut: ", *parts)
        try:
            if conn is None:
                write_all(lambda bufs: os.writev(_FAUX_OUT, bufs), parts)
            else:
                self._send(conn.fd, parts)
        except OSError:
            pass
        if conn is not None:
            os.close(conn.fd)
            self._recycle(conn.buf)
        self._acct.end(_FAULT, 0, 0, b"")

    def _blocking(self, call: Callable[[], List[Tuple[int, int]]]) -> List[Tuple[int, int]]:
        """Run a blocking poll that SIGTERM breaks; [] if it did (or had already come)."""
        try:
            self._interruptible = True
            try:
                if self._stop:
                    return []
                return call()
            finally:
                self._interruptible = False
        except _Stop:
            return []
        except InterruptedError:
            return []

    # -- answering -----------------------------------------------------------------

    def _answer(self, request: Request, code: int, text: bytes, data: Buffer) -> None:
        """Send the response (code 0) or the fault of ``request``."""
        if request.answered:
            raise Fault(FaultCode.SEND_RESPONSE_NOT_NEXT, "the request was already answered")
        request.answered = True
        fields = request._fields
        request_bytes = request.size
        outcome = _FAULT if code else _OK
        conn = self._conn
        self._conn = None
        parts: Sequence[Chunk]
        if code:
            parts = response_parts(ResponsePacket(request.id, fields.get(T_CLIENT_NAME, b""),
                                                  self._service_name, code, text, b""))
        elif len(data) > _INLINE_DATA:  # written from where it is, not copied
            parts = (self._response_head(request.id, fields.get(T_CLIENT_NAME, b"")) + b"%dq" % len(data),
                     data, b",0z\n")
        else:  # the common case: the packet as response_parts() makes it, in one buffer
            parts = (self._response_packet(request.id, fields.get(T_CLIENT_NAME, b""), data),)
        if self._recorder is not None and self._recorder.enabled:
            self._recorder.record_out(parts)
        if T_NO_WAIT in fields:  # the connection is already closed: only count it
            self._acct.end(outcome, request_bytes, 0, self._function)
            return
        if self._tracing:
            self._trace(b"PktOut: ", *parts)
        keep = False
        try:
            if conn is None:
                write_all(lambda bufs: os.writev(_FAUX_OUT, bufs), parts)
            else:
                self._send(conn.fd, parts)
                keep = T_KEEP_AFFINITY in fields
        except OSError as e:
            if conn is None or e.errno not in _CLIENT_GONE:
                if conn is not None:
                    os.close(conn.fd)
                where = "fd %d" % _FAUX_OUT if conn is None else "the client connection"
                self.fault = Fault(FaultCode.SOCKET_WRITE_FAILED, "writing the response to %s: %s"
                                   % (where, e.strerror), e.errno or 0)
                self._exit_reason = ExitReason.LOST_IO
                self._stop = True
                self._acct.end(_WRITE_ERROR, request_bytes, 0, self._function)
                return
        if conn is not None:
            if keep:
                conn.kept = True
                self._affinity = conn
            else:
                os.close(conn.fd)
        self._acct.end(outcome, request_bytes, len(data), self._function)

    def _response_head(self, request_id: int, client_name: bytes) -> bytes:
        """The response packet's netstrings before the data (``A b [a] s``)."""
        rid = b"%d" % request_id
        if client_name:
            return b"0A,%db%s,%da%s,%s" % (len(rid), rid, len(client_name), client_name, self._service_field)
        return b"0A,%db%s,%s" % (len(rid), rid, self._service_field)

    def _response_packet(self, request_id: int, client_name: bytes, data: Buffer) -> bytes:
        """The response packet without a fault, as one buffer (``A b [a] s [q] z``)."""
        rid = b"%d" % request_id
        if client_name:
            head = b"0A,%db%s,%da%s,%s" % (len(rid), rid, len(client_name), client_name, self._service_field)
        else:
            head = b"0A,%db%s,%s" % (len(rid), rid, self._service_field)
        return b"%s%dq%s,0z\n" % (head, len(data), data) if data else head + b"0z\n"

    def _send(self, fd: int, parts: Sequence[Chunk]) -> None:
        """Write ``parts`` to a non-blocking connection. A client that reads
        nothing for the request-read-timeout (or 5 s) is taken as gone (ETIMEDOUT)."""
        pending: List[memoryview]
        stall = int((self._read_timeout or DEFAULT_REQUEST_READ_TIMEOUT) * 1000)
        if self._plain_writes:
            try:
                if len(parts) == 1:
                    total = len(parts[0])
                    n = os.write(fd, parts[0])
                else:
                    total = sum(map(len, parts))
                    n = os.writev(fd, parts)
            except BlockingIOError:
                n = 0
            if n == total:
                return
            pending = views(parts)
            consume(pending, n)
            if total - n >= _BLOCKING_WRITE:
                self._send_blocking(fd, pending, stall)
                return
        else:
            pending = views(parts)
        poller: Optional[Any] = None
        while pending:
            try:
                if self._plain_writes:
                    n = os.writev(fd, pending)
                else:
                    s = socket.socket(fileno=fd)
                    try:
                        n = s.sendmsg(pending, [], socket.MSG_NOSIGNAL)
                    finally:
                        s.detach()
            except BlockingIOError:
                if poller is None:
                    poller = select.poll()
                    poller.register(fd, select.POLLOUT)
                if not poller.poll(stall):
                    raise OSError(errno.ETIMEDOUT, "the client reads nothing") from None
                continue
            consume(pending, n)

    @staticmethod
    def _send_blocking(fd: int, pending: List[memoryview], stall_ms: int) -> None:
        """Write the rest of a large response with the connection blocking (one
        writev sleeps until the client has taken it all, where a non-blocking
        one would need a poll and a writev per socket buffer's worth). Each
        writev is bounded by SO_SNDTIMEO = the stall time, so a client that
        reads nothing is still taken as gone (ETIMEDOUT)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                            struct.pack("ll", stall_ms // 1000, stall_ms % 1000 * 1000))
            os.set_blocking(fd, True)
            try:
                while pending:
                    try:
                        n = os.writev(fd, pending)
                    except BlockingIOError:  # SO_SNDTIMEO: nothing taken for the stall time
                        raise OSError(errno.ETIMEDOUT, "the client reads nothing") from None
                    consume(pending, n)
            finally:
                os.set_blocking(fd, False)  # an affinity connection reads its next request non-blocking
        finally:
            sock.detach()

    # -- helpers ---------------------------------------------------------------

    def _trace(self, prefix: bytes, *chunks: Chunk) -> None:
        """With ``plutonPacketTrace`` set, write ``<prefix><packet>`` as a line to stderr."""
        if self._tracing:
            packet = b"".join(chunks)
            line = prefix + packet + (b"" if packet.endswith(b"\n") else b"\n")
            try:
                os.write(2, line)
            except OSError:
                pass


def _exception_text(e: BaseException) -> bytes:
    """``<ExceptionClass>: <message>`` (the class alone when the message is empty)."""
    message = str(e)
    name = type(e).__name__
    return (("%s: %s" % (name, message)) if message else name).encode("utf-8", "surrogateescape")


def _not_listening() -> Tuple[int, Any]:
    raise OSError(errno.EBADF, "the service has no listening socket")


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


def _check_standalone() -> None:
    """Stand-alone mode needs fd 3 (requests) and fd 4 (responses), inherited."""
    for fd, what in ((_FAUX_IN, "no request source"), (_FAUX_OUT, "no response sink")):
        try:
            os.fstat(fd)
            inherited = os.get_inheritable(fd)
        except OSError:
            raise Fault(FaultCode.NO_FAUX_STDIN, _NO_SOURCE % (what, fd, "is not open")) from None
        if not inherited:
            raise Fault(FaultCode.NO_FAUX_STDIN, _NO_SOURCE % (what, fd, "is close-on-exec (not inherited)"))


def _open_accept_socket(path: str) -> socket.socket:
    """Accept mode: unlink ``path``, bind and listen(20) there."""
    if not path:
        raise Fault(FaultCode.OPEN_ACCEPT_SOCKET_FAILED,
                    "%s is set but empty: set it to the socket path to listen on, or unset it" % ACCEPT_SOCKET_ENV)
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
        raise Fault(FaultCode.OPEN_ACCEPT_SOCKET_FAILED,
                    "cannot listen at %s (%s): %s" % (path, ACCEPT_SOCKET_ENV, e.strerror), e.errno or 0) from None
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
