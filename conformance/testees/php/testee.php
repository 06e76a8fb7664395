<?php

// The PHP SDK's testee for the conformance suite (conformance/README.md),
// written with the native API (Pluton\Service in the handler form): a
// service named "testee" that answers by the function of the request's key,
// exactly as go/cmd/conformanceTestee does. compat.php does the same with
// the original API. Both load the SDK from the source tree.

declare(strict_types=1);

require dirname(__DIR__, 3) . '/sdk/php/autoload.php';

use Pluton\Fault;
use Pluton\Request;
use Pluton\Service;

/** strconv.Atoi with the error ignored: an optional sign and digits, else 0. */
function atoi(?string $s): int
{
    return $s !== null && preg_match('/\A[+-]?[0-9]+\z/', $s) ? (int) $s : 0;
}

/** A context value; a malformed context is answered with fault 22 and the decoder's message. */
function context(Request $r, string $name): ?string
{
    try {
        return $r->context($name);
    } catch (Fault $f) {
        throw new Fault(22, $f->text());
    }
}

$served = 0;
$handler = function (Request $r) use (&$served): ?string {
    $served++;
    $key = $r->key();
    switch ($key->function()) {
        case 'echo':
            return $r->data();
        case 'sleep':
            $ms = atoi(context($r, 'sleep.ms'));
            if ($ms > 0) {
                usleep($ms * 1000);
            }
            return $r->data();
        case 'fault':
            throw new Fault(atoi(context($r, 'fault.code')), context($r, 'fault.text') ?? '');
        case 'context':
            $out = '';
            foreach (explode("\n", rtrim($r->data(), "\n")) as $k) {
                $v = context($r, $k);
                $out .= $v !== null ? "$k=$v\n" : "$k!\n";
            }
            return $out;
        case 'key':
            return sprintf(
                "%s\n%s\n%d\n%s\n%s",
                $key->application(),
                $key->function(),
                $key->version(),
                $key->serialization(),
                $key
            );
        case 'client':
            return $r->clientName();
        case 'flags':
            return sprintf('noWait=%d keepAffinity=%d', $r->noWait() ? 1 : 0, $r->keepAffinity() ? 1 : 0);
        case 'pid':
            return getmypid() . ':' . $served;
        case 'exit':
            try {
                $code = atoi(context($r, 'exit.code'));
            } catch (Fault $f) { // as the Go testee: the fault is sent, then exit 0
                $r->fault($f->getCode(), $f->text());
                $code = 0;
            }
            exit($code);
        default:
            throw new Fault(2, 'unknown function ' . $key->function());
    }
};

try {
    (new Service('testee'))->serve($handler);
} catch (Fault $f) {
    fwrite(STDERR, 'testee: ' . $f->getMessage() . "\n");
    exit(1);
}
exit(0);
