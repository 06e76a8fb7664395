<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\Coord\Coord;
use Pluton\Coord\CoordError;
use Pluton\Coord\CoordTimeout;
use Pluton\Coord\Message;

/**
 * Pluton\Coord against a real plutonManager's control socket: helper
 * instances killed with SIGKILL, and a real PHP service whose loop delivers
 * a timer and messages.
 */
final class CoordTest extends TestCase
{
    private const KEY = 'php.coordsvc.0.raw';
    private const HELPER = <<<'PHP'
        <?php
        require getenv('PLUTON_AUTOLOAD');
        $c = new Pluton\Coord\Coord();
        $mode = $argv[1];
        if ($mode === 'hold') {
            if ($c->semaphores->decrement('slots') !== 0) { exit(3); }
            $GLOBALS['guard'] = $c->mutexes->lock('m');
        } elseif ($mode === 'timer') {
            $c->timers->every('tick', 0.3, function () { echo "tick\n"; });
        } elseif ($mode === 'listen') {
            $c->messages->on('*', function ($m) { echo "msg {$m->name} {$m->args} {$m->sender}\n"; });
        } elseif ($mode === 'set') {
            $c->variables->set('config', $argv[2]);
        }
        echo "ready\n";
        $end = microtime(true) + 60;
        while (microtime(true) < $end) { $c->wait(0.05); }
        PHP;
    private const SERVICE = <<<'PHP'
        <?php
        require getenv('PLUTON_AUTOLOAD');
        $c = new Pluton\Coord\Coord();
        $n = 0;
        $c->timers->every('beat', 0.3, function () use (&$n) { $n++; fwrite(STDERR, "beat $n\n"); });
        $c->messages->on('hello', function ($m) { fwrite(STDERR, "got {$m->args}\n"); });
        (new Pluton\Service('coordsvc'))->serve(fn ($r) => 'ok');
        PHP;

    private static string $dir = '';
    /** @var resource|null */
    private static $manager = null;
    /** @var list<array{0: resource, 1: resource, 2: int}> */
    private array $helpers = [];

    public static function setUpBeforeClass(): void
    {
        $bin = getenv('PLUTON_BIN') ?: dirname(__DIR__, 3) . '/bin';
        if (!is_executable("$bin/plutonManager")) {
            self::markTestSkipped("no plutonManager in $bin: run make build (or set PLUTON_BIN)");
        }
        $base = strlen(sys_get_temp_dir()) <= 40 ? sys_get_temp_dir() : '/tmp';
        self::$dir = $d = $base . '/plcoord.' . bin2hex(random_bytes(4));
        mkdir($d, 0700);
        mkdir("$d/config", 0755);
        file_put_contents("$d/helper.php", self::HELPER);
        file_put_contents("$d/svc.php", self::SERVICE);
        putenv('PLUTON_AUTOLOAD=' . realpath(__DIR__ . '/../autoload.php'));
        file_put_contents("$d/config/" . self::KEY, 'exec ' . PHP_BINARY . " $d/svc.php\n"
            . "minimum-processes 2\nmaximum-processes 2\nprestart-processes true\n");
        $p = proc_open(
            ["$bin/plutonManager", '-C', "$d/config", '-R', "$d/rendezvous", '-L', "$d/lookup.map", '-l', 'processLog'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$d/manager.log", 'w'], 2 => ['file', "$d/manager.log", 'a']],
            $pipes
        );
        self::assertIsResource($p);
        self::$manager = $p;
        $end = microtime(true) + 15;
        while (!file_exists(self::control()) && microtime(true) < $end) {
            usleep(20000);
        }
        self::assertFileExists(self::control(), (string) @file_get_contents("$d/manager.log"));
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$manager !== null) {
            proc_terminate(self::$manager, 15);
            $end = microtime(true) + 10;
            while (proc_get_status(self::$manager)['running'] && microtime(true) < $end) {
                usleep(20000);
            }
            proc_terminate(self::$manager, 9);
            proc_close(self::$manager);
            self::$manager = null;
        }
        if (self::$dir !== '') {
            exec('rm -rf ' . escapeshellarg(self::$dir));
        }
    }

    protected function tearDown(): void
    {
        foreach ($this->helpers as [$p, $out]) {
            proc_terminate($p, 9);
            fclose($out);
            proc_close($p);
        }
        $this->helpers = [];
    }

    private static function control(): string
    {
        return self::$dir . '/rendezvous/plutonControl.socket';
    }

    private function log(): string
    {
        return (string) file_get_contents(self::$dir . '/manager.log');
    }

