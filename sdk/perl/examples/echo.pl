#!/usr/bin/env perl
# The echo service: replies with the request data.
#
# Context: echo.sleepMS (sleep that many ms first; negative gives fault 111),
# echo.sleepAfter (seconds to sleep after replying), echo.log (log to stderr).
# Exit codes: 42 if initialize fails, 41 if it stopped with a fault, else 0.
#
# Try it stand-alone:  ./examples/echo.pl 3<requests 4>responses
use strict;
use warnings;

use FindBin ();
# Run from the source tree (or an unpacked tarball): use the SDK beside this
# script; otherwise the installed Pluton.
use lib do { my $lib = "$FindBin::RealBin/../lib"; -f "$lib/Pluton/Service.pm" ? $lib : () };

use Time::HiRes ();
use Pluton::Service;

sub nap {    # sleeps the whole time, even if a signal interrupts the sleep
    my $seconds = shift;
    my $until = Time::HiRes::time() + $seconds;
    while ((my $left = $until - Time::HiRes::time()) > 0) {
        Time::HiRes::sleep($left);
    }
}

sub int_of {
    my $v = shift;
    return defined $v && $v =~ /^\s*([+-]?\d+)/ ? 0 + $1 : 0;
}

my $svc = Pluton::Service->new('echo');
if (!$svc->initialize) {
    print STDERR 'echo: initialize failed: ', $svc->fault->message, "\n";
    exit 42;
}

my ($requests, $bytes) = (0, 0);
while ($svc->get_request) {
    my $data = $svc->request_data;
    $requests++;
    $bytes += length $data;

    my $ms = $svc->context('echo.sleepMS');
    if (defined $ms) {
        $ms = int_of($ms);
        if ($ms < 0) {
            $svc->send_fault(111, 'sleep time negative');
            next;
        }
        nap($ms / 1000) if $ms > 0;
    }
    if (defined(my $log = $svc->context('echo.log'))) {
        print STDERR "echo: $log\n";
    }
    $svc->send_response($data);

    my $after = int_of($svc->context('echo.sleepAfter'));
    nap($after) if $after > 0;
}

my $faulted = $svc->has_fault;
print STDERR 'echo: stopped with ', $svc->fault->message, "\n" if $faulted;
printf STDERR "echo stats: Rq=%d MB=%d\n", $requests, $bytes / (1024 * 1024)
    if exists $ENV{plutonPacketTrace};
$svc->terminate;
exit($faulted ? 41 : 0);
