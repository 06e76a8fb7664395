use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use Pluton::Packet;
use Yahoo::pluton;

# The original Pluton Perl API (Yahoo::pluton): a service written with it,
# stand-alone, and the original client calling a service in accept mode.

my $dir = temp_dir();
my $script = File::Spec->catfile(dist_root(), 't', 'bin', 'compat_echo.pl');

sub req {
    my ($fn, %o) = @_;
    return Pluton::Packet::encode_request(id => 7, client_name => 'c:1', service_key => "app.$fn.3.JSON", %o);
}

{
    my $in = "$dir/in";
    open(my $fh, '>', $in) or die;
    print $fh req('plain', data => 'hello'), req('seq'), req('ctx', context => [ a => 'b' ]),
        req('ctx'), Pluton::Packet::encode_request(id => 8, service_key => 'app.ctx.3.JSON', context => '1xa,'),
        req('fault');
    close $fh;
    open(my $ifh, '<', $in) or die;
    open(my $ofh, '>', "$dir/out") or die;
    my $pid = spawn_echo(script => $script, fds => { 3 => $ifh, 4 => $ofh }, stderr => "$dir/err");
    is(wait_exit($pid, 20), 0, 'the original-API service exits 0 at the end of its input') or diag slurp("$dir/err");
    my $out = slurp("$dir/out");
    my @r;
    my $d = Pluton::Packet::Decoder->new('A');
    $d->add($out);
    while (my ($p) = $d->next) { push @r, $p->{fields} }
    is(scalar @r, 6, 'six responses');
    is($r[0]{q}, 'app.plain.3.JSON|app|plain|3|JSON|c:1|hello', 'the original getters');
    is($r[1]{q}, 'once', 'one response for the sequence test');
    is($r[2]{q}, 'a=b', 'getContext');
    is($r[3]{q}, 'a!', 'getContext of an absent name: undef');
    is("$r[4]{p}|$r[4]{r}", "22|Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'", 'a malformed context sets the fault -22');
    is("$r[5]{p}|$r[5]{r}", '111|sleep time negative', 'sendFault');
    my $err = slurp("$dir/err");
    like($err, qr/^second initialize: -1$/m, 'initialize twice: alreadyInitialized');
    like($err, qr/^getRequest while owed: false -53$/m, 'getRequest out of sequence: getRequestNotNext');
    like($err, qr/^second sendResponse: false -59$/m, 'sendResponse out of sequence: sendResponseNotNext');

    open($fh, '>', $in) or die;
    print $fh req('plain'), '0Q,3b1x00,0z', "\n";
    close $fh;
    open($ifh, '<', $in) or die;
    open($ofh, '>', "$dir/out") or die;
    $pid = spawn_echo(script => $script, fds => { 3 => $ifh, 4 => $ofh }, stderr => "$dir/err2");
    is(wait_exit($pid, 20) >> 8, 41, 'a bad packet: getRequest false with a fault');
    like(slurp("$dir/err2"), qr/stopped: pluton::Fault=-58 /, 'the fault of the original');
}

# the original client
{
    my $sock = "$dir/system.echo.0.raw.socket";
    my $pid = spawn_echo(env => { plutonAcceptSocket => $sock }, stderr => "$dir/echo.err");
    ok(wait_until(10, sub { -S $sock }), 'the echo listens');

    my $client = Yahoo::pluton::client->new('compatClient', 3000);
    my $r = Yahoo::pluton::clientRequest->new;
    $r->setRequestData('early');
    ok(!$client->addRequest('system.echo.0.raw', $r), 'addRequest before initialize');
    is($client->getFaultCode, -2, 'notInitialized');
    ok($client->initialize($dir), 'initialize');
    is($client->getTimeoutMilliSeconds, 3000, 'the timeout in ms');

    my @r = map { my $x = Yahoo::pluton::clientRequest->new; $x->setRequestData("r$_"); $x->setClientHandle($_); $x } 1 .. 3;
    $r[0]->setAttribute(Yahoo::pluton::noRetryAttr() | Yahoo::pluton::noRemoteAttr());
    ok($r[0]->getAttribute(Yahoo::pluton::noRetryAttr()), 'getAttribute');
    ok(!$r[0]->getAttribute(Yahoo::pluton::noWaitAttr()), 'an attribute not set');
    $r[0]->clearAttribute(Yahoo::pluton::noRemoteAttr());
    ok(!$r[0]->getAttribute($Yahoo::pluton::noRemoteAttr), 'clearAttribute (and the constant as a variable)');
    ok($client->addRequest('system.echo.0.raw', $_), 'addRequest') for @r;
    is($client->executeAndWaitAll, 3, 'executeAndWaitAll');
    is_deeply([ map { $_->getResponseData } @r ], [qw(r1 r2 r3)], 'getResponseData');
    is($r[1]->getServiceName, "echo:$pid/0", 'getServiceName');
    is($r[2]->getClientHandle, 3, 'getClientHandle');

    my $f = Yahoo::pluton::clientRequest->new;
    ok($f->setContext('echo.sleepMS', -1), 'setContext');
    ok(!$f->setContext('pluton.x', 1), 'a reserved context name');
    $f = Yahoo::pluton::clientRequest->new;
    $f->setContext('echo.sleepMS', -1);
    $client->addRequest('system.echo.0.raw', $f);
    is($client->executeAndWaitAny, $f, 'executeAndWaitAny returns the request');
    ok($f->hasFault, 'hasFault');
    is($f->getFaultCode, 111, 'getFaultCode');
    is($f->getFaultText, 'sleep time negative', 'getFaultText');
    is($client->executeAndWaitOne($f), 0, 'executeAndWaitOne on a request not in flight');
    kill 'TERM', $pid;
    is(wait_exit($pid, 5), 0, 'the echo stops');
}

done_testing;
