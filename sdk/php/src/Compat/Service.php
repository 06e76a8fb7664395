<?php

declare(strict_types=1);

namespace Pluton\Compat;

use Pluton\Fault;
use Pluton\Request;
use Pluton\Service as NativeService;
use Pluton\ServiceKey;
use Pluton\Version;

/**
 * The original binding's service (`PlutonService`), a thin layer over
 * Pluton\Service: calls return false and keep the fault instead of
 * throwing, so services written for the original run unchanged.
 *
 *     $svc = new PlutonService('echo');
 *     if (!$svc->initialize()) { exit(42); }
 *     while ($svc->getRequest()) {
 *         $svc->sendResponse($svc->getRequestData());
 *     }
 *     $svc->terminate();
 */
class Service
{
    public const MODE_NONE = NativeService::MODE_NONE;
    public const MODE_MANAGER = NativeService::MODE_MANAGER;
    public const MODE_ACCEPT = NativeService::MODE_ACCEPT;
    public const MODE_STANDALONE = NativeService::MODE_STANDALONE;

    private NativeService $service;
    private ?Request $request = null;
    private ?Fault $fault = null;

    /** @param string $name goes into the response's service name `<name>:<pid>/0` */
    public function __construct(string $name = '')
    {
        $this->service = new NativeService($name);
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /** The native service underneath (for onStop() and the like). */
    public function service(): NativeService
    {
        return $this->service;
    }

    /** Picks the mode and prepares it. False with a fault on failure (-1 on a second call). */
    public function initialize(): bool
    {
        $this->fault = null;
        try {
            $this->service->initialize();
            return true;
        } catch (Fault $f) {
            return $this->fail($f);
        }
    }

    /** The mode initialize() chose: one of the MODE_ constants. */
    public function getMode(): int
    {
        return $this->service->mode();
    }

    /**
     * Waits for the next request. False means stop: call terminate() and
     * exit. False without a fault is a normal stop (SIGTERM, the request
     * limit, the end of stand-alone input).
     */
    public function getRequest(): bool
    {
        if ($this->service->mode() === NativeService::MODE_NONE) {
            return $this->fail(new Fault(Fault::NOT_INITIALIZED, 'initialize() has not succeeded'));
        }
        if ($this->request !== null && !$this->request->answered()) {
            return $this->fail(new Fault(Fault::GET_REQUEST_NOT_NEXT, 'the current request has not been answered'));
        }
        $this->request = null;
        if ($this->service->writeFault() === null) {
            $this->fault = null;
        }
        try {
            $this->request = $this->service->next();
        } catch (Fault $f) {
            return $this->fail($f);
        }
        return $this->request !== null;
    }

    /** Sends the response data for the current request. */
    public function sendResponse(string $data): bool
    {
        return $this->send(static fn (Request $r) => $r->respond($data));
    }

    /**
     * Sends a fault for the current request. Codes 1-10 are reserved; use
     * codes above 10 for the service's own faults.
     */
    public function sendFault(int $faultCode, string $faultText): bool
    {
        return $this->send(static fn (Request $r) => $r->fault($faultCode, $faultText));
    }

    /**
     * Ends the service: closes the sockets, marks the stats slot stopping
     * and sends the final report. It runs at script shutdown too, and only
     * once.
     */
    public function terminate(): void
    {
        $this->service->terminate();
    }

    /** The client's service key of the current request, e.g. `system.echo.0.raw`. */
    public function getServiceKey(): string
    {
        return $this->request !== null ? (string) $this->request->key() : '';
    }

    public function getServiceApplication(): string
    {
        return $this->request?->key()->application ?? '';
    }

    /** The function the client asked for (a wildcard service reads the real one here). */
    public function getServiceFunction(): string
    {
        return $this->request?->key()->function ?? '';
    }

    public function getServiceVersion(): int
    {
        return $this->request?->key()->version() ?? 0;
    }

    /** The serialization as the original's char code, e.g. 114 (`r`) for raw; see ServiceKey. */
    public function getSerializationType(): int
    {
        return $this->request?->key()->serializationCode() ?? ServiceKey::SERIALIZATION_UNKNOWN;
    }

    /** True when the client asked not to wait: the connection is already closed. */
    public function getNoWait(): bool
    {
        return $this->request?->noWait() ?? false;
    }

    /** True when the client keeps the connection for its next request. */
    public function getKeepAffinity(): bool
    {
        return $this->request?->keepAffinity() ?? false;
    }

    /** The client's name `<name>:<pid>`, empty when the client sent none. */
    public function getClientName(): string
    {
        return $this->request?->clientName() ?? '';
    }

    public function getRequestData(): string
    {
        return $this->request?->data() ?? '';
    }

    /**
     * A context value of the current request, or null when absent. A
     * malformed context gives null and the fault contextFormatError (-22).
     */
    public function getContext(string $key): ?string
    {
        try {
            return $this->request?->context($key);
        } catch (Fault $f) {
            $this->fault = $f;
            return null;
        }
    }

    public function hasFault(): bool
    {
        return $this->fault !== null && $this->fault->hasFault();
    }

    public function getFault(): ?Fault
    {
        return $this->fault;
    }

    /** @param callable(Request):void $answer */
    private function send(callable $answer): bool
    {
        if ($this->request === null || $this->request->answered()) {
            return $this->fail(new Fault(Fault::SEND_RESPONSE_NOT_NEXT, 'no request to answer'));
        }
        try {
            $answer($this->request);
        } catch (Fault $f) {
            return $this->fail($f);
        }
        $f = $this->service->writeFault();
        return $f === null || $this->fail($f);
    }

    private function fail(Fault $f): bool
    {
        $this->fault = $f;
        return false;
    }
}
