"""One execution of a client request over a non-blocking socket.

An exchange connects (or reuses the request's affinity connection), writes
the request packet, reads the response packet and completes the request. A
failure that may be transient (write, read, truncated or bad response) is
retried once on a new connection to the same socket, unless the request says
``no_retry`` or ``need_affinity``.
"""

from __future__ import annotations

import errno
import selectors
import socket
from typing import Dict, List, Optional, Tuple

from .faults import Fault, FaultCode
from .iov import consume, views
from .parser import ProtocolError, TruncatedPacketError
from .reader import PacketReader
from .request import Request
from .wire import response_from_fields

MAX_ATTEMPTS = 2
_RETRYABLE = (FaultCode.SOCKET_WRITE_FAILED, FaultCode.SOCKET_READ_FAILED,
              FaultCode.INCOMPLETE_RESPONSE, FaultCode.RESPONSE_PACKET_FORMAT_ERROR)

_CONNECTING, _WRITING, _READING, _DONE = range(4)
_INCOMPLETE = "Socket closed with incomplete response"


def connect(path: str) -> Tuple[socket.socket, bool]:
    """A non-blocking connection to the Unix socket at ``path`` and whether it
    is already established (else it is in progress). Raises OSError,
    FileNotFoundError when nothing is there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        err = sock.connect_ex(path)
    except OSError:
        sock.close()
        raise
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        raise OSError(err, "connect %s" % path)
    return sock, err == 0


class Exchange:
    """The state of one request between start and completion."""

    def __init__(self, request: Request, packet: List[bytes], request_id: int,
                 client_name: bytes, path: str, sock: socket.socket, connected: bool,
                 deadline: Optional[float]) -> None:
        self.request = request
        self.deadline = deadline
        self.sock = sock
        self._packet = packet
        self._id = request_id
        self._client_name = client_name
        self._path = path
        self._attempts = 1
        self._reader = PacketReader(b"A", chunk_size=16384)
        self._pending = views(packet)
        self._state = _WRITING if connected else _CONNECTING

    @property
    def done(self) -> bool:
        """True once the request has completed."""
        return self._state == _DONE

    @property
    def events(self) -> int:
        """The selector events this exchange waits for."""
        return selectors.EVENT_READ if self._state == _READING else selectors.EVENT_WRITE

    def proceed(self) -> None:
        """Make all the progress possible without blocking."""
        try:
            if self._state == _CONNECTING:
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.finish(Fault(FaultCode.CONNECT_FAILED, self._path, err))
                    return
                self._state = _WRITING
            if self._state == _WRITING:
                self._write()
            if self._state == _READING:
                self._read()
        except BlockingIOError:
            pass

    def _write(self) -> None:
        try:
            while self._pending:
                consume(self._pending, self.sock.sendmsg(self._pending, [], socket.MSG_NOSIGNAL))
        except BlockingIOError:
            raise
        except OSError as e:
            self._failed(Fault(FaultCode.SOCKET_WRITE_FAILED, self._path, e.errno or 0))
            return
        self._state = _READING
        self._reader.reset(self.sock.recv_into)

    def _read(self) -> None:
        try:
            while True:
                fields = self._reader.step()
                if fields is not None:
                    self._response(fields)
                    return
                if self._reader.eof:
                    if self.request.no_wait:  # the service took the request and closed
                        self.finish(None)
                    else:
                        self._failed(Fault(FaultCode.INCOMPLETE_RESPONSE, _INCOMPLETE))
                    return
        except BlockingIOError:
            raise
        except TruncatedPacketError:
            self._failed(Fault(FaultCode.INCOMPLETE_RESPONSE, _INCOMPLETE))
        except ProtocolError as e:
            self._failed(Fault(FaultCode.RESPONSE_PACKET_FORMAT_ERROR, str(e)))
        except OSError as e:
            self._failed(Fault(FaultCode.SOCKET_READ_FAILED, self._path, e.errno or 0))

    def _response(self, fields: Dict[int, bytes]) -> None:
        resp = response_from_fields(fields)
        if resp.request_id != self._id or resp.client_name != self._client_name:
            self._failed(Fault(FaultCode.RESPONSE_PACKET_FORMAT_ERROR))  # routing mismatch
            return
        r = self.request
        r.service_name = resp.service_name.decode("utf-8", "surrogateescape")
        if resp.fault_code:
            self.finish(Fault(resp.fault_code, resp.fault_text.decode("utf-8", "surrogateescape")),
                        complete_packet=True)
        else:
            r.response_data = resp.data
            self.finish(None, complete_packet=True)

    def _failed(self, fault: Fault) -> None:
        """A possibly transient failure: retry on a new connection, or give up."""
        r = self.request
        if (fault.code in _RETRYABLE and self._attempts < MAX_ATTEMPTS
                and not r.no_retry and not r.need_affinity):
            self._attempts += 1
            self.sock.close()
            r._affinity_socket = None
            try:
                self.sock, connected = connect(self._path)
            except OSError as e:
                self.finish(Fault(FaultCode.CONNECT_FAILED, self._path, e.errno or 0))
                return
            self._pending = views(self._packet)
            self._state = _WRITING if connected else _CONNECTING
            return
        self.finish(fault)

    def finish(self, fault: Optional[Fault], complete_packet: bool = False) -> None:
        """Complete the request. A complete response to a ``keep_affinity``
        request (even a fault) keeps the connection for the request's next use."""
        r = self.request
        r.fault = fault
        if fault is not None:
            r.response_data = b""
        if complete_packet and r.keep_affinity:
            r._affinity_socket = self.sock
        else:
            if r._affinity_socket is self.sock:
                r._affinity_socket = None
            self.sock.close()
        r._in_progress = False
        self._state = _DONE
