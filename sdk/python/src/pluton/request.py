"""The request a service is handling: :class:`Request`."""

from __future__ import annotations

from time import time_ns
from typing import TYPE_CHECKING, Dict, Optional, Union

from .faults import Fault, FaultCode
from .servicekey import ServiceKey
from .wire import (T_CLIENT_NAME, T_CONTEXT, T_KEEP_AFFINITY, T_NEED_AFFINITY, T_NO_REMOTE, T_NO_RETRY,
                   T_NO_WAIT, T_REQUEST_DATA, T_TIMEOUT, ContextError, parse_context, parse_number)

if TYPE_CHECKING:
    from .service import Service

#: What a service may answer with: bytes-like, or text sent as UTF-8.
Data = Union[bytes, bytearray, memoryview, str]
#: Response data as the service writes it: bytes, or a buffer sent without a copy.
Buffer = Union[bytes, bytearray, memoryview]


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class Request:
    """One request received by a :class:`~pluton.Service`.

    It is answered exactly once, with :meth:`respond` or :meth:`fault`
    (the handler form answers with the handler's return value). The request
    is kept as its decoded packet's fields and read on demand, so taking a
    request costs little more than creating this object. The request data
    stays where it was read (the instance's receive buffer) until
    :attr:`data` or :attr:`view` asks for it.
    """

    __slots__ = ("_service", "_fields", "id", "key", "_read_ns", "_context", "answered",
                 "_payload", "_at", "size", "_data")

    def __init__(self, service: "Service", fields: Dict[int, bytes], request_id: int,
                 key: ServiceKey, read_ns: int, payload: Union[bytes, bytearray, None] = None,
                 at: int = 0, size: int = 0) -> None:
        self._service = service
        self._fields = fields
        if payload is None:  # the data, if any, is a field of the packet
            payload = fields.get(T_REQUEST_DATA, b"")
            at, size = 0, len(payload)
        self._payload = payload
        self._at = at
        #: The length of the request data in bytes.
        self.size = size
        self._data: Optional[bytes] = payload if type(payload) is bytes and at == 0 and size == len(payload) else None
        #: The client's request id (the ``b`` field).
        self.id = request_id
        #: The service key the client used (``.application``, ``.function``,
        #: ``.version``, ``.serialization``; ``str(key)`` is the key as sent).
        #: Under a wildcard service the function is the one the client named.
        self.key = key
        self._read_ns = read_ns
        self._context: Union[None, Dict[bytes, bytes], Fault] = None
        #: True once the request has been answered.
        self.answered = False

    @property
    def data(self) -> bytes:
        """The request data, as bytes of its own (copied out of the receive
        buffer on first use; :attr:`view` avoids the copy)."""
        d = self._data
        if d is None:
            with memoryview(self._payload) as whole:
                d = self._data = whole[self._at:self._at + self.size].tobytes()
        return d

    @property
    def view(self) -> memoryview:
        """The request data without a copy: a read-only memoryview of the
        instance's receive buffer (data up to 8 KiB has bytes of its own,
        and this is a view of those). It is valid until the instance reads its
        next request (the buffer is reused then); keep :attr:`data` (or
        ``bytes(view)``) to hold on to the bytes longer. Answering with it
        (``respond(request.view)``, or returning it from a handler) writes
        it to the client without copying it."""
        payload = self._payload
        if type(payload) is bytes:  # read-only already
            return memoryview(payload) if self._at == 0 and self.size == len(payload) else \
                memoryview(payload)[self._at:self._at + self.size]
        return memoryview(payload)[self._at:self._at + self.size].toreadonly()

    @property
    def client_name(self) -> str:
        """The client's name, ``<name>:<pid>``; empty when the client sent none (plTest)."""
        return _text(self._fields.get(T_CLIENT_NAME, b""))

    @property
    def timeout(self) -> Optional[float]:
        """The client's timeout in seconds as it sent it, or None for no limit."""
        ms = parse_number(self._fields.get(T_TIMEOUT, b""))
        return ms / 1000.0 if ms > 0 else None

    @property
    def remaining(self) -> Optional[float]:
        """Seconds left before the client gives up (its timeout counted from when
        this instance started reading the request), never below 0; None when the
        client set no timeout."""
        ms = parse_number(self._fields.get(T_TIMEOUT, b""))
        if ms <= 0:
            return None
        left = self._read_ns + ms * 1_000_000 - time_ns()
        return left / 1e9 if left > 0 else 0.0

    @property
    def no_wait(self) -> bool:
        """True if the client does not wait for the response (it is only counted)."""
        return T_NO_WAIT in self._fields

    @property
    def keep_affinity(self) -> bool:
        """True if the client keeps the connection for its next request."""
        return T_KEEP_AFFINITY in self._fields

    @property
    def need_affinity(self) -> bool:
        """True if the client requires the affinity connection."""
        return T_NEED_AFFINITY in self._fields

    @property
    def no_remote(self) -> bool:
        """True if the request must not be relayed off-host."""
        return T_NO_REMOTE in self._fields

    @property
    def no_retry(self) -> bool:
        """True if the client will not retry the request elsewhere."""
        return T_NO_RETRY in self._fields

    def context(self, name: Union[str, bytes]) -> Optional[str]:
        """The value of context ``name`` as text, or None if the client did not set it.

        Raises :class:`~pluton.Fault` ``CONTEXT_FORMAT_ERROR`` (-22) if the
        request's context is malformed.
        """
        if self._context is None and T_CONTEXT not in self._fields:  # the usual case: no context at all
            return None
        v = self.context_bytes(name)
        return None if v is None else _text(v)

    def context_bytes(self, name: Union[str, bytes]) -> Optional[bytes]:
        """The raw value of context ``name``, or None (see :meth:`context`)."""
        context = self._context
        if context is None:
            if T_CONTEXT not in self._fields:
                return None
            try:
                context = parse_context(self._fields[T_CONTEXT])
            except ContextError as e:
                context = Fault(FaultCode.CONTEXT_FORMAT_ERROR, str(e))
            self._context = context
        if isinstance(context, Fault):
            raise context
        return context.get(name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name)

    def respond(self, data: Data = b"") -> None:
        """Answer with ``data`` (bytes, or text sent as UTF-8).

        Raises :class:`~pluton.Fault` ``SEND_RESPONSE_NOT_NEXT`` if the request
        was already answered. A client that has gone away is not an error.
        """
        self._service._answer(self, 0, b"", data if type(data) is bytes else _to_bytes(data))

    def fault(self, code: int, text: str = "") -> None:
        """Answer with fault ``code`` and ``text`` instead of data. Use codes
        above 10 for your own faults; 1-10 are reserved (see :class:`~pluton.FaultCode`)."""
        self._service._answer(self, int(code), text.encode("utf-8", "surrogateescape"), b"")

    def __repr__(self) -> str:
        return "<pluton.Request %d %s from %r, %d bytes>" % (self.id, self.key, self.client_name, self.size)


def _to_bytes(data: Data) -> Buffer:
    """Response data as written: text encoded as UTF-8, bytes-like data as it
    is (a memoryview of anything but plain bytes is copied to bytes)."""
    if type(data) is memoryview:  # Request.view first: the echo's answer
        return data if data.format == "B" and data.ndim == 1 and data.c_contiguous else data.tobytes()
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, memoryview):
        return data if data.format == "B" and data.ndim == 1 and data.c_contiguous else data.tobytes()
    raise TypeError("response data must be bytes, bytearray, memoryview, str or None, not %s"
                    % type(data).__name__)
