"""Pluton fault codes and the :class:`Fault` exceptions.

Codes below zero are system faults raised by the libraries, 0 is no fault,
1 to 10 are reserved user faults with predefined meanings, and any other
positive code belongs to the service that sent it. The numbers, names and
descriptions are the original Pluton's (reference §6.5).
"""

from __future__ import annotations

import enum
import os
from typing import Dict, Tuple


class FaultCode(enum.IntEnum):
    """The fault codes of the original Pluton, with the same numbers."""

    NO_FAULT = 0
    DESERIALIZE_FAILED = 1
    UNKNOWN_FUNCTION = 2
    REQUEST_TOO_LARGE = 3
    REMOTE_CONNECT_FAILED = 4
    REMOTE_TRANSFER_FAILED = 5
    SERVICE_EXCEPTION = 6
    SERVICE_UNAVAILABLE = 7
    LAST_RESERVED_USER_FAULT = 10
    ALREADY_INITIALIZED = -1
    NOT_INITIALIZED = -2
    REQUEST_NOT_ADDED = -3
    REQUEST_ALREADY_ADDED = -4
    REQUEST_IN_PROGRESS = -5
    RESPONSE_IN_PROGRESS = -6
    UNIMPLEMENTED = -7
    BAD_REQUEST_LENGTH = -8
    NO_AFFINITY = -9
    NO_WAIT_NOT_ALLOWED = -10
    NEED_NO_RETRY = -11
    OPEN_SOCKET_FAILED = -15
    CONNECT_FAILED = -16
    SOCKET_WRITE_FAILED = -17
    SOCKET_READ_FAILED = -18
    SERVICE_TIMEOUT = -19
    INCOMPLETE_RESPONSE = -20
    RESPONSE_PACKET_FORMAT_ERROR = -21
    CONTEXT_FORMAT_ERROR = -22
    CONTEXT_RESERVED_NAMESPACE = -23
    SETSOCKOPT_FAILED = -24
    FCNTL_FAILED = -25
    SERVICE_NOT_FOUND = -30
    SERVICE_KEY_BAD = -31
    MAP_INITIALIZATION_FAILED = -32
    OPEN_FOR_MMAP_FAILED = -33
    LOOKUP_BUT_NO_MAP = -34
    PERSISTENT_REMAP_FLAG = -35
    EXCEEDED_RETRY_LIMIT = -43
    RETRY_NOT_ALLOWED = -44
    REMOTE_NOT_ALLOWED = -45
    WRITE_EVENT_FOR_WRONG_FD = -46
    READ_EVENT_FOR_WRONG_FD = -47
    WRITE_EVENT_WRONG_STATE = -48
    READ_EVENT_WRONG_STATE = -49
    OPEN_ACCEPT_SOCKET_FAILED = -51
    MMAP_INHERITED_SHM_FD_FAILED = -52
    GET_REQUEST_NOT_NEXT = -53
    ACCEPT_FAILED = -54
    NO_FAUX_STDIN = -55
    WRONG_NS_TYPE = -56
    REQUEST_DECODE_FAILED = -57
    REQUEST_NET_STRING_PARSE_ERROR = -58
    SEND_RESPONSE_NOT_NEXT = -59
    SEND_RAW_RESPONSE_NOT_NEXT = -60
    NET_STRING_TOO_LARGE = -61
    UNEXPECTED_EOF = -62
    BIND_FAILED = -63
    UNLINK_FAILED = -64
    LISTEN_FAILED = -65
    EMPTY_IDENTIFIER = -66
    POLL_INTERRUPTED = -67
    SHM_FSTAT_FAILED = -101
    SHM_MMAP_FAILED = -102
    SHM_VERSION_MIS_MATCH = -103
    SHM_THREAD_CONFIG_NOT_SERVICE = -104
    SHM_THREAD_SERVICE_NOT_CONFIG = -105
    SHM_PRE_WRITE_FAILED = -106
    SHM_IMPOSSIBLY_SMALL = -107
    SERIOUS_INTERNAL_OS_ERROR = -998
    SERIOUS_INTERNAL_ROUTING_ERROR = -999


_C = FaultCode

