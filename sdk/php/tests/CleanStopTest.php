<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Client;

/**
 * Clean stops under the real plutonManager (docs/sdk.md rule 4): the onStop
 * hook and the finally block of a service run, in that order, whenever an
 * instance ends normally: recycled at maximum-requests, replaced by a reload,
 * stopped by idle-timeout scale-down, stopped with the manager. Every
 * instance that exited leaves its marker.
 */
final class CleanStopTest extends Harness
{
    private const SERVICE = <<<'PHP'
<?php
declare(strict_types=1);
require %s;
function mark(string $line): void {
    file_put_contents($GLOBALS['argv'][1] . '/' . getmypid(), $line . "\n", FILE_APPEND);
}
$service = new Pluton\Service('cleanup');
$service->onStop(function (): void { mark('onStop'); });
try {
    $service->serve(fn (Pluton\Request $r): string => $r->data());
} finally {
    mark('finally');
}
PHP;

    public function testCleanupRunsOnRecycleReloadIdleAndManagerStop(): void
    {
        $bin = getenv('PLUTON_BIN') ?: dirname(__DIR__, 3) . '/bin';
        if (!is_executable("$bin/plutonManager")) {
            $this->markTestSkipped("no plutonManager in $bin: run make build (or set PLUTON_BIN)");
        }
        $dir = $this->tempDir();
        mkdir("$dir/config");
        mkdir("$dir/m");
        file_put_contents("$dir/cleanup.php", sprintf(self::SERVICE, var_export(realpath(__DIR__ . '/../autoload.php'), true)));
        $exe = 'exec ' . PHP_BINARY . " $dir/cleanup.php $dir/m\n";
        $configs = [
            'php.recycle.0.raw' => $exe . "maximum-requests 2\nenable-leak-ramping false\nexec-failure-backoff 0\n",
            'php.reload.0.raw' => $exe . "prestart-processes true\n",
            'php.idle.0.raw' => $exe . "minimum-processes 0\nidle-timeout 10\n",
            'php.stop.0.raw' => $exe . "prestart-processes true\n",
        ];
        foreach ($configs as $key => $text) {
            file_put_contents("$dir/config/$key", $text);
        }
        $p = proc_open(
            ["$bin/plutonManager", '-C', "$dir/config", '-R', "$dir/rendezvous", '-L', "$dir/lookup.map", '-l', 'processExit'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/manager.log", 'w'], 2 => ['file', "$dir/manager.log", 'a']],
            $pipes
        );
        $this->assertIsResource($p);
        $log = fn (): string => (string) @file_get_contents("$dir/manager.log");
        $count = fn (string $re): int => preg_match_all($re, $log());
        try {
            $this->assertTrue($this->waitFor(fn () => str_contains($log(), 'Manager ready:'), 15.0), $log());
            $c = new Client('clean', 10.0, "$dir/lookup.map");
            $this->assertSame('x', $c->call('php.idle.0.raw', 'x'));
            for ($i = 0; $i < 4; $i++) {
                $this->assertSame('r', $c->call('php.recycle.0.raw', 'r'));
            }
            $this->assertTrue($this->waitFor(fn () => $count('/Process Start: php\.(reload|stop)\.0\.raw/') >= 2, 15.0), $log());
            file_put_contents("$dir/config/php.reload.0.raw", $configs['php.reload.0.raw'] . "idle-timeout 300\n");
            touch("$dir/config/php.reload.0.raw", time() + 2);
            proc_terminate($p, 1); // SIGHUP: the changed service's new version replaces the old
            foreach (['reload' => 1, 'recycle' => 2, 'idle' => 1] as $how => $n) {
                $this->assertTrue(
                    $this->waitFor(fn () => $count("/Child Exit: normal php\\.$how\\.0\\.raw\\//") >= $n, 30.0),
                    "$n normal exits of php.$how: " . $log()
                );
            }
            proc_terminate($p, 15);
            $this->assertTrue($this->waitFor(fn () => str_contains($log(), 'Manager exiting:'), 30.0), $log());
            preg_match_all('/Child Exit: (\S+) php\.(\w+)\.0\.raw\/\S+ .*pid=(\d+)/', $log(), $m, PREG_SET_ORDER);
            $seen = [];
            foreach ($m as [, $status, $how, $pid]) {
                $this->assertSame('normal', $status, $log());
                $this->assertSame("onStop\nfinally\n", (string) @file_get_contents("$dir/m/$pid"), "$how instance $pid");
                $seen[$how] = ($seen[$how] ?? 0) + 1;
            }
            $this->assertGreaterThanOrEqual(2, $seen['recycle'] ?? 0, json_encode($seen));
            foreach (['reload', 'idle', 'stop'] as $how) {
                $this->assertGreaterThanOrEqual(1, $seen[$how] ?? 0, json_encode($seen));
            }
            $this->assertStringNotContainsString('SIGKILL sent', $log());
        } finally {
            proc_terminate($p);
            proc_close($p);
        }
    }
}
