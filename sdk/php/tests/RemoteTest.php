<?php

declare(strict_types=1);

namespace Pluton\Tests;

use PHPUnit\Framework\TestCase;
use Pluton\Client;
use Pluton\Fault;
use Pluton\TimeoutFault;

/**
 * Remote keys and jobs through the local manager's gateway socket
 * (docs/remote.md): host A runs `plutonManager -N embedded` (its own NATS
 * server), host B joins it with the URL A wrote in <R>/plutonManager.nats
 * and serves keys A does not; a client on A calls them.
 */
final class RemoteTest extends TestCase
{
    private const ECHO_KEY = 'phpremote.echo.0.raw';
    private const JOB_KEY = 'phpremote.job.0.raw';

    /** @var array<string,array{proc:resource,dir:string}> */
    private static array $hosts = [];
    private static string $skip = '';

    public static function setUpBeforeClass(): void
    {
        $bin = getenv('PLUTON_BIN') ?: dirname(__DIR__, 3) . '/bin';
        if (!is_executable("$bin/plutonManager")) {
            self::$skip = "no plutonManager in $bin: run make build (or set PLUTON_BIN)";
            return;
        }
        $echo = 'exec ' . PHP_BINARY . ' ' . realpath(Harness::ECHO)
            . "\nminimum-processes 1\nmaximum-processes 2\nprestart-processes true\nexec-failure-backoff 0\n";
        self::startHost($bin, 'A', 'embedded', []);
        $url = trim((string) file_get_contents(self::$hosts['A']['dir'] . '/r/plutonManager.nats'));
        self::startHost($bin, 'B', $url, [self::ECHO_KEY => $echo, self::JOB_KEY => $echo . "jobs true\n"]);
        self::waitLog('B', 'Job Class: ' . self::JOB_KEY);
        // B's keys are reachable from A once a call through the gateway succeeds.
        $c = new Client('probe', 5.0, self::lookup());
        $end = microtime(true) + 30;
        while (true) {
            try {
                if ($c->call(self::ECHO_KEY, 'probe') === 'probe') {
                    break;
                }
            } catch (Fault $f) {
                if (microtime(true) > $end) {
                    throw $f;
                }
            }
            usleep(50000);
        }
    }

    /** @param array<string,string> $services */
    private static function startHost(string $bin, string $name, string $nats, array $services): void
    {
        $dir = '/tmp/plphpr.' . bin2hex(random_bytes(4));
        mkdir($dir, 0700);
        mkdir("$dir/c");
        foreach ($services as $key => $text) {
            file_put_contents("$dir/c/$key", $text);
        }
        $env = getenv();
        $env['plutonHome'] = $dir;
        $p = proc_open(
            ["$bin/plutonManager", '-C', "$dir/c", '-R', "$dir/r", '-L', "$dir/lookup.map", '-N', $nats],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/manager.log", 'w'], 2 => ['file', "$dir/manager.log", 'a']],
            $pipes,
            null,
            $env
        );
        self::assertIsResource($p);
        self::$hosts[$name] = ['proc' => $p, 'dir' => $dir];
        self::waitLog($name, 'Manager ready:');
    }

    private static function waitLog(string $name, string $text): void
    {
        $log = self::$hosts[$name]['dir'] . '/manager.log';
        $end = microtime(true) + 30;
        while (!str_contains((string) @file_get_contents($log), $text)) {
            if (microtime(true) > $end || !proc_get_status(self::$hosts[$name]['proc'])['running']) {
                self::fail("host $name: no '$text' within 30 s:\n" . @file_get_contents($log));
            }
            usleep(20000);
        }
    }

    public static function tearDownAfterClass(): void
    {
        foreach (array_reverse(self::$hosts) as $h) {
            $p = $h['proc'];
            if (proc_get_status($p)['running']) {
                proc_terminate($p, 15);
                $end = microtime(true) + 20;
                while (proc_get_status($p)['running'] && microtime(true) < $end) {
                    usleep(20000);
                }
                if (proc_get_status($p)['running']) {
                    proc_terminate($p, 9);
                }
            }
            proc_close($p);
            exec('rm -rf ' . escapeshellarg($h['dir']));
        }
        self::$hosts = [];
    }

    protected function setUp(): void
    {
        if (self::$skip !== '') {
            $this->markTestSkipped(self::$skip);
        }
    }

    private static function lookup(): string
    {
        return self::$hosts['A']['dir'] . '/lookup.map';
    }

    public function testKeyServedOnlyByTheOtherHost(): void
    {
        $this->assertFileDoesNotExist(self::$hosts['A']['dir'] . '/r/' . self::ECHO_KEY . '.socket');
        $c = new Client('phpunit', 5.0, self::lookup());
        $call = $c->submit(self::ECHO_KEY, 'hello remote', null, ['echo.sleepMS' => '1']);
        $this->assertSame('hello remote', $call->result());
        $this->assertNotSame('', $call->serviceName());
        $calls = [];
        for ($i = 0; $i < 8; $i++) {
            $calls[$i] = $c->submit(self::ECHO_KEY, "n$i");
        }
        foreach ($c->asCompleted($calls) as $i => $done) {
            $this->assertSame("n$i", $done->result());
        }
    }

