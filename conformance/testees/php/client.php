<?php

// The PHP SDK's client driver for the conformance suite (conformance/README.md):
//
//     client.php <lookup> <key> [-C key=value]... [-w] < data
//
// Sends one request with Pluton\Client::call() (-w: noWait), writes the response data
// to stdout and exits 0, or writes "FAULT <code> <text>" to stderr and exits 1.

declare(strict_types=1);

require dirname(__DIR__, 3) . '/sdk/php/autoload.php';

use Pluton\Client;
use Pluton\Fault;

const USAGE = "usage: client.php <lookup> <key> [-C key=value]... [-w] < data\n";

function usage(string $why): never
{
    fwrite(STDERR, "client.php: $why\n" . USAGE);
    exit(2);
}

$args = array_slice($argv, 1);
if (count($args) < 2) {
    usage('missing arguments');
}
[$lookup, $key] = array_splice($args, 0, 2);
$context = [];
$noWait = false;
for ($i = 0; $i < count($args); $i++) {
    $a = $args[$i];
    if ($a === '-w') {
        $noWait = true;
        continue;
    }
    if ($a === '-C' && $i + 1 < count($args)) {
        $pair = $args[++$i];
    } elseif (strlen($a) > 2 && str_starts_with($a, '-C')) {
        $pair = substr($a, 2);
    } else {
        usage("unexpected argument '$a'");
    }
    $kv = explode('=', $pair, 2);
    if (count($kv) !== 2) {
        usage('-C needs key=value');
    }
    $context[$kv[0]] = $kv[1];
}

$data = stream_get_contents(STDIN);
if ($data === false) {
    $data = '';
}

try {
    $client = new Client('phpClient', lookup: $lookup);
    fwrite(STDOUT, $client->call($key, $data, context: $context, noWait: $noWait));
} catch (Fault $f) {
    fwrite(STDERR, sprintf("FAULT %d %s\n", $f->getCode(), $f->text()));
    exit(1);
}
exit(0);
