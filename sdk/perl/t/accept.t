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

my $client = Pluton::Client->new(name => 'acceptTest', timeout => 4, lookup => $dir);

is($client->call($KEY, 'Hello'), 'Hello', 'echo');
is($client->call($KEY, ''), '', 'empty request');
my $bin = join '', map { chr } 0 .. 255;
is($client->call($KEY, $bin x 1000), $bin x 1000, 'binary data');
is($client->call($KEY, 'ctx', context => { 'echo.sleepMS' => 10, 'echo.log' => 'logged' }), 'ctx', 'with context');
ok(wait_until(5, sub { slurp($err) =~ /echo: logged/ }), 'echo.log reached stderr');

{
    my $r = eval { $client->call($KEY, 'x', context => { 'echo.sleepMS' => -1 }) };
    my $f = $@;
    isa_ok($f, 'Pluton::Fault::Service', 'a service fault dies');
    is($f->code, 111, 'fault code');
    is($f->text, 'sleep time negative', 'fault text');
    is($f->name, '', 'no name for a service code');
    is($f->message, "pluton::Fault=111 'sleep time negative'", 'message');
    is($client->fault->code, 111, 'the client keeps the fault');
}
{
    my $t0 = time;
    my $r = eval { $client->call($KEY, 'slow', context => { 'echo.sleepMS' => 1500 }, timeout => 0.3) };
    my $f = $@;
    my $dt = time - $t0;
    is(ref $f && $f->code, -19, 'timeout');
    isa_ok($f, 'Pluton::Fault::Timeout', 'a timeout');
    is(ref $f && $f->text, 'service timeout', 'timeout text');
    ok($dt >= 0.29 && $dt < 1.4, "timed out after the budget ($dt s)");
    is($client->timeout, 4, 'the per-call timeout did not stick');
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

# SIGTERM ends the loop: the service exits 0
{
    kill 'TERM', $pid;
    my $st = wait_exit($pid, 5);
    is($st, 0, 'SIGTERM ends an accept-mode service normally (exit 0)');
    my $c = Pluton::Client->new(lookup => $dir);
    is(eval { $c->call($KEY, 'x') }, undef, 'nobody serves now');
    is(ref $@ && $@->code, -16, 'connectFailed on a socket without a listener');
    like(ref $@ && $@->message, qr/^pluton::Fault=-16 \(connectFailed:connect\(\) failed\) errno=\d+:.* '\Q$sock\E'$/,
        'its message');
}

# a client that connects and sends nothing, or a bad packet, costs its own
# connection only: the service goes on (and says so on stderr)
{
    my $pid2 = spawn_echo(env => { plutonAcceptSocket => $sock }, stderr => "$dir/e2.err");
    ok(wait_until(10, sub { eval { Pluton::Client->new(lookup => $dir)->call($KEY, 'up') } }), 'restarted');
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or die "connect: $!";
    close $s;
    $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $sock) or die "connect: $!";
    print $s "0Q,1b1,2Lxx,2Lyy,0z\n";
    is(Pluton::Client->new(lookup => $dir)->call($KEY, 'still'), 'still', 'served after both');
    ok(wait_until(5, sub { slurp("$dir/e2.err") =~ /dropped a connection: Duplicate netString type of 'L'/ }),
        'the bad packet is logged') or diag slurp("$dir/e2.err");
    close $s;
    kill 'TERM', $pid2;
    is(wait_exit($pid2, 5), 0, 'stops');
}

done_testing;
