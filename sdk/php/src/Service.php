<?php

declare(strict_types=1);

namespace Pluton;

/**
 * A Pluton service: an instance takes requests one at a time and answers
 * each with a response or a fault.
 *
 * Loop form:
 *
 *     $service = new Pluton\Service('echo');
 *     foreach ($service as $request) {
 *         $request->respond($request->data());
 *     }
 *
 * Handler form (an exception answers a fault; the instance keeps serving):
 *
 *     (new Pluton\Service('echo'))->serve(fn (Pluton\Request $r) => $r->data());
 *
 * The first iteration (or serve()) initializes: it picks the mode
 * (docs/protocol.md section 3) — manager mode when fd 3 is a listening
 * socket, fd 4 a regular file (the stats segment) and fd 5 a pipe; accept
 * mode when plutonAcceptSocket is set; stand-alone mode otherwise, reading
 * request packets from fd 3 and writing responses to fd 4. A failure
 * throws a Fault that says what to do.
 *
 * The stop signal (SIGTERM), the instance's request limit or the end of
 * stand-alone input end the loop after the current request: the foreach
 * ends, serve() returns, and `finally` blocks and destructors run.
 */
final class Service implements \IteratorAggregate
{
    public const MODE_NONE = 0;
    public const MODE_MANAGER = 1;
    public const MODE_ACCEPT = 2;
    public const MODE_STANDALONE = 3;

    public const NOT_ANSWERED = 'request not answered by the service';

    /**
     * Response data at least this long is written apart from the rest of
     * the packet (three writes instead of a copy of the data).
     */
    private const WRITE_APART = 131072;

    /** The text of the fault initialize() raises for a stats header with threadsPerInstance above 1. */
    public const THREADS_REFUSED = 'maximum-threads %d is not supported by the PHP SDK: an instance serves one '
        . 'request at a time; set maximum-threads 1 and raise maximum-processes';

    private int $mode = self::MODE_NONE;
    private ?RequestSource $source = null;
    private Books $books;
    private SignalWatcher $signals;
    private string $serviceName = '';
    private bool $trace = false;
    private int $maximumRequests = 0;
    private int $served = 0;
    private ?Request $current = null;
    /** Why the loop ended or must end (an exit reason of docs/protocol.md 4.3). */
    private ?int $exitReason = null;
    private bool $terminated = false;
    /** The last write error (the loop then ends: lostIO). */
    private ?Fault $writeFault = null;
    /** @var list<callable():void> */
    private array $onStop = [];
    private \Closure $answer;

    /** @param string $name goes into the response's service name `<name>:<pid>/0` */
    public function __construct(private string $name = '')
    {
        $this->books = new Books();
        $this->signals = new SignalWatcher();
        $this->answer = $this->answer(...);
    }

    public static function getAPIVersion(): string
    {
        return Version::get();
    }

    /**
     * Picks the mode and prepares it; the first iteration or serve() calls
     * it when you do not. Call it yourself to fail early, after your own
     * set-up.
     *
     * @throws Fault when the service cannot take requests (the text says
     *               what to do; in manager mode a stats segment with
     *               threadsPerInstance above 1 is shmThreadConfigNotService
     *               (-104), its text also written to stderr), or
     *               alreadyInitialized (-1) on a second call
     */
    public function initialize(): void
    {
        if ($this->mode !== self::MODE_NONE) {
            throw new Fault(Fault::ALREADY_INITIALIZED, 'initialize() was already called');
        }
        if (!extension_loaded('sockets')) {
            throw new Fault(
                Fault::OPEN_SOCKET_FAILED,
                'the PHP extension sockets is not loaded; install it (Debian: php-common) or enable it in php.ini'
            );
        }
        $pid = getmypid();
        $this->serviceName = $this->name . ':' . $pid . '/0';
        $this->trace = getenv('plutonPacketTrace') !== false;
        $fds = ModeProbe::managerFds();
        $acceptPath = getenv('plutonAcceptSocket');
        if ($fds !== null) {
            $this->initManager($fds, $pid);
        } elseif (is_string($acceptPath) && $acceptPath !== '') {
            $this->source = new SocketSource(
                ModeProbe::listenAt($acceptPath),
                null,
                $acceptPath,
                $this->signals,
                $this->books,
                new Limits(),
                $this->serviceName,
                $this->trace
            );
            $this->mode = self::MODE_ACCEPT;
        } else {
            [$in, $out] = ModeProbe::standaloneFds();
            $this->source = new StandaloneSource(
                $in,
                $out,
                $this->signals,
                $this->trace,
                $this->serviceName,
                Limits::DEFAULT_MAXIMUM_REQUEST_SIZE
            );
            $this->mode = self::MODE_STANDALONE;
        }
        $this->signals->install();
        $this->books->started($pid); // idle only once the stop signal is handled
        register_shutdown_function($this->terminate(...));
    }

