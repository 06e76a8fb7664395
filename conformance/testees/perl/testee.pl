#!/usr/bin/env perl
# The Perl SDK's testee for the conformance suite (conformance/README.md): a
# service named "testee" that answers by the function of the request's key,
# exactly as go/cmd/conformanceTestee does. It uses the native API of the SDK
# (handler form) in sdk/perl/lib, loaded from the source tree; compat.pl does
# the same with the original Pluton API.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);
use Time::HiRes ();

use lib File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..', '..', 'sdk', 'perl', 'lib');

use Pluton::Fault qw(CONTEXT_FORMAT_ERROR);
use Pluton::Service;

# context($request, $name): the value or undef; a malformed context dies with
# fault 22 and the decoder's message (so that it travels in a response).
sub context {
    my ($request, $name) = @_;
    my $v = eval { $request->context($name) };
    if (my $f = $@) {
        die $f unless ref $f && $f->code == CONTEXT_FORMAT_ERROR;
        die Pluton::Fault->new(code => 22, text => $f->text);
    }
    return $v;
}

# strconv.Atoi with the error ignored: an optional sign and digits, else 0.
sub atoi {
    my $s = shift;
    # strconv.Atoi with errors ignored: saturated at the 64-bit range, else 0
    return 0 unless defined $s && $s =~ /\A([+-]?)0*([0-9]+)\z/;
    my ($sign, $digits) = ($1, $2);
    my $max = $sign eq '-' ? '9223372036854775808' : '9223372036854775807';
    return $sign . $max if length($digits) > 19 || (length($digits) == 19 && $digits gt $max);
    return 0 + $s;
}

my $served = 0;

my %answer = (
    echo  => sub { return $_[0]->data },
    sleep => sub {
        my $request = shift;
        my $ms = atoi(context($request, 'sleep.ms'));
        Time::HiRes::sleep($ms / 1000) if $ms > 0;
        return $request->data;
    },
    fault => sub {
        my $request = shift;
        my $code = atoi(context($request, 'fault.code'));
        my $text = context($request, 'fault.text');
        $request->fault($code, defined $text ? $text : q{});
        return;
    },
    context => sub {
        my $request = shift;
        (my $data = $request->data) =~ s/\n+\z//;
        my @names = length $data ? split(/\n/, $data, -1) : (q{});
        my $out = q{};
        for my $name (@names) {
            my $v = context($request, $name);
            $out .= defined $v ? "$name=$v\n" : "$name!\n";
        }
        return $out;
    },
    key => sub {
        my $k = $_[0]->key;
        return sprintf "%s\n%s\n%d\n%s\n%s", $k->application, $k->function, $k->version, $k->serialization, "$k";
    },
    client => sub { return $_[0]->client_name },
    flags  => sub {
        return sprintf 'noWait=%d keepAffinity=%d', $_[0]->no_wait, $_[0]->keep_affinity;
    },
    pid  => sub { return "$$:$served" },
    exit => sub {
        my $request = shift;
        my $code = eval { atoi(context($request, 'exit.code')) };
        if (!defined $code) {    # a bad context: the fault is sent, then exit 0
            $request->fault($@->code, $@->text);
            exit 0;
        }
        exit $code;
    },
);

my $service = Pluton::Service->new('testee');
my $ok = eval {
    $service->serve(sub {
        my $request = shift;
        $served++;
        my $fn = $request->key->function;
        my $answer = $answer{$fn} or die Pluton::Fault->new(code => 2, text => "unknown function $fn");
        return $answer->($request);
    });
    1;
};
if (!$ok) {
    print STDERR "testee: $@\n";
    exit 1;
}
exit 0;