    public function testRemoteFaultsKeepCodeAndText(): void
    {
        $c = new Client('phpunit', 5.0, self::lookup());
        try {
            $c->call(self::ECHO_KEY, 'x', null, ['echo.sleepMS' => '-1']);
            $this->fail('no fault');
        } catch (Fault $f) {
            $this->assertSame(111, $f->getCode());
            $this->assertSame('sleep time negative', $f->text());
        }
        try {
            $c->call('phpremote.nowhere.0.raw', 'x');
            $this->fail('no fault');
        } catch (Fault $f) {
            $this->assertSame(Fault::SERVICE_NOT_FOUND, $f->getCode());
            $this->assertStringContainsString('no host serves it', $f->text());
        }
    }

    public function testNoRemoteFailsFast(): void
    {
        $c = new Client('phpunit', 5.0, self::lookup());
        $t0 = microtime(true);
        try {
            $c->call(self::ECHO_KEY, 'x', null, [], false, true);
            $this->fail('no fault');
        } catch (Fault $f) {
            $this->assertSame(-30, $f->getCode());
        }
        $this->assertLessThan(1.0, microtime(true) - $t0);
    }

    public function testTheDeadlineTravelsAsTheTimeout(): void
    {
        $c = new Client('phpunit', 1.0, self::lookup());
        $t0 = microtime(true);
        try {
            $c->call(self::ECHO_KEY, 'slow', null, ['echo.sleepMS' => '5000']);
            $this->fail('no fault');
        } catch (Fault $f) {
            $this->assertSame(-19, $f->getCode(), $f->getMessage());
        }
        $this->assertLessThan(3.0, microtime(true) - $t0);
        $this->assertSame('after', $c->call(self::ECHO_KEY, 'after', 10.0));
    }

    public function testWithoutAGatewayKeysAreNotFound(): void
    {
        $dir = '/tmp/plphpr.' . bin2hex(random_bytes(4));
        mkdir($dir, 0700);
        try {
            $c = new Client('phpunit', 5.0, $dir);
            try {
                $c->call('phpremote.absent.0.raw', 'x');
                $this->fail('no fault');
            } catch (Fault $f) {
                $this->assertSame(-30, $f->getCode());
            }
            try {
                $c->submitJob(self::JOB_KEY, 'x');
                $this->fail('no fault');
            } catch (Fault $f) {
                $this->assertSame(-30, $f->getCode());
                $this->assertStringContainsString('no remote gateway', $f->text());
            }
            // A gateway socket that refuses connections is named in the fault.
            $stale = socket_create(AF_UNIX, SOCK_STREAM, 0);
            socket_bind($stale, "$dir/plutonRemote.socket");
            try {
                $c->call('phpremote.absent.0.raw', 'x');
                $this->fail('no fault');
            } catch (Fault $f) {
                $this->assertSame(-30, $f->getCode());
                $this->assertStringContainsString("remote gateway $dir/plutonRemote.socket", $f->text());
            }
            socket_close($stale);
        } finally {
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    public function testSubmitJobAndWaitForItsResult(): void
    {
        $c = new Client('phpunit', 10.0, self::lookup());
        $id = 'php-job-' . bin2hex(random_bytes(3));
        $s = $c->submitJob(self::JOB_KEY, 'job payload', ['k' => 'v'], $id);
        $this->assertSame($id, $s['id']);
        $this->assertFalse($s['duplicate']);
        $this->assertGreaterThan(0, $s['sequence']);
        $r = $c->jobResult($id, 30.0);
        $this->assertTrue($r['ok']);
        $this->assertSame('job payload', $r['data']);
        $this->assertSame(self::JOB_KEY, $r['key']);
        $this->assertSame(1, $r['attempts']);
        $this->assertTrue($c->submitJob(self::JOB_KEY, 'again', [], $id)['duplicate']);
        $made = $c->submitJob(self::JOB_KEY, 'made id');
        $this->assertNotSame('', $made['id']);
        $this->assertSame('made id', $c->jobResult($made['id'], 30.0)['data']);
    }

    public function testJobFaults(): void
    {
        $c = new Client('phpunit', 10.0, self::lookup());
        $cases = [
            'bad id' => [fn () => $c->submitJob(self::JOB_KEY, 'x', [], 'bad id'), -22, 'bad id'],
            'bad key' => [fn () => $c->submitJob('nodots', 'x'), -31, ''],
            'reserved context' => [fn () => $c->submitJob(self::JOB_KEY, 'x', ['pluton.x' => '1']), -23, 'pluton.x'],
            'no result in time' => [fn () => $c->jobResult('php-never-submitted', 0.5), -19, ''],
        ];
        foreach ($cases as $name => [$fn, $code, $text]) {
            $t0 = microtime(true);
            try {
                $fn();
                $this->fail("$name: no fault");
            } catch (Fault $f) {
                $this->assertSame($code, $f->getCode(), "$name: " . $f->getMessage());
                $this->assertStringContainsString($text, $f->text(), $name);
            }
            $this->assertLessThan(3.0, microtime(true) - $t0, $name);
        }
        $id = 'php-fails-' . bin2hex(random_bytes(3));
        $c->submitJob(self::JOB_KEY, 'x', ['echo.sleepMS' => '-1'], $id);
        $r = $c->jobResult($id, 40.0);
        $this->assertFalse($r['ok']);
        $this->assertSame(111, $r['faultCode']);
        $this->assertSame('sleep time negative', $r['faultText']);
    }
}
