<?php

declare(strict_types=1);

namespace Pluton;

/**
 * One request in flight in a ClientEngine, and its outcome once done.
 *
 * @internal
 */
final class Exchange
{
    public const CONNECT = 0;
    public const WRITE = 1;
    public const READ = 2;
    public const DONE = 3;

    public const NO_WAIT = 0x0001;
    public const NO_RETRY = 0x0004;
    public const KEEP_AFFINITY = 0x0008;
    public const NEED_AFFINITY = 0x0010;

    public int $state = self::CONNECT;
    /** @var resource|null */
    public $conn = null;
    /** Connections made (a refused connect may be tried once more). */
    public int $tries = 0;
    public int $written = 0;
    public int $read = 0;
    public ?PacketDecoder $decoder = null;
    /** Do not connect before this time (a full backlog or a refused connection). */
    public ?float $notBefore = null;
    public float $backoff = 0.0002;

    /** The outcome: fault code (0 = a response), text, response data, the answering instance. */
    public int $code = Fault::REQUEST_IN_PROGRESS;
    public string $text = '';
    public string $data = '';
    public string $serviceName = '';
    /** True when the code came in a response packet (a ServiceFault). */
    public bool $fromService = false;

    /**
     * @param resource|null $affinity a kept connection to send on (needAffinity/keepAffinity)
     * @param (\Closure(Exchange):void)|null $onDone called once, when the exchange is done
     */
    public function __construct(
        public readonly string $key,
        public readonly ?ServiceKey $parsedKey,
        public ?string $path,
        public readonly string $packet,
        public readonly string $id,
        public readonly int $attrs,
        public readonly float $timeout,
        public readonly float $deadline,
        public $affinity = null,
        public readonly ?\Closure $onDone = null
    ) {
    }

    public function isDone(): bool
    {
        return $this->state === self::DONE;
    }

    /** The outcome as a Fault, or null for a response. */
    public function fault(): ?Fault
    {
        if ($this->code === Fault::NO_FAULT) {
            return null;
        }
        if ($this->fromService) {
            return new ServiceFault($this->code, $this->text, $this->serviceName);
        }
        return Fault::of($this->code, $this->text);
    }
}
