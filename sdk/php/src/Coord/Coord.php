<?php

declare(strict_types=1);

namespace Pluton\Coord;

/**
 * One connection to the manager's coordination server (docs/coordination.md):
 * semaphores whose operations are reverted when an instance dies, mutexes
 * released when their holder dies, versioned shared variables, broadcast
 * messages and singleton timers.
 *
 *     $coord = new Pluton\Coord\Coord();   // $plutonControl and $plutonService
 *     $lock = $coord->mutexes->lock('refresh', timeout: 5.0);   // unlocked at scope end
 *
 * Messages and timer ticks are delivered by poll(), which the service loop
 * calls between requests (before it waits for the next connection, and at
 * least once a second while idle). Names are scoped by service; global: true
 * names the manager-wide object.
 */
final class Coord
{
    public const CONTROL_ENV = 'plutonControl';
    public const SERVICE_ENV = 'plutonService';
    private const ORDER = 'bospnxgPwiteVvr';

    /** @var array<int, \WeakReference<Coord>> every open connection of the process */
    private static array $open = [];

    public readonly Semaphores $semaphores;
    public readonly Mutexes $mutexes;
    public readonly Variables $variables;
    public readonly Messages $messages;
    public readonly Timers $timers;
    public readonly string $service;
    public readonly int $pid;

    /** @var resource|null */
    private $sock;
    private string $buf = '';
    private int $id = 0;
    /** @var list<array<string, string>> */
    private array $events = [];
    /** @var array<string, callable> */
    private array $handlers = [];
    /** @var array<string, callable> */
    private array $timerFns = [];

    public function __construct(?string $path = null, ?string $service = null)
    {
        $path = $path ?: (string) getenv(self::CONTROL_ENV);
        $service = $service ?: (string) getenv(self::SERVICE_ENV);
        if ($path === '') {
            throw new CoordError('closed', 'no control socket: ' . self::CONTROL_ENV
                . ' is not set (run the service under plutonManager, or pass $path)');
        }
        if ($service === '') {
            throw new CoordError('closed', 'no service key: ' . self::SERVICE_ENV
                . ' is not set (run the service under plutonManager, or pass $service)');
        }
        $sock = @stream_socket_client('unix://' . $path, $errno, $errstr, 5.0);
        if ($sock === false) {
            throw new CoordError('closed', "connect to the manager's control socket $path: $errstr");
        }
        $this->sock = $sock;
        $this->service = $service;
        $this->semaphores = new Semaphores($this);
        $this->mutexes = new Mutexes($this);
        $this->variables = new Variables($this);
        $this->messages = new Messages($this);
        $this->timers = new Timers($this);
        $r = $this->call(['o' => 'hello', 's' => $service]);
        $this->pid = (int) ($r['i'] ?? '0');
        self::$open[spl_object_id($this)] = \WeakReference::create($this);
    }

    /**
     * Closes the connection: the manager reverts this process's protected
     * operations, releases its mutexes and moves its timers.
     */
    public function close(): void
    {
        if ($this->sock !== null) {
            fclose($this->sock);
            $this->sock = null;
            unset(self::$open[spl_object_id($this)]);
        }
    }

    public function __destruct()
    {
        $this->close();
    }

    /**
     * One control-protocol packet: 0<kind>, the fields in the protocol's
     * order, 0z\n.
     *
     * @param array<string, string> $fields
     */
    public static function encode(string $kind, array $fields): string
    {
        $out = "0$kind,";
        foreach (str_split(self::ORDER) as $t) {
            if (array_key_exists($t, $fields)) {
                $out .= strlen($fields[$t]) . $t . $fields[$t] . ',';
            }
        }
        return $out . "0z\n";
    }

    /**
     * One packet from the front of $buf, removed from it: [kind, fields], or
     * null when incomplete.
     *
     * @return array{0: string, 1: array<string, string>}|null
     */
    public static function parse(string &$buf): ?array
    {
        $pos = 0;
        $n = strlen($buf);
        $kind = null;
        $fields = [];
        while (true) {
            $digits = strspn($buf, '0123456789', $pos, 9);
            if ($pos + $digits >= $n) {
                return null;
            }
            if ($digits === 0 || $digits > 8) {
                throw new CoordError('bad_packet', $digits === 0 ? 'leading netString character not a digit'
                    : 'netstring length too long');
            }
            $len = (int) substr($buf, $pos, $digits);
            $p = $pos + $digits;
            $t = $buf[$p++];
            if ($p + $len + 1 > $n) {
                return null;
            }
            $payload = substr($buf, $p, $len);
            $p += $len;
            if ($buf[$p] !== ',' && $buf[$p] !== "\n") {
                throw new CoordError('bad_packet', 'incorrect netString terminator - comma or \n expected');
            }
            $pos = $p + 1;
            if ($kind === null) {
                $kind = $t;
            } elseif ($t === 'z') {
                $buf = substr($buf, $pos);
                return [$kind, $fields];
            } else {
                $fields[$t] = $payload;
            }
        }
    }

