<?php

declare(strict_types=1);

namespace Pluton\Tests;

use Pluton\Compat\Client;
use Pluton\Compat\ClientRequest;
use Pluton\Fault;
use Pluton\Reporter;
use Pluton\StatsSegment;

/**
 * Manager mode: fd 3 a listening socket, fd 4 the stats segment, fd 5 the
 * report pipe, as the manager sets them up (docs/protocol.md sections 3-5).
 */
final class ManagerModeTest extends Harness
{
    private const KEY = 'system.echo.0.raw';
    private const SLOT = 1;

    private string $dir;
    private string $segment;
    /** @var resource */
    private $shm;
    /** @var resource */
    private $proc;
    /** @var array<int,resource> */
    private array $pipes;

    /**
     * Starts echo.php as the manager would and waits until it is idle.
     *
     * @param string[] $phpOptions options of the PHP binary
     */
    private function startManaged(
        array $env = [],
        int $slots = 4,
        int $affinityTimeout = 60,
        int $maximumRequests = 0,
        array $phpOptions = []
    ): void {
        $this->dir = $this->tempDir();
        $this->segment = "$this->dir/" . self::KEY . '.mmap';
        $this->shm = $this->makeSegment($this->segment, $slots, $affinityTimeout);
        // The manager writes the limit before it starts the instance.
        self::writeSlotField($this->shm, self::SLOT, 48, $maximumRequests);
        $listen = stream_socket_server("unix://$this->dir/" . self::KEY . '.socket');
        [$this->proc, $this->pipes] = $this->spawn(
            self::ECHO,
            [3 => $listen, 4 => $this->shm, 5 => ['pipe', 'w']],
            $env + ['plutonSlot' => (string) self::SLOT],
            [],
            $phpOptions
        );
        fclose($listen);
        $pid = proc_get_status($this->proc)['pid'];
        if (!isset($env['plutonSlot']) || $env['plutonSlot'] === (string) self::SLOT) {
            $this->assertTrue(
                $this->waitFor(
                    fn () => self::readSlot($this->segment, self::SLOT)['state'] === StatsSegment::STATE_IDLE
                ),
                'service never became idle; stderr: ' . self::drain($this->pipes[2])
            );
            $this->assertSame($pid, self::readSlot($this->segment, self::SLOT)['pid']);
        }
    }

    /**
     * The slot once $cond holds for it: the service updates the slot right
     * after writing the response, so a client may see the response first.
     */
    private function slotWhen(callable $cond, float $seconds = 3.0): array
    {
        $this->waitFor(fn () => $cond(self::readSlot($this->segment, self::SLOT)), $seconds);
        return self::readSlot($this->segment, self::SLOT);
    }

    private function client(int $timeoutMs = 4000): Client
    {
        $c = new Client('mgr', $timeoutMs);
        $this->assertTrue($c->initialize($this->dir));
        return $c;
    }

    private function call(Client $c, string $data, array $context = [], int $attrs = 0): ClientRequest
    {
        $r = new ClientRequest();
        $r->setRequestData($data);
        foreach ($context as $k => $v) {
            $r->setContext($k, $v);
        }
        $r->setAttribute($attrs);
        $this->assertTrue($c->addRequest(self::KEY, $r), (string) $c->getFault()?->getMessageLong());
        $this->assertSame(1, $c->executeAndWaitOne($r));
        return $r;
    }

    /** @return list<array> the report records on fd 5 so far */
    private function reports(float $wait = 0.0): array
    {
        $bytes = $wait > 0 ? self::readAll($this->pipes[5], $wait) : self::drain($this->pipes[5]);
        $this->assertSame(0, strlen($bytes) % Reporter::RECORD_SIZE, 'partial report record');
        return array_map(fn ($r) => Reporter::decode($r), str_split($bytes, Reporter::RECORD_SIZE) ?: []);
    }

