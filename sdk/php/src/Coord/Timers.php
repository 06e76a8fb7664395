<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** Singleton timers: one instance of the service runs each. */
final class Timers
{
    public function __construct(private Coord $c)
    {
    }

    /**
     * Runs $fn every $seconds in exactly one instance of the service (the
     * manager elects it; when it dies the next takes over within one
     * period). True if this instance owns it now. Every instance must give
     * the same period (CoordError "conflict" otherwise).
     */
    public function every(string $name, float $seconds, callable $fn): bool
    {
        $this->c->setTimer($name, $fn);
        try {
            $r = $this->c->call(['o' => 'timer.every', 'n' => $name, 'e' => (string) (int) round($seconds * 1000)]);
        } catch (CoordError $e) {
            $this->c->setTimer($name, null);
            throw $e;
        }
        return ($r['i'] ?? '') === '1';
    }

    /** Stops this instance's part in the timer. */
    public function cancel(string $name): void
    {
        $this->c->setTimer($name, null);
        $this->c->call(['o' => 'timer.cancel', 'n' => $name]);
    }
}
