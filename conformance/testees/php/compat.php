<?php

// The PHP SDK's testee for the conformance suite (conformance/README.md),
// written with the original Pluton PHP API (PlutonService, initialize,
// getRequest, sendResponse, sendFault, terminate and the getters), which
// the SDK keeps as a compatibility layer: a service named "testee" that
// answers by the function of the request's key, exactly as
// go/cmd/conformanceTestee does. testee.php is the same with the native API.

declare(strict_types=1);

require dirname(__DIR__, 3) . '/sdk/php/autoload.php';

use Pluton\Fault;
use Pluton\ServiceKey;

/** Thrown when the context was malformed and the request was answered with fault 22. */
final class ContextFaulted extends \Exception
{
}

/** A context value or null; a malformed context faults the request with code 22. */
function context(PlutonService $svc, string $key): ?string
{
    $v = $svc->getContext($key);
    if ($v === null && $svc->hasFault() && $svc->getFault()->getFaultCode() === Fault::CONTEXT_FORMAT_ERROR) {
        $svc->sendFault(22, $svc->getFault()->getFaultText());
        throw new ContextFaulted();
    }
    return $v;
}

/** strconv.Atoi with the error ignored: an optional sign and digits, else 0. */
function atoi(?string $s): int
{
    return $s !== null && preg_match('/\A[+-]?[0-9]+\z/', $s) ? (int) $s : 0;
}

/** The serialization's name, from the char code the SDK returns. */
function serializationName(int $code): string
{
    foreach (ServiceKey::SERIALIZATIONS as $name) {
        if (constant(ServiceKey::class . '::SERIALIZATION_' . strtoupper($name)) === $code) {
            return $name;
        }
    }
    return '?';
}

function answer(PlutonService $svc, int $served): void
{
    $fn = $svc->getServiceFunction();
    switch ($fn) {
        case 'echo':
            $svc->sendResponse($svc->getRequestData());
            break;
        case 'sleep':
            $ms = atoi(context($svc, 'sleep.ms'));
            if ($ms > 0) {
                usleep($ms * 1000);
            }
            $svc->sendResponse($svc->getRequestData());
            break;
        case 'fault':
            $code = atoi(context($svc, 'fault.code'));
            $text = context($svc, 'fault.text') ?? '';
            $svc->sendFault($code, $text);
            break;
        case 'context':
            $out = '';
            foreach (explode("\n", rtrim($svc->getRequestData(), "\n")) as $k) {
                $v = context($svc, $k);
                $out .= $v !== null ? "$k=$v\n" : "$k!\n";
            }
            $svc->sendResponse($out);
            break;
        case 'key':
            $svc->sendResponse(sprintf("%s\n%s\n%d\n%s\n%s", $svc->getServiceApplication(), $fn,
                $svc->getServiceVersion(), serializationName($svc->getSerializationType()), $svc->getServiceKey()));
            break;
        case 'client':
            $svc->sendResponse($svc->getClientName());
            break;
        case 'flags':
            $svc->sendResponse(sprintf('noWait=%d keepAffinity=%d', $svc->getNoWait() ? 1 : 0,
                $svc->getKeepAffinity() ? 1 : 0));
            break;
        case 'pid':
            $svc->sendResponse(getmypid() . ':' . $served);
            break;
        case 'exit':
            try {
                $code = atoi(context($svc, 'exit.code'));
            } catch (ContextFaulted) { // as the Go testee: the fault is sent, then exit 0
                $code = 0;
            }
            exit($code);
        default:
            $svc->sendFault(2, 'unknown function ' . $fn);
    }
}

$svc = new PlutonService('testee');
if (!$svc->initialize()) {
    fwrite(STDERR, 'testee: ' . $svc->getFault()->getMessageLong() . "\n");
    exit(1);
}
$served = 0;
while ($svc->getRequest()) {
    $served++;
    try {
        answer($svc, $served);
    } catch (ContextFaulted) {
    }
}
$fault = $svc->hasFault() ? $svc->getFault() : null;
$svc->terminate();
if ($fault !== null) {
    fwrite(STDERR, 'testee: ' . $fault->getMessageLong() . "\n");
    exit(1);
}
exit(0);
