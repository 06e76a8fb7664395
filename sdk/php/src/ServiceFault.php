<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A fault that came back in a response packet: sent by the service (its
 * own codes, 1-10, or 6 serviceException for an exception in its code) or
 * by the manager for the service (7 serviceUnavailable).
 * serviceName() names the instance that answered, e.g. `echo:4242/0`.
 */
class ServiceFault extends Fault
{
    public function __construct(int $code, string $text = '', private string $serviceName = '')
    {
        parent::__construct($code, $text);
    }

    /** The `s` field of the response: `<name>:<pid>/0` of the answering instance. */
    public function serviceName(): string
    {
        return $this->serviceName;
    }
}
