#!/usr/bin/env perl
# An echo written with the original Pluton Perl API (use Yahoo::pluton), for
# t/compat.t. Function "seq" checks the sequence faults of the original.
use strict;
use warnings;
use Yahoo::pluton;

my $svc = Yahoo::pluton::service->new('compat');
$svc->initialize or do { print STDERR 'init: ', $svc->getFaultMessage, "\n"; exit 42 };
if ($svc->initialize) { print STDERR "initialize twice succeeded\n"; exit 43 }
print STDERR 'second initialize: ', $svc->getFaultCode, "\n";
while ($svc->getRequest) {
    my $fn = $svc->getServiceFunction;
    if ($fn eq 'seq') {
        print STDERR 'getRequest while owed: ', ($svc->getRequest ? 'true' : 'false'), ' ', $svc->getFaultCode, "\n";
        $svc->sendResponse('once');
        print STDERR 'second sendResponse: ', ($svc->sendResponse('twice') ? 'true' : 'false'), ' ', $svc->getFaultCode, "\n";
        next;
    }
    if ($fn eq 'ctx') {
        my $v = $svc->getContext('a');
        if (!defined $v && $svc->hasFault) {
            $svc->sendFault(22, $svc->getFaultText);
            next;
        }
        $svc->sendResponse(defined $v ? "a=$v" : 'a!');
        next;
    }
    if ($fn eq 'fault') {
        $svc->sendFault(111, 'sleep time negative');
        next;
    }
    $svc->sendResponse(join '|', $svc->getServiceKey, $svc->getServiceApplication, $fn,
        $svc->getServiceVersion, $svc->getSerializationType, $svc->getClientName, $svc->getRequestData);
}
my $faulted = $svc->hasFault;
print STDERR 'stopped: ', $svc->getFaultMessage, "\n" if $faulted;
$svc->terminate;
exit($faulted ? 41 : 0);