    /** The mode initialize() chose: one of the MODE_ constants (MODE_NONE before). */
    public function mode(): int
    {
        return $this->mode;
    }

    /**
     * Adds a function to run once when the loop ends, before the foreach
     * ends or serve() returns (also when the service ends by itself).
     */
    public function onStop(callable $fn): void
    {
        $this->onStop[] = $fn;
    }

    /** Ends the loop after the current request, as the stop signal does. */
    public function stop(): void
    {
        $this->signals->requestStop();
    }

    /**
     * The loop form: yields each request until the loop ends.
     *
     * @return \Generator<int,Request>
     * @throws Fault as initialize(), and when requests cannot be read any
     *               more (stand-alone mode: a malformed packet)
     */
    public function getIterator(): \Generator
    {
        try {
            while (($request = $this->next()) !== null) {
                yield $request;
            }
        } finally {
            $this->terminate();
        }
    }

    /**
     * The handler form: calls $handler for each request until the loop
     * ends. The handler returns the response data (a string, or null for
     * none). A Fault it throws is sent as that fault; any other exception
     * is sent as fault 6 serviceException "<Class>: <message>", its trace
     * goes to stderr, and the instance goes on serving. A handler that
     * answered the request itself (respond() or fault()) has its return
     * value ignored.
     *
     * @param callable(Request):(string|\Stringable|null) $handler
     * @throws Fault as getIterator()
     */
    public function serve(callable $handler): void
    {
        try {
            while (($request = $this->next()) !== null) {
                try {
                    $out = $handler($request);
                    if (!$request->answered()) {
                        $request->respond(self::toData($out));
                    }
                } catch (Fault $f) {
                    if (!$request->answered()) {
                        $request->fault($f->getCode(), $f->text());
                    }
                } catch (\Throwable $e) {
                    @fwrite(STDERR, 'pluton: ' . $this->name . ': the handler threw ' . $e . "\n");
                    if (!$request->answered()) {
                        $request->fault(Fault::SERVICE_EXCEPTION, get_class($e) . ': ' . $e->getMessage());
                    }
                }
            }
        } finally {
            $this->terminate();
        }
    }

    /**
     * The next request, or null when the loop ends (the stop signal, the
     * request limit, the end of stand-alone input). A request left
     * unanswered is answered first with fault 6 "request not answered by
     * the service". Initializes on the first call.
     *
     * @throws Fault as getIterator()
     */
    public function next(): ?Request
    {
        if ($this->mode === self::MODE_NONE) {
            $this->initialize();
        }
        if ($this->current !== null) {
            if (!$this->current->answered()) {
                $this->current->fault(Fault::SERVICE_EXCEPTION, self::NOT_ANSWERED);
            }
            $this->current = null;
        }
        if ($this->terminated || $this->exitReason !== null) {
            return null;
        }
        if ($this->maximumRequests > 0 && $this->served >= $this->maximumRequests && !$this->source->holdsAffinity()) {
            // Accept no more, but serve the connections already accepted
            // before leaving: their clients must not lose their requests.
            $in = $this->source instanceof SocketSource ? $this->source->nextPending() : null;
            if ($in === null) {
                $this->exitReason = StatsSegment::EXIT_MAX_REQUESTS;
                return null;
            }
        } else {
            try {
                $in = $this->source->next();
            } catch (Fault $f) {
                $this->exitReason = $f->getCode() === Fault::ACCEPT_FAILED
                    ? StatsSegment::EXIT_ACCEPT_FAILED
                    : StatsSegment::EXIT_NONE;
                throw $f;
            }
            if ($in === null) {
                $this->exitReason = $this->signals->stopRequested() ? $this->shutdownRequest() : StatsSegment::EXIT_NONE;
                return null;
            }
        }
        $this->served++;
        $this->books->requestRead($in);
        if ($this->trace) {
            self::tracePacket('PktIn: ', $in->raw);
        }
        return $this->current = new Request($in, $this->answer);
    }

    /**
     * Ends the service: runs the onStop functions, closes its descriptors,
     * marks the stats slot stopping with the exit reason and sends the
     * final report. The loop calls it when it ends, and it runs at script
     * shutdown too; only the first call does anything.
     */
    public function terminate(): void
    {
        if ($this->terminated || $this->mode === self::MODE_NONE) {
            return;
        }
        $this->terminated = true;
        foreach ($this->onStop as $fn) {
            try {
                $fn();
            } catch (\Throwable $e) {
                @fwrite(STDERR, 'pluton: ' . $this->name . ': an onStop function threw ' . $e . "\n");
            }
        }
        $this->current = null;
        $this->source?->close();
        $this->books->close($this->exitReason ?? StatsSegment::EXIT_NONE);
        $this->signals->finished();
    }

    /** @internal the fault of the last failed write of a response (the loop then ends) */
    public function writeFault(): ?Fault
    {
        return $this->writeFault;
    }

