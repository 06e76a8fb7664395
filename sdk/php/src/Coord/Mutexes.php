<?php

declare(strict_types=1);

namespace Pluton\Coord;

/** Named mutexes held by the manager, released when their holder dies. */
final class Mutexes
{
    public function __construct(private Coord $c)
    {
    }

    /**
     * Locks, waiting up to $timeout seconds (null: forever); throws
     * CoordTimeout when it passes, CoordError "deadlock" if this instance
     * holds it. Returns a guard that unlocks when it goes out of scope.
     */
    public function lock(string $name, ?float $timeout = null, bool $global = false): Lock
    {
        $this->c->call($this->c->req('mutex.lock', $name, $global) + Coord::ms($timeout));
        return new Lock($this, $name, $global);
    }

    /** Unlocks a mutex this instance holds (CoordError "not_owner" otherwise). */
    public function unlock(string $name, bool $global = false): void
    {
        $this->c->call($this->c->req('mutex.unlock', $name, $global));
    }

    /**
     * Runs $fn holding the mutex and returns its result; unlocks even when
     * $fn throws.
     */
    public function synchronized(string $name, callable $fn, ?float $timeout = null, bool $global = false): mixed
    {
        $lock = $this->lock($name, $timeout, $global);
        try {
            return $fn();
        } finally {
            $lock->unlock();
        }
    }
}
