<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The fault codes, with the original's numbers: below 0 the SDK's own
 * (system) faults, 0 noFault, 1-10 reserved for faults with a predefined
 * meaning (6 serviceException and 7 serviceUnavailable were added by this
 * project), above 10 a service's own codes.
 *
 * `Pluton\Fault` implements this interface, so `Fault::SERVICE_NOT_FOUND`
 * and `FaultCode::SERVICE_NOT_FOUND` are the same constant.
 */
interface FaultCode
{
    public const NO_FAULT = 0;
    public const DESERIALIZE_FAILED = 1;
    public const UNKNOWN_FUNCTION = 2;
    public const REQUEST_TOO_LARGE = 3;
    public const REMOTE_CONNECT_FAILED = 4;
    public const REMOTE_TRANSFER_FAILED = 5;
    public const SERVICE_EXCEPTION = 6;
    public const SERVICE_UNAVAILABLE = 7;
    public const LAST_RESERVED_USER_FAULT = 10;
    public const ALREADY_INITIALIZED = -1;
    public const NOT_INITIALIZED = -2;
    public const REQUEST_NOT_ADDED = -3;
    public const REQUEST_ALREADY_ADDED = -4;
    public const REQUEST_IN_PROGRESS = -5;
    public const RESPONSE_IN_PROGRESS = -6;
    public const UNIMPLEMENTED = -7;
    public const BAD_REQUEST_LENGTH = -8;
    public const NO_AFFINITY = -9;
    public const NO_WAIT_NOT_ALLOWED = -10;
    public const NEED_NO_RETRY = -11;
    public const OPEN_SOCKET_FAILED = -15;
    public const CONNECT_FAILED = -16;
    public const SOCKET_WRITE_FAILED = -17;
    public const SOCKET_READ_FAILED = -18;
    public const SERVICE_TIMEOUT = -19;
    public const INCOMPLETE_RESPONSE = -20;
    public const RESPONSE_PACKET_FORMAT_ERROR = -21;
    public const CONTEXT_FORMAT_ERROR = -22;
    public const CONTEXT_RESERVED_NAMESPACE = -23;
    public const SETSOCKOPT_FAILED = -24;
    public const FCNTL_FAILED = -25;
    public const SERVICE_NOT_FOUND = -30;
    public const SERVICE_KEY_BAD = -31;
    public const MAP_INITIALIZATION_FAILED = -32;
    public const OPEN_FOR_MMAP_FAILED = -33;
    public const LOOKUP_BUT_NO_MAP = -34;
    public const PERSISTENT_REMAP_FLAG = -35;
    public const EXCEEDED_RETRY_LIMIT = -43;
    public const RETRY_NOT_ALLOWED = -44;
    public const REMOTE_NOT_ALLOWED = -45;
    public const WRITE_EVENT_FOR_WRONG_FD = -46;
    public const READ_EVENT_FOR_WRONG_FD = -47;
    public const WRITE_EVENT_WRONG_STATE = -48;
    public const READ_EVENT_WRONG_STATE = -49;
    public const OPEN_ACCEPT_SOCKET_FAILED = -51;
    public const MMAP_INHERITED_SHM_FD_FAILED = -52;
    public const GET_REQUEST_NOT_NEXT = -53;
    public const ACCEPT_FAILED = -54;
    public const NO_FAUX_STDIN = -55;
    public const WRONG_NS_TYPE = -56;
    public const REQUEST_DECODE_FAILED = -57;
    public const REQUEST_NET_STRING_PARSE_ERROR = -58;
    public const SEND_RESPONSE_NOT_NEXT = -59;
    public const SEND_RAW_RESPONSE_NOT_NEXT = -60;
    public const NET_STRING_TOO_LARGE = -61;
    public const UNEXPECTED_EOF = -62;
    public const BIND_FAILED = -63;
    public const UNLINK_FAILED = -64;
    public const LISTEN_FAILED = -65;
    public const EMPTY_IDENTIFIER = -66;
    public const POLL_INTERRUPTED = -67;
    public const SHM_FSTAT_FAILED = -101;
    public const SHM_MMAP_FAILED = -102;
    public const SHM_VERSION_MISMATCH = -103;
    public const SHM_THREAD_CONFIG_NOT_SERVICE = -104;
    public const SHM_THREAD_SERVICE_NOT_CONFIG = -105;
    public const SHM_PRE_WRITE_FAILED = -106;
    public const SHM_IMPOSSIBLY_SMALL = -107;
    public const SERIOUS_INTERNAL_OS_ERROR = -998;
    public const SERIOUS_INTERNAL_ROUTING_ERROR = -999;
}
