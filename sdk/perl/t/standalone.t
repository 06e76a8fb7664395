use strict;
use warnings;
use Test::More;
use lib 't/lib';
use PlutonTest;
use Pluton::Packet;

# Stand-alone mode: requests on fd 3, responses on fd 4 (./echo.pl 3<in 4>out).

my $dir = temp_dir();

sub run_echo {
    my ($input, %o) = @_;
    my $in  = "$dir/in";
    my $out = "$dir/out";
    my $err = "$dir/err";
    open(my $fh, '>', $in) or die; binmode $fh; print $fh $input; close $fh;
    unlink $out, $err;
    open(my $ifh, '<', $in) or die;
    open(my $ofh, '>', $out) or die;
    my %fds = (3 => $ifh, 4 => $ofh);
    delete $fds{3} if $o{no_fd3};
    my $pid = spawn_echo(fds => \%fds, stderr => $err, env => $o{env},
        ($o{direct} ? (direct => 1, lib => undef) : ()));
    my $st = wait_exit($pid, 20);
    return ($st, slurp($out), slurp($err), $pid);
}

sub sid { my $pid = shift; Pluton::Packet::netstring('s', "echo:$pid/0") }

my $REQ = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n";

{
    my ($st, $out, $err, $pid) = run_echo($REQ);
    is($st, 0, 'exit 0 at end of input');
    is($out, "0A,3b100,12aplSend:26446," . sid($pid) . "5qHello,0z\n", 'the captured response, with our pid');
    is($err, '', 'nothing on stderr');
}
{
    my $fault = "0Q,3b101,12aplSend:26448,17csystem.echo.0.raw,4l4000,21j12kecho.sleepMS,2v-1,,5kHello,0z\n";
    my $empty = "0Q,1b0,20cplTest.service.0.raw,1l0,0z\n";
    my ($st, $out, $err, $pid) = run_echo($REQ . $fault . $empty);
    is($st, 0, 'three packets back to back');
    is($out, "0A,3b100,12aplSend:26446," . sid($pid) . "5qHello,0z\n"
           . "0A,3b101,12aplSend:26448," . sid($pid) . "3p111,19rsleep time negative,0z\n"
           . "0A,1b0," . sid($pid) . "0z\n", 'response, fault, empty response');
}
{
    local $ENV{PERL5LIB} = '';
    my ($st, $out, $err, $pid) = run_echo($REQ, direct => 1);
    is($st, 0, 'examples/echo.pl runs by itself from the source tree (no -I, no PERL5LIB)') or diag $err;
    is($out, "0A,3b100,12aplSend:26446," . sid($pid) . "5qHello,0z\n", 'and answers');
}
{
    my ($st, $out) = run_echo('');
    is($st, 0, 'empty input: exit 0');
    is($out, '', 'no output');
}
{
    my ($st, $out, $err) = run_echo($REQ . "0Q,3b1x00,0z\n");
    is($st >> 8, 41, 'a bad packet: exit 41 (stopped with a fault)');
    like($err, qr/pluton::Fault=-58 .*incorrect netString terminator/, 'netstring parse fault');
    like($out, qr/^0A,3b100,/, 'the good packet before it was answered');
}
{
    my ($st, $out, $err) = run_echo("0G,3b100,0z\n");
    is($st >> 8, 41, 'wrong packet type: exit 41');
    like($err, qr/pluton::Fault=-57 .*Unexpected netString type\. Wanted: requestPT, but got: 'G' \(\?unknownPT\?\)/,
        'decode fault text');
}
{
    my ($st, $out, $err) = run_echo("0Q,3b100,5kHel");
    is($st >> 8, 41, 'EOF mid-packet: exit 41');
    like($err, qr/pluton::Fault=-57 .*'unexpected EOF in packet'/, 'requestDecodeFailed: unexpected EOF in packet');
}
{
    my ($st, $out, $err) = run_echo($REQ, no_fd3 => 1);
    is($st >> 8, 42, 'no fd 3: initialize fails, exit 42');
    like($err, qr/pluton::Fault=-55/, 'noFauxSTDIN');
}
{
    my $nowait = "0Q,3b100,12aplPing:27036,17csystem.echo.0.raw,4l5000,0e,5kLMNOP,0z\n";
    my ($st, $out) = run_echo($nowait . $REQ);
    is($st, 0, 'noWait request');
    like($out, qr/\A0A,3b100,12aplSend:26446,/, 'no response for the noWait request');
}
{
    my $bad_ctx = "0Q,3b100,17csystem.echo.0.raw,4l4000,8j1xa,1v1,,2kHi,0z\n";
    my ($st, $out, $err, $pid) = run_echo($bad_ctx);
    is($out, "0A,3b100," . sid($pid) . "3p-22,65rService Error: Unexpected Context type. Wanted: 'k', but got: 'x',0z\n",
        'a malformed context: the lookup dies with fault -22, which the handler form sends');
    is($st >> 8, 0, 'and the service goes on');
}
{
    my ($st, $out, $err, $pid) = run_echo($REQ, env => { plutonPacketTrace => 1 });
    is($st, 0, 'packet trace run');
    like($err, qr/^PktIn: \Q$REQ\E/m, 'PktIn line');
    like($err, qr/^PktOut: 0A,3b100,.*,0z$/m, 'PktOut line');
}
{
    # big binary payload through stand-alone mode
    my $big = substr(join('', map { chr(($_ * 7) % 256) } 0 .. 255) x 7813, 0, 2_000_001);
    my $req = Pluton::Packet::encode_request(id => 9, service_key => 'system.echo.0.raw', data => $big);
    my ($st, $out) = run_echo($req);
    is($st, 0, 'big request');
    my $f = Pluton::Packet::decode($out, 'A');
    ok($f->{q} eq $big, '2 MB echoed byte for byte');
}

{
    # a length prefix above maximum-request-size (64 MiB without a manager): fault 3 at once
    my ($st, $out, $err, $pid) = run_echo("0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,99999999k");
    is($st >> 8, 41, 'an oversize request ends the stand-alone loop with a fault');
    is($out, "0A,3b100,12aplSend:26446," . sid($pid)
        . "1p3,68rrequest data of 99999999 bytes exceeds maximum-request-size 67108864,0z\n",
        'after answering fault 3');
    like($err, qr/pluton::Fault=3 \(requestTooLarge:request too large\) 'request data of 99999999 bytes/, 'the fault');
}
done_testing;
