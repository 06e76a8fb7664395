<?php

declare(strict_types=1);

namespace Pluton;

/**
 * Calls Pluton services by service key.
 *
 *     $client = new Pluton\Client('myApp');              // timeout: 4.0 s
 *     echo $client->call('system.echo.0.raw', 'Hello');  // or throws a Pluton\Fault
 *
 *     $calls = [];
 *     foreach (['a', 'b', 'c'] as $word) {
 *         $calls[$word] = $client->submit('system.echo.0.raw', $word);   // in parallel
 *     }
 *     foreach ($client->asCompleted($calls) as $word => $call) {
 *         echo $word, ' => ', $call->result(), "\n";
 *     }
 *
 * The lookup location is the $lookup given, else env plutonLookupMap, else
 * the first of `<home>/lookup.map` and `/usr/local/var/pluton/lookup.map`
 * that exists (docs/protocol.md section 7.1). It is read at the first call.
 * Timeouts are float seconds; each call has its own deadline, counted from
 * submit().
 */
final class Client
{
    public const DEFAULT_TIMEOUT = 4.0;

    private ClientEngine $engine;

    /**
     * @param string      $name    the client's name; on the wire `<name>:<pid>`
     * @param float       $timeout the default timeout of a call, in seconds
     * @param string|null $lookup  the lookup map file or the rendezvous directory
     */
    public function __construct(
        string $name = '',
        private float $timeout = self::DEFAULT_TIMEOUT,
        ?string $lookup = null
    ) {
        if ($timeout <= 0) {
            throw new \InvalidArgumentException("timeout must be positive, got $timeout");
        }
        $this->engine = new ClientEngine(new Lookup($lookup), $name . ':' . getmypid());
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /** The default timeout of a call, in seconds. */
    public function timeout(): float
    {
        return $this->timeout;
    }

    /**
     * The rendezvous directory.
     *
     * @throws Fault mapInitializationFailed (-32) naming every location tried
     */
    public function rendezvous(): string
    {
        return $this->engine->lookup()->rendezvous();
    }

    /** Writes the client's events to stderr (`CDebug: …`), as env plutonClientDebug does. */
    public function setDebug(bool $on): void
    {
        $this->engine->setDebug($on);
    }

    /**
     * Sends one request and waits for its response.
     *
     * @param array<string,string> $context name => value, sent with the request
     * @param bool                 $noWait  return '' once a service has read the request
     * @return string the response data
     * @throws TimeoutFault when no response came within the timeout
     * @throws ServiceFault when the service (or the manager for it) answered with a fault
     * @throws Fault on any other failure (lookup, connect, a broken response)
     */
    public function call(
        string $key,
        string $data = '',
        ?float $timeout = null,
        array $context = [],
        bool $noWait = false
    ): string {
        return $this->submit($key, $data, $timeout, $context, $noWait)->result();
    }

    /**
     * Starts a request and returns at once: it connects and writes what
     * the socket takes without waiting; the request makes progress in every
     * wait of this client (result(), wait(), asCompleted(), call()).
     *
     * @param array<string,string> $context
     * @throws Fault when the request cannot be sent at all (a bad key, no
     *               lookup map, no such service, a reserved context name)
     */
    public function submit(
        string $key,
        string $data = '',
        ?float $timeout = null,
        array $context = [],
        bool $noWait = false
    ): Call {
        $timeout ??= $this->timeout;
        if ($timeout <= 0) {
            throw new \InvalidArgumentException("timeout must be positive, got $timeout");
        }
        $encoded = '';
        foreach ($context as $name => $value) {
            $name = (string) $name;
            if (str_starts_with($name, 'pluton.')) {
                throw new Fault(
                    Fault::CONTEXT_RESERVED_NAMESPACE,
                    "context name '$name' uses the reserved prefix 'pluton.'"
                );
            }
            $encoded .= Packet::contextPair($name, (string) $value);
        }
        $attrs = $noWait ? Exchange::NO_WAIT : 0;
        $ex = $this->engine->add($key, $data, $timeout, $attrs, $encoded);
        $this->engine->kick($ex);
        return new Call($this->engine, $ex);
    }

    /**
     * Waits until every call is done (each ends by its deadline at the
     * latest) and returns them; their outcomes are in result().
     *
     * @template K of array-key
     * @param array<K,Call> $calls
     * @return array<K,Call>
     */
    public function wait(array $calls): array
    {
        $this->engine->run(static function () use ($calls): bool {
            foreach ($calls as $call) {
                if (!$call->done()) {
                    return false;
                }
            }
            return true;
        });
        return $calls;
    }

    /**
     * Yields the calls as they complete, keyed as given, in order of
     * completion.
     *
     * @template K of array-key
     * @param array<K,Call> $calls
     * @return \Generator<K,Call>
     */
    public function asCompleted(array $calls): \Generator
    {
        $left = $calls;
        while ($left !== []) {
            foreach ($left as $k => $call) {
                if ($call->done()) {
                    unset($left[$k]);
                    yield $k => $call;
                }
            }
            if ($left === []) {
                return;
            }
            $this->engine->run(static function () use ($left): bool {
                foreach ($left as $call) {
                    if ($call->done()) {
                        return true;
                    }
                }
                return false;
            });
        }
    }
}
