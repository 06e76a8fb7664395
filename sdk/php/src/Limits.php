<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The service loop's limits (docs/protocol.md section 8): from the stats
 * segment's header in manager mode, else the defaults.
 *
 * @internal
 */
final class Limits
{
    public const DEFAULT_REQUEST_READ_TIMEOUT = 5.0;
    public const DEFAULT_MAXIMUM_REQUEST_SIZE = 67108864;
    public const DEFAULT_MAXIMUM_PENDING = 64;
    public const DEFAULT_AFFINITY_TIMEOUT = 60.0;

    /**
     * @param float $requestReadTimeout seconds to read a whole request (0 = no limit)
     * @param int   $maximumRequestSize the largest netstring length (0 = no limit)
     * @param int   $maximumPending     incomplete connections held at once
     * @param float $affinityTimeout    seconds a kept connection waits for its next request
     */
    public function __construct(
        public readonly float $requestReadTimeout = self::DEFAULT_REQUEST_READ_TIMEOUT,
        public readonly int $maximumRequestSize = self::DEFAULT_MAXIMUM_REQUEST_SIZE,
        public readonly int $maximumPending = self::DEFAULT_MAXIMUM_PENDING,
        public readonly float $affinityTimeout = self::DEFAULT_AFFINITY_TIMEOUT
    ) {
    }

    /** The limits a stats segment's header sets (0 = no limit, except maximumPending: 0 = the default). */
    public static function fromSegment(StatsSegment $s): self
    {
        return new self(
            $s->requestReadTimeout() / 1000,
            $s->maximumRequestSize(),
            $s->maximumPending() > 0 ? $s->maximumPending() : self::DEFAULT_MAXIMUM_PENDING,
            $s->affinityTimeout() > 0 ? (float) $s->affinityTimeout() : self::DEFAULT_AFFINITY_TIMEOUT
        );
    }
}
