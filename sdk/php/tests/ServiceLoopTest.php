<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Client;
use Pluton\Fault;
use Pluton\Reporter;
use Pluton\ServiceFault;
use Pluton\StatsSegment;

/**
 * The service loop of docs/protocol.md section 8 (pending set, read
 * timeout, size limit), the slot's accountability and request identity
 * (section 4.2) and the recorder (section 9), in manager mode.
 */
final class ServiceLoopTest extends Harness
{
    private const KEY = 'system.echo.0.raw';

    /** @param array<string,int|string> $limits */
    private function start(array $limits = []): array
    {
        return $this->manage(self::ECHO, self::KEY, [], $limits);
    }

    /** @return resource a raw connection to the service */
    private static function connect(array $m)
    {
        $s = stream_socket_client('unix://' . $m['socket']);
        stream_set_timeout($s, 5);
        return $s;
    }

    /** @return list<array> the report entries sent by the time the service exited */
    private function entries(array $m): array
    {
        $bytes = self::readAll($m['pipes'][5], 3.0);
        $records = array_map(fn ($r) => Reporter::decode($r), str_split($bytes, Reporter::RECORD_SIZE) ?: []);
        return array_merge([], ...array_column($records, 'entries'));
    }

    public function testASilentConnectionDoesNotDelayANormalRequest(): void
    {
        $m = $this->start();
        $c = new Client('loop', 4.0, $m['dir']);
        $silent = self::connect($m);
        $partial = self::connect($m);
        fwrite($partial, '0Q,3b900,17csystem.echo.0.raw,');
        usleep(50000);
        $t = microtime(true);
        $this->assertSame('quick', $c->call(self::KEY, 'quick'));
        $this->assertLessThan(0.5, microtime(true) - $t, 'a silent or partial connection held the instance');
        // The partial request is served once it completes.
        fwrite($partial, "4l4000,4krest,0z\n");
        $this->assertMatchesRegularExpression(
            '/^0A,3b900,\d+secho:\d+\/0,4qrest,0z\n$/',
            (string) fread($partial, 1000)
        );
        fclose($silent);
        fclose($partial);
    }

    /** Reads a raw connection to its end (the service closes it after the response). */
    private static function readResponse($s): string
    {
        $out = '';
        while (!feof($s)) {
            $chunk = fread($s, 1 << 20);
            if ($chunk === false || ($chunk === '' && stream_get_meta_data($s)['timed_out'])) {
                break;
            }
            $out .= $chunk;
        }
        return $out;
    }

    public function testLargePayloadsAreEchoedWhole(): void
    {
        $m = $this->start();
        $c = new Client('loop', 10.0, $m['dir']);
        // After the first large request the service reads the head of the next one apart
        // and its payload with one bounded blocking read.
        foreach ([65536, 1 << 20, 200001, 70000, 5, 1 << 20] as $i => $size) {
            $data = substr(str_repeat(chr(65 + $i) . 'bcdefghij', intdiv($size, 10) + 1), 0, $size);
            $this->assertSame($data, $c->call(self::KEY, $data), "$size bytes");
        }
        // A slow sender: the blocking read runs out (10 ms), the rest is read as it comes.
        $data = str_repeat('s', 300000);
        $packet = "0Q,2b77,17csystem.echo.0.raw,4l9000,300000k$data,0z\n";
        $slow = self::connect($m);
        foreach (str_split($packet, 60000) as $part) {
            fwrite($slow, $part);
            usleep(40000);
        }
        $this->assertMatchesRegularExpression('/^0A,2b77,\d+secho:\d+\/0,300000q/', $got = self::readResponse($slow));
        $this->assertSame(",0z\n", substr($got, -4));
        $this->assertSame($data, substr($got, strpos($got, 'q') + 1, -4));
        fclose($slow);
        $this->assertSame('after', $c->call(self::KEY, 'after'));
    }