#: code -> (original name, short English description), reference §6.5.
_DESCRIPTIONS: Dict[int, Tuple[str, str]] = {
    _C.NO_FAULT: ("noFault", "no fault"),
    _C.DESERIALIZE_FAILED: ("deserializeFailed", "the service could not de-serialize the request"),
    _C.UNKNOWN_FUNCTION: ("unknownFunction", "a wildcard service got a function it does not know"),
    _C.REQUEST_TOO_LARGE: ("requestTooLarge", "request too large"),
    _C.REMOTE_CONNECT_FAILED: ("remoteConnectFailed", "proxy could not reach the remote host"),
    _C.REMOTE_TRANSFER_FAILED: ("remoteTransferFailed", "proxy transfer failed part-way"),
    _C.SERVICE_EXCEPTION: ("serviceException", "the service's own code failed"),
    _C.SERVICE_UNAVAILABLE: ("serviceUnavailable", "the service cannot take requests now"),
    _C.LAST_RESERVED_USER_FAULT: ("lastReservedUserFault", "top of the reserved user range"),
    _C.ALREADY_INITIALIZED: ("alreadyInitialized", "initialize called twice"),
    _C.NOT_INITIALIZED: ("notInitialized", "a call made before initialize"),
    _C.REQUEST_NOT_ADDED: ("requestNotAdded", "request was never added"),
    _C.REQUEST_ALREADY_ADDED: ("requestAlreadyAdded", "request added twice"),
    _C.REQUEST_IN_PROGRESS: ("requestInProgress", "request not yet fully sent"),
    _C.RESPONSE_IN_PROGRESS: ("responseInProgress", "response not yet read"),
    _C.UNIMPLEMENTED: ("unimplemented", "method not implemented"),
    _C.BAD_REQUEST_LENGTH: ("badRequestLength", "request length < 0"),
    _C.NO_AFFINITY: ("noAffinity", "needAffinity without an affinity connection"),
    _C.NO_WAIT_NOT_ALLOWED: ("noWaitNotAllowed", "noWait together with keepAffinity"),
    _C.NEED_NO_RETRY: ("needNoRetry", "keepAffinity requires noRetry"),
    _C.OPEN_SOCKET_FAILED: ("openSocketFailed", "socket() failed"),
    _C.CONNECT_FAILED: ("connectFailed", "connect() failed"),
    _C.SOCKET_WRITE_FAILED: ("socketWriteFailed", "socket write failed"),
    _C.SOCKET_READ_FAILED: ("socketReadFailed", "socket read failed"),
    _C.SERVICE_TIMEOUT: ("serviceTimeout", "client timeout expired"),
    _C.INCOMPLETE_RESPONSE: ("incompleteResponse", "service closed with the response unfinished"),
    _C.RESPONSE_PACKET_FORMAT_ERROR: ("responsePacketFormatError", "response packet invalid"),
    _C.CONTEXT_FORMAT_ERROR: ("contextFormatError", "context malformed"),
    _C.CONTEXT_RESERVED_NAMESPACE: ("contextReservedNamespace", "context key uses the pluton. prefix"),
    _C.SETSOCKOPT_FAILED: ("setsockoptFailed", "setsockopt failed"),
    _C.FCNTL_FAILED: ("fcntlFailed", "fcntl failed"),
    _C.SERVICE_NOT_FOUND: ("serviceNotFound", "ServiceKey is not in lookupMap"),
    _C.SERVICE_KEY_BAD: ("serviceKeyBad", "ServiceKey badly formed"),
    _C.MAP_INITIALIZATION_FAILED: ("mapInitializationFailed", "could not open the lookup map"),
    _C.OPEN_FOR_MMAP_FAILED: ("openForMmapFailed", "open() of the lookup map failed"),
    _C.LOOKUP_BUT_NO_MAP: ("lookupButNoMap", "lookup attempted with no map"),
    _C.PERSISTENT_REMAP_FLAG: ("persistentRemapFlag", "map still flagged stale after re-mapping"),
    _C.EXCEEDED_RETRY_LIMIT: ("exceededRetryLimit", "retry limit exceeded"),
    _C.RETRY_NOT_ALLOWED: ("retryNotAllowed", "failed and noRetry set"),
    _C.REMOTE_NOT_ALLOWED: ("remoteNotAllowed", "noRemote request reached a relay"),
    _C.WRITE_EVENT_FOR_WRONG_FD: ("writeEventForWrongFD", "bad fd given to sendCanWriteEvent"),
    _C.READ_EVENT_FOR_WRONG_FD: ("readEventForWrongFD", "bad fd given to sendCanReadEvent"),
    _C.WRITE_EVENT_WRONG_STATE: ("writeEventWrongState", "write event in the wrong state"),
    _C.READ_EVENT_WRONG_STATE: ("readEventWrongState", "read event in the wrong state"),
    _C.OPEN_ACCEPT_SOCKET_FAILED: ("openAcceptSocketFailed", "could not open plutonAcceptSocket"),
    _C.MMAP_INHERITED_SHM_FD_FAILED: ("mmapInheritedShmFDFailed", "could not map fd 4"),
    _C.GET_REQUEST_NOT_NEXT: ("getRequestNotNext", "getRequest out of sequence"),
    _C.ACCEPT_FAILED: ("acceptFailed", "accept() failed"),
    _C.NO_FAUX_STDIN: ("noFauxSTDIN", "shell mode without fd 3"),
    _C.WRONG_NS_TYPE: ("wrongNSType", "unexpected netstring type"),
    _C.REQUEST_DECODE_FAILED: ("requestDecodeFailed", "request packet decode failed"),
    _C.REQUEST_NET_STRING_PARSE_ERROR: ("requestNetStringParseError", "request netstring parse failed"),
    _C.SEND_RESPONSE_NOT_NEXT: ("sendResponseNotNext", "sendResponse out of sequence"),
    _C.SEND_RAW_RESPONSE_NOT_NEXT: ("sendRawResponseNotNext", "sendRawResponse out of sequence"),
    _C.NET_STRING_TOO_LARGE: ("netStringTooLarge", "inbound netstring larger than the buffer may grow"),
    _C.UNEXPECTED_EOF: ("unexpectedEOF", "EOF mid-packet"),
    _C.BIND_FAILED: ("bindFailed", "bind() failed"),
    _C.UNLINK_FAILED: ("unlinkFailed", "unlink of the socket failed"),
    _C.LISTEN_FAILED: ("listenFailed", "listen() failed"),
    _C.EMPTY_IDENTIFIER: ("emptyIdentifier", "empty params to openService"),
    _C.POLL_INTERRUPTED: ("pollInterrupted", "poll returned EINTR"),
    _C.SHM_FSTAT_FAILED: ("shmFstatFailed", "fstat of the map fd failed"),
    _C.SHM_MMAP_FAILED: ("shmMmapFailed", "mmap failed"),
    _C.SHM_VERSION_MIS_MATCH: ("shmVersionMisMatch", "shared-memory version differs"),
    _C.SHM_THREAD_CONFIG_NOT_SERVICE: ("shmThreadConfigNotService", "config is threaded but the service is not"),
    _C.SHM_THREAD_SERVICE_NOT_CONFIG: ("shmThreadServiceNotConfig", "service is threaded but the config is not"),
    _C.SHM_PRE_WRITE_FAILED: ("shmPreWriteFailed", "pre-extending the mmap file failed"),
    _C.SHM_IMPOSSIBLY_SMALL: ("shmImpossiblySmall", "lookup map file too small"),
    _C.SERIOUS_INTERNAL_OS_ERROR: ("seriousInternalOSError", "a system call failed unexpectedly"),
    _C.SERIOUS_INTERNAL_ROUTING_ERROR: ("seriousInternalRoutingError", "response for the wrong client"),
}


