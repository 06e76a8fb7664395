<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The stop signal (SIGTERM, docs/protocol.md section 3.1).
 *
 * The handler (pcntl_async_signals) records the stop and chains to the
 * handler the service had installed before. If the loop is waiting for a
 * request at that moment, also when the signal came just before the wait
 * began, the wait ends at once; otherwise the request in progress is
 * finished first. System calls are restarted (SA_RESTART), so the service's
 * own I/O is not disturbed; the loop's waits end anyway, because select(2)
 * and an accept(2) with SO_RCVTIMEO are never restarted after a handler. After the service has ended, a
 * SIGTERM goes to the service's own handler, or exits 0.
 *
 * @internal
 */
final class SignalWatcher
{
    /** What wait() returns when a stop ended (or prevented) the wait. */
    public const STOPPED = "\0stopped";

    private bool $stop = false;
    private bool $waiting = false;
    private bool $finished = false;
    /** @var callable|null the service's own SIGTERM handler */
    private $previous = null;

    /** Installs the handler; without ext-pcntl SIGTERM keeps its default action. */
    public function install(): void
    {
        if (!function_exists('pcntl_signal')) {
            return;
        }
        $previous = pcntl_signal_get_handler(SIGTERM);
        if (is_callable($previous)) {
            $this->previous = $previous;
        }
        pcntl_async_signals(true);
        pcntl_signal(SIGTERM, $this->handle(...), true);
    }

    /** @internal the signal handler */
    public function handle(int $signo, mixed $info = null): void
    {
        if ($this->finished) {
            if ($this->previous !== null) {
                ($this->previous)($signo, $info);
                return;
            }
            exit(0); // the loop is over: nothing is left to finish
        }
        $this->stop = true;
        if ($this->previous !== null) {
            ($this->previous)($signo, $info);
        }
        if ($this->waiting) {
            $this->waiting = false;
            throw new StopSignal();
        }
    }

    /** Asks the loop to end after the current request, as SIGTERM does. */
    public function requestStop(): void
    {
        $this->stop = true;
    }

    public function stopRequested(): bool
    {
        return $this->stop;
    }

    /** The service has ended: a later SIGTERM is not a stop of the loop. */
    public function finished(): void
    {
        $this->finished = true;
    }

    /**
     * Runs a blocking wait that the stop signal may end.
     *
     * @template T
     * @param callable():T $wait
     * @return T|string the wait's result, or STOPPED
     */
    public function wait(callable $wait): mixed
    {
        try {
            $this->waiting = true;
            if ($this->stop) {
                return self::STOPPED;
            }
            return $wait();
        } catch (StopSignal) {
            return self::STOPPED;
        } finally {
            $this->waiting = false;
        }
    }
}
