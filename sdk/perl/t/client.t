use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use POSIX ();
use Time::HiRes qw(time sleep);
use Pluton::Client;
use Pluton::Packet;

# The client against fake services that misbehave on purpose.

my $dir = temp_dir();
my $KEY = 'test.fake.0.raw';
my $path = "$dir/$KEY.socket";

# fake_service(sub { my ($n, $fields) = @_; return $bytes_or_undef }):
# serves connections until killed; $n counts connections from 1.
sub fake_service {
    my $handler = shift;
    unlink $path;
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 20) or die "listen: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        alarm 30;
        $SIG{PIPE} = 'IGNORE';
        my $n = 0;
        while (my $c = $l->accept) {
            $n++;
            my $d = Pluton::Packet::Decoder->new('Q');
            my $pkt;
            while (!$pkt) {
                my $r = sysread($c, my $buf, 65536);
                last unless $r;
                $d->add($buf);
                ($pkt) = $d->next;
            }
            my $out = $handler->($n, $pkt ? $pkt->{fields} : {});
            syswrite($c, $out) if defined $out;
            close $c;
        }
        POSIX::_exit(0);
    }
    close $l;
    return $pid;
}

sub stop_fake { my $pid = shift; kill 'KILL', $pid; waitpid($pid, 0) }

sub reply {
    my ($f, %o) = @_;
    return Pluton::Packet::encode_response(id => $f->{b}, client_name => $f->{a},
        service_name => 'fake:1/0', %o);
}

my $client = Pluton::Client->new(name => 'clientTest', timeout_ms => 2000, lookup => $dir);
is($client->client_name, "clientTest:$$", 'client name is name:pid');

# what the service receives
{
    my $seen;
    my $pid = fake_service(sub { my ($n, $f) = @_; $seen = $f; reply($f, data => 'ok') });
    my $r = Pluton::Client::Request->new($KEY, 'data', context => [ b => 2, a => 1 ], no_remote => 1);
    $client->add_request($r);
    $client->wait_one($r);
    is($r->response, 'ok', 'response');
    is($r->service_name, 'fake:1/0', 'service name');
    stop_fake($pid);
    # the request as sent
    my $d = Pluton::Packet::Decoder->new('Q');
    my $pid2 = fake_service(sub { my ($n, $f) = @_; reply($f, data => join('|', map { "$_=$f->{$_}" } sort keys %$f)) });
    my $out = $client->call($KEY, 'xyz', context => { k1 => 'v1' }, no_remote => 1);
    stop_fake($pid2);
    my %f = map { split /=/, $_, 2 } split /\|/, $out;
    is($f{a}, "clientTest:$$", 'a: client name');
    is($f{c}, $KEY, 'c: key');
    is($f{l}, 2000, 'l: timeout');
    is($f{k}, 'xyz', 'k: data');
    is($f{j}, '2kk1,2vv1,', 'j: context');
    ok(exists $f{f} && !exists $f{e}, 'f set, e not');
    ok($f{b} >= 100 && $f{b} <= 10_000_000, 'b: request id');
}

# request ids increase by one
{
    my @ids;
    my $pid = fake_service(sub { my ($n, $f) = @_; push @ids, $f->{b}; reply($f, data => $f->{b}) });
    my $a = $client->call($KEY, '1');
    my $b = $client->call($KEY, '2');
    is($b, $a + 1, 'ids count up');
    stop_fake($pid);
}

# no resend of a request that may have been read (docs/sdk.md rule 6)
{
    my $died = 'the service instance closed the connection without a response: '
        . 'it may have died while serving this request';
    my $pid = fake_service(sub { my ($n, $f) = @_; $n == 1 ? undef : reply($f, data => "try$n") });
    eval { $client->call($KEY, 'x') };
    isa_ok($@, 'Pluton::Fault', 'a close without a response');
    is(ref $@ && $@->code, -20, 'incompleteResponse');
    is(ref $@ && $@->text, $died, 'its text says the instance may have died');
    is($client->call($KEY, 'y'), 'try2', 'the next call is served: the first was not resent');
    stop_fake($pid);
}

