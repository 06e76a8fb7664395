use strict;
use warnings;
use Test::More;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Pluton::Packet;
use Pluton::Packet::Decoder;
use lib 't/lib';
use PlutonTest;

# Large payloads (Pluton::Packet::Decoder::LARGE bytes and more) are read
# into a scalar of their own, at its end, with their known length: the same
# packets, fields and errors as the ordinary path, whatever the chunks.

my $LARGE = Pluton::Packet::Decoder::LARGE;
my $data  = join q{}, map { chr(ord('a') + $_ % 26) } 0 .. 300_000;
my $REQ   = Pluton::Packet::encode_request(id => 9, client_name => 'big:1', service_key => 'system.echo.0.raw',
    timeout_ms => 4000, context => [ a => 'b' ], data => $data);
my $SMALL = Pluton::Packet::encode_request(id => 10, service_key => 'system.echo.0.raw', data => 'next');

# decode($bytes, $chunk, %opt): (fields of each packet, error text) after
# adding $bytes $chunk bytes at a time.
sub decode_chunks {
    my ($bytes, $chunk, %opt) = @_;
    my $d = Pluton::Packet::Decoder->new('Q', %opt);
    my (@got, $err);
    for (my $i = 0; $i < length $bytes && !$err; $i += $chunk) {
        $d->add(substr $bytes, $i, $chunk);
        while (my ($pkt, $e) = $d->next) {
            if ($e) { $err = $e->{text}; last }
            push @got, $pkt;
        }
    }
    return (\@got, $err, $d);
}

for my $chunk (1000, 4096, $LARGE - 1, $LARGE + 1, 200_000, length($REQ) + length($SMALL)) {
    my ($got, $err, $d) = decode_chunks($REQ . $SMALL, $chunk, check_key => 1);
    ok(!$err, "chunks of $chunk: no error") or diag $err;
    is(scalar @{$got}, 2, "chunks of $chunk: the large packet and the next one");
    ok($got->[0]{fields}{k} eq $data, "chunks of $chunk: the data");
    is($got->[0]{fields}{a}, 'big:1', "chunks of $chunk: the fields before it");
    is($got->[1]{fields}{k}, 'next', "chunks of $chunk: the packet after it, from the bytes read past it");
    is($d->pending, 0, "chunks of $chunk: nothing left");
}

# keep_raw (recorder, trace): the raw bytes of the packet, whole
{
    my ($got) = decode_chunks($REQ, 5000, keep_raw => 1);
    ok($got->[0]{raw} eq $REQ, 'keep_raw: the raw packet');
}

# the errors of the ordinary path, found at the same point (the end of the netstring)
my $big = ('x' x ($LARGE + 10));
my @bad = (
    [ 'first netstring of the wrong type', length($big) . 'A' . $big . ",0z\n",
      "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)" ],
    [ 'duplicate', "0Q,1b1,17csystem.echo.0.raw,1k1," . length($big) . 'k' . $big . ",0z\n",
      "Duplicate netString type of 'k'" ],
    [ 'out of range', "0Q,1b1," . length($big) . '{' . $big . ",0z\n", "Out-of-range netString type: '{'" ],
    [ 'terminator', "0Q,1b1," . length($big) . 'k' . $big . ";0z\n",
      'incorrect netString terminator - comma or \n expected' ],
);
for my $case (@bad) {
    my ($name, $bytes, $want) = @{$case};
    for my $chunk (3000, length $bytes) {
        my (undef, $err) = decode_chunks($bytes, $chunk);
        is($err, $want, "$name (chunks of $chunk)");
    }
}
{
    # a large payload of the packet type is ignored, as a small one
    my ($got, $err) = decode_chunks("${\ length $big}Q$big,1b3,17csystem.echo.0.raw,0z\n", 7000);
    ok(!$err, 'a large first netstring of the packet type');
    is_deeply($got->[0]{fields}, { b => 3, c => 'system.echo.0.raw', z => q{} }, 'its payload is not a field');
    # z with a large payload ends the packet
    ($got) = decode_chunks("0Q,1b3,17csystem.echo.0.raw,${\ length $big}z$big\n0Q,", 7000);
    ok($got->[0]{fields}{z} eq $big, 'a large z ends the packet');
}

# EOF inside a large payload, or after it before its terminator
for my $cut (length($REQ) - 200, length($REQ) - 4) {
    my ($got, $err, $d) = decode_chunks(substr($REQ, 0, $cut), 4096);
    ok(!@{$got} && !$err, "cut at $cut: incomplete");
    ok($d->pending > 0, "cut at $cut: pending");
    is($d->eof && $d->eof->{text}, 'unexpected EOF in packet', "cut at $cut: EOF is an error");
    $d->reset;
    is($d->pending, 0, "cut at $cut: reset drops it");
}

