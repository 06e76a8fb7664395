<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** Counting semaphores held by the manager. */
final class Semaphores
{
    public function __construct(private Coord $c)
    {
    }

    /**
     * Creates the semaphore; false if it existed (then unchanged). The
     * operations of an instance on a protected semaphore are reverted when
     * it exits, kill -9 included.
     */
    public function create(string $name, int $initial = 0, bool $protected = true, bool $global = false): bool
    {
        $f = $this->c->req('sem.create', $name, $global) + ['i' => (string) $initial];
        if ($protected) {
            $f['P'] = '';
        }
        return ($this->c->call($f)['i'] ?? '') === '1';
    }

    /** Adds one; the new value. */
    public function increment(string $name, bool $global = false): int
    {
        return (int) $this->c->call($this->c->req('sem.increment', $name, $global))['i'];
    }

    /**
     * Subtracts one; the new value, or -1 when the value is 0 and $wait is
     * false, or the timeout (seconds, null: none) passed first.
     */
    public function decrement(string $name, bool $wait = false, ?float $timeout = null, bool $global = false): int
    {
        $f = $this->c->req('sem.decrement', $name, $global);
        if ($wait) {
            $f += ['w' => ''] + Coord::ms($timeout);
        }
        return (int) $this->c->call($f)['i'];
    }

    /** The current value. */
    public function get(string $name, bool $global = false): int
    {
        return (int) $this->c->call($this->c->req('sem.get', $name, $global))['i'];
    }

    /** Removes the semaphore; false if there was none. */
    public function destroy(string $name, bool $global = false): bool
    {
        return ($this->c->call($this->c->req('sem.destroy', $name, $global))['i'] ?? '') === '1';
    }
}
