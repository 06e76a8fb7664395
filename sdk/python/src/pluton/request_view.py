"""Read-only accessors for the request a service is handling."""

from __future__ import annotations

from typing import Dict, Optional, Union

from .faults import Fault, FaultCode
from .servicekey import ServiceKey
from .wire import (T_CLIENT_NAME, T_CONTEXT, T_KEEP_AFFINITY, T_NEED_AFFINITY, T_NO_REMOTE,
                   T_NO_RETRY, T_NO_WAIT, T_REQUEST_DATA, T_SERVICE_KEY, T_TIMEOUT, ContextError,
                   parse_context, parse_number)

#: The fields of "no request" (before the first one, or after a failed one).
_NO_FIELDS: Dict[int, bytes] = {}
#: The decoded context of a request that has none.
_NO_CONTEXT: Dict[bytes, bytes] = {}


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class RequestView:
    """The current request's fields. Before the first request (or after a
    failed one) the accessors return empty values.

    The request is kept as the decoded packet's fields (type byte -> payload,
    never modified) and read on demand, so that taking a request costs no more
    than storing three references.
    """

    _fields: Dict[int, bytes] = _NO_FIELDS
    _request_id = 0
    _key: Optional[ServiceKey] = None
    #: The decoded context, or the fault decoding it raised; None until the first lookup.
    _context: Union[None, Dict[bytes, bytes], Fault] = _NO_CONTEXT

    def _set_request(self, fields: Dict[int, bytes], request_id: int, key: Optional[ServiceKey]) -> None:
        self._fields = fields
        self._request_id = request_id
        self._key = key
        self._context = None if T_CONTEXT in fields else _NO_CONTEXT

    @property
    def service_key(self) -> str:
        """The key exactly as the client wrote it, e.g. ``system.echo.0.raw``."""
        return _text(self._fields.get(T_SERVICE_KEY, b""))

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
        return _text(self._fields.get(T_CLIENT_NAME, b""))

    @property
    def request_data(self) -> bytes:
        """The request bytes."""
        return self._fields.get(T_REQUEST_DATA, b"")

    @property
    def request_id(self) -> int:
        """The client's request id."""
        return self._request_id

    @property
    def timeout_ms(self) -> int:
        """The client's timeout in milliseconds, as it sent it."""
        return parse_number(self._fields.get(T_TIMEOUT, b""))

    @property
    def no_wait(self) -> bool:
        """True if the client does not wait for the response (it is only counted)."""
        return T_NO_WAIT in self._fields

    @property
    def no_remote(self) -> bool:
        """True if the request must not be relayed off-host."""
        return T_NO_REMOTE in self._fields

    @property
    def no_retry(self) -> bool:
        """True if the client will not retry the request elsewhere."""
        return T_NO_RETRY in self._fields

    @property
    def keep_affinity(self) -> bool:
        """True if the client keeps the connection for its next request."""
        return T_KEEP_AFFINITY in self._fields

    @property
    def need_affinity(self) -> bool:
        """True if the client requires the affinity connection."""
        return T_NEED_AFFINITY in self._fields

    def get_context_bytes(self, key: Union[str, bytes]) -> Optional[bytes]:
        """The raw value of context ``key``, or None. Raises :class:`Fault`
        (``CONTEXT_FORMAT_ERROR``) if the request's context is malformed."""
        context = self._context
        if context is _NO_CONTEXT:
            return None
        if context is None:
            context = self._context = self._decode_context()
        if isinstance(context, Fault):
            raise context
        return context.get(key.encode("utf-8", "surrogateescape") if isinstance(key, str) else key)

    def get_context(self, key: Union[str, bytes]) -> Optional[str]:
        """The value of context ``key`` as text, or None if the client did not set it."""
        if self._context is _NO_CONTEXT:
            return None
        v = self.get_context_bytes(key)
        return None if v is None else _text(v)

    def _decode_context(self) -> Union[Dict[bytes, bytes], Fault]:
        """The request's context pairs, or the fault that a malformed context is."""
        try:
            return parse_context(self._fields.get(T_CONTEXT, b""))
        except ContextError as e:
            return Fault(FaultCode.CONTEXT_FORMAT_ERROR, str(e))
