<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** Broadcast messages. */
final class Messages
{
    public function __construct(private Coord $c)
    {
    }

    /**
     * Sends to every instance (this one included) of the services whose key
     * matches $pattern (a shell pattern; '' for this service); returns how
     * many instances it reached.
     */
    public function broadcast(string $pattern, string $name, string $args = ''): int
    {
        $f = $this->c->req('msg.broadcast', $name, false) + ['x' => $pattern, 'v' => $args];
        return (int) $this->c->call($f)['i'];
    }

    /**
     * Handles the messages named $name ('*': all without a handler of their
     * own) with fn(Message); null removes the handler. Handlers run in
     * Coord::poll(), which the service loop calls between requests.
     */
    public function on(string $name, ?callable $fn): void
    {
        $this->c->setHandler($name, $fn);
    }
}
