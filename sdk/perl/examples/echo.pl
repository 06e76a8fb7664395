#!/usr/bin/env perl
# The echo service: replies with the request data (the handler form).
#
# Context: echo.sleepMS (sleep that many ms first; negative gives fault 111),
# echo.sleepAfter (seconds to sleep after replying), echo.log (log to stderr),
# echo.die (any value, as plPing -k sends it: exit 3 at once, without a
# response).
# Exit codes: 42 if it cannot start, 41 if it stopped with a fault, 3 for
# echo.die, else 0.
#
# Try it stand-alone:  ./examples/echo.pl 3<requests 4>responses
use strict;
use warnings;

use FindBin ();
# Run from the source tree (or an unpacked tarball): use the SDK beside this
# script; otherwise the installed Pluton.
use lib do { my $lib = "$FindBin::RealBin/../lib"; -f "$lib/Pluton/Service.pm" ? $lib : () };

use POSIX ();
use Time::HiRes ();
use Pluton::Service;

sub nap {    # sleeps the whole time, even if a signal interrupts the sleep
    my $seconds = shift;
    my $until = Time::HiRes::time() + $seconds;
    while ((my $left = $until - Time::HiRes::time()) > 0) {
        Time::HiRes::sleep($left);
    }
    return;
}

sub int_of {
    my $v = shift;
    return defined $v && $v =~ /^\s*([+-]?\d+)/ ? 0 + $1 : 0;
}

my $service = Pluton::Service->new('echo');
if (!eval { $service->initialize; 1 }) {
    print STDERR "echo: cannot start: $@\n";
    exit 42;
}

my ($requests, $bytes) = (0, 0);
my $ok = eval {
    $service->serve(sub {
        my $request = shift;
        my $data = $request->data;
        $requests++;
        $bytes += length $data;
        my @hooks = $request->context_names;
        return $data unless @hooks;    # no test hook asked for

        if (defined $request->context('echo.die')) {    # plPing -k
            print STDERR 'echo: echo.die: exiting without a response to request ', $request->id, "\n";
            POSIX::_exit(3);
        }
        my $ms = $request->context('echo.sleepMS');
        if (defined $ms) {
            $ms = int_of($ms);
            die Pluton::Fault->new(code => 111, text => 'sleep time negative') if $ms < 0;
            nap($ms / 1000) if $ms > 0;
        }
        if (defined(my $log = $request->context('echo.log'))) {
            print STDERR "echo: $log\n";
        }
        my $after = int_of($request->context('echo.sleepAfter'));
        return $data if $after <= 0;
        $request->respond($data);
        nap($after);
        return;
    });
    1;
};
print STDERR "echo: stopped with $@\n" unless $ok;
printf STDERR "echo stats: Rq=%d MB=%d\n", $requests, $bytes / (1024 * 1024)
    if exists $ENV{plutonPacketTrace};
exit($ok ? 0 : 41);
