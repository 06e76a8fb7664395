<?php

declare(strict_types=1);

namespace Pluton\Compat;

use Pluton\Fault;
use Pluton\Packet;

/**
 * The original binding's request object (`PlutonClientRequest`): one
 * request and, once it completes, its response. A request object can be
 * reused once it has completed; an affinity connection belongs to it.
 * New code uses Pluton\Client::call() / submit() instead.
 */
class ClientRequest
{
    public const NO_WAIT_ATTR = 0x0001;
    public const NO_REMOTE_ATTR = 0x0002;
    public const NO_RETRY_ATTR = 0x0004;
    public const KEEP_AFFINITY_ATTR = 0x0008;
    public const NEED_AFFINITY_ATTR = 0x0010;
    public const ALL_ATTR = 0xFFFF;

    private const RESERVED_PREFIX = 'pluton.';

    private string $data = '';
    private int $attributes = 0;
    private string $context = '';
    private string $response = '';
    private int $faultCode = Fault::REQUEST_NOT_ADDED;
    private string $faultText = '';
    private string $serviceName = '';
    private mixed $clientHandle = null;
    private ?Client $client = null;
    /** @var resource|null the connection kept by keepAffinity */
    private $affinity = null;

    /**
     * Clears data, context, attributes, response and fault, closes an
     * affinity connection and takes the request off its client.
     */
    public function reset(): void
    {
        $this->client?->forget($this);
        $this->client = null;
        $this->data = '';
        $this->attributes = 0;
        $this->context = '';
        $this->response = '';
        $this->faultCode = Fault::REQUEST_NOT_ADDED;
        $this->faultText = '';
        $this->serviceName = '';
        $this->setAffinity(null);
    }

    public function setRequestData(string $data): void
    {
        $this->data = $data;
    }

    public function getRequestData(): string
    {
        return $this->data;
    }

    /** Sets attribute bits (the _ATTR constants); they persist until cleared. */
    public function setAttribute(int $attributes): void
    {
        $this->attributes |= $attributes;
    }

    public function clearAttribute(int $attributes): void
    {
        $this->attributes &= ~$attributes;
    }

    /** True if any bit of the mask is set (as the original). */
    public function getAttribute(int $mask): bool
    {
        return ($this->attributes & $mask) !== 0;
    }

    /**
     * Adds a context pair. Keys starting with `pluton.` are reserved: false,
     * and the request's fault becomes contextReservedNamespace.
     */
    public function setContext(string $key, string $value): bool
    {
        if (str_starts_with($key, self::RESERVED_PREFIX)) {
            $this->faultCode = Fault::CONTEXT_RESERVED_NAMESPACE;
            $this->faultText = "Context Key uses reserved prefix of '" . self::RESERVED_PREFIX . "'";
            return false;
        }
        $this->context .= Packet::contextPair($key, $value);
        return true;
    }

    /** The response data; empty on a fault. */
    public function getResponseData(): string
    {
        return $this->response;
    }

    /** True between addRequest() and completion. */
    public function inProgress(): bool
    {
        return $this->client !== null;
    }

    public function hasFault(): bool
    {
        return $this->faultCode !== Fault::NO_FAULT;
    }

    public function getFaultCode(): int
    {
        return $this->faultCode;
    }

    public function getFaultText(): string
    {
        return $this->faultText;
    }

    public function getFault(): ?Fault
    {
        return $this->hasFault() ? new Fault($this->faultCode, $this->faultText) : null;
    }

    /** The service's name from the response, e.g. `echo:26429/0`. */
    public function getServiceName(): string
    {
        return $this->serviceName;
    }

    public function setClientHandle(mixed $handle): void
    {
        $this->clientHandle = $handle;
    }

    public function getClientHandle(): mixed
    {
        return $this->clientHandle;
    }

    // -- used by Client ---------------------------------------------------

    /** @internal */
    public function encodedContext(): string
    {
        return $this->context;
    }

    /** @internal */
    public function attributes(): int
    {
        return $this->attributes;
    }

    /** @internal */
    public function started(Client $client): void
    {
        $this->client = $client;
        $this->response = '';
        $this->serviceName = '';
        $this->faultCode = Fault::REQUEST_IN_PROGRESS;
        $this->faultText = '';
    }

    /** @internal the whole request has been written */
    public function written(): void
    {
        $this->faultCode = Fault::NO_FAULT;
    }

    /** @internal */
    public function completed(int $faultCode, string $faultText, string $response, string $serviceName): void
    {
        $this->client = null;
        $this->faultCode = $faultCode;
        $this->faultText = $faultText;
        $this->response = $faultCode === Fault::NO_FAULT ? $response : '';
        $this->serviceName = $serviceName;
    }

    /** @internal */
    public function abandoned(): void
    {
        $this->client = null;
        $this->faultCode = Fault::REQUEST_NOT_ADDED;
        $this->faultText = '';
    }

    /**
     * @internal
     * @return resource|null
     */
    public function affinity()
    {
        return $this->affinity;
    }

    /** @internal the connection now belongs to a request in flight: forget it without closing */
    public function releaseAffinity(): void
    {
        $this->affinity = null;
    }

    /**
     * @internal keeps $conn as the affinity connection (null ends affinity).
     * @param resource|null $conn
     */
    public function setAffinity($conn): void
    {
        if ($this->affinity !== null && $this->affinity !== $conn && is_resource($this->affinity)) {
            fclose($this->affinity);
        }
        $this->affinity = $conn;
    }

    public function __destruct()
    {
        $this->setAffinity(null);
    }
}
