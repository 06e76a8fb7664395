<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A netstring's length prefix exceeds maximum-request-size (docs/protocol.md
 * section 8.3). It carries the fields of the packet read so far, so that
 * the fault can name the request id and client.
 *
 * @internal
 */
final class TooLargeError extends ProtocolError
{
    /** @param array<string,string> $fields */
    public function __construct(public readonly int $length, public readonly int $limit, public readonly array $fields)
    {
        parent::__construct("request data of $length bytes exceeds maximum-request-size $limit", false);
    }
}
