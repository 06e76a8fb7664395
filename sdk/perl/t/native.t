use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use Time::HiRes qw(time sleep);
use Pluton::Client;
use Pluton::Fault qw(:codes);

# The native API (docs/sdk.md), in accept mode with the test service
# t/bin/native.pl in both forms.

my $dir = temp_dir();
my $KEY = 'native.%s.0.raw';
my $script = File::Spec->catfile(dist_root(), 't', 'bin', 'native.pl');

sub start {
    my ($form, $err) = @_;
    my $sock = "$dir/native..0.raw.socket";
    unlink $sock;
    my $pid = spawn_echo(script => $script, args => [$form], env => { plutonAcceptSocket => $sock }, stderr => $err);
    wait_until(10, sub { -S $sock }) or BAIL_OUT("the $form service did not start: " . slurp($err));
    return $pid;
}

my $client = Pluton::Client->new(name => 'nativeTest', lookup => $dir, timeout => 5);
sub call { my ($fn, @rest) = @_; return $client->call(sprintf($KEY, $fn), @rest) }

# the handler form
{
    my $err = "$dir/serve.err";
    my $pid = start('serve', $err);
    is(call('echo', 'Hello'), 'Hello', 'the handler returns the response');
    is(call('pid'), $pid, 'served by the instance');

    eval { call('die') };
    my $f = $@;
    isa_ok($f, 'Pluton::Fault::Service', 'a handler that dies');
    is($f->code, SERVICE_EXCEPTION, 'fault 6 (serviceException)');
    is($f->text, 'boom', 'the message without its " at FILE line N." suffix');
    is(call('pid'), $pid, 'the same instance serves the next request');
    like(slurp($err), qr/the handler died on request \d+ \(native\.die\.0\.raw\): boom at \S+native\.pl line \d+\.$/m,
        'the whole message on stderr');

    eval { call('obj') };
    is(ref $@ && $@->code, 6, 'an exception object: fault 6');
    is(ref $@ && $@->text, 'My::Error: broken thing', 'its class and message');

    eval { call('fault') };
    is(ref $@ && $@->code, 111, 'die with a Pluton::Fault sends that fault');
    is(ref $@ && $@->text, 'sleep time negative', 'its text');

    is(call('utf8'), "caf\xc3\xa9 \xe2\x98\xba", 'text is sent as UTF-8');
    is(call('undef'), '', 'undef is an empty response');
    is(call('self'), 'answered', 'a handler that responded itself: its return value is ignored');
    is(call('late'), 'first', 'a handler that dies after answering: the answer stands');
    is(call('pid'), $pid, 'still the same instance');

    my $info = call('info', 'x', context => { a => 'b' }, timeout => 2.5);
    my %i = map { split /=/, $_, 2 } split /;/, $info;
    is($i{key}, 'native.info.0.raw', 'the key stringifies');
    is("$i{app}|$i{fn}|$i{ver}|$i{ser}", 'native|info|0|raw', 'its parts');
    is($i{client}, "nativeTest:$$", 'the client name');
    ok($i{id} >= 100, 'the request id');
    ok($i{remaining} > 2 && $i{remaining} <= 2.5, "the remaining deadline in seconds ($i{remaining})");
    is($i{ctx}, 'b', 'a context value');
    is($i{missing}, 'undef', 'an absent context value is undef');
    is("$i{noWait}$i{keepAffinity}", '00', 'the flags');

    # client timeouts in seconds, and the timeout class
    my $t0 = time;
    eval { call('slow', 'x', context => { ms => 1500 }, timeout => 0.3) };
    my $dt = time - $t0;
    isa_ok($@, 'Pluton::Fault::Timeout', 'a call that times out');
    is(ref $@ && $@->code, SERVICE_TIMEOUT, 'code -19');
    ok($dt >= 0.25 && $dt < 1.4, "after about 0.3 s ($dt s)");

    # parallel calls: submit, wait, result
    my @calls = map { $client->submit(sprintf($KEY, 'echo'), "c$_") } 1 .. 3;
    push @calls, $client->submit(sprintf($KEY, 'fault'), 'f');
    push @calls, $client->submit('bad key', 'k');
    is(scalar($client->wait(@calls)), 5, 'wait returns the calls');
    ok(!grep({ !$_->done } @calls), 'all done');
    is_deeply([ map { $_->result } @calls[0 .. 2] ], [qw(c1 c2 c3)], 'results');
    eval { $calls[3]->result };
    is(ref $@ && $@->code, 111, 'a call that faulted dies in result');
    eval { $calls[4]->result };
    is(ref $@ && $@->code, SERVICE_KEY_BAD, 'a bad key dies in result');

    # SIGTERM: the loop ends after the current request; hooks, code after
    # the loop, END blocks and the service's own handler all run
    my $slow = $client->submit(sprintf($KEY, 'slow'), 'last', context => { ms => 600 });
    sleep 0.2;
    kill 'TERM', $pid;
    $client->wait($slow);
    is(eval { $slow->result }, 'last', 'the current request is finished') or diag $@;
    is(wait_exit($pid, 5), 0, 'then the instance exits 0');
    my $log = slurp($err);
    like($log, qr/user TERM handler/, "the service's own SIGTERM handler is chained");
    like($log, qr/on_stop hook ran\nafter the loop\nEND block ran\n/, 'on_stop, then the code after the loop, then END');
}