    public function testAStalledLargePayloadDoesNotHoldTheInstance(): void
    {
        $m = $this->start();
        $c = new Client('loop', 4.0, $m['dir']);
        $big = str_repeat('b', 1 << 20);
        $this->assertSame($big, $c->call(self::KEY, $big)); // the next head is read apart
        $stalled = self::connect($m);
        fwrite($stalled, '0Q,3b901,17csystem.echo.0.raw,4l4000,1048576k' . str_repeat('x', 1000));
        usleep(50000);
        $t = microtime(true);
        $this->assertSame('quick', $c->call(self::KEY, 'quick'));
        $this->assertLessThan(0.5, microtime(true) - $t, 'a stalled large payload held the instance');
        // The stalled request is served once it completes.
        fwrite($stalled, str_repeat('x', (1 << 20) - 1000) . ",0z\n");
        $got = self::readResponse($stalled);
        $this->assertMatchesRegularExpression('/^0A,3b901,\d+secho:\d+\/0,1048576qx/', $got);
        $this->assertSame(strlen($got), strpos($got, 'q') + 1 + (1 << 20) + 4);
        fclose($stalled);
    }

    /** @return array<string,array{0:bool,1:int}> recording (one packet), bytes the client takes first */
    public static function muteClientProvider(): array
    {
        return [
            'three writes: head, data, trailer' => [false, 0],
            'one packet (recording)' => [true, 0],
            'the client takes a part, then stops' => [false, 65536],
        ];
    }

    /**
     * A client that takes none of its (large) response for request-read-timeout is dropped: a writeError.
     *
     * @dataProvider muteClientProvider
     */
    public function testAClientThatStopsReadingItsResponseIsDropped(bool $recording, int $takeFirst): void
    {
        $limits = ['requestReadTimeout' => 500];
        if ($recording) {
            $limits += ['recorderPrefix' => $this->tempDir() . '/r.', 'recorderCycle' => 2];
        }
        $m = $this->start($limits);
        $size = 4 << 20;
        $mute = self::connect($m);
        fwrite($mute, "0Q,3b902,17csystem.echo.0.raw,4l4000,{$size}k" . str_repeat('m', $size) . ",0z\n");
        if ($takeFirst > 0) {
            $this->assertSame($takeFirst, strlen((string) stream_get_contents($mute, $takeFirst)));
        }
        $t = microtime(true);
        $c = new Client('loop', 10.0, $m['dir']);
        $this->assertSame('next', $c->call(self::KEY, 'next'));
        $took = microtime(true) - $t;
        $this->assertLessThan(2.0, $took, 'a client that reads nothing held the instance');
        $this->assertTrue(proc_get_status($m['proc'])['running']);
        // The dropped client finds its connection closed before the whole response.
        stream_set_timeout($mute, 2);
        $this->assertLessThan($size, strlen((string) stream_get_contents($mute)));
        fclose($mute);
        $this->assertSame('again', $c->call(self::KEY, 'again'));
        // The counters follow the response by a moment.
        $this->waitFor(fn () => self::readSlot($m['segment'], 1)['responses'] === 2, 1.0);
        $slot = self::readSlot($m['segment'], 1);
        $this->assertSame([3, 2, 0], [$slot['requests'], $slot['responses'], $slot['faults']]);
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $entries = $this->entries($m);
        $this->assertSame(
            [Reporter::WRITE_ERROR, Reporter::OK, Reporter::OK],
            array_column($entries, 'outcome')
        );
        $this->assertSame([0, 4, 5], array_column($entries, 'responseBytes'));
    }