    public function testServesAndKeepsStats(): void
    {
        $this->startManaged();
        $c = $this->client();
        $before = self::readSlot($this->segment, self::SLOT)['since'];
        $this->assertSame('Hello', $this->call($c, 'Hello')->getResponseData());
        $first = microtime(true);
        $this->assertSame(111, $this->call($c, 'x', ['echo.sleepMS' => '-1'])->getFaultCode());
        $this->assertSame('slow', $this->call($c, 'slow', ['echo.sleepMS' => '100'])->getResponseData());

        $s = $this->slotWhen(fn ($s) => $s['responses'] + $s['faults'] === 3);
        $this->assertSame(StatsSegment::STATE_IDLE, $s['state']);
        $this->assertSame(3, $s['requests']);
        $this->assertSame(2, $s['responses']);
        $this->assertSame(1, $s['faults']);
        $this->assertGreaterThanOrEqual(100000, $s['busyMicros']);
        $this->assertLessThan(5000000, $s['busyMicros']);
        $this->assertGreaterThan($before, $s['since']);
        $this->assertEqualsWithDelta(microtime(true) * 1e6, $s['since'], 5e6);
        // Other slots are untouched.
        $this->assertSame(0, self::readSlot($this->segment, 0)['pid']);
        $this->assertSame(0, self::readSlot($this->segment, 2)['state']);

        // Entries younger than 1 s wait; once the oldest is 1 s old, they go out
        // before the service blocks in accept again.
        if (microtime(true) - $first < 0.6) { // a loaded machine may already be past 1 s
            $this->assertSame('', self::readAtLeast($this->pipes[5], 1, 0.3));
        }
        usleep(max(0, (int) (($first + 1.1 - microtime(true)) * 1e6)));
        $this->assertSame('more', $this->call($c, 'more')->getResponseData());
        $raw = self::readAtLeast($this->pipes[5], Reporter::RECORD_SIZE, 3.0);
        $this->assertSame(Reporter::RECORD_SIZE, strlen($raw));
        $pid = proc_get_status($this->proc)['pid'];
        $this->assertSame(pack('VVVV', 1, $pid, self::SLOT, 4), substr($raw, 0, 16));
        $this->assertSame(pack('V', Reporter::OK), substr($raw, 16, 4));
        $this->assertSame(pack('VV', 5, 5) . str_pad('echo', 16, "\0"), substr($raw, 24, 24));
        $this->assertSame(pack('V', Reporter::FAULT), substr($raw, 48, 4));
        $this->assertSame(str_repeat("\0", 12 * 32), substr($raw, 16 + 4 * 32));
        $recs = [Reporter::decode($raw)];
        $entries = array_merge(...array_column($recs, 'entries'));
        $this->assertSame(
            [Reporter::OK, Reporter::FAULT, Reporter::OK, Reporter::OK],
            array_column($entries, 'outcome')
        );
        $this->assertSame([5, 1, 4, 4], array_column($entries, 'requestBytes'));
        $this->assertSame([5, 0, 4, 4], array_column($entries, 'responseBytes'));
        $this->assertSame(['echo', 'echo', 'echo', 'echo'], array_column($entries, 'function'));
        $this->assertGreaterThanOrEqual(100000, $entries[2]['durationMicros']);
        $this->assertSame(1, $recs[0]['version']);
        $this->assertSame(proc_get_status($this->proc)['pid'], $recs[0]['pid']);
        $this->assertSame(self::SLOT, $recs[0]['slot']);
    }

    public function testSixteenEntriesMakeARecord(): void
    {
        $this->startManaged();
        $c = $this->client();
        for ($i = 0; $i < 16; $i++) {
            $this->call($c, "r$i");
        }
        // Sent when the 16th entry is added, not a second later.
        $raw = self::readAtLeast($this->pipes[5], Reporter::RECORD_SIZE, 0.5);
        $this->assertSame(Reporter::RECORD_SIZE, strlen($raw));
        $rec = Reporter::decode($raw);
        $this->assertCount(16, $rec['entries']);
        $this->assertSame(array_fill(0, 16, Reporter::OK), array_column($rec['entries'], 'outcome'));
    }