    /** @return array{0: string, 1: array<string, string>}|null */
    private function readPacket(bool $block): ?array
    {
        while (true) {
            $p = self::parse($this->buf);
            if ($p !== null) {
                return $p;
            }
            if ($this->sock === null) {
                throw new CoordError('closed', 'the control connection is closed');
            }
            if (!$block) {
                $r = [$this->sock];
                $w = $e = null;
                if (@stream_select($r, $w, $e, 0) < 1) {
                    return null;
                }
            }
            $chunk = @fread($this->sock, 65536);
            if ($chunk === false || ($chunk === '' && feof($this->sock))) {
                $this->close();
                throw new CoordError('closed', 'the manager closed the control connection');
            }
            $this->buf .= $chunk;
        }
    }

    /**
     * Sends a request and returns the response's fields (internal: the
     * Semaphores, Mutexes, ... objects call it).
     *
     * @param array<string, string> $f
     * @return array<string, string>
     */
    public function call(array $f): array
    {
        if ($this->sock === null) {
            throw new CoordError('closed', 'the control connection is closed');
        }
        $id = (string) ++$this->id;
        $f['b'] = $id;
        $data = self::encode('R', $f);
        while ($data !== '') {
            $w = @fwrite($this->sock, $data);
            if ($w === false || $w === 0) {
                $this->close();
                throw new CoordError('closed', 'connection to the manager lost');
            }
            $data = substr($data, $w);
        }
        while (true) {
            [$kind, $r] = $this->readPacket(true);
            if ($kind === 'E') {
                $this->events[] = $r;
                continue;
            }
            $code = $r['p'] ?? '';
            if (($r['b'] ?? '') !== $id) {
                if ($code !== '') {
                    throw new CoordError($code, $r['r'] ?? '');
                }
                continue;
            }
            if ($code !== '') {
                $text = $r['r'] ?? '';
                throw $code === 'timeout' ? new CoordTimeout($code, $text) : new CoordError($code, $text);
            }
            return $r;
        }
    }

    /**
     * The fields of a request on a name (internal).
     *
     * @return array<string, string>
     */
    public function req(string $op, string $name, bool $global): array
    {
        $f = ['o' => $op, 'n' => $name];
        if ($global) {
            $f['g'] = '';
        }
        return $f;
    }

    /**
     * The timeout field for $seconds (internal).
     *
     * @return array<string, string>
     */
    public static function ms(?float $seconds): array
    {
        if ($seconds === null) {
            return [];
        }
        if ($seconds < 0) {
            throw new \InvalidArgumentException('timeout must be >= 0 seconds');
        }
        return ['t' => (string) (int) round($seconds * 1000)];
    }

    /** Sets or removes (null) a message handler (internal: Messages::on). */
    public function setHandler(string $name, ?callable $fn): void
    {
        if ($fn === null) {
            unset($this->handlers[$name]);
        } else {
            $this->handlers[$name] = $fn;
        }
    }

    /** Sets or removes (null) a timer function (internal: Timers). */
    public function setTimer(string $name, ?callable $fn): void
    {
        if ($fn === null) {
            unset($this->timerFns[$name]);
        } else {
            $this->timerFns[$name] = $fn;
        }
    }

    /**
     * Runs the handlers of the messages and timer ticks that arrived, without
     * waiting (a timer's function once however many ticks queued); returns
     * how many callbacks ran. A callback's exception is written to stderr
     * and the others still run.
     */
    public function poll(): int
    {
        if ($this->sock === null) {
            return 0;
        }
        while (($p = $this->readPacket(false)) !== null) {
            if ($p[0] === 'E') {
                $this->events[] = $p[1];
            }
        }
        $events = $this->events;
        $this->events = [];
        $ran = 0;
        $ticked = [];
        foreach ($events as $f) {
            $name = $f['n'] ?? '';
            $kind = $f['o'] ?? '';
            if ($kind === 'message') {
                $h = $this->handlers[$name] ?? $this->handlers['*'] ?? null;
                if ($h !== null) {
                    self::run($h, new Message($name, $f['v'] ?? '', $f['s'] ?? ''));
                    $ran++;
                }
            } elseif ($kind === 'timer' && !isset($ticked[$name]) && isset($this->timerFns[$name])) {
                $ticked[$name] = true;
                self::run($this->timerFns[$name]);
                $ran++;
            }
        }
        return $ran;
    }

    private static function run(callable $fn, mixed ...$args): void
    {
        try {
            $fn(...$args);
        } catch (\Throwable $e) {
            fwrite(STDERR, 'Pluton\Coord callback failed: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
        }
    }

    /** Waits up to $seconds for an event, then poll(). */
    public function wait(float $seconds): int
    {
        if ($this->sock !== null && $this->buf === '' && $this->events === []) {
            $r = [$this->sock];
            $w = $e = null;
            @stream_select($r, $w, $e, (int) $seconds, (int) (($seconds - (int) $seconds) * 1e6));
        }
        return $this->poll();
    }

    /** poll() every open connection of the process; the service loop calls it between requests. */
    public static function pollAll(): int
    {
        $ran = 0;
        foreach (self::$open as $ref) {
            $c = $ref->get();
            if ($c !== null) {
                try {
                    $ran += $c->poll();
                } catch (CoordError) {
                    // a lost connection: the next call reports it
                }
            }
        }
        return $ran;
    }
}
