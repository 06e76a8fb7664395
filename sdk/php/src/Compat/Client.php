<?php

declare(strict_types=1);

namespace Pluton\Compat;

use Pluton\ClientEngine;
use Pluton\Exchange;
use Pluton\Fault;
use Pluton\Lookup;
use Pluton\Version;

/**
 * The original binding's client (`PlutonClient`), a thin layer over the
 * engine of Pluton\Client: add requests, then run them, in parallel, with
 * one of the executeAndWait calls. Calls return false and keep the fault
 * instead of throwing.
 *
 *     $client = new PlutonClient('myApp');
 *     $client->initialize();               // lookup map or rendezvous dir
 *     $r = new PlutonClientRequest();
 *     $r->setRequestData('Hello');
 *     $client->addRequest('system.echo.0.raw', $r);
 *     $client->executeAndWaitAll();
 *     echo $r->hasFault() ? $r->getFault()->getMessageLong() : $r->getResponseData();
 *
 * Timeouts: every request has its own deadline, the client's timeout from
 * the moment it is added; a request still outstanding then completes with
 * serviceTimeout (-19).
 */
class Client
{
    public const DEFAULT_LOOKUP_MAP = Lookup::SYSTEM_LOOKUP_MAP;
    public const LOOKUP_MAP_VERSION = Lookup::LOOKUP_MAP_VERSION;

    private ?ClientEngine $engine = null;
    private ?Fault $fault = null;
    private bool $debug;
    /** @var array<int,array{0:Exchange,1:ClientRequest}> by spl_object_id of the request */
    private array $outstanding = [];
    /** @var array<int,ClientRequest> completed and not yet collected, in order */
    private array $completed = [];

