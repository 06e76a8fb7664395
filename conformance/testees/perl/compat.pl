#!/usr/bin/env perl
# The Perl SDK's compatibility testee for the conformance suite
# (conformance/README.md): the same service as testee.pl, written with the
# original Pluton Perl API (use Yahoo::pluton; initialize, getRequest,
# sendResponse, sendFault, terminate and the getters), as a service written
# for the original would be.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);
use Time::HiRes ();

use lib File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..', '..', 'sdk', 'perl', 'lib');

use Yahoo::pluton;

# context($svc, $key): the value or undef; a malformed context (fault -22)
# answers the request with fault 22 and dies with "context faulted\n".
sub context {
    my ($svc, $key) = @_;
    my $v = $svc->getContext($key);
    if (!defined $v && $svc->hasFault && $svc->getFaultCode == -22) {
        $svc->sendFault(22, $svc->getFaultText);
        die "context faulted\n";
    }
    return $v;
}

sub atoi {
    my $s = shift;
    # strconv.Atoi with errors ignored: saturated at the 64-bit range, else 0
    return 0 unless defined $s && $s =~ /\A([+-]?)0*([0-9]+)\z/;
    my ($sign, $digits) = ($1, $2);
    my $max = $sign eq '-' ? '9223372036854775808' : '9223372036854775807';
    return $sign . $max if length($digits) > 19 || (length($digits) == 19 && $digits gt $max);
    return 0 + $s;
}

sub answer {
    my ($svc, $served) = @_;
    my $fn = $svc->getServiceFunction;
    if ($fn eq 'echo') {
        $svc->sendResponse($svc->getRequestData);
    }
    elsif ($fn eq 'sleep') {
        my $ms = atoi(context($svc, 'sleep.ms'));
        Time::HiRes::sleep($ms / 1000) if $ms > 0;
        $svc->sendResponse($svc->getRequestData);
    }
    elsif ($fn eq 'fault') {
        my $code = atoi(context($svc, 'fault.code'));
        my $text = context($svc, 'fault.text');
        $svc->sendFault($code, defined $text ? $text : q{});
    }
    elsif ($fn eq 'context') {
        (my $data = $svc->getRequestData) =~ s/\n+\z//;
        my @keys = length $data ? split(/\n/, $data, -1) : (q{});
        my $out = q{};
        for my $k (@keys) {
            my $v = context($svc, $k);
            $out .= defined $v ? "$k=$v\n" : "$k!\n";
        }
        $svc->sendResponse($out);
    }
    elsif ($fn eq 'key') {
        $svc->sendResponse(sprintf "%s\n%s\n%d\n%s\n%s", $svc->getServiceApplication, $fn,
            $svc->getServiceVersion, $svc->getSerializationType, $svc->getServiceKey);
    }
    elsif ($fn eq 'client') {
        $svc->sendResponse($svc->getClientName);
    }
    elsif ($fn eq 'flags') {
        # the original API has no getters for the attributes: the native request has
        my $r = $svc->request;
        $svc->sendResponse(sprintf 'noWait=%d keepAffinity=%d', $r->no_wait, $r->keep_affinity);
    }
    elsif ($fn eq 'pid') {
        $svc->sendResponse("$$:$served");
    }
    elsif ($fn eq 'exit') {
        my $code = eval { atoi(context($svc, 'exit.code')) };
        exit(defined $code ? $code : 0);
    }
    else {
        $svc->sendFault(2, "unknown function $fn");
    }
    return;
}

my $svc = Yahoo::pluton::service->new('testee');
if (!$svc->initialize) {
    print STDERR 'testee: ', $svc->getFaultMessage, "\n";
    exit 1;
}
my $served = 0;
while ($svc->getRequest) {
    $served++;
    eval { answer($svc, $served); 1 } or do {
        die $@ unless $@ eq "context faulted\n";
    };
}
my $faulted = $svc->hasFault;
print STDERR 'testee: ', $svc->getFaultMessage, "\n" if $faulted;
$svc->terminate;
exit($faulted ? 1 : 0);
