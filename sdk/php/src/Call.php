<?php

declare(strict_types=1);

namespace Pluton;

/**
 * One request submitted with Client::submit(), and its outcome.
 */
final class Call
{
    /** @internal */
    public function __construct(private ClientEngine $engine, private Exchange $exchange)
    {
    }

    /** The service key called. */
    public function key(): string
    {
        return $this->exchange->key;
    }

    /** True once the response (or fault) is in. */
    public function done(): bool
    {
        return $this->exchange->isDone();
    }

    /**
     * The response data, waiting for it if need be.
     *
     * @throws TimeoutFault|ServiceFault|Fault as Client::call()
     */
    public function result(): string
    {
        $this->wait();
        $fault = $this->exchange->fault();
        if ($fault !== null) {
            throw $fault;
        }
        return $this->exchange->data;
    }

    /** The fault, waiting for the outcome if need be; null for a response. */
    public function fault(): ?Fault
    {
        $this->wait();
        return $this->exchange->fault();
    }

    /** The answering instance, `<name>:<pid>/0` ('' when none answered). */
    public function serviceName(): string
    {
        $this->wait();
        return $this->exchange->serviceName;
    }

    /** Abandons the call: its connection is closed and result() is a fault -3 requestNotAdded. */
    public function cancel(): void
    {
        if (!$this->exchange->isDone()) {
            $this->engine->cancel($this->exchange);
            $this->exchange->code = Fault::REQUEST_NOT_ADDED;
            $this->exchange->text = 'the call was cancelled';
        }
    }

    private function wait(): void
    {
        if (!$this->exchange->isDone()) {
            $ex = $this->exchange;
            $this->engine->run(static fn (): bool => $ex->isDone());
        }
    }
}