    public function testSigtermWhileIdleExitsAtOnce(): void
    {
        $this->startManaged();
        $c = $this->client();
        $this->call($c, 'one');
        self::writeSlotField($this->shm, self::SLOT, 52, StatsSegment::EXIT_EXCESS_PROCESSES);
        usleep(100000);
        $t = microtime(true);
        proc_terminate($this->proc, 15);
        $this->assertSame(0, $this->waitExit($this->proc));
        $this->assertLessThan(1.0, microtime(true) - $t, 'slow to stop on SIGTERM');
        $s = self::readSlot($this->segment, self::SLOT);
        $this->assertSame(StatsSegment::STATE_STOPPING, $s['state']);
        $this->assertSame(StatsSegment::EXIT_EXCESS_PROCESSES, $s['exitReason']);
        // The final report carries the pending entry.
        $recs = $this->reports(1.0);
        $this->assertCount(1, array_merge(...array_column($recs, 'entries')));
        $this->assertStringContainsString('echo stats: Rq=1', self::readAll($this->pipes[2]));
    }

    public function testSigtermWithoutShutdownRequestIsServiceShutdown(): void
    {
        $this->startManaged();
        $t = microtime(true);
        proc_terminate($this->proc, 15);
        $this->assertSame(0, $this->waitExit($this->proc));
        $this->assertLessThan(1.0, microtime(true) - $t);
        $s = self::readSlot($this->segment, self::SLOT);
        $this->assertSame(
            [StatsSegment::STATE_STOPPING, StatsSegment::EXIT_SERVICE_SHUTDOWN],
            [$s['state'], $s['exitReason']]
        );
        // The final record, byte for byte: header, no entries, zero padding.
        $raw = self::readAll($this->pipes[5], 1.0);
        $pid = proc_get_status($this->proc)['pid'];
        $this->assertSame(
            pack('VVVV', 1, $pid, self::SLOT, 0) . str_repeat("\0", Reporter::RECORD_SIZE - 16),
            $raw
        );
    }

    public function testSigtermWhileBusyFinishesTheRequest(): void
    {
        $this->startManaged();
        $c = $this->client();
        $r = new ClientRequest();
        $r->setRequestData('busy');
        $r->setContext('echo.sleepMS', '400');
        $c->addRequest(self::KEY, $r);
        $this->assertSame(1, $c->executeAndWaitSent());
        $this->assertTrue($this->waitFor(
            fn () => self::readSlot($this->segment, self::SLOT)['state'] === StatsSegment::STATE_BUSY
        ));
        self::writeSlotField($this->shm, self::SLOT, 52, StatsSegment::EXIT_SERVICE_SHUTDOWN);
        proc_terminate($this->proc, 15);
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertFalse($r->hasFault(), (string) $r->getFault()?->getMessageLong());
        $this->assertSame('busy', $r->getResponseData());
        $this->assertSame(0, $this->waitExit($this->proc));
        $s = self::readSlot($this->segment, self::SLOT);
        $this->assertSame(StatsSegment::STATE_STOPPING, $s['state']);
        $this->assertSame(StatsSegment::EXIT_SERVICE_SHUTDOWN, $s['exitReason']);
        $this->assertSame(1, $s['responses']);
    }

    public function testMaximumRequests(): void
    {
        $this->startManaged([], 4, 60, 2);
        $c = $this->client();
        $this->call($c, 'a');
        $this->call($c, 'b');
        $this->assertSame(0, $this->waitExit($this->proc));
        $s = self::readSlot($this->segment, self::SLOT);
        $this->assertSame(StatsSegment::EXIT_MAX_REQUESTS, $s['exitReason']);
        $this->assertSame(2, $s['requests']);
    }