    /** Sends the answer of $request: Request::respond() and fault() come here. */
    private function answer(Request $request, int $code, string $text, string $data): void
    {
        $in = $request->incoming();
        $id = (string) Packet::number($in->fields[Packet::REQUEST_ID] ?? '');
        $client = $in->fields[Packet::CLIENT_NAME] ?? '';
        if (strlen($data) >= self::WRITE_APART && !$this->trace && !$this->books->recording()) {
            // Large data is written as it is, after the head of the packet: no copy.
            $packet = Packet::responseHead($id, $client, $this->serviceName, $code, $text, strlen($data));
            $sent = $this->source !== null && !$this->terminated
                ? $this->source->reply($in, $packet, $data, Packet::DATA_END)
                : RequestSource::FAILED;
        } else {
            $packet = Packet::encodeResponse($id, $client, $this->serviceName, $code, $text, $data);
            $this->books->responding($packet);
            $sent = $this->source !== null && !$this->terminated
                ? $this->source->reply($in, $packet)
                : RequestSource::FAILED;
        }
        if ($this->trace && !isset($in->fields[Packet::NO_WAIT])) {
            self::tracePacket('PktOut: ', $packet);
        }
        $outcome = $sent === RequestSource::SENT
            ? ($code !== 0 ? Reporter::FAULT : Reporter::OK)
            : Reporter::WRITE_ERROR;
        $this->books->answered($in, $outcome, $sent === RequestSource::SENT ? strlen($data) : 0);
        if ($sent === RequestSource::FAILED) {
            $this->writeFault = new Fault(
                Fault::SOCKET_WRITE_FAILED,
                'cannot write the response: ' . (error_get_last()['message'] ?? 'write failed')
            );
            $this->exitReason ??= StatsSegment::EXIT_LOST_IO;
        }
    }

    /** @param array{0:resource,1:resource,2:resource} $fds */
    private function initManager(array $fds, int $pid): void
    {
        [$listenStream, $shm, $pipe] = $fds;
        fclose($shm); // a duplicate of fd 4, which StatsSegment opens its own way
        $slotEnv = getenv('plutonSlot');
        $slot = is_string($slotEnv) && preg_match('/^[0-9]+$/', $slotEnv) === 1 ? (int) $slotEnv : -1;
        $stats = $slot >= 0 ? StatsSegment::open(4, $slot) : null;
        if ($stats !== null && $stats->threadsPerInstance() > 1) {
            // As the original's initialize: a threaded configuration needs a threaded service.
            $threads = $stats->threadsPerInstance();
            $stats->close();
            $fault = new Fault(Fault::SHM_THREAD_CONFIG_NOT_SERVICE, sprintf(self::THREADS_REFUSED, $threads));
            @fwrite(STDERR, $fault->text() . "\n");
            throw $fault;
        }
        $limits = new Limits();
        $recorder = null;
        if ($stats !== null) {
            $limits = Limits::fromSegment($stats);
            $this->maximumRequests = $stats->maximumRequests();
            if ($stats->recorderPrefix() !== '') {
                $recorder = new Recorder($stats->recorderPrefix(), $stats->recorderCycle(), $pid);
            }
        }
        $this->books = new Books(
            $stats,
            new Reporter($pipe, $pid, $stats !== null ? $slot : Reporter::NO_SLOT),
            $recorder
        );
        $listen = socket_import_stream($listenStream);
        if (!$listen instanceof \Socket) {
            throw new Fault(Fault::ACCEPT_FAILED, 'cannot use fd 3 as a socket; ' . ModeProbe::HOW_TO_RUN);
        }
        $this->source = new SocketSource(
            $listen,
            $listenStream,
            '',
            $this->signals,
            $this->books,
            $limits,
            $this->serviceName,
            $this->trace || $recorder !== null
        );
        $this->mode = self::MODE_MANAGER;
    }

    /** The exit reason after the stop signal: the slot's shutdownRequest, else serviceShutdown. */
    private function shutdownRequest(): int
    {
        $reason = $this->books->stats()?->shutdownRequest() ?? StatsSegment::EXIT_NONE;
        return $reason !== StatsSegment::EXIT_NONE ? $reason : StatsSegment::EXIT_SERVICE_SHUTDOWN;
    }

    private static function toData(mixed $out): string
    {
        if ($out === null) {
            return '';
        }
        if (is_string($out)) {
            return $out;
        }
        if ($out instanceof \Stringable || is_int($out) || is_float($out)) {
            return (string) $out;
        }
        throw new \TypeError('the handler returned ' . get_debug_type($out) . '; return a string or null');
    }

    private static function tracePacket(string $prefix, string $raw): void
    {
        @fwrite(STDERR, $prefix . $raw . (str_ends_with($raw, "\n") ? '' : "\n"));
    }
}
