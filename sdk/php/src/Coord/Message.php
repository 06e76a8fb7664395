<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** A broadcast message as a handler receives it. */
final class Message
{
    public function __construct(
        public readonly string $name,
        public readonly string $args,
        public readonly string $sender, // the sender's service key
    ) {
    }
}
