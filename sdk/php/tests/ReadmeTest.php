<?php

declare(strict_types=1);

namespace Pluton\Tests;

/**
 * Runs the README's quick start literally: its sh blocks in order in one
 * bash script, its `php <file>` blocks written to those files at their
 * place, and the `text output` block compared with what the script
 * printed. It installs the package tarball (tools/dist/php.sh) into a
 * fresh directory and serves a request under a real plutonManager.
 */
final class ReadmeTest extends Harness
{
    /** @return list<array{info:string,body:string}> the fenced blocks of the quick start */
    private static function quickStartBlocks(): array
    {
        $readme = (string) file_get_contents(__DIR__ . '/../README.md');
        $start = strpos($readme, "\n## Quick start\n");
        self::assertNotFalse($start, 'README has no Quick start section');
        $end = strpos($readme, "\n## ", $start + 1);
        $section = substr($readme, $start, $end === false ? null : $end - $start);
        preg_match_all('/^```([^\n]*)\n(.*?)^```$/ms', $section, $m, PREG_SET_ORDER);
        return array_map(fn ($b) => ['info' => trim($b[1]), 'body' => $b[2]], $m);
    }

    public function testQuickStartWorksAsWritten(): void
    {
        $root = dirname(__DIR__, 3);
        $bin = getenv('PLUTON_BIN') ?: "$root/bin";
        if (!is_executable("$bin/plutonManager")) {
            $this->markTestSkipped("no plutonManager in $bin: run make build (or set PLUTON_BIN)");
        }
        $dist = $this->tempDir();
        $build = 'DIST_DIR=' . escapeshellarg($dist) . ' bash ' . escapeshellarg("$root/tools/dist/php.sh");
        exec("$build 2>&1", $o, $rc);
        $this->assertSame(0, $rc, implode("\n", $o));

        $script = "set -e\n";
        $expected = null;
        foreach (self::quickStartBlocks() as $block) {
            $words = preg_split('/\s+/', $block['info']);
            if ($words[0] === 'sh') {
                $script .= $block['body'];
            } elseif ($words[0] === 'php' && isset($words[1])) {
                $script .= "cat > '$words[1]' <<'PLUTON_README_EOF'\n" . $block['body'] . "PLUTON_README_EOF\n";
            } elseif ($block['info'] === 'text output') {
                $expected = $block['body'];
            } else {
                $this->fail("unexpected block in the quick start: ```{$block['info']}");
            }
        }
        $this->assertNotNull($expected, 'the quick start shows no output');
        $this->assertStringContainsString('plutonManager', $script);

        $work = $this->tempDir();
        file_put_contents("$work/quickstart.sh", $script);
        $env = getenv();
        unset($env['plutonLookupMap'], $env['plutonAcceptSocket'], $env['plutonSlot']);
        $env['PATH'] = "$bin:" . ($env['PATH'] ?? '/usr/bin:/bin');
        $env['DIST_DIR'] = $dist;
        $env['plutonHome'] = "$work/home";
        // Its own session, so that whatever it leaves running can be ended as one group.
        $p = proc_open(
            ['setsid', 'bash', "$work/quickstart.sh"],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
            $work,
            $env
        );
        $this->assertIsResource($p);
        $pid = proc_get_status($p)['pid'];
        try {
            stream_set_blocking($pipes[1], false);
            stream_set_blocking($pipes[2], false);
            $status = $this->waitExit($p, 30.0);
            $out = self::readAll($pipes[1], 1.0);
            $err = self::readAll($pipes[2], 1.0);
            $log = @file_get_contents("$work/pluton-quickstart/manager.log");
            $this->assertSame(0, $status, "quick start failed:\n$err\nmanager log:\n$log");
            $this->assertSame($expected, $out, "stderr:\n$err");
            // The service ran from the package installed in the fresh directory.
            $this->assertFileExists("$work/pluton-quickstart/pluton/src/Service.php");
            $this->assertFileExists("$work/pluton-quickstart/pluton/LICENSE");
        } finally {
            exec('kill -9 -- -' . (int) $pid . ' 2>/dev/null');
            proc_close($p);
        }
    }
}
