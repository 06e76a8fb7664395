<?php

declare(strict_types=1);

namespace Pluton;

/**
 * The client's state of one outstanding request.
 *
 * @internal
 */
final class Exchange
{
    public const CONNECT = 0;
    public const WRITE = 1;
    public const READ = 2;

    public int $state = self::CONNECT;
    /** @var resource|null */
    public $conn = null;
    /** Attempts made on a connection. */
    public int $tries = 0;
    public int $written = 0;
    public int $read = 0;
    public ?PacketDecoder $decoder = null;
    /** Do not connect before this time (a full backlog or a refused connection). */
    public ?float $notBefore = null;
    public float $backoff = 0.0002;
    public bool $refusedOnce = false;

    public function __construct(
        public readonly ClientRequest $request,
        public readonly string $key,
        public readonly ?ServiceKey $parsedKey,
        public ?string $path,
        public readonly string $packet,
        public readonly string $id,
        public readonly int $attrs,
        public readonly float $deadline
    ) {
    }

    /** Retries are allowed unless noRetry or needAffinity is set. */
    public function mayRetry(): bool
    {
        return ($this->attrs & (ClientRequest::NO_RETRY_ATTR | ClientRequest::NEED_AFFINITY_ATTR)) === 0
            && $this->path !== null;
    }
}
