<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A call that got no response within its timeout: code serviceTimeout (-19).
 */
class TimeoutFault extends Fault
{
    public function __construct(string $text = 'service timeout', ?\Throwable $previous = null)
    {
        parent::__construct(self::SERVICE_TIMEOUT, $text, $previous);
    }
}
