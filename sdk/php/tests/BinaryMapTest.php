<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\BinaryMap;
use Pluton\Client;
use Pluton\Fault;

/**
 * The original's binary lookup map (docs/protocol.md section 7.2) as a real
 * plutonManager writes it beside the text map: its bytes checked against the
 * layout, every key resolved, a client calling through it; bad maps are
 * clear faults.
 */
final class BinaryMapTest extends Harness
{
    public function testHash(): void
    {
        $this->assertSame(0, BinaryMap::hash(''));
        $this->assertSame(0x61, BinaryMap::hash('a'));
        $this->assertSame((0x61 * 33) ^ 0x62, BinaryMap::hash('ab'));
        $h = 0;
        foreach (str_split('a.long.key.that.wraps.past.thirty.two.bits') as $c) {
            $h = (($h * 33) & 0xFFFFFFFF) ^ ord($c);
        }
        $this->assertSame($h, BinaryMap::hash('a.long.key.that.wraps.past.thirty.two.bits'));
    }

    public function testTheManagersBinaryMap(): void
    {
        $bin = getenv('PLUTON_BIN') ?: dirname(__DIR__, 3) . '/bin';
        if (!is_executable("$bin/plutonManager")) {
            $this->markTestSkipped("no plutonManager in $bin: run make build (or set PLUTON_BIN)");
        }
        $dir = $this->tempDir();
        mkdir("$dir/config");
        $exec = 'exec ' . PHP_BINARY . ' ' . realpath(self::ECHO) . "\n";
        foreach (['php.echo.0.raw', 'php..0.raw', 'other.f.3.JSON'] as $key) {
            file_put_contents("$dir/config/$key", $exec);
        }
        $p = proc_open(
            ["$bin/plutonManager", '-C', "$dir/config", '-R', "$dir/rendezvous", '-L', "$dir/lookup.map"],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/manager.log", 'w'], 2 => ['file', "$dir/manager.log", 'a']],
            $pipes
        );
        $this->assertIsResource($p);
        try {
            $this->assertTrue(
                $this->waitFor(fn () => file_exists("$dir/lookup.map.bin") && file_exists("$dir/rendezvous/php.echo.0.raw.socket"), 10.0),
                (string) @file_get_contents("$dir/manager.log")
            );
            $data = (string) file_get_contents("$dir/lookup.map.bin");
            $h = unpack('Lversion/aflag/x3/Ltable/Lmax/Lsize/Lentry/Lstring', $data);
            $m = new BinaryMap($data);
            $entries = $m->entries();
            $n = count($entries);
            $rv = realpath("$dir/rendezvous");
            $this->assertSame([
                '/rendezvous' => $rv,
                'other.JSON.3.f' => "$rv/other.f.3.JSON.socket",
                'php.raw.0' => "$rv/php..0.raw.socket",
                'php.raw.0.echo' => "$rv/php.echo.0.raw.socket",
            ], $entries);
            $this->assertSame([1001, 'n', 2 * $n + 7, $n + 1, strlen($data)], [$h['version'], $h['flag'], $h['table'], $h['max'], $h['size']]);
            $this->assertSame(32 + 4 * $h['table'], $h['entry']);
            $this->assertSame($h['entry'] + 20 * ($n + 1), $h['string']);
            $strings = 0;
            foreach ($entries as $k => $v) {
                $strings += strlen($k) + strlen($v);
                $this->assertSame([$v, $k], $m->find($k));
            }
            $this->assertSame($h['string'] + $strings, strlen($data));
            $this->assertSame(str_repeat("\0", 20), substr($data, $h['entry'], 20));
            $this->assertSame(["$rv/php..0.raw.socket", 'php.raw.0'], $m->find('php.raw.0.anything'));
            $this->assertNull($m->find('php.raw.1.echo'));
            $this->assertFalse($m->stale);

            $c = new Client('bin', 10.0, "$dir/lookup.map.bin");
            $this->assertSame('through the binary map', $c->call('php.echo.0.raw', 'through the binary map'));
            $this->assertSame('wildcard', $c->call('php.other.0.raw', 'wildcard'));

            foreach ([
                [substr($data, 0, 20), Fault::SHM_IMPOSSIBLY_SMALL, '20 bytes'],
                [substr($data, 0, -3), Fault::MAP_INITIALIZATION_FAILED, 'mapSize'],
                [substr($data, 0, 8) . "\0\0\0\0" . substr($data, 12), Fault::MAP_INITIALIZATION_FAILED, 'hashTableSize is 0'],
            ] as $i => [$bad, $code, $text]) {
                file_put_contents("$dir/bad$i.map", $bad);
                try {
                    (new Client('bad', 2.0, "$dir/bad$i.map"))->call('php.echo.0.raw', 'x');
                    $this->fail("no fault for bad map $i");
                } catch (Fault $f) {
                    $this->assertSame($code, $f->getCode(), $f->getMessage());
                    $this->assertStringContainsString($text, $f->getMessage());
                    $this->assertStringContainsString("bad$i.map", $f->getMessage());
                }
            }
            // Every single-byte corruption: parsed, or a clear exception; never a hang.
            for ($i = 0; $i < strlen($data); $i++) {
                $b = $data;
                $b[$i] = chr(ord($b[$i]) ^ 0xFF);
                try {
                    $bm = new BinaryMap($b);
                } catch (\InvalidArgumentException) {
                    continue;
                }
                $bm->find('php.raw.0.echo');
                $bm->entries();
            }
        } finally {
            proc_terminate($p);
            proc_close($p);
        }
    }
}
