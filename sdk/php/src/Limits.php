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
    /** select(2) takes descriptors below 1024: the pending set stays well under that. */
    public const MAXIMUM_PENDING_CAP = 900;

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

    /**
     * The limits a stats segment's header sets (0 = no limit, except
     * maximumPending: 0 = the default; it is capped at 900, as socket_select
     * handles descriptors below 1024 only).
     */
    public static function fromSegment(StatsSegment $s): self
    {
        return new self(
            $s->requestReadTimeout() / 1000,
            $s->maximumRequestSize(),
            $s->maximumPending() > 0
                ? min($s->maximumPending(), self::MAXIMUM_PENDING_CAP)
                : self::DEFAULT_MAXIMUM_PENDING,
            $s->affinityTimeout() > 0 ? (float) $s->affinityTimeout() : self::DEFAULT_AFFINITY_TIMEOUT
        );
    }
}