    /** @return array{0: resource, 1: resource, 2: int} */
    private function helper(string $service, string ...$args): array
    {
        $env = getenv();
        $env['plutonControl'] = self::control();
        $env['plutonService'] = $service;
        $p = proc_open(
            [PHP_BINARY, self::$dir . '/helper.php', ...$args],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes,
            null,
            $env
        );
        $this->assertIsResource($p);
        $h = [$p, $pipes[1], proc_get_status($p)['pid']];
        $this->helpers[] = $h;
        $this->assertSame('ready', $this->line($h));
        return $h;
    }

    /** @param array{0: resource, 1: resource, 2: int} $h */
    private function line(array $h, float $timeout = 10.0): string
    {
        $r = [$h[1]];
        $w = $e = null;
        $this->assertSame(1, stream_select($r, $w, $e, (int) $timeout), 'no line from the helper');
        return rtrim((string) fgets($h[1]), "\n");
    }

    private function waitFor(callable $cond, float $seconds): bool
    {
        $end = microtime(true) + $seconds;
        while (!$cond()) {
            if (microtime(true) > $end) {
                return false;
            }
            usleep(5000);
        }
        return true;
    }

    public function testKilledInstanceReleasesProtectedSemaphoreAndMutex(): void
    {
        $c = new Coord(self::control(), 'php.kill.0.raw');
        $this->assertTrue($c->semaphores->create('slots', 1, protected: true));
        $h = $this->helper('php.kill.0.raw', 'hold');
        $this->assertSame(0, $c->semaphores->get('slots'));
        try {
            $c->mutexes->lock('m', timeout: 0.1);
            $this->fail('the helper holds the mutex');
        } catch (CoordTimeout $e) {
            $this->assertStringContainsString("held by pid {$h[2]}", $e->text());
        }
        $t0 = microtime(true);
        posix_kill($h[2], SIGKILL);
        $got = $c->mutexes->synchronized('m', fn () => $c->semaphores->decrement('slots', wait: true, timeout: 5.0), 5.0);
        $this->assertSame(0, $got, 'the decrement was reverted');
        $this->assertLessThan(1.0, microtime(true) - $t0, 'released within 1 s');
        $lock = $c->mutexes->lock('m', timeout: 0.0);
        $this->assertTrue($lock->held(), 'synchronized unlocked');
        unset($lock); // the guard unlocks
        $c->mutexes->lock('m', timeout: 0.0)->unlock();
        $c->close();
    }

    public function testWaitForChangeWakesOnSetFromAnotherInstance(): void
    {
        $c = new Coord(self::control(), 'php.var.0.raw');
        $this->assertSame([null, 0], $c->variables->get('config'));
        try {
            $c->variables->waitForChange('config', 0, timeout: 0.1);
            $this->fail('no timeout');
        } catch (CoordTimeout $e) {
            $this->assertSame('timeout', $e->code());
        }
        $this->helper('php.var.0.raw', 'set', 'v1');
        $this->assertSame(['v1', 1], $c->variables->waitForChange('config', 0, timeout: 10.0));
        $this->assertSame(2, $c->variables->set('config', 'v2'));
        $this->assertSame(['v2', 2], $c->variables->waitForChange('config', 1, timeout: 1.0));
        $c->close();
    }

    public function testBroadcastReachesEveryInstanceOfTheService(): void
    {
        $same = [$this->helper('php.msg.0.raw', 'listen'), $this->helper('php.msg.0.raw', 'listen'),
            $this->helper('php.msg.0.raw', 'listen')];
        $other = $this->helper('php.other.0.raw', 'listen');
        $c = new Coord(self::control(), 'php.msg.0.raw');
        $got = [];
        $c->messages->on('reload', function (Message $m) use (&$got) {
            $got[] = $m;
        });
        $this->assertSame(4, $c->messages->broadcast('', 'reload', 'now'));
        foreach ($same as $h) {
            $this->assertSame('msg reload now php.msg.0.raw', $this->line($h));
        }
        $this->assertTrue($this->waitFor(function () use ($c, &$got) {
            $c->poll();
            return $got !== [];
        }, 5.0));
        $this->assertEquals(new Message('reload', 'now', 'php.msg.0.raw'), $got[0]);
        $this->assertSame(5, $c->messages->broadcast('php.[mo]*.0.raw', 'all', 'x'));
        $this->assertSame('msg all x php.msg.0.raw', $this->line($other));
        $c->close();
    }

    public function testSingletonTimerMovesWhenItsOwnerIsKilled(): void
    {
        $owner = $this->helper('php.timer.0.raw', 'timer');
        $c = new Coord(self::control(), 'php.timer.0.raw');
        $ticks = [];
        $this->assertFalse($c->timers->every('tick', 0.3, function () use (&$ticks) {
            $ticks[] = microtime(true);
        }));
        $this->assertSame('tick', $this->line($owner));
        $this->assertSame('tick', $this->line($owner));
        $c->poll();
        $this->assertSame([], $ticks, 'only the owner runs it');
        $t0 = microtime(true);
        posix_kill($owner[2], SIGKILL);
        $this->assertTrue($this->waitFor(function () use ($c, &$ticks) {
            $c->wait(0.05);
            return $ticks !== [];
        }, 5.0), 'the timer moved');
        $this->assertLessThan(1.0, $ticks[0] - $t0, 'within one period and slack');
        try {
            $c->timers->every('tick', 1.0, fn () => null);
            $this->fail('no conflict');
        } catch (CoordError $e) {
            $this->assertSame('conflict', $e->code());
        }
        $c->timers->cancel('tick');
        $c->close();
    }

