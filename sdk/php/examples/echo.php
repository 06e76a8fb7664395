#!/usr/bin/env php
<?php

/*
 * echo: the reference echo service, in the handler form. It returns the
 * request data as the response.
 *
 * Context:
 *   echo.sleepMS     sleep this many ms before replying; a negative value
 *                    gives fault 111 "sleep time negative"
 *   echo.sleepAfter  sleep this many seconds after replying
 *   echo.log         write this text to stderr (the manager's log)
 *   echo.die         (any value, as plPing -k sends it) exit at once with
 *                    status 3, without a response
 *
 * Exit: 1 if it cannot start or stops on a bad request, 3 for echo.die,
 * else 0.
 *
 * Try it without a manager (stand-alone mode, fd 3 in, fd 4 out):
 *   printf '0Q,1b0,17csystem.echo.0.raw,1l0,5kHello,0z\n' | ./echo.php 3<&0 4>&1
 */

declare(strict_types=1);

// Installed with Composer, vendor/autoload.php is found above the package;
// from the tarball or the source tree, the package's own autoload.php.
foreach ([__DIR__ . '/../autoload.php', __DIR__ . '/../../../autoload.php'] as $autoload) {
    if (is_file($autoload)) {
        require $autoload;
        break;
    }
}

use Pluton\Fault;
use Pluton\Request;
use Pluton\Service;

$service = new Service('echo');
$requests = 0;
$bytes = 0;
$service->onStop(function () use (&$requests, &$bytes): void {
    fprintf(STDERR, "echo stats: Rq=%d MB=%d\n", $requests, intdiv($bytes, 1000000));
});

try {
    $service->serve(function (Request $request) use (&$requests, &$bytes): string {
        $requests++;
        $data = $request->data();
        $bytes += strlen($data);
        if ($request->context('echo.die') !== null) { // plPing -k
            fprintf(STDERR, "echo: echo.die: exiting without a response to request %d\n", $request->id());
            exit(3);
        }
        $log = $request->context('echo.log');
        if ($log !== null) {
            fwrite(STDERR, $log . "\n");
        }
        $sleepMS = (int) ($request->context('echo.sleepMS') ?? 0);
        if ($sleepMS < 0) {
            throw new Fault(111, 'sleep time negative');
        }
        if ($sleepMS > 0) {
            usleep($sleepMS * 1000);
        }
        $sleepAfter = (int) ($request->context('echo.sleepAfter') ?? 0);
        if ($sleepAfter > 0) {
            $request->respond($data);
            sleep($sleepAfter);
        }
        return $data;
    });
} catch (Fault $f) {
    fwrite(STDERR, 'echo: ' . $f->getMessage() . "\n");
    exit(1);
}
