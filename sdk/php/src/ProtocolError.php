<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A malformed netstring or packet. The message is the protocol's own text
 * (docs/protocol.md section 1); isNetStringError() tells a netstring syntax
 * error from a packet structure error.
 */
class ProtocolError extends \RuntimeException
{
    public function __construct(string $message, private bool $netStringError)
    {
        parent::__construct($message);
    }

    public function isNetStringError(): bool
    {
        return $this->netStringError;
    }
}
