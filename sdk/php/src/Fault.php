<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A Pluton fault: a numeric code (FaultCode), its name, and a text.
 *
 * Codes below 0 are system faults raised by this library, 0 is noFault,
 * 1-10 are reserved user faults with predefined meanings and any other
 * positive code belongs to the service that sent it.
 *
 * The client throws it: a fault sent by a service is a ServiceFault, a
 * timeout a TimeoutFault. A handler given to Service::serve() throws it to
 * answer with that fault. getCode() is the fault code, text() the text, and
 * getMessage() the original's long message, e.g.
 * `pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'`.
 */
class Fault extends \RuntimeException implements FaultCode
{
    /** code => [name, English description], the original's names. */
    private const TABLE = [
        0 => ['noFault', 'no fault'],
        1 => ['deserializeFailed', 'the service could not de-serialize the request'],
        2 => ['unknownFunction', 'a wildcard service got a function it does not know'],
        3 => ['requestTooLarge', 'request too large'],
        4 => ['remoteConnectFailed', 'proxy could not reach the remote host'],
        5 => ['remoteTransferFailed', 'proxy transfer failed part-way'],
        6 => ['serviceException', "the service's own code raised an exception"],
        7 => ['serviceUnavailable', 'the service cannot take requests now'],
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

    private string $faultText;

    public function __construct(int $code = self::NO_FAULT, string $text = '', ?\Throwable $previous = null)
    {
        $this->faultText = $text;
        parent::__construct(self::format($code, $text, '', true), $code, $previous);
    }

    /**
     * The fault for a code: a TimeoutFault for serviceTimeout (-19), else a
     * plain Fault.
     */
    public static function of(int $code, string $text = ''): self
    {
        return $code === self::SERVICE_TIMEOUT ? new TimeoutFault($text) : new self($code, $text);
    }

    /** The fault's text: what went wrong, in words. */
    public function text(): string
    {
        return $this->faultText;
    }

    /** The original's name of the code, e.g. "serviceNotFound"; "" for a service's own code. */
    public function name(): string
    {
        return self::nameOf($this->getCode());
    }

    /** True for a client timeout. */
    public function isTimeout(): bool
    {
        return $this->getCode() === self::SERVICE_TIMEOUT;
    }

    /** True unless the code is noFault (0). */
    public function hasFault(): bool
    {
        return $this->getCode() !== self::NO_FAULT;
    }

    /** The original binding's name of getCode(). */
    public function getFaultCode(): int
    {
        return $this->getCode();
    }

    /** The original binding's name of name(). */
    public function getFaultName(): string
    {
        return $this->name();
    }

    /** The original binding's name of text(). */
    public function getFaultText(): string
    {
        return $this->faultText;
    }

    /**
     * The original's message, e.g.
     * `pluton::Fault=-30 (serviceNotFound:ServiceKey is not in lookupMap) 'nosuch.thing.0.raw'`,
     * after `$pre` and a blank. The short format leaves out the part in parentheses.
     */
    public function getMessageLong(string $pre = '', bool $longFormat = true): string
    {
        return self::format($this->getCode(), $this->faultText, $pre, $longFormat);
    }

    /** The original's name of a code, "" for a service's own code. */
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
