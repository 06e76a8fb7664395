<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A complete request packet as read, with where to answer it.
 *
 * @internal
 */
final class Incoming
{
    /**
     * @param array<string,string> $fields   type => payload
     * @param string               $raw      the packet's bytes (kept only for the recorder and tracing)
     * @param float                $startTime when reading it started (microtime)
     * @param Connection|null      $conn     where the response goes (null: stand-alone, or noWait)
     */
    public function __construct(
        public readonly array $fields,
        public readonly string $raw,
        public readonly ?ServiceKey $key,
        public readonly float $startTime,
        public ?Connection $conn
    ) {
    }
}
