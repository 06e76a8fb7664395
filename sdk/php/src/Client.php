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
 *
 * A key with no local socket goes to the local manager's remote gateway
 * (`<R>/plutonRemote.socket`, a manager started with -N), which relays it
 * to a host serving it on NATS, unless $noRemote; submitJob() and
 * jobResult() run durable jobs through the same gateway (docs/remote.md).
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
     * @param bool                 $noRemote never send it to another host: a key not served
     *                                       locally fails at once with serviceNotFound (-30)
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
        bool $noWait = false,
        bool $noRemote = false
    ): string {
        return $this->submit($key, $data, $timeout, $context, $noWait, $noRemote)->result();
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
        bool $noWait = false,
        bool $noRemote = false
    ): Call {
        $timeout = $this->checkTimeout($timeout);
        $encoded = self::encodeContext($context);
        $attrs = ($noWait ? Exchange::NO_WAIT : 0) | ($noRemote ? 0x0002 : 0);
        $ex = $this->engine->add($key, $data, $timeout, $attrs, $encoded);
        $this->engine->kick($ex);
        return new Call($this->engine, $ex);
    }

    /**
     * Enqueues a durable job of class $key (a service configured with
     * `jobs true` on some host) through the local manager's remote gateway.
     *
     * @param array<string,string> $context the job's context
     * @param string               $jobId   1-200 letters, digits, '-', '_', '='; '' makes one
     * @return array{id:string,sequence:int,duplicate:bool} duplicate: the id was
     *         submitted before and nothing was enqueued
     * @throws Fault serviceNotFound (-30) without a gateway, serviceKeyBad (-31),
     *               contextFormatError (-22) for a bad job id, remoteTransferFailed (5)
     *               when JetStream fails, TimeoutFault (-19) with no answer in time
     */
    public function submitJob(string $key, string $data = '', array $context = [], string $jobId = '', ?float $timeout = null): array
    {
        $encoded = self::encodeContext($context) . Packet::contextPair('pluton.jobSubmit', $jobId);
        /** @var array{id:string,sequence:int,duplicate:bool} */
        return $this->gatewayCall($key, $data, $encoded, $timeout);
    }

    /**
     * Waits up to $timeout seconds (default: the client's) for the result of
     * job $jobId: ['id', 'key', 'ok', 'data' (decoded), 'faultCode',
     * 'faultText', 'attempts', 'host', 'service', 'finished']; ok false: the
     * job failed its last attempt, with that fault.
     *
     * @return array<string,mixed>
     * @throws TimeoutFault when there is no result in time; Fault -22 for a bad id, -30 without a gateway
     */
    public function jobResult(string $jobId, ?float $timeout = null): array
    {
        $r = $this->gatewayCall('pluton.jobResult.0.raw', '', Packet::contextPair('pluton.jobResult', $jobId), $timeout);
        $r['data'] = base64_decode((string) ($r['data'] ?? ''), true);
        $r += ['faultCode' => 0, 'faultText' => '', 'service' => ''];
        return $r;
    }

    /** @return array<string,mixed> */
    private function gatewayCall(string $key, string $data, string $context, ?float $timeout): array
    {
        $timeout = $this->checkTimeout($timeout);
        $gw = $this->engine->gatewayPath();
        if ($gw === null) {
            throw new Fault(Fault::SERVICE_NOT_FOUND, $key . ': no remote gateway ' . $this->rendezvous() . '/'
                . ClientEngine::GATEWAY_SOCKET . ' (the local manager was not started with -N)');
        }
        $ex = $this->engine->add($key, $data, $timeout, 0, $context, null, null, $gw);
        $this->engine->kick($ex);
        $out = json_decode((new Call($this->engine, $ex))->result(), true);
        if (!is_array($out)) {
            throw new Fault(Fault::RESPONSE_PACKET_FORMAT_ERROR, 'the remote gateway answered no JSON object');
        }
        return $out;
    }

    private function checkTimeout(?float $timeout): float
    {
        $timeout ??= $this->timeout;
        if ($timeout <= 0) {
            throw new \InvalidArgumentException("timeout must be positive, got $timeout");
        }
        return $timeout;
    }

    /** @param array<string,string> $context */
    private static function encodeContext(array $context): string
    {
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
        return $encoded;
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