# fill: reads the rest of a large payload into place, its known length at a time
{
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $a;
        for (my $i = 0; $i < length $REQ; $i += 50_000) {
            syswrite $b, substr($REQ, $i, 50_000);
            select undef, undef, undef, 0.01;
        }
        syswrite $b, $SMALL;
        POSIX::_exit(0);
    }
    close $b;
    my $d = Pluton::Packet::Decoder->new('Q');
    my ($reads, @got) = (0);
    while (@got < 2) {
        my $want = $d->pending ? $d->want : 1;
        my $r = $d->fill($a, 65_536);
        last unless $r;
        $reads++;
        while (my ($pkt, $e) = $d->next) {
            die $e->{text} if $e;
            push @got, $pkt;
        }
        ok($want >= 1, 'want is at least 1');
    }
    waitpid $pid, 0;
    ok($got[0]{fields}{k} eq $data, 'fill: the large data');
    is($got[1]{fields}{k}, 'next', 'fill: the next packet');
    ok($reads <= 20, "fill: $reads reads for ${\ length $REQ} bytes sent in 50000-byte writes");
}

# scan_prefix and resume: the fields of the whole netstrings of a first
# read, and the decoder going on from there
for my $cut (3, 7, 20, 60, 70_000, length($REQ) - 2) {
    my $prefix = substr $REQ, 0, $cut;
    my ($fields, $pos, $whole) = Pluton::Packet::Decoder::scan_prefix(\$prefix, 0);
    ok($fields && !$whole, "scan_prefix at $cut: fields, not whole");
    my $d = Pluton::Packet::Decoder->new('Q');
    my @r = $d->resume($fields, $prefix, $pos);
    ok(!@r, "resume at $cut: incomplete");
    $d->add(substr $REQ, $cut);
    my ($pkt, $err) = $d->next;
    ok($pkt && $pkt->{fields}{k} eq $data && $pkt->{fields}{b} == 9 && $pkt->{fields}{a} eq 'big:1',
        "resume at $cut: the packet");
}
{
    my ($fields, $pos, $whole) = Pluton::Packet::Decoder::scan_prefix(\$SMALL, 0);
    ok($whole && $pos == length $SMALL && $fields->{k} eq 'next', 'scan_prefix of a whole packet');
    ok(!(Pluton::Packet::Decoder::scan_prefix(\"1Qx,0z\n", 0)), 'scan_prefix of what does not start with 0Q,');
    my $d = Pluton::Packet::Decoder->new('Q');
    my $bad = "0Q,1b1,2b22,0z\n";
    ($fields, $pos) = Pluton::Packet::Decoder::scan_prefix(\$bad, 0);
    my (undef, $err) = $d->resume($fields, $bad, $pos);
    is($err && $err->{text}, "Duplicate netString type of 'b'", 'resume finds the error where the scan stopped');
}

# The response of large data: head, data, end
is(Pluton::Packet::response_head(7, 'c:1', 's:2/0', 0, q{}) . "5qHello,0z\n",
    Pluton::Packet::response_packet(7, 'c:1', 's:2/0', 0, q{}, 'Hello'), 'response_head is the packet up to q');
is(Pluton::Packet::response_head(7, q{}, 's:2/0', 3, 'big') . "0z\n",
    Pluton::Packet::response_packet(7, q{}, 's:2/0', 3, 'big', q{}), 'response_head of a fault');


# Under a manager: buffers of large data are read into again for requests
# of the same length, but never under data the service's code still holds
# (a copy of the data, or the request itself).
{
    require IO::Socket::UNIX;
    require Socket;
    my $dir = temp_dir();
    my $key = 'perl.keep.0.raw';
    my $listen = IO::Socket::UNIX->new(Type => Socket::SOCK_STREAM(), Local => "$dir/$key.socket", Listen => 20)
        or die "listen: $!";
    my $segfh = make_segment("$dir/$key.mmap", slots => 1);
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $script = "$dir/keep.pl";
    open(my $fh, '>', $script) or die "$script: $!";
    print {$fh} <<'PERL';
use strict;
use warnings;
use Pluton::Service;
my (@copies, @held);
Pluton::Service->new('keep')->serve(sub {
    my $request = shift;
    my $data = $request->data;
    # the answer: what was kept of the requests before (their first bytes)
    my $out = join ',', map { substr $_, 0, 3 } @copies, map { $_->data } @held;
    push @copies, $data if $request->id % 2;    # a copy of odd ones' data
    push @held, $request if $request->id % 3 == 0;    # the request itself
    return $out;
});
PERL
    close $fh;
    my $pid = spawn_echo(script => $script, fds => { 3 => $listen, 4 => $segfh, 5 => $wr },
        env => { plutonSlot => 0 }, stderr => "$dir/keep.err");
    close $wr;
    my (@copies, @held, $ok);
    for my $id (1 .. 8) {
        my $payload = sprintf('%03d', $id) x 40_000;    # the same length each time
        my $c = IO::Socket::UNIX->new(Type => Socket::SOCK_STREAM(), Peer => "$dir/$key.socket") or die "connect: $!";
        my $req = Pluton::Packet::encode_request(id => $id, service_key => $key, data => $payload);
        for (my $off = 0; $off < length $req;) { $off += syswrite($c, $req, length($req) - $off, $off) // die "write: $!" }
        my $resp = q{};
        while (sysread $c, $resp, 65_536, length $resp) { }
        my $got = Pluton::Packet::decode($resp, 'A')->{q} // q{};
        my $want = join ',', @copies, @held;
        is($got, $want, "request $id: the data kept from the requests before is intact");
        push @copies, sprintf('%03d', $id) if $id % 2;
        push @held, sprintf('%03d', $id) if $id % 3 == 0;
    }
    kill 'TERM', $pid;
    is(wait_exit($pid, 10), 0, 'the keeping service stops');
}

done_testing;
