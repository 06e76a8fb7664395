<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Client;
use Pluton\Fault;
use Pluton\ServiceFault;

/**
 * The PHP service under a real plutonManager: the configuration's limits
 * and recorder reach the service through the stats segment (version 2).
 */
final class RealManagerTest extends Harness
{
    public function testConfigurationLimitsAndRecorder(): void
    {
        $bin = getenv('PLUTON_BIN') ?: dirname(__DIR__, 3) . '/bin';
        if (!is_executable("$bin/plutonManager")) {
            $this->markTestSkipped("no plutonManager in $bin: run make build (or set PLUTON_BIN)");
        }
        $dir = $this->tempDir();
        mkdir("$dir/config");
        mkdir("$dir/rec");
        file_put_contents(
            "$dir/config/php.echo.0.raw",
            'exec ' . PHP_BINARY . ' ' . realpath(self::ECHO) . "\n"
            . "maximum-request-size 1000\nrecorder-prefix $dir/rec/\nrecorder-cycle 3\nunresponsive-timeout 5\n"
        );
        $p = proc_open(
            ["$bin/plutonManager", '-C', "$dir/config", '-R', "$dir/rendezvous", '-L', "$dir/lookup.map"],
            [
                0 => ['file', '/dev/null', 'r'],
                1 => ['file', "$dir/manager.log", 'w'],
                2 => ['file', "$dir/manager.log", 'a'],
            ],
            $pipes
        );
        $this->assertIsResource($p);
        try {
            $this->assertTrue(
                $this->waitFor(fn () => file_exists("$dir/rendezvous/php.echo.0.raw.socket"), 10.0),
                (string) @file_get_contents("$dir/manager.log")
            );
            $c = new Client('real', 10.0, "$dir/lookup.map");
            $this->assertSame('small', $c->call('php.echo.0.raw', 'small'));
            try {
                $c->call('php.echo.0.raw', str_repeat('x', 5000));
                $this->fail('no fault for a request too large');
            } catch (ServiceFault $f) {
                $this->assertSame(Fault::REQUEST_TOO_LARGE, $f->getCode());
                $this->assertSame('request data of 5000 bytes exceeds maximum-request-size 1000', $f->text());
            }
            $in = glob("$dir/rec/in.*.00001") ?: [];
            $this->assertCount(1, $in, 'no recorder file: ' . implode(' ', scandir("$dir/rec") ?: []));
            $this->assertStringContainsString('5ksmall,', (string) file_get_contents($in[0]));

            // An instance that hangs after responding is still busy, so the manager
            // kills it as unresponsive (issue 15 item 4): within the timeout + 2 s.
            $call = $c->submit('php.echo.0.raw', 'then hang', context: ['echo.sleepAfter' => '60']);
            $this->assertSame('then hang', $call->result());
            $t = microtime(true);
            $this->assertMatchesRegularExpression('/^echo:(\d+)\/0$/', $call->serviceName());
            $pid = (int) substr($call->serviceName(), 5);
            $this->assertTrue(
                $this->waitFor(fn () => !file_exists("/proc/$pid"), 12.0),
                'an instance that hung after responding was not killed'
            );
            $this->assertLessThan(5.0 + 2.0 + 1.0, microtime(true) - $t);
            $this->assertSame('after', $c->call('php.echo.0.raw', 'after'));
        } finally {
            proc_terminate($p, 15);
            if ($this->waitExit($p, 10.0) === -1) {
                proc_terminate($p, 9);
            }
            proc_close($p);
        }
    }
}