    /** The stop signal during a stalled response waits no longer than request-read-timeout. */
    public function testAStopDuringAStalledResponseIsNotDelayed(): void
    {
        $m = $this->start(['requestReadTimeout' => 3000]);
        $size = 4 << 20;
        $mute = self::connect($m);
        fwrite($mute, "0Q,3b903,17csystem.echo.0.raw,4l4000,{$size}k" . str_repeat('m', $size) . ",0z\n");
        $t = microtime(true);
        usleep(1500000);
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc'], 10.0));
        $took = microtime(true) - $t;
        // The response stalls from about $t: the stop ends with the 3 s bound, not 1.5 s later.
        $this->assertGreaterThan(1.4, $took);
        $this->assertLessThan(4.0, $took);
        fclose($mute);
        $this->assertSame([Reporter::WRITE_ERROR], array_column($this->entries($m), 'outcome'));
    }

    public function testAnIdleInstanceWakesEverySecondAndKeepsServing(): void
    {
        $m = $this->start();
        $c = new Client('loop', 4.0, $m['dir']);
        $this->assertSame('before', $c->call(self::KEY, 'before'));
        usleep(2500000); // accept times out (SO_RCVTIMEO 1 s) twice meanwhile
        $this->assertSame('after', $c->call(self::KEY, 'after'));
        $this->assertTrue(proc_get_status($m['proc'])['running']);
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $this->assertSame(StatsSegment::EXIT_SERVICE_SHUTDOWN, self::readSlot($m['segment'], 1)['exitReason']);
    }

    public function testAnOversizeLengthPrefixIsAnsweredAtOnce(): void
    {
        $m = $this->start(['maximumRequestSize' => 1000]);
        $s = self::connect($m);
        // Only the prefix of the data netstring: the body never comes.
        fwrite($s, '0Q,3b100,5athe:1,17csystem.echo.0.raw,4l4000,2000k');
        $this->assertMatchesRegularExpression(
            '/^0A,3b100,5athe:1,\d+secho:\d+\/0,1p3,'
            . '60rrequest data of 2000 bytes exceeds maximum-request-size 1000,0z\n$/',
            (string) stream_get_contents($s)
        );
        fclose($s);

        $c = new Client('loop', 4.0, $m['dir']);
        $this->assertSame('small', $c->call(self::KEY, 'small'));
        foreach ([5000, 3000000] as $size) {
            try {
                $c->call(self::KEY, str_repeat('x', $size));
                $this->fail('no fault');
            } catch (ServiceFault $f) {
                $this->assertSame(Fault::REQUEST_TOO_LARGE, $f->getCode());
                $this->assertSame("request data of $size bytes exceeds maximum-request-size 1000", $f->text());
            }
        }
        $this->assertSame('still', $c->call(self::KEY, 'still'));
        $slot = self::readSlot($m['segment'], 1);
        // A refusal is a request answered with a fault.
        $this->assertSame([5, 2, 3], [$slot['requests'], $slot['responses'], $slot['faults']]);
    }

    public function testAConnectionPastTheReadTimeoutIsClosed(): void
    {
        $m = $this->start(['requestReadTimeout' => 300]);
        $s = self::connect($m);
        fwrite($s, '0Q,3b1');
        $t = microtime(true);
        $this->assertSame('', stream_get_contents($s), 'an answer to a request never completed');
        $took = microtime(true) - $t;
        $this->assertGreaterThan(0.2, $took);
        $this->assertLessThan(2.0, $took);
        fclose($s);
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $this->assertSame([Reporter::READ_ERROR], array_column($this->entries($m), 'outcome'));
    }

    public function testTheOldestPendingConnectionMakesRoom(): void
    {
        $m = $this->start(['maximumPending' => 2]);
        $first = self::connect($m);
        fwrite($first, '0Q,');
        usleep(100000);
        $second = self::connect($m);
        fwrite($second, '0Q,');
        usleep(100000);
        $third = self::connect($m);
        fwrite($third, '0Q,');
        $t = microtime(true);
        $this->assertSame('', stream_get_contents($first));
        $this->assertLessThan(2.0, microtime(true) - $t);
        fwrite($third, "1b7,17csystem.echo.0.raw,1l0,1k3,0z\n");
        $this->assertStringContainsString('1q3,', (string) fread($third, 1000));
        fclose($second);
    }