def fault_name(code: int) -> str:
    """Return the original symbolic name of ``code`` (``"serviceTimeout"``), or ``""``."""
    return _DESCRIPTIONS.get(code, ("", ""))[0]


def fault_english(code: int) -> str:
    """Return the short English description of ``code``, or ``""`` for a service code."""
    return _DESCRIPTIONS.get(code, ("", ""))[1]


class Fault(Exception):
    """A Pluton fault: a code, a text and, for system faults, an optional errno.

    Service faults carry the code and text the service sent; system faults
    (negative codes) are raised by this library.
    """

    def __init__(self, code: int, text: str = "", errno: int = 0) -> None:
        super().__init__(int(code), text)
        #: The fault code (a :class:`FaultCode` value or a service's own code).
        self.code: int = int(code)
        #: The fault text, e.g. ``"sleep time negative"`` or the key that was not found.
        self.text: str = text
        #: The ``errno`` of the failed system call, or 0.
        self.errno: int = errno

    @property
    def name(self) -> str:
        """The original symbolic name of the code (``"serviceNotFound"``), or ``""``."""
        return fault_name(self.code)

    @property
    def english(self) -> str:
        """The short description of the code, or ``""`` for a service-defined code."""
        return fault_english(self.code)

    @property
    def is_system(self) -> bool:
        """True if the fault was raised by a Pluton library rather than sent by a service."""
        return self.code < 0

    def message(self, pre: str = "", long_format: bool = True) -> str:
        """Format the fault as the original library did::

            [<pre> ]pluton::Fault=<code>[ (<name>:<english>)][ errno=<n>[:<strerror>]][ '<text>']

        The description and the ``strerror`` appear only in the long format.
        """
        parts = []
        if pre:
            parts.append(pre + " ")
        parts.append("pluton::Fault=%d" % self.code)
        if long_format and self.name:
            parts.append(" (%s:%s)" % (self.name, self.english))
        if self.errno > 0:
            parts.append(" errno=%d" % self.errno)
            if long_format:
                parts.append(":" + os.strerror(self.errno))
        if self.text:
            parts.append(" '%s'" % self.text)
        return "".join(parts)

    def __str__(self) -> str:
        return self.message()

    def __repr__(self) -> str:
        return "%s(%d, %r)" % (type(self).__name__, self.code, self.text)


class TimeoutFault(Fault):
    """The client gave up waiting: code ``SERVICE_TIMEOUT`` (-19)."""

    def __init__(self, text: str = "service timeout", errno: int = 0) -> None:
        super().__init__(FaultCode.SERVICE_TIMEOUT, text, errno)


class ServiceFault(Fault):
    """A fault that came back in a response packet: sent by the service (its
    own code and text, or 6 when its code raised) or, for code 7
    ``SERVICE_UNAVAILABLE``, by the manager on the service's behalf."""


    #: The responding instance, ``<name>:<pid>/0``.
    service_name: str = ""
