<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A Pluton fault: a numeric code, its name, and an optional text.
 *
 * Codes below 0 are system faults raised by this library, 0 is noFault,
 * 1-10 are reserved user faults with predefined meanings and any other
 * positive code belongs to the service that sent it.
 *
 * The SDK never throws a Fault by itself: calls return false and keep the
 * Fault, which getFault() returns. It is an exception so that applications
 * can throw it on (`throw $client->getFault()`).
 */
class Fault extends \Exception
{
    public const NO_FAULT = 0;
    public const DESERIALIZE_FAILED = 1;
    public const UNKNOWN_FUNCTION = 2;
    public const REQUEST_TOO_LARGE = 3;
    public const REMOTE_CONNECT_FAILED = 4;
    public const REMOTE_TRANSFER_FAILED = 5;
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

    /** code => [name, English description], the original's names. */
    private const TABLE = [
        0 => ['noFault', 'No fault'],
        1 => ['deserializeFailed', 'Service could not de-serialize the request'],
        2 => ['unknownFunction', 'Service does not know the requested function'],
        3 => ['requestTooLarge', 'Request too large'],
        4 => ['remoteConnectFailed', 'Could not connect to remote host'],
        5 => ['remoteTransferFailed', 'Write to remote socket failed mid-stream'],
        10 => ['lastReservedUserFault', 'Last reserved user fault'],
        -1 => ['alreadyInitialized', 'initialize() has already been called'],
        -2 => ['notInitialized', 'initialize() has not been called'],
        -3 => ['requestNotAdded', 'Request has not been added'],
        -4 => ['requestAlreadyAdded', 'Request has already been added'],
        -5 => ['requestInProgress', 'Request is in progress'],
        -6 => ['responseInProgress', 'Response is in progress'],
        -7 => ['unimplemented', 'Method not implemented'],
        -8 => ['badRequestLength', 'Request length is less than zero'],
        -9 => ['noAffinity', 'needAffinity set but there is no affinity connection'],
        -10 => ['noWaitNotAllowed', 'noWait is not allowed with keepAffinity'],
        -11 => ['needNoRetry', 'keepAffinity requires noRetry'],
        -15 => ['openSocketFailed', 'socket() failed'],
        -16 => ['connectFailed', 'connect() failed'],
        -17 => ['socketWriteFailed', 'Socket write failed'],
        -18 => ['socketReadFailed', 'Socket read failed'],
        -19 => ['serviceTimeout', 'Client timeout expired'],
        -20 => ['incompleteResponse', 'Service closed with the response incomplete'],
        -21 => ['responsePacketFormatError', 'Response packet is invalid'],
        -22 => ['contextFormatError', 'Context is malformed'],
        -23 => ['contextReservedNamespace', "Context key uses the reserved 'pluton.' prefix"],
        -24 => ['setsockoptFailed', 'setsockopt() failed'],
        -25 => ['fcntlFailed', 'fcntl() failed'],
        -30 => ['serviceNotFound', 'ServiceKey is not in lookupMap'],
        -31 => ['serviceKeyBad', 'ServiceKey is badly formed'],
        -32 => ['mapInitializationFailed', 'Could not initialize the lookup map'],
        -33 => ['openForMmapFailed', 'Could not open the lookup map'],
        -34 => ['lookupButNoMap', 'Lookup attempted with no lookup map'],
        -35 => ['persistentRemapFlag', 'Lookup map is persistently stale'],
        -43 => ['exceededRetryLimit', 'Retry limit exceeded'],
        -44 => ['retryNotAllowed', 'Request failed and noRetry is set'],
        -45 => ['remoteNotAllowed', 'noRemote request reached a relay'],
        -46 => ['writeEventForWrongFD', 'Write event for the wrong fd'],
        -47 => ['readEventForWrongFD', 'Read event for the wrong fd'],
        -48 => ['writeEventWrongState', 'Write event in the wrong state'],
        -49 => ['readEventWrongState', 'Read event in the wrong state'],
        -51 => ['openAcceptSocketFailed', 'Could not open plutonAcceptSocket'],
        -52 => ['mmapInheritedShmFDFailed', 'Could not use the inherited stats segment on fd 4'],
        -53 => ['getRequestNotNext', 'getRequest() called while a response is owed'],
        -54 => ['acceptFailed', 'accept() failed'],
        -55 => ['noFauxSTDIN', 'Stand-alone mode but fd 3 is not open'],
        -56 => ['wrongNSType', 'Unexpected netString type'],
        -57 => ['requestDecodeFailed', 'Request packet decode failed'],
        -58 => ['requestNetStringParseError', 'Request netString parse failed'],
        -59 => ['sendResponseNotNext', 'sendResponse() called with no request outstanding'],
        -60 => ['sendRawResponseNotNext', 'sendRawResponse() called with no request outstanding'],
        -61 => ['netStringTooLarge', 'Inbound netString is too large'],
        -62 => ['unexpectedEOF', 'Unexpected EOF in packet'],
        -63 => ['bindFailed', 'bind() failed'],
        -64 => ['unlinkFailed', 'unlink() of the socket failed'],
        -65 => ['listenFailed', 'listen() failed'],
        -66 => ['emptyIdentifier', 'Empty identifier'],
        -67 => ['pollInterrupted', 'poll() was interrupted'],
        -101 => ['shmFstatFailed', 'fstat() of the map failed'],
        -102 => ['shmMmapFailed', 'mmap() failed'],
        -103 => ['shmVersionMisMatch', 'Version mismatch'],
        -104 => ['shmThreadConfigNotService', 'Config is threaded but the service is not'],
        -105 => ['shmThreadServiceNotConfig', 'Service is threaded but the config is not'],
        -106 => ['shmPreWriteFailed', 'Pre-extending the map file failed'],
        -107 => ['shmImpossiblySmall', 'Lookup map file is impossibly small'],
        -998 => ['seriousInternalOSError', 'A system call failed unexpectedly'],
        -999 => ['seriousInternalRoutingError', 'Response for the wrong client'],
    ];

