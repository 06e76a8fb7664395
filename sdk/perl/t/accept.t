use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use Time::HiRes qw(time sleep);
use Pluton::Client;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);

# Accept mode: plutonAcceptSocket=<path>; the echo example serves there and
# the client finds it through the rendezvous directory.

my $dir  = temp_dir();
my $KEY  = 'system.echo.0.raw';
my $sock = "$dir/$KEY.socket";
my $err  = "$dir/echo.err";

my $pid = spawn_echo(env => { plutonAcceptSocket => $sock }, stderr => $err);
ok(wait_until(10, sub { -S $sock }), 'the service created its socket') or BAIL_OUT('no socket');

my $client = Pluton::Client->new(name => 'acceptTest', timeout_ms => 4000, lookup => $dir);

is($client->call($KEY, 'Hello'), 'Hello', 'echo');
is($client->call($KEY, ''), '', 'empty request');
my $bin = join '', map { chr } 0 .. 255;
is($client->call($KEY, $bin x 1000), $bin x 1000, 'binary data');
is($client->call($KEY, 'ctx', context => { 'echo.sleepMS' => 10, 'echo.log' => 'logged' }), 'ctx', 'with context');
ok(wait_until(5, sub { slurp($err) =~ /echo: logged/ }), 'echo.log reached stderr');

{
    my $r = eval { $client->call($KEY, 'x', context => { 'echo.sleepMS' => -1 }) };
    my $f = $@;
    isa_ok($f, 'Pluton::Fault', 'a service fault dies');
    is($f->code, 111, 'fault code');
    is($f->text, 'sleep time negative', 'fault text');
    is($f->name, '', 'no name for a service code');
    is($f->message, "pluton::Fault=111 'sleep time negative'", 'message');
    is($client->fault->code, 111, 'the client keeps the fault');
}
{
    my $t0 = time;
    my $r = eval { $client->call($KEY, 'slow', context => { 'echo.sleepMS' => 1500 }, timeout_ms => 300) };
    my $f = $@;
    my $dt = time - $t0;
    is(ref $f && $f->code, -19, 'timeout');
    is(ref $f && $f->text, 'service timeout', 'timeout text');
    ok($dt >= 0.29 && $dt < 1.4, "timed out after the budget ($dt s)");
    is($client->timeout_ms, 4000, 'the per-call timeout did not stick');
}
# the service is still sleeping on the timed-out request; the next call waits
is($client->call($KEY, 'after'), 'after', 'the service goes on after a client timeout');
{
    my $t0 = time;
    is($client->call($KEY, 'nowait', no_wait => 1, context => { 'echo.sleepMS' => 1500 }), '', 'noWait returns empty');
    ok(time - $t0 < 1.2, 'noWait does not wait for the service');
    is($client->call($KEY, 'next'), 'next', 'a call after a noWait request');
}

# a request object: service name, affinity on one connection
{
    my $r = Pluton::Client::Request->new($KEY, 'one', keep_affinity => 1, no_retry => 1);
    ok($client->add_request($r), 'add keepAffinity');
    ok($client->wait_one($r), 'wait_one');
    is($r->response, 'one', 'response');
    is($r->service_name, "echo:$pid/0", 'service name');
    ok($r->has_affinity, 'affinity held');
    $r->set_request_data('two');
    $r->need_affinity(1);
    ok($client->add_request($r), 'add needAffinity on the same object');
    ok($client->wait_one($r), 'second exchange');
    is($r->response, 'two', 'response over the affinity connection');
    $r->keep_affinity(0);
    $r->need_affinity(0);
    $r->set_request_data('three');
    ok($client->add_request($r) && $client->wait_one($r), 'third, without keepAffinity');
    is($r->response, 'three', 'response');
    ok(!$r->has_affinity, 'affinity ended');
    $r->need_affinity(1);
    ok(!$client->add_request($r), 'needAffinity without a connection');
    is($r->fault_code, -9, 'noAffinity');
}

# a lookup map file
{
    open(my $fh, '>', "$dir/lookup.map") or die;
    print $fh "# pluton lookup map 3001\nrendezvous $dir\nsystem.raw.0.echo $sock\n";
    close $fh;
    my $c = Pluton::Client->new(name => 'mapTest', lookup => "$dir/lookup.map");
    is($c->call($KEY, 'map'), 'map', 'through a lookup map file');
    local $ENV{plutonLookupMap} = "$dir/lookup.map";
    my $e = Pluton::Client->new('envTest');
    is($e->call($KEY, 'env'), 'env', 'through plutonLookupMap');
}

# the wildcard socket
{
    my $c = Pluton::Client->new(lookup => $dir);
    is(eval { $c->call('system.other.0.raw', 'x') }, undef, 'no wildcard yet');
    is(ref $@ && $@->code, -30, 'serviceNotFound');
    is(ref $@ && $@->text, 'system.other.0.raw', 'the key in the text');
    symlink($sock, "$dir/system..0.raw.socket") or die "symlink: $!";
    is($c->call('system.other.0.raw', 'wild'), 'wild', 'served by the wildcard socket');
    is(eval { $c->call('system.other.1.raw', 'x') }, undef, 'version must match');
}

# accept mode installs no SIGTERM handler (that is for manager mode)
{
    kill 'TERM', $pid;
    my $st = wait_exit($pid, 5);
    is($st & 127, 15, 'SIGTERM ends an accept-mode service the default way');
    my $c = Pluton::Client->new(lookup => $dir);
    is(eval { $c->call($KEY, 'x') }, undef, 'nobody serves now');
    is(ref $@ && $@->code, -16, 'connectFailed on a socket without a listener');
    like(ref $@ && $@->message, qr/^pluton::Fault=-16 \(connectFailed:connect\(\) failed\) errno=\d+:.* '\Q$sock\E'$/,
        'its message');
}

# a client that connects and sends nothing ends accept mode without a fault;
# a bad packet ends it with one
{
    my $pid2 = spawn_echo(env => { plutonAcceptSocket => $sock }, stderr => "$dir/e2.err");
    ok(wait_until(10, sub { eval { Pluton::Client->new(lookup => $dir)->call($KEY, 'up') } }), 'restarted');
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or die "connect: $!";
    close $s;
    is(wait_exit($pid2, 5), 0, 'an empty connection: exit 0');

    my $pid3 = spawn_echo(env => { plutonAcceptSocket => $sock }, stderr => "$dir/e3.err");
    ok(wait_until(10, sub { eval { Pluton::Client->new(lookup => $dir)->call($KEY, 'up') } }), 'restarted');
    $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or die "connect: $!";
    print $s "0Q,1b1,2Lxx,2Lyy,0z\n";
    close $s;
    is(wait_exit($pid3, 5) >> 8, 41, 'a bad packet: exit 41');
    like(slurp("$dir/e3.err"), qr/pluton::Fault=-57 .*'Duplicate netString type of 'L''/, 'with the decoder message');
}

done_testing;
