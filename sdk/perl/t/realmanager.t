use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use POSIX ();
use Time::HiRes qw(time sleep);
use Pluton::Client;
use Pluton::Fault qw(:codes);

# The Perl echo under a real plutonManager (bin/ of `make build`, or
# $PLUTON_BIN): the configuration's limits and recorder reach the service
# through the stats segment, and an instance that hangs after responding is
# still accountable, so the manager kills it as unresponsive.

my $bin = $ENV{PLUTON_BIN} || dist_root() . '/../../bin';
plan skip_all => "no plutonManager in $bin (make build, or set PLUTON_BIN)" unless -x "$bin/plutonManager";

my $dir = temp_dir();
mkdir "$dir/config" or die;
mkdir "$dir/rec" or die;
my $KEY = 'perl.echo.0.raw';
open(my $fh, '>', "$dir/config/$KEY") or die;
print $fh "exec $^X -I" . lib_dir() . ' ' . echo_script() . "\n"
    . "maximum-request-size 1000\nrecorder-prefix $dir/rec/\nrecorder-cycle 3\nunresponsive-timeout 5\n";
close $fh;

my $mgr = fork // die "fork: $!";
if (!$mgr) {
    open(STDOUT, '>', "$dir/manager.log") or POSIX::_exit(127);
    open(STDERR, '>&', \*STDOUT) or POSIX::_exit(127);
    exec("$bin/plutonManager", '-C', "$dir/config", '-R', "$dir/rendezvous", '-L', "$dir/lookup.map")
        or POSIX::_exit(127);
}
END { if ($mgr) { kill 'TERM', $mgr; wait_exit($mgr, 10) // kill 'KILL', $mgr } }

ok(wait_until(15, sub { -S "$dir/rendezvous/$KEY.socket" }), 'the service is up') or diag slurp("$dir/manager.log");
my $c = Pluton::Client->new(name => 'real', lookup => "$dir/lookup.map", timeout => 10);
is($c->call($KEY, 'small'), 'small', 'a request');

eval { $c->call($KEY, 'x' x 5000) };
isa_ok($@, 'Pluton::Fault::Service', 'a request above maximum-request-size');
is(ref $@ && $@->code, REQUEST_TOO_LARGE, 'fault 3');
is(ref $@ && $@->text, 'request data of 5000 bytes exceeds maximum-request-size 1000', 'with the limit of the config');

my @in = glob "$dir/rec/in.*.00001";
is(scalar @in, 1, 'the recorder wrote the first request');
like(slurp($in[0] // ''), qr/5ksmall,/, 'as read');

# hang after responding: still busy, so killed as unresponsive within the timeout + 2 s
my $call = $c->submit($KEY, 'then hang', context => { 'echo.sleepAfter' => 60 });
$c->wait($call);
is($call->result, 'then hang', 'the response came');
my $t0 = time;
my ($pid) = $call->service_name =~ /^echo:(\d+)\/0$/;
ok($pid, "served by pid $pid");
ok(wait_until(12, sub { !-e "/proc/$pid" }), 'the instance that hung after responding was killed');
my $dt = time - $t0;
ok($dt < 5 + 2 + 1, "within the unresponsive timeout + 2 s ($dt s)");
is($c->call($KEY, 'after'), 'after', 'a new instance serves');

kill 'TERM', $mgr;
is(wait_exit($mgr, 15), 0, 'the manager stops');
$mgr = 0;
like(slurp("$dir/manager.log"), qr/unresponsive/i, 'the log says why the instance was killed');

done_testing;
