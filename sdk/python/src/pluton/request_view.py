"""Read-only accessors for the request a service is handling."""

from __future__ import annotations

from typing import Dict, Optional, Union

from .faults import Fault, FaultCode
from .servicekey import ServiceKey
from .wire import ContextError, RequestPacket, parse_context


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class RequestView:
    """The current request's fields. Before the first request (or after a
    failed one) the accessors return empty values."""

    _request: Optional[RequestPacket] = None
    _key: Optional[ServiceKey] = None
    _context: Union[None, Dict[bytes, bytes], Fault] = None

    def _set_request(self, packet: Optional[RequestPacket], key: Optional[ServiceKey]) -> None:
        self._request = packet
        self._key = key
        self._context = None

    @property
    def _packet(self) -> RequestPacket:
        return self._request if self._request is not None else RequestPacket()

    @property
    def service_key(self) -> str:
        """The key exactly as the client wrote it, e.g. ``system.echo.0.raw``."""
        return _text(self._packet.service_key)

    @property
    def application(self) -> str:
        """The Application part of the client's key."""
        return self._key.application if self._key else ""

    @property
    def function(self) -> str:
        """The Function part of the client's key (the real one, for a wildcard service)."""
        return self._key.function if self._key else ""

    @property
    def version(self) -> int:
        """The Version part of the client's key."""
        return self._key.version if self._key else 0

    @property
    def serialization(self) -> str:
        """The Serialization part of the client's key, e.g. ``raw`` or ``JSON``."""
        return self._key.serialization if self._key else ""

    @property
    def client_name(self) -> str:
        """The client's name, ``<name>:<pid>``; empty when the client sent none."""
        return _text(self._packet.client_name)

    @property
    def request_data(self) -> bytes:
        """The request bytes."""
        return self._packet.data

    @property
    def request_id(self) -> int:
        """The client's request id."""
        return self._packet.request_id

    @property
    def timeout_ms(self) -> int:
        """The client's timeout in milliseconds, as it sent it."""
        return self._packet.timeout_ms

    @property
    def no_wait(self) -> bool:
        """True if the client does not wait for the response (it is only counted)."""
        return self._packet.no_wait

    @property
    def no_remote(self) -> bool:
        """True if the request must not be relayed off-host."""
        return self._packet.no_remote

    @property
    def no_retry(self) -> bool:
        """True if the client will not retry the request elsewhere."""
        return self._packet.no_retry

    @property
    def keep_affinity(self) -> bool:
        """True if the client keeps the connection for its next request."""
        return self._packet.keep_affinity

    @property
    def need_affinity(self) -> bool:
        """True if the client requires the affinity connection."""
        return self._packet.need_affinity

    def get_context_bytes(self, key: Union[str, bytes]) -> Optional[bytes]:
        """The raw value of context ``key``, or None. Raises :class:`Fault`
        (``CONTEXT_FORMAT_ERROR``) if the request's context is malformed."""
        if self._context is None:
            try:
                self._context = parse_context(self._packet.context)
            except ContextError as e:
                self._context = Fault(FaultCode.CONTEXT_FORMAT_ERROR, str(e))
        if isinstance(self._context, Fault):
            raise self._context
        k = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key
        return self._context.get(k)

    def get_context(self, key: Union[str, bytes]) -> Optional[str]:
        """The value of context ``key`` as text, or None if the client did not set it."""
        v = self.get_context_bytes(key)
        return None if v is None else _text(v)
