<?php

declare(strict_types=1);

namespace Pluton;

/**
 * One request to a service, as the loop (`foreach ($service as $request)`)
 * or the handler of Service::serve() gets it. Answer it with exactly one
 * of respond() or fault().
 */
final class Request
{
    /** @var array<string,string>|null the decoded context */
    private ?array $context = null;
    private bool $answered = false;

    /**
     * @internal
     * @param \Closure(Request,int,string,string):void $answer
     */
    public function __construct(private Incoming $in, private \Closure $answer)
    {
    }

    /** The request data (bytes). */
    public function data(): string
    {
        return $this->in->fields[Packet::REQUEST_DATA] ?? '';
    }

    /**
     * The service key the client called, with its parts: `(string)` gives
     * `system.echo.0.raw`, and application(), function() (the real function
     * under a wildcard config), version() and serialization() the parts.
     */
    public function key(): ServiceKey
    {
        return $this->in->key ?? ServiceKey::split($this->in->fields[Packet::SERVICE_KEY] ?? '');
    }

    /** The client's name `<name>:<pid>`, '' when the client sent none (plTest). */
    public function clientName(): string
    {
        return $this->in->fields[Packet::CLIENT_NAME] ?? '';
    }

    /** The request id the client chose. */
    public function id(): int
    {
        return Packet::number($this->in->fields[Packet::REQUEST_ID] ?? '');
    }

    /**
     * One context value, or null when the client sent none by that name.
     *
     * @throws Fault contextFormatError (-22) when the client's context is malformed
     */
    public function context(string $name): ?string
    {
        if ($this->context === null) {
            try {
                $this->context = Packet::decodeContext($this->in->fields[Packet::CONTEXT] ?? '');
            } catch (ProtocolError $e) {
                throw new Fault(Fault::CONTEXT_FORMAT_ERROR, $e->getMessage());
            }
        }
        return $this->context[$name] ?? null;
    }

    /**
     * Seconds left until the client gives up on this request (its timeout
     * from the moment reading the request began), at least 0; null when
     * the client set no timeout.
     */
    public function remaining(): ?float
    {
        $ms = Packet::number($this->in->fields[Packet::TIMEOUT_MS] ?? '');
        if ($ms <= 0) {
            return null;
        }
        return max(0.0, $ms / 1000 - (microtime(true) - $this->in->startTime));
    }

    /** True when the client does not wait for the response (it is not sent). */
    public function noWait(): bool
    {
        return isset($this->in->fields[Packet::NO_WAIT]);
    }

    /** True when the client keeps the connection for its next request. */
    public function keepAffinity(): bool
    {
        return isset($this->in->fields[Packet::KEEP_AFFINITY]);
    }

    /** True once respond() or fault() was called. */
    public function answered(): bool
    {
        return $this->answered;
    }

    /**
     * Sends the response data.
     *
     * @throws Fault sendResponseNotNext (-59) when the request was already answered
     */
    public function respond(string $data): void
    {
        $this->claim();
        ($this->answer)($this, 0, '', $data);
    }

    /**
     * Sends a fault instead of a response. Codes 1-10 are reserved (6 is
     * serviceException); use codes above 10 for the service's own faults.
     *
     * @throws Fault sendResponseNotNext (-59) when the request was already answered
     */
    public function fault(int $code, string $text = ''): void
    {
        $this->claim();
        ($this->answer)($this, $code, $text, '');
    }

    /** @internal */
    public function incoming(): Incoming
    {
        return $this->in;
    }

    private function claim(): void
    {
        if ($this->answered) {
            throw new Fault(Fault::SEND_RESPONSE_NOT_NEXT, 'the request was already answered');
        }
        $this->answered = true;
    }
}