    public function testTheSlotStaysBusyUntilTheNextWaitAndNamesTheRequest(): void
    {
        $m = $this->start();
        $c = new Client('loop', 4.0, $m['dir']);
        // echo.sleepAfter: the service responds, then sleeps 1 s before it waits again.
        $call = $c->submit(self::KEY, 'hi', context: ['echo.sleepAfter' => '2']);
        $this->assertSame('hi', $call->result());
        // The counters follow the response by a moment.
        $this->waitFor(fn () => self::readSlot($m['segment'], 1)['responses'] === 1, 1.0);
        $s = self::readSlot($m['segment'], 1);
        $this->assertSame(StatsSegment::STATE_BUSY, $s['state'], 'answered but not yet waiting: still busy');
        $this->assertSame([1, 1], [$s['requests'], $s['responses']]);
        $this->assertSame('loop:' . getmypid(), $s['clientName']);
        $this->assertGreaterThanOrEqual(100, $s['requestID']);
        $this->assertSame(StatsSegment::NOT_RECORDING, $s['recorderIndex']);
        $this->assertTrue($this->waitFor(
            fn () => self::readSlot($m['segment'], 1)['state'] === StatsSegment::STATE_IDLE,
            5.0
        ));
    }

    public function testTheRecorderWithCycle3(): void
    {
        $rec = $this->tempDir();
        $m = $this->start(['recorderPrefix' => "$rec/r.", 'recorderCycle' => 3]);
        $pid = proc_get_status($m['proc'])['pid'];
        $c = new Client('rec', 4.0, $m['dir']);
        foreach (['d1', 'd2', 'd3', 'd4'] as $d) {
            $this->assertSame($d, $c->call(self::KEY, $d));
        }
        $files = array_values(array_diff(scandir($rec), ['.', '..']));
        sort($files);
        $this->assertSame([
            "r.in.$pid.00000", "r.in.$pid.00001", "r.in.$pid.00002",
            "r.out.$pid.00000", "r.out.$pid.00001", "r.out.$pid.00002",
        ], $files);
        foreach (['00001' => 'd4', '00002' => 'd2', '00000' => 'd3'] as $n => $d) {
            $in = (string) file_get_contents("$rec/r.in.$pid.$n");
            $this->assertMatchesRegularExpression("/^0Q,.*,2k$d,0z\n$/", $in);
            $out = (string) file_get_contents("$rec/r.out.$pid.$n");
            $this->assertMatchesRegularExpression("/^0A,.*,2q$d,0z\n$/", $out);
            $this->assertSame(0640, fileperms("$rec/r.in.$pid.$n") & 0777);
        }
        $this->assertSame(1, self::readSlot($m['segment'], 1)['recorderIndex']);

        // A recorded request replays in stand-alone mode: ./svc 3<in 4>out.
        [$p] = $this->spawn(
            self::ECHO,
            [3 => ['file', "$rec/r.in.$pid.00002", 'r'], 4 => ['file', "$rec/replay", 'w']]
        );
        $this->assertSame(0, $this->waitExit($p));
        $this->assertStringContainsString('2qd2,0z', (string) file_get_contents("$rec/replay"));
    }

    public function testAnUnwritableRecorderNeverFailsARequest(): void
    {
        $m = $this->start(['recorderPrefix' => '/nonexistent/dir/r.']);
        $c = new Client('rec', 4.0, $m['dir']);
        $this->assertSame('a', $c->call(self::KEY, 'a'));
        $this->assertSame('b', $c->call(self::KEY, 'b'));
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
        $err = self::readAll($m['pipes'][2]);
        $this->assertSame(1, substr_count($err, 'pluton: recorder stopped: cannot write /nonexistent/dir/r.in.'));
    }
}