# the loop form: a request left unanswered gets fault 6
{
    my $err = "$dir/loop.err";
    my $pid = start('loop', $err);
    is(call('echo', 'L'), 'L', 'loop form');
    eval { call('skip') };
    is(ref $@ && $@->code, 6, 'an unanswered request: fault 6');
    is(ref $@ && $@->text, 'request not answered by the service', 'its text');
    is(call('pid'), $pid, 'the loop goes on');
    kill 'TERM', $pid;
    is(wait_exit($pid, 5), 0, 'exit 0 on SIGTERM');
}

# initialization: implicit, and a failure that says what to do
{
    open(my $fh, '>', "$dir/init.pl") or die;
    print $fh 'use Pluton::Service; eval { Pluton::Service->new("x")->next }; '
        . 'print ref($@), "|", $@->code, "|", $@->text;';
    close $fh;
    my $out = `$^X -I${\ lib_dir()} $dir/init.pl 3<&- 2>&1`;
    is($out, 'Pluton::Fault|-55|no request source: fd 3 is not open; run the service under plutonManager, '
        . 'with plTest, or as ./svc 3<request 4>response', 'without fd 3, next dies with a fault saying what to do');
}

# the default lookup location (docs/protocol.md section 7.1)
{
    local $ENV{plutonHome} = "$dir/home";
    local $ENV{plutonLookupMap};
    delete $ENV{plutonLookupMap};
    my $c = Pluton::Client->new;
    eval { $c->call('a.b.0.raw', 'x') };
    is(ref $@ && $@->code, MAP_INITIALIZATION_FAILED, 'no lookup map: mapInitializationFailed');
    like(ref $@ && $@->text, qr{^no lookup map at \Q$dir\E/home/lookup\.map( or /usr/local/var/pluton/lookup\.map)?: is plutonManager running\? Start it, or set plutonLookupMap or pass lookup =>$},
        'the text names the paths tried and what to do');
    mkdir "$dir/home";
    mkdir "$dir/home/rv";
    open(my $fh, '>', "$dir/home/lookup.map") or die;
    print $fh "# pluton lookup map 3001\nrendezvous $dir\n";
    close $fh;
    eval { Pluton::Client->new->call(sprintf($KEY, 'echo'), 'home') };
    is(ref $@ && $@->code, CONNECT_FAILED, '<home>/lookup.map is found (and names a socket nobody serves now)');
    like(ref $@ && $@->text, qr{^\Q$dir\E/native\.\.0\.raw\.socket$}, 'in its rendezvous directory');
}

done_testing;
