use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Pluton::Client;

# threadsPerInstance (maximum-threads, docs/protocol.md section 4.1): an
# instance of this SDK serves one request at a time, so in manager mode a
# segment asking for more than one thread per instance stops it at start
# with fault -104 (shmThreadConfigNotService); 0 and 1 are served.

my $KEY = 'system.echo.0.raw';

sub text_for {
    my $n = shift;
    return "maximum-threads $n is not supported by the Perl SDK: an instance serves one request at a "
        . 'time; set maximum-threads 1 and raise maximum-processes';
}

# A manager's fds for one instance: (dir, segment path, fds).
sub pool {
    my %seg = @_;
    my $dir = temp_dir();
    my $listen = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/$KEY.socket", Listen => 20)
        or die "listen: $!";
    my $segfh = make_segment("$dir/$KEY.mmap", slots => 1, %seg);
    pipe(my $rd, my $wr) or die "pipe: $!";
    return ($dir, "$dir/$KEY.mmap", { 3 => $listen, 4 => $segfh, 5 => $wr }, $rd);
}

for my $case (
    { threads => 2,  refused => 1 },
    { threads => 16, refused => 1 },
    { threads => 1,  refused => 0 },
    { threads => 0,  refused => 0 },
) {
    my $n = $case->{threads};
    my ($dir, $seg, $fds, $rd) = pool(threads => $n);
    my $pid = spawn_echo(fds => $fds, env => { plutonSlot => 0 }, stderr => "$dir/echo.err");
    close $fds->{5};
    if ($case->{refused}) {
        my $status = wait_exit($pid, 10);
        ok(defined $status, "threads $n: the instance exits at start");
        is($status >> 8, 42, "threads $n: it cannot start (the echo example's exit 42)");
        my $err = slurp("$dir/echo.err");
        like($err, qr/pluton::Fault=-104 \(shmThreadConfigNotService:/, "threads $n: fault -104 on stderr");
        like($err, qr/\Q'${\ text_for($n)}'\E/, "threads $n: the text says what to do");
        is(read_slot($seg, 0)->{pid}, 0, "threads $n: the slot was never claimed");
    }
    else {
        ok(wait_until(10, sub { read_slot($seg, 0)->{state} == 1 }), "threads $n: the instance starts (idle)");
        my $client = Pluton::Client->new(name => 'threadsTest', lookup => $dir);
        is($client->call($KEY, "t$n"), "t$n", "threads $n: it serves");
        kill 'TERM', $pid;
        is(wait_exit($pid, 10), 0, "threads $n: it stops cleanly");
    }
}

# In process: initialize dies with the fault itself, and an uncaught one
# ends the program non-zero with the line on stderr.
{
    my ($dir, $seg, $fds) = pool(threads => 3);
    my $script = "$dir/svc.pl";
    open(my $fh, '>', $script) or die "$script: $!";
    print {$fh} <<'PERL';
use strict;
use warnings;
use Pluton::Service;
my $svc = Pluton::Service->new('t');
my $ok = eval { $svc->initialize; 1 };
my $f = $@;
printf STDERR "caught %s %d %s\n", ref $f, $f->code, $f->text unless $ok;
Pluton::Service->new('u')->serve(sub { return 'never' });    # uncaught
PERL
    close $fh;
    my $pid = spawn_echo(script => $script, fds => $fds, env => { plutonSlot => 0 }, stderr => "$dir/svc.err");
    my $status = wait_exit($pid, 10);
    ok(defined $status && $status != 0, 'an uncaught refusal exits non-zero');
    my $err = slurp("$dir/svc.err");
    like($err, qr/^caught Pluton::Fault -104 \Q${\ text_for(3)}\E$/m, 'initialize dies with fault -104 and its text');
    like($err, qr/^pluton::Fault=-104 .*\Q${\ text_for(3)}\E/m, 'uncaught: the line on stderr');
}

done_testing;