# bad responses
{
    my $pid = fake_service(sub { "garbage" });
    eval { $client->call($KEY, 'x') };
    is(ref $@ && $@->code, -21, 'responsePacketFormatError');
    like(ref $@ && $@->text, qr/leading netString character not a digit/, 'decoder text');
    stop_fake($pid);

    $pid = fake_service(sub { my ($n, $f) = @_; reply({ %$f, b => $f->{b} + 1 }, data => 'x') });
    eval { $client->call($KEY, 'x') };
    is(ref $@ && $@->code, -21, 'wrong id: routing mismatch');
    stop_fake($pid);

    $pid = fake_service(sub { my ($n, $f) = @_; reply({ %$f, a => 'other:1' }, data => 'x') });
    eval { $client->call($KEY, 'x') };
    is(ref $@ && $@->code, -21, 'wrong client name: routing mismatch');
    stop_fake($pid);

    $pid = fake_service(sub { my ($n, $f) = @_; substr(reply($f, data => "partial$n"), 0, 22) });
    eval { $client->call($KEY, 'x') };
    is(ref $@ && $@->code, -20, 'partial response: incompleteResponse');
    stop_fake($pid);

    # a request is never resent once written
    my $count = sub { my $log = "$dir/conns"; open(my $fh, '>>', $log) or die; print $fh "$_[0]\n"; close $fh };
    for my $case ([ 'part of a response', sub { substr(reply($_[0], data => 'partial'), 0, 20) } ],
                  [ 'a close with nothing', sub { undef } ],
                  [ 'a bad packet', sub { 'junk' } ]) {
        my ($what, $answer) = @$case;
        unlink "$dir/conns";
        $pid = fake_service(sub { my ($n, $f) = @_; $count->($n); $answer->($f) });
        eval { $client->call($KEY, 'x') };
        stop_fake($pid);
        is(slurp("$dir/conns"), "1\n", "no resend after $what");
    }

    $pid = fake_service(sub { my ($n, $f) = @_; reply($f, fault_code => -7, fault_text => 'nope') });
    eval { $client->call($KEY, 'x') };
    is(ref $@ && $@->code, -7, 'a system fault from the service');
    stop_fake($pid);
}

# timeouts: each request has its own deadline
{
    my $pid = fake_service(sub { my ($n, $f) = @_; sleep 0.4 if $f->{k} eq 'slow'; reply($f, data => $f->{k}) });
    my $c = Pluton::Client->new(lookup => $dir, timeout_ms => 2000);
    my $short = Pluton::Client::Request->new($KEY, 'slow', timeout_ms => 150, no_retry => 1);
    my $long  = Pluton::Client::Request->new($KEY, 'fine');
    my $t0 = time;
    $c->add_request($_) for $short, $long;
    is($c->wait_all, 2, 'wait_all: both completed');
    my $dt = time - $t0;
    is($short->fault_code, -19, 'the short one timed out');
    is($short->fault_text, 'service timeout', 'its text');
    ok(!$long->has_fault, 'the other one went on') or diag $long->fault->message;
    is($long->response, 'fine', 'and got its response');
    ok($dt < 1.5, "no shared clock ($dt s)");
    stop_fake($pid);
}
{
    my $pid = fake_service(sub { sleep 5; undef });
    my $c = Pluton::Client->new(lookup => $dir, timeout_ms => 300);
    my @r = map { Pluton::Client::Request->new($KEY, $_) } 1 .. 2;
    my $t0 = time;
    $c->add_request($_) for @r;
    is($c->wait_one($r[0]), 0, 'wait_one returns 0 on timeout');
    $c->wait_all;
    my $dt = time - $t0;
    ok($dt >= 0.25 && $dt < 1.5, "after the budget ($dt s)");
    is_deeply([ map { $_->fault_code } @r ], [ -19, -19 ], 'every request timed out');
    ok(!$r[0]->in_progress, 'no longer in progress');
    is(eval { $c->call($KEY, 'x', timeout_ms => 100) }, undef, 'call with its own timeout');
    is(ref $@ && $@->code, -19, 'serviceTimeout');
    stop_fake($pid);
}

