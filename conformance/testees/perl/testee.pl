#!/usr/bin/env perl
# The Perl SDK's testee for the conformance suite (conformance/README.md): a
# service named "testee" that answers by the function of the request's key,
# exactly as go/cmd/conformanceTestee does. It uses only the public API of
# the SDK in sdk/perl/lib, loaded from the source tree.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);
use Time::HiRes ();

use lib File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..', '..', 'sdk', 'perl', 'lib');

use Pluton::Fault;
use Pluton::Service;

# context($svc, $key): the value or undef; a malformed context faults the
# request with code 22 and dies with "context faulted\n".
sub context {
    my ($svc, $key) = @_;
    my $v = $svc->context($key);
    if (!defined $v && $svc->has_fault && $svc->fault_code == Pluton::Fault::contextFormatError()) {
        $svc->send_fault(22, $svc->fault_text);
        die "context faulted\n";
    }
    return $v;
}

# strconv.Atoi with the error ignored: an optional sign and digits, else 0.
sub atoi {
    my $s = shift;
    return defined $s && $s =~ /\A[+-]?[0-9]+\z/ ? 0 + $s : 0;
}

sub answer {
    my ($svc, $served) = @_;
    my $fn = $svc->function;
    if ($fn eq 'echo') {
        $svc->send_response($svc->request_data);
    }
    elsif ($fn eq 'sleep') {
        my $ms = atoi(context($svc, 'sleep.ms'));
        Time::HiRes::sleep($ms / 1000) if $ms > 0;
        $svc->send_response($svc->request_data);
    }
    elsif ($fn eq 'fault') {
        my $code = atoi(context($svc, 'fault.code'));
        my $text = context($svc, 'fault.text');
        $svc->send_fault($code, defined $text ? $text : '');
    }
    elsif ($fn eq 'context') {
        (my $data = $svc->request_data) =~ s/\n+\z//;
        my @keys = length $data ? split(/\n/, $data, -1) : ('');
        my $out = '';
        for my $k (@keys) {
            my $v = context($svc, $k);
            $out .= defined $v ? "$k=$v\n" : "$k!\n";
        }
        $svc->send_response($out);
    }
    elsif ($fn eq 'key') {
        $svc->send_response(sprintf("%s\n%s\n%d\n%s\n%s", $svc->application, $fn, $svc->version,
            $svc->serialization, $svc->service_key));
    }
    elsif ($fn eq 'client') {
        $svc->send_response($svc->client_name);
    }
    elsif ($fn eq 'flags') {
        $svc->send_response(sprintf('noWait=%d keepAffinity=%d', $svc->no_wait ? 1 : 0, $svc->keep_affinity ? 1 : 0));
    }
    elsif ($fn eq 'pid') {
        $svc->send_response("$$:$served");
    }
    elsif ($fn eq 'exit') {
        my $code = eval { atoi(context($svc, 'exit.code')) };    # a bad context: the fault is sent, then exit 0
        exit(defined $code ? $code : 0);
    }
    else {
        $svc->send_fault(2, "unknown function $fn");
    }
}

my $svc = Pluton::Service->new('testee');
if (!$svc->initialize) {
    print STDERR 'testee: ', $svc->fault->message, "\n";
    exit 1;
}
my $served = 0;
while ($svc->get_request) {
    $served++;
    eval { answer($svc, $served); 1 } or do {
        die $@ unless $@ eq "context faulted\n";
    };
}
my $fault = $svc->has_fault ? $svc->fault : undef;
$svc->terminate;
if ($fault) {
    print STDERR 'testee: ', $fault->message, "\n";
    exit 1;
}
exit 0;