    private int $faultCode;
    private string $faultText;

    public function __construct(int $faultCode = self::NO_FAULT, string $faultText = '', ?\Throwable $previous = null)
    {
        $this->faultCode = $faultCode;
        $this->faultText = $faultText;
        parent::__construct(self::format($faultCode, $faultText, '', false), $faultCode, $previous);
    }

    public function hasFault(): bool
    {
        return $this->faultCode !== self::NO_FAULT;
    }

    public function getFaultCode(): int
    {
        return $this->faultCode;
    }

    /** The original's name of the code, e.g. "serviceNotFound"; "" for a service's own code. */
    public function getFaultName(): string
    {
        return self::nameOf($this->faultCode);
    }

    public function getFaultText(): string
    {
        return $this->faultText;
    }

    /**
     * The original's message, e.g.
     * `pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'`.
     * The short format leaves out the part in parentheses.
     */
    public function getMessageLong(string $pre = '', bool $longFormat = true): string
    {
        return self::format($this->faultCode, $this->faultText, $pre, $longFormat);
    }

    public static function nameOf(int $code): string
    {
        return self::TABLE[$code][0] ?? '';
    }

    public static function englishOf(int $code): string
    {
        return self::TABLE[$code][1] ?? '';
    }

    private static function format(int $code, string $text, string $pre, bool $longFormat): string
    {
        $m = ($pre !== '' ? $pre . ' ' : '') . 'pluton::Fault=' . $code;
        if ($longFormat && isset(self::TABLE[$code])) {
            $m .= ' (' . self::TABLE[$code][0] . ':' . self::TABLE[$code][1] . ')';
        }
        if ($text !== '') {
            $m .= " '" . $text . "'";
        }
        return $m;
    }
}
