<?php

declare(strict_types=1);

namespace Pluton;

/**
 * An accepted client connection and the packet being read from it.
 *
 * @internal
 */
final class Connection
{
    public readonly PacketDecoder $decoder;
    /** A blocking read of a large payload was tried (SO_RCVTIMEO is set). */
    public bool $waited = false;
    /** SO_SNDTIMEO holds the request read timeout: a blocking write of a response is bounded. */
    public bool $sendBounded = false;

    public function __construct(
        public readonly \Socket $socket,
        bool $keepRaw,
        int $maximumRequestSize,
        public float $startTime,
        public float $deadline
    ) {
        $this->decoder = new PacketDecoder(Packet::REQUEST, $keepRaw, true, $maximumRequestSize);
    }

    public function close(): void
    {
        socket_close($this->socket);
    }
}