    public function testClientErrorsAreHidden(): void
    {
        $this->startManaged();
        // A bad packet, then a client that connects and leaves.
        $sock = "unix://$this->dir/" . self::KEY . '.socket';
        $bad = stream_socket_client($sock);
        fwrite($bad, '0G,0z,');
        $this->assertSame('', stream_get_contents($bad));
        fclose($bad);
        fclose(stream_socket_client($sock));
        $c = $this->client();
        $this->assertSame('fine', $this->call($c, 'fine')->getResponseData());
        $this->assertTrue(proc_get_status($this->proc)['running']);
        $s = $this->slotWhen(fn ($s) => $s['responses'] === 1);
        // Read errors are not requests: neither responses nor faults.
        $this->assertSame([1, 1, 0], [$s['requests'], $s['responses'], $s['faults']]);
        proc_terminate($this->proc, 15);
        $this->assertSame(0, $this->waitExit($this->proc));
        $entries = array_merge(...array_column($this->reports(1.0), 'entries'));
        $this->assertSame(
            [Reporter::READ_ERROR, Reporter::READ_ERROR, Reporter::OK],
            array_column($entries, 'outcome')
        );
    }

    public function testNoWaitClosesBeforeTheServiceAnswers(): void
    {
        $this->startManaged();
        $c = $this->client();
        $t = microtime(true);
        $r = $this->call($c, 'nw', ['echo.sleepMS' => '1500'], ClientRequest::NO_WAIT_ATTR);
        $this->assertLessThan(1.0, microtime(true) - $t);
        $this->assertFalse($r->hasFault());
        $this->assertTrue($this->waitFor(fn () => self::readSlot($this->segment, self::SLOT)['responses'] === 1));
    }

