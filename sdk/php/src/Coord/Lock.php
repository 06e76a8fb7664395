<?php

declare(strict_types=1);

namespace Pluton\Coord;

/**
 * A held mutex: unlock() it, or let it go out of scope (the destructor
 * unlocks), or use Mutexes::synchronized().
 */
final class Lock
{
    private bool $held = true;

    public function __construct(private Mutexes $mutexes, public readonly string $name, private bool $global)
    {
    }

    public function held(): bool
    {
        return $this->held;
    }

    public function unlock(): void
    {
        if ($this->held) {
            $this->held = false;
            $this->mutexes->unlock($this->name, global: $this->global);
        }
    }

    public function __destruct()
    {
        if ($this->held) {
            try {
                $this->unlock();
            } catch (CoordError) {
                // the connection is gone: the manager released the mutex already
            }
        }
    }
}
