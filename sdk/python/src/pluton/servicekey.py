"""Service keys: ``Application.Function.Version.Serialization``.

A key names a service and, in the rendezvous directory, a file, so besides the
original's rules a '/' or a NUL byte in any part is rejected. Lengths are
counted in bytes (UTF-8), as the original counted them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

#: The serializations a key may name (case-sensitive; note the lower-case ``raw``).
SERIALIZATIONS = ("COBOL", "HTML", "JMS", "JSON", "NETSTRING", "PHP", "SOAP", "XML", "raw")


class ServiceKeyError(ValueError):
    """A key that does not parse; ``reason`` is the original's message."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class ServiceKey:
    """A parsed service key. ``function`` is empty only for a wildcard config name."""

    application: str
    function: str
    version: int
    serialization: str

    @classmethod
    def parse(cls, key: Union[str, bytes], client: bool = True) -> "ServiceKey":
        """Parse ``key``; raise :class:`ServiceKeyError` if it breaks a rule.

        With ``client=False`` (configuration file names) an empty Function,
        the wildcard ``App..Ver.Ser``, is allowed.
        """
        raw = key.encode("utf-8", "surrogateescape") if isinstance(key, str) else bytes(key)
        reason = _check(raw, client)
        if reason:
            raise ServiceKeyError(_text(raw), reason)
        app, fn, ver, ser = raw.split(b".")
        return cls(_text(app), _text(fn), int(ver), _text(ser))

    def __str__(self) -> str:
        return "%s.%s.%d.%s" % (self.application, self.function, self.version, self.serialization)

    @property
    def is_wildcard(self) -> bool:
        """True for a key with an empty Function (``App..Ver.Ser``)."""
        return self.function == ""

    def wildcard(self) -> "ServiceKey":
        """Return this key with its Function emptied: the wildcard that may serve it."""
        return ServiceKey(self.application, "", self.version, self.serialization)


def _check(raw: bytes, client: bool) -> str:
    """Return why ``raw`` is not a valid key, or ``""``."""
    parts = raw.split(b".")
    if len(parts) < 4:
        return "need four dot-separated tokens"
    if len(parts) > 4:
        return "more than four dot-separated tokens"
    if b"/" in raw:
        return "contains '/'"
    if b"\0" in raw:
        return "contains a NUL byte"
    app, fn, ver, ser = parts
    if not 1 <= len(app) <= 32:
        return "Application Name length is not in the range 1-32 characters"
    if client and not fn:
        return "Service Function is zero length"
    if len(fn) > 32:
        return "Service Function length is greater than 32 characters"
    if not 1 <= len(ver) <= 6:
        return "Service Version length is not in the range 1-6 characters"
    if len(ver) > 1 and ver[:1] == b"0":
        return "version has ambiguous leading zero"
    if not all(0x30 <= c <= 0x39 for c in ver):
        return "version is not a positive integer"
    if not ser:
        return "serialization is zero length"
    if _text(ser) not in SERIALIZATIONS:
        return "serialization type is unrecognized"
    return ""
