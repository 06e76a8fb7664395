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
        return Spec::FAULTS[$code][0] ?? '';
    }

    private static function format(int $code, string $text, string $pre, bool $longFormat): string
    {
        $m = ($pre !== '' ? $pre . ' ' : '') . 'pluton::Fault=' . $code;
        if ($longFormat && isset(Spec::FAULTS[$code])) {
            $m .= ' (' . Spec::FAULTS[$code][0] . ':' . Spec::FAULTS[$code][1] . ')';
        }
        if ($text !== '') {
            $m .= " '" . $text . "'";
        }
        return $m;
    }
}