    public function testAffinityWaitIsState3AndTimesOut(): void
    {
        $this->startManaged([], 4, 1);
        $c = $this->client();
        $r = $this->call($c, 'a', [], ClientRequest::KEEP_AFFINITY_ATTR | ClientRequest::NO_RETRY_ATTR);
        $this->assertFalse($r->hasFault());
        $this->assertSame(StatsSegment::STATE_AFFINITY, $this->slotWhen(fn ($s) => $s['responses'] === 1)['state']);
        $conn = $r->affinity();
        $r->setAttribute(ClientRequest::NEED_AFFINITY_ATTR);
        for ($i = 2; $i <= 3; $i++) {
            $r->setRequestData("a$i");
            $this->assertTrue($c->addRequest(self::KEY, $r));
            $this->assertSame(1, $c->executeAndWaitOne($r));
            $this->assertSame("a$i", $r->getResponseData());
            $this->assertSame($conn, $r->affinity(), 'a new connection was made');
        }
        $s = $this->slotWhen(fn ($s) => $s['responses'] === 3);
        $this->assertSame([3, StatsSegment::STATE_AFFINITY], [$s['requests'], $s['state']]);
        // affinity-timeout (1 s here) ends the wait; the service goes back to accept.
        $this->assertTrue($this->waitFor(
            fn () => self::readSlot($this->segment, self::SLOT)['state'] === StatsSegment::STATE_IDLE,
            3.0
        ));
        $this->assertTrue($c->addRequest(self::KEY, $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertTrue($r->hasFault(), 'affinity connection should be gone');
        $this->assertSame('fresh', $this->call($c, 'fresh')->getResponseData());
    }

    public function testSigtermDuringAffinityWait(): void
    {
        $this->startManaged();
        $c = $this->client();
        $r = $this->call($c, 'a', [], ClientRequest::KEEP_AFFINITY_ATTR | ClientRequest::NO_RETRY_ATTR);
        $this->assertSame(StatsSegment::STATE_AFFINITY, $this->slotWhen(fn ($s) => $s['responses'] === 1)['state']);
        $t = microtime(true);
        proc_terminate($this->proc, 15);
        $this->assertSame(0, $this->waitExit($this->proc));
        $this->assertLessThan(1.0, microtime(true) - $t);
        $this->assertSame(StatsSegment::STATE_STOPPING, self::readSlot($this->segment, self::SLOT)['state']);
    }

    public function testTheSlotIsMappedWithFfi(): void
    {
        if (!extension_loaded('ffi')) {
            $this->markTestSkipped('ext-ffi is not loaded');
        }
        $dir = $this->tempDir();
        $shm = $this->makeSegment("$dir/x.mmap", 2);
        self::writeSlotField($shm, 1, 48, 7);
        [$p] = $this->spawn(
            self::FIXTURES . '/segment.php',
            [4 => $shm],
            ['plutonSlot' => '1']
        );
        $pid = proc_get_status($p)['pid'];
        $this->assertSame(0, $this->waitExit($p), 'the slot is not mapped');
        $s = self::readSlot("$dir/x.mmap", 1);
        $this->assertSame(
            [$pid, StatsSegment::STATE_IDLE, 1, 1, 0, 7],
            [$s['pid'], $s['state'], $s['requests'], $s['responses'], $s['faults'], $s['maximumRequests']]
        );
        $this->assertSame(0, self::readSlot("$dir/x.mmap", 0)['pid'], 'slot 0 is untouched');
    }

    /**
     * Without ext-ffi (php -n, with ext-sockets only): the slot is written
     * with fseek + fwrite, and SIGTERM still stops an idle instance at once.
     */
    public function testWithoutFfi(): void
    {
        $this->startManaged([], 4, 1, 0, ['-n', '-d', 'extension=sockets']);
        $c = $this->client();
        $this->assertSame('Hello', $this->call($c, 'Hello')->getResponseData());
        $this->assertSame(111, $this->call($c, 'x', ['echo.sleepMS' => '-1'])->getFaultCode());
        $r = $this->call($c, 'a1', [], ClientRequest::KEEP_AFFINITY_ATTR | ClientRequest::NO_RETRY_ATTR);
        $this->assertSame('a1', $r->getResponseData());
        $r->setAttribute(ClientRequest::NEED_AFFINITY_ATTR);
        $r->setRequestData('a2');
        $this->assertTrue($c->addRequest(self::KEY, $r));
        $this->assertSame(1, $c->executeAndWaitOne($r));
        $this->assertSame('a2', $r->getResponseData());
        $s = $this->slotWhen(fn ($s) => $s['responses'] === 3);
        $this->assertSame(
            [4, 3, 1, StatsSegment::STATE_AFFINITY],
            [$s['requests'], $s['responses'], $s['faults'], $s['state']]
        );
        // affinity-timeout (1 s here) ends the wait; the service goes back to accept.
        $this->assertTrue($this->waitFor(
            fn () => self::readSlot($this->segment, self::SLOT)['state'] === StatsSegment::STATE_IDLE,
            3.0
        ));
        self::writeSlotField($this->shm, self::SLOT, 52, StatsSegment::EXIT_IDLE_TIMEOUT);
        $t = microtime(true);
        proc_terminate($this->proc, 15);
        $this->assertSame(0, $this->waitExit($this->proc));
        $this->assertLessThan(1.0, microtime(true) - $t, 'slow to stop on SIGTERM');
        $s = self::readSlot($this->segment, self::SLOT);
        $this->assertSame(
            [StatsSegment::STATE_STOPPING, StatsSegment::EXIT_IDLE_TIMEOUT],
            [$s['state'], $s['exitReason']]
        );
        $entries = array_merge(...array_column($this->reports(1.0), 'entries'));
        $this->assertSame(
            [Reporter::OK, Reporter::FAULT, Reporter::OK, Reporter::OK],
            array_column($entries, 'outcome')
        );
    }

    public function testBadSegmentFallsBackToNoStats(): void
    {
        $this->dir = $this->tempDir();
        $segment = "$this->dir/x.mmap";
        $shm = $this->makeSegment($segment);
        fseek($shm, 4);
        fwrite($shm, pack('V', 99)); // version
        $before = file_get_contents($segment);
        $listen = stream_socket_server("unix://$this->dir/" . self::KEY . '.socket');
        [$p, $pipes] = $this->spawn(self::ECHO, [3 => $listen, 4 => $shm, 5 => ['pipe', 'w']], ['plutonSlot' => '0']);
        $this->pipes = $pipes;
        $c = $this->client();
        $this->assertSame('ok', $this->call($c, 'ok')->getResponseData());
        proc_terminate($p, 15);
        $this->assertSame(0, $this->waitExit($p));
        $this->assertSame($before, file_get_contents($segment));
        $recs = $this->reports(1.0);
        $this->assertSame(Reporter::NO_SLOT, $recs[0]['slot']);
    }

    public function testSlotOutOfRangeFallsBackToNoStats(): void
    {
        $this->startManaged(['plutonSlot' => '4'], 4);
        $c = $this->client();
        $this->assertSame('ok', $this->call($c, 'ok')->getResponseData());
        for ($i = 0; $i < 4; $i++) {
            $this->assertSame(0, self::readSlot($this->segment, $i)['requests']);
        }
    }

    public function testNonListeningSocketOnFd3IsNotManagerMode(): void
    {
        // fd 3 a connected socket, fd 4 a file, fd 5 a pipe: stand-alone mode,
        // so the request is read from fd 3 and the response written to fd 4.
        $dir = $this->tempDir();
        [$mine, $theirs] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        $out = fopen("$dir/out", 'w+');
        [$p] = $this->spawn(self::ECHO, [3 => $theirs, 4 => $out, 5 => ['pipe', 'w']]);
        fclose($theirs);
        fwrite($mine, "0Q,1b1,17csystem.echo.0.raw,1l0,2khi,0z\n");
        fclose($mine);
        $this->assertSame(0, $this->waitExit($p));
        $this->assertMatchesRegularExpression(
            "/^0A,1b1,\\d+secho:\\d+\\/0,2qhi,0z\n\\z/",
            file_get_contents("$dir/out")
        );
    }

    /**
     * @return array<string,array{0:int}>
     */
    public static function oneThreadProvider(): array
    {
        return ['unset (0)' => [0], 'one' => [1]];
    }

    /** @dataProvider oneThreadProvider */
    public function testOneThreadPerInstanceServes(int $threads): void
    {
        $m = $this->manage(self::ECHO, self::KEY, [], ['threadsPerInstance' => $threads]);
        $this->dir = $m['dir'];
        $this->assertSame('ok', $this->call($this->client(), 'ok')->getResponseData());
        proc_terminate($m['proc'], 15);
        $this->assertSame(0, $this->waitExit($m['proc']));
    }

    public function testMoreThanOneThreadPerInstanceIsRefused(): void
    {
        // docs/protocol.md 4.1: an SDK that serves one request at a time refuses to start.
        $dir = $this->tempDir();
        $segment = "$dir/" . self::KEY . '.mmap';
        $shm = $this->makeSegment($segment, 4, 60, ['threadsPerInstance' => 3]);
        $listen = stream_socket_server("unix://$dir/" . self::KEY . '.socket');
        [$p, $pipes] = $this->spawn(self::ECHO, [3 => $listen, 4 => $shm, 5 => ['pipe', 'w']], ['plutonSlot' => '1']);
        fclose($listen);
        $this->assertSame(1, $this->waitExit($p), 'echo.php exits 1 when initialize() throws');
        $line = 'maximum-threads 3 is not supported by the PHP SDK: an instance serves one request at a time; '
            . 'set maximum-threads 1 and raise maximum-processes';
        $stderr = self::readAll($pipes[2], 0.2);
        $this->assertContains($line, explode("\n", $stderr), "stderr: $stderr");
        $this->assertSame(StatsSegment::STATE_STARTING, self::readSlot($segment, 1)['state'], 'never became idle');
        $this->assertSame('', self::readAll($pipes[5], 0.1), 'no report record');
    }

    public function testTheThreadFaultIsShmThreadConfigNotService(): void
    {
        $f = new Fault(Fault::SHM_THREAD_CONFIG_NOT_SERVICE, sprintf(\Pluton\Service::THREADS_REFUSED, 2));
        $this->assertSame(-104, $f->getCode());
        $this->assertSame('shmThreadConfigNotService', $f->name());
        $this->assertStringStartsWith('maximum-threads 2 is not supported by the PHP SDK', $f->text());
    }
}