    public function __construct(private string $name = '', private int $timeoutMilliSeconds = 4000)
    {
        $this->debug = getenv('plutonClientDebug') !== false;
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /**
     * Finds the rendezvous directory: $lookupMapPath if non-empty, else env
     * plutonLookupMap, else the default lookup map (docs/protocol.md 7.1).
     * The first success wins; later calls return true.
     */
    public function initialize(string $lookupMapPath = ''): bool
    {
        if ($this->engine !== null) {
            return true;
        }
        $this->fault = null;
        $lookup = new Lookup($lookupMapPath !== '' ? $lookupMapPath : null);
        try {
            $lookup->rendezvous();
        } catch (Fault $f) {
            $this->fault = $f;
            return false;
        }
        $this->engine = new ClientEngine($lookup, $this->name . ':' . getmypid());
        $this->engine->setDebug($this->debug);
        return true;
    }

    /** The rendezvous directory in use, or null before initialize() succeeded. */
    public function getRendezvousDirectory(): ?string
    {
        return $this->engine?->lookup()->rendezvous();
    }

    /** Ends all of this client's outstanding requests; later waits do not return them. */
    public function reset(): void
    {
        foreach ($this->outstanding as [$ex, $request]) {
            $this->engine?->cancel($ex);
            $request->abandoned();
        }
        $this->outstanding = [];
        $this->completed = [];
    }

    /** The timeout of requests added from now on. */
    public function setTimeoutMilliSeconds(int $ms): void
    {
        $this->timeoutMilliSeconds = $ms;
    }

    public function getTimeoutMilliSeconds(): int
    {
        return $this->timeoutMilliSeconds;
    }

    public function setDebug(bool $on): void
    {
        $this->debug = $on;
        $this->engine?->setDebug($on);
    }

    public function hasFault(): bool
    {
        return $this->fault !== null;
    }

    public function getFault(): ?Fault
    {
        return $this->fault;
    }

    public function getFaultCode(): int
    {
        return $this->fault?->getFaultCode() ?? Fault::NO_FAULT;
    }

    public function getFaultMessage(string $pre = '', bool $longFormat = true): string
    {
        return $this->fault?->getMessageLong($pre, $longFormat) ?? '';
    }

    /**
     * Checks and queues a request and starts its clock; no I/O happens
     * until a wait call. On failure it returns false and the fault is on
     * both the client and the request.
     */
    public function addRequest(string $serviceKey, ClientRequest $request): bool
    {
        $this->fault = null;
        if ($this->engine === null) {
            return $this->requestFault($request, new Fault(Fault::NOT_INITIALIZED, 'initialize() has not succeeded'));
        }
        if ($request->inProgress()) {
            $this->fault = new Fault(Fault::REQUEST_ALREADY_ADDED, $serviceKey);
            return false;
        }
        $oid = spl_object_id($request);
        try {
            $ex = $this->engine->add(
                $serviceKey,
                $request->getRequestData(),
                max(1, $this->timeoutMilliSeconds) / 1000,
                $request->attributes(),
                $request->encodedContext(),
                $request->affinity(),
                function (Exchange $ex) use ($oid, $request): void {
                    unset($this->outstanding[$oid]);
                    $request->setAffinity($ex->affinity);
                    $ex->affinity = null;
                    $request->completed($ex->code, $ex->text, $ex->data, $ex->serviceName);
                    $this->completed[$oid] = $request;
                }
            );
        } catch (Fault $f) {
            return $this->requestFault($request, $f);
        }
        if ($request->affinity() !== null) {
            $request->releaseAffinity(); // the exchange owns the connection now
        }
        $request->started($this);
        $this->outstanding[$oid] = [$ex, $request];
        return true;
    }

    /**
     * Runs until every outstanding request has been completely written (or
     * has ended). Returns the number still in progress.
     */
    public function executeAndWaitSent(): int
    {
        $this->engine?->run(function (): bool {
            foreach ($this->outstanding as [$ex]) {
                if ($ex->state < Exchange::READ) {
                    return false;
                }
            }
            return true;
        });
        foreach ($this->outstanding as [$ex, $request]) {
            if ($ex->state === Exchange::READ) {
                $request->written();
            }
        }
        return count($this->outstanding);
    }

    /**
     * Runs until nothing is outstanding and returns the number of completed
     * requests it collected (those not already collected by
     * executeAndWaitAny or executeAndWaitOne).
     */
    public function executeAndWaitAll(): int
    {
        $this->engine?->run(fn (): bool => $this->outstanding === []);
        $n = count($this->completed);
        $this->completed = [];
        return $n;
    }

    /**
     * Returns a completed request that has not been collected yet, waiting
     * for one if need be, in order of completion; null when nothing is
     * outstanding or uncollected.
     */
    public function executeAndWaitAny(): ?ClientRequest
    {
        if ($this->completed === [] && $this->outstanding !== []) {
            $this->engine?->run(fn (): bool => $this->completed !== []);
        }
        $oid = array_key_first($this->completed);
        if ($oid === null) {
            return null;
        }
        $request = $this->completed[$oid];
        unset($this->completed[$oid]);
        return $request;
    }

    /**
     * Waits for $request and collects it: 1 once it has completed; 0 if it
     * is neither outstanding nor uncollected here (the client's fault is
     * then requestNotAdded).
     */
    public function executeAndWaitOne(ClientRequest $request): int
    {
        $oid = spl_object_id($request);
        if (!isset($this->outstanding[$oid]) && !isset($this->completed[$oid])) {
            $this->fault = new Fault(Fault::REQUEST_NOT_ADDED);
            return 0;
        }
        $this->engine?->run(fn (): bool => !isset($this->outstanding[$oid]));
        unset($this->completed[$oid]);
        return 1;
    }

    /** @internal ClientRequest::reset() */
    public function forget(ClientRequest $request): void
    {
        $oid = spl_object_id($request);
        if (isset($this->outstanding[$oid])) {
            $this->engine?->cancel($this->outstanding[$oid][0]);
            unset($this->outstanding[$oid]);
        }
        unset($this->completed[$oid]);
    }

    private function requestFault(ClientRequest $request, Fault $f): bool
    {
        $request->completed($f->getCode(), $f->text(), '', '');
        $this->fault = $f;
        if ($this->debug) {
            @fwrite(STDERR, 'CDebug: ' . $f->getMessageLong() . "\n");
        }
        return false;
    }
}