# checks made by add_request
{
    my $c = Pluton::Client->new(lookup => $dir);
    my $r = Pluton::Client::Request->new;
    is($r->fault_code, -3, 'a new request: requestNotAdded');
    ok($r->has_fault, 'has_fault on a new request');

    $r = Pluton::Client::Request->new('bad.key', 'x');
    ok(!$c->add_request($r), 'bad key');
    is($r->fault_code, -31, 'serviceKeyBad');
    is($c->fault->code, -31, 'on the client too');
    is($r->fault_text, 'need four dot-separated tokens', 'its text');

    $r = Pluton::Client::Request->new($KEY, 'x', keep_affinity => 1, no_wait => 1, no_retry => 1);
    ok(!$c->add_request($r), 'keepAffinity with noWait');
    is($r->fault_code, -10, 'noWaitNotAllowed');

    $r = Pluton::Client::Request->new($KEY, 'x', keep_affinity => 1);
    ok(!$c->add_request($r), 'keepAffinity without noRetry');
    is($r->fault_code, -11, 'needNoRetry');

    $r = Pluton::Client::Request->new($KEY, 'x', need_affinity => 1);
    ok(!$c->add_request($r), 'needAffinity without a connection');
    is($r->fault_code, -9, 'noAffinity');

    $r = Pluton::Client::Request->new($KEY, 'x');
    ok(!$r->set_context('pluton.x', 1), 'reserved context key');
    is($r->fault_code, -23, 'contextReservedNamespace');
    ok(!$c->add_request($r), 'cannot be added');
    is($r->fault_text, "Context Key uses reserved prefix of 'pluton.'", 'its text');
    eval { $c->call($KEY, 'x', context => { 'pluton.y' => 1 }) };
    is(ref $@ && $@->code, -23, 'call dies with it');

    $r = Pluton::Client::Request->new($KEY, 'x');
    is($c->wait_one($r), 0, 'wait_one on a request never added');
    is($c->fault->code, -3, 'requestNotAdded on the client');
    is($c->wait_any, undef, 'wait_any with nothing outstanding');
    is($c->wait_sent, 0, 'wait_sent with nothing outstanding');
    is($c->wait_all, 0, 'wait_all with nothing outstanding');

    my $pid = fake_service(sub { sleep 1; undef });
    $r = Pluton::Client::Request->new($KEY, 'x', no_retry => 1);
    ok($c->add_request($r), 'added');
    ok($r->in_progress, 'in progress');
    ok(!$c->add_request($r), 'added twice');
    is($r->fault_code, -4, 'requestAlreadyAdded');
    $c->reset;
    ok(!$r->in_progress, 'reset ends it');
    stop_fake($pid);

    unlink $path;
    eval { $c->call($KEY, 'x') };
    is(ref $@ && $@->code, -30, 'serviceNotFound');
}

# lookup failures
{
    my $c = Pluton::Client->new(lookup => "$dir/missing.map");
    eval { $c->call($KEY, 'x') };
    is(ref $@ && $@->code, -33, 'openForMmapFailed for a missing map');
    open(my $fh, '>', "$dir/empty.map") or die;
    print $fh "# pluton lookup map 3001\n";
    close $fh;
    $c = Pluton::Client->new(lookup => "$dir/empty.map");
    ok(!$c->initialize, 'a map without a rendezvous line');
    is($c->fault->code, -32, 'mapInitializationFailed');
    open($fh, '>', "$dir/rel.map") or die;
    print $fh "# pluton lookup map 3001\nrendezvous sub\n";
    close $fh;
    $c = Pluton::Client->new(lookup => "$dir/rel.map");
    ok($c->initialize, 'relative rendezvous');
    is($c->rendezvous, "$dir/sub", 'resolved against the map directory');
}

# a noWait request completes when the service closes having read it
{
    my $pid = fake_service(sub { undef });
    my $t0 = time;
    is($client->call($KEY, 'nw', no_wait => 1), '', 'noWait: close with zero bytes is success');
    stop_fake($pid);
}

done_testing;
