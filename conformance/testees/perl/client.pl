#!/usr/bin/env perl
# The Perl SDK's client driver for the conformance suite (conformance/README.md):
#
#     client.pl <lookup> <key> [-C key=value]... [-w] < data
#
# Sends one request with Pluton::Client's call (-w: noWait), writes the
# response data to stdout and exits 0, or writes "FAULT <code> <text>" to
# stderr and exits 1.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

use lib File::Spec->catdir(dirname(abs_path(__FILE__)), '..', '..', '..', 'sdk', 'perl', 'lib');

use Pluton::Client;

my $usage = "usage: client.pl <lookup> <key> [-C key=value]... [-w] < data\n";
die $usage if @ARGV < 2;
my ($lookup, $key, @args) = @ARGV;
my @context;
my $no_wait = 0;
while (@args) {
    my $arg = shift @args;
    if ($arg eq '-w') {
        $no_wait = 1;
        next;
    }
    my $pair;
    if ($arg eq '-C' && @args) {
        $pair = shift @args;
    }
    elsif ($arg =~ /\A-C(.+)\z/s) {
        $pair = $1;
    }
    else {
        print STDERR "client.pl: unexpected argument '$arg'\n", $usage;
        exit 2;
    }
    my ($k, $v) = split /=/, $pair, 2;
    if (!defined $v) {
        print STDERR "client.pl: -C needs key=value\n", $usage;
        exit 2;
    }
    push @context, $k, $v;
}

binmode STDIN;
binmode STDOUT;
my $data = do { local $/; <STDIN> };
$data = q{} unless defined $data;

my $client = Pluton::Client->new(name => 'perlClient', lookup => $lookup);
my $reply = eval { $client->call($key, $data, context => \@context, no_wait => $no_wait) };
if (my $fault = $@) {
    die $fault unless ref $fault;
    printf STDERR "FAULT %d %s\n", $fault->code, $fault->text;
    exit 1;
}
print STDOUT $reply;
exit 0;