    /** @return array<string, array{0: callable, 1: string, 2: string}> */
    public static function limitCases(): array
    {
        return [
            'value size' => [fn (Coord $c) => $c->variables->set('v', str_repeat('x', 65537)), 'too_large',
                'variable "v": value of 65537 bytes exceeds the limit of 65536 bytes'],
            'message size' => [fn (Coord $c) => $c->messages->broadcast('', 'm', str_repeat('x', 65537)), 'too_large',
                'message "m": arguments of 65537 bytes exceed the limit of 65536 bytes'],
            'name size' => [fn (Coord $c) => $c->semaphores->get(str_repeat('n', 256)), 'too_large',
                'name of 256 bytes exceeds the limit of 255 bytes'],
            'missing' => [fn (Coord $c) => $c->semaphores->increment('missing'), 'not_found',
                'no semaphore "missing" (create it first)'],
            'not held' => [fn (Coord $c) => $c->mutexes->unlock('free'), 'not_owner',
                'mutex "free" is not held by this instance'],
        ];
    }

    /** @dataProvider limitCases */
    public function testLimitsGiveClearErrors(callable $call, string $code, string $text): void
    {
        $c = new Coord(self::control(), 'php.limits.0.raw');
        try {
            $call($c);
            $this->fail('no error');
        } catch (CoordError $e) {
            $this->assertSame([$code, $text], [$e->code(), $e->text()]);
        }
        $c->close();
    }

    public function testCountLimitAndDeadlock(): void
    {
        $c = new Coord(self::control(), 'php.count.0.raw');
        for ($i = 0; $i < 1024; $i++) {
            $c->semaphores->create("s$i", 0, protected: false);
        }
        try {
            $c->semaphores->create('one-more');
            $this->fail('no limit');
        } catch (CoordError $e) {
            $this->assertSame('semaphore "one-more": too many semaphores (limit 1024)', $e->text());
        }
        $this->assertTrue($c->semaphores->create('one-more', global: true), 'the global scope counts apart');
        $lock = $c->mutexes->lock('m');
        try {
            $c->mutexes->lock('m');
            $this->fail('no deadlock error');
        } catch (CoordError $e) {
            $this->assertSame('deadlock', $e->code());
        }
        $lock->unlock();
        $c->close();
    }

    public function testServiceLoopDeliversTimerAndMessages(): void
    {
        $this->assertTrue($this->waitFor(fn () => preg_match_all('/Log: \S+ beat \d+/', $this->log()) >= 2, 20.0),
            $this->log());
        preg_match_all('/Log: (\S+) beat \d+/', $this->log(), $m);
        $this->assertCount(1, array_unique($m[1]), 'one instance runs the timer');
        $c = new Coord(self::control(), self::KEY);
        $this->assertSame(3, $c->messages->broadcast('', 'hello', 'world'));
        $this->assertTrue($this->waitFor(fn () => preg_match_all('/Log: \S+ got world/', $this->log()) === 2, 10.0),
            $this->log());
        $c->close();
    }

    public function testConformanceEncodeVectors(): void
    {
        $v = json_decode((string) file_get_contents(dirname(__DIR__, 3) . '/conformance/coord/vectors.json'), true);
        foreach ($v['encode'] as $e) {
            $this->assertSame($e['bytes'], Coord::encode($e['kind'], $e['fields']));
            $buf = $e['bytes'];
            $parsed = Coord::parse($buf);
            $this->assertNotNull($parsed);
            $this->assertSame($e['kind'], $parsed[0]);
            $this->assertEquals($e['fields'], $parsed[1]);
            $this->assertSame('', $buf);
        }
    }

    public function testEncodingAndMissingEnvironment(): void
    {
        $this->assertSame("0R,1b1,5ohello,9sa.b.0.raw,0z\n", Coord::encode('R', ['b' => '1', 'o' => 'hello', 's' => 'a.b.0.raw']));
        $saved = getenv('plutonControl');
        putenv('plutonControl');
        try {
            new Coord();
            $this->fail('no error');
        } catch (CoordError $e) {
            $this->assertStringContainsString('plutonControl is not set', $e->text());
        } finally {
            if ($saved !== false) {
                putenv("plutonControl=$saved");
            }
        }
    }
}
