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
        0 => ['noFault', 'no fault'],
        1 => ['deserializeFailed', 'the service could not de-serialize the request'],
        2 => ['unknownFunction', 'a wildcard service got a function it does not know'],
        3 => ['requestTooLarge', 'request too large'],
        4 => ['remoteConnectFailed', 'proxy could not reach the remote host'],
        5 => ['remoteTransferFailed', 'proxy transfer failed part-way'],
        10 => ['lastReservedUserFault', 'top of the reserved user range'],
        -1 => ['alreadyInitialized', 'initialize called twice'],
        -2 => ['notInitialized', 'a call made before initialize'],
        -3 => ['requestNotAdded', 'request was never added'],
        -4 => ['requestAlreadyAdded', 'request added twice'],
        -5 => ['requestInProgress', 'request not yet fully sent'],
        -6 => ['responseInProgress', 'response not yet read'],
        -7 => ['unimplemented', 'method not implemented'],
        -8 => ['badRequestLength', 'request length < 0'],
        -9 => ['noAffinity', 'needAffinity without an affinity connection'],
        -10 => ['noWaitNotAllowed', 'noWait together with keepAffinity'],
        -11 => ['needNoRetry', 'keepAffinity requires noRetry'],
        -15 => ['openSocketFailed', 'socket() failed'],
        -16 => ['connectFailed', 'connect() failed'],
        -17 => ['socketWriteFailed', 'socket write failed'],
        -18 => ['socketReadFailed', 'socket read failed'],
        -19 => ['serviceTimeout', 'client timeout expired'],
        -20 => ['incompleteResponse', 'service closed with the response unfinished'],
        -21 => ['responsePacketFormatError', 'response packet invalid'],
        -22 => ['contextFormatError', 'context malformed'],
        -23 => ['contextReservedNamespace', 'context key uses the pluton. prefix'],
        -24 => ['setsockoptFailed', 'setsockopt failed'],
        -25 => ['fcntlFailed', 'fcntl failed'],
        -30 => ['serviceNotFound', 'ServiceKey is not in lookupMap'],
        -31 => ['serviceKeyBad', 'ServiceKey badly formed'],
        -32 => ['mapInitializationFailed', 'could not open the lookup map'],
        -33 => ['openForMmapFailed', 'open() of the lookup map failed'],
        -34 => ['lookupButNoMap', 'lookup attempted with no map'],
        -35 => ['persistentRemapFlag', 'map still flagged stale after re-mapping'],
        -43 => ['exceededRetryLimit', 'retry limit exceeded'],
        -44 => ['retryNotAllowed', 'failed and noRetry set'],
        -45 => ['remoteNotAllowed', 'noRemote request reached a relay'],
        -46 => ['writeEventForWrongFD', 'bad fd given to sendCanWriteEvent'],
        -47 => ['readEventForWrongFD', 'bad fd given to sendCanReadEvent'],
        -48 => ['writeEventWrongState', 'write event in the wrong state'],
        -49 => ['readEventWrongState', 'read event in the wrong state'],
        -51 => ['openAcceptSocketFailed', 'could not open plutonAcceptSocket'],
        -52 => ['mmapInheritedShmFDFailed', 'could not map fd 4'],
        -53 => ['getRequestNotNext', 'getRequest out of sequence'],
        -54 => ['acceptFailed', 'accept() failed'],
        -55 => ['noFauxSTDIN', 'shell mode without fd 3'],
        -56 => ['wrongNSType', 'unexpected netstring type'],
        -57 => ['requestDecodeFailed', 'request packet decode failed'],
        -58 => ['requestNetStringParseError', 'request netstring parse failed'],
        -59 => ['sendResponseNotNext', 'sendResponse out of sequence'],
        -60 => ['sendRawResponseNotNext', 'sendRawResponse out of sequence'],
        -61 => ['netStringTooLarge', 'inbound netstring larger than the buffer may grow'],
        -62 => ['unexpectedEOF', 'EOF mid-packet'],
        -63 => ['bindFailed', 'bind() failed'],
        -64 => ['unlinkFailed', 'unlink of the socket failed'],
        -65 => ['listenFailed', 'listen() failed'],
        -66 => ['emptyIdentifier', 'empty params to openService'],
        -67 => ['pollInterrupted', 'poll returned EINTR'],
        -101 => ['shmFstatFailed', 'fstat of the map fd failed'],
        -102 => ['shmMmapFailed', 'mmap failed'],
        -103 => ['shmVersionMisMatch', 'shared-memory version differs'],
        -104 => ['shmThreadConfigNotService', 'config is threaded but the service is not'],
        -105 => ['shmThreadServiceNotConfig', 'service is threaded but the config is not'],
        -106 => ['shmPreWriteFailed', 'pre-extending the mmap file failed'],
        -107 => ['shmImpossiblySmall', 'lookup map file too small'],
        -998 => ['seriousInternalOSError', 'a system call failed unexpectedly'],
        -999 => ['seriousInternalRoutingError', 'response for the wrong client'],
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
