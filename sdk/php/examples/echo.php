#!/usr/bin/env php
<?php

/*
 * echo: the reference echo service. It returns the request data as the
 * response.
 *
 * Context:
 *   echo.sleepMS     sleep this many ms before replying; a negative value
 *                    gives fault 111 "sleep time negative"
 *   echo.sleepAfter  sleep this many seconds after replying
 *   echo.log         write this text to stderr (the manager's log)
 *
 * Exit: 42 if initialize fails, 41 if it stopped with a fault, else 0.
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

use Pluton\Service;

$service = new Service('echo');
if (!$service->initialize()) {
    fwrite(STDERR, 'echo: ' . $service->getFault()->getMessageLong() . "\n");
    exit(42);
}

$requests = 0;
$bytes = 0;
while ($service->getRequest()) {
    $requests++;
    $data = $service->getRequestData();
    $bytes += strlen($data);

    $log = $service->getContext('echo.log');
    if ($log !== null) {
        fwrite(STDERR, $log . "\n");
    }
    $sleepMS = (int) ($service->getContext('echo.sleepMS') ?? 0);
    if ($sleepMS < 0) {
        $service->sendFault(111, 'sleep time negative');
        continue;
    }
    if ($sleepMS > 0) {
        usleep($sleepMS * 1000);
    }
    $service->sendResponse($data);

    $sleepAfter = (int) ($service->getContext('echo.sleepAfter') ?? 0);
    if ($sleepAfter > 0) {
        sleep($sleepAfter);
    }
    if ($requests % 10000 === 0) {
        fprintf(STDERR, "echo stats: Rq=%d MB=%d\n", $requests, intdiv($bytes, 1000000));
    }
}

$fault = $service->getFault();
$service->terminate();
fprintf(STDERR, "echo stats: Rq=%d MB=%d\n", $requests, intdiv($bytes, 1000000));
if ($fault !== null) {
    fwrite(STDERR, 'echo: ' . $fault->getMessageLong() . "\n");
    exit(41);
}
exit(0);
