#!/usr/bin/env perl
# A test service of the native API: `native.pl serve` (handler form) or
# `native.pl loop` (loop form). It answers by the function of the key.
use strict;
use warnings;
use Time::HiRes ();
use Pluton::Service;

package My::Error {
    sub new     { my ($class, $m) = @_; return bless { m => $m }, $class }
    sub message { my $self = shift; return $self->{m} }
}

package main;

my $form = shift @ARGV || 'serve';
$SIG{TERM} = sub { print STDERR "user TERM handler\n" };
END { print STDERR "END block ran\n" }

my %answer = (
    echo  => sub { return $_[0]->data },
    die   => sub { die "boom" },
    obj   => sub { die My::Error->new('broken thing') },
    fault => sub { die Pluton::Fault->new(code => 111, text => 'sleep time negative') },
    pid   => sub { return $$ },
    utf8  => sub { return "caf\x{e9} \x{263a}" },
    undef => sub { return undef },
    info  => sub {
        my $r = shift;
        my $k = $r->key;
        my $rem = $r->remaining;
        return join ';', "key=$k", 'app=' . $k->application, 'fn=' . $k->function, 'ver=' . $k->version,
            'ser=' . $k->serialization, 'client=' . $r->client_name, 'id=' . $r->id,
            'remaining=' . (defined $rem ? sprintf('%.1f', $rem) : 'none'),
            'ctx=' . (defined $r->context('a') ? $r->context('a') : 'undef'),
            'missing=' . (defined $r->context('nope') ? 'set' : 'undef'),
            'noWait=' . $r->no_wait, 'keepAffinity=' . $r->keep_affinity;
    },
    slow => sub { Time::HiRes::sleep(($_[0]->context('ms') || 0) / 1000); return $_[0]->data },
    self => sub { $_[0]->respond('answered'); return 'ignored' },
    late => sub { $_[0]->respond('first'); die "after answering\n" },
);

my $service = Pluton::Service->new('native');
$service->on_stop(sub { print STDERR "on_stop hook ran\n" });
if ($form eq 'serve') {
    $service->serve(sub {
        my $r = shift;
        my $f = $answer{ $r->key->function } or die Pluton::Fault->new(code => 2, text => 'unknown');
        return $f->($r);
    });
}
else {
    while (my $r = $service->next) {
        next if $r->key->function eq 'skip';    # left unanswered
        my $out = eval { $answer{ $r->key->function }->($r) };
        if (ref $@) { $r->fault($@->code, $@->text) }
        else        { $r->respond($out) }
    }
}
print STDERR "after the loop\n";
exit 0;
