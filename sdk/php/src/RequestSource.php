<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Where a service's requests come from and its responses go: the sockets
 * of manager and accept mode, or fd 3 / fd 4 in stand-alone mode.
 *
 * @internal
 */
interface RequestSource
{
    /** reply(): the response was written (or the client had gone: EPIPE). */
    public const SENT = 0;
    /**
     * reply(): the client took none of its response for the request read
     * timeout; it was dropped (a writeError) and the instance goes on.
     */
    public const STALLED = 1;
    /** reply(): the response could not be written; the instance must stop (lostIO). */
    public const FAILED = 2;

    /**
     * Waits for the next complete request.
     *
     * @return Incoming|null null at the end of input or on the stop signal
     * @throws Fault when requests cannot be read any more (a bad packet in
     *               stand-alone mode, a failed accept)
     */
    public function next(): ?Incoming;

    /**
     * Sends a response packet for $in (nothing for noWait): $packet, then
     * $data and $tail, so that large data is written without a copy.
     *
     * @return int SENT, STALLED or FAILED
     */
    public function reply(Incoming $in, string $packet, string $data = '', string $tail = ''): int;

    /** True while a kept (affinity) connection waits for its next request. */
    public function holdsAffinity(): bool;

    /** Closes every descriptor of the source. */
    public function close(): void;
}
