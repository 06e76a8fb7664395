<?php

declare(strict_types=1);

namespace Pluton\Coord;

/**
 * An error answered by the manager's coordination server, or a lost
 * connection (code "closed"). Codes: bad_request, no_hello, not_found,
 * limit, too_large, timeout, not_owner, deadlock, conflict, destroyed,
 * shutdown, closed (docs/coordination.md).
 */
class CoordError extends \RuntimeException
{
    public function __construct(private string $errorCode, private string $text)
    {
        parent::__construct("$errorCode: $text");
    }

    /** The error code name, e.g. "limit". */
    public function code(): string
    {
        return $this->errorCode;
    }

    /** What was wrong, naming the object and the limit. */
    public function text(): string
    {
        return $this->text;
    }
}
