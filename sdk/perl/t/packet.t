use strict;
use warnings;
use Test::More;
use Pluton::Packet;

# The captured vectors of docs/protocol.md section 1.2.
my $REQ   = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n";
my $RESP  = "0A,3b100,12aplSend:26446,12secho:26429/0,5qHello,0z\n";
my $FAULT = "0A,3b100,12aplSend:26448,12secho:26429/0,3p111,19rsleep time negative,0z\n";
my $ALL   = "0Q,3b100,10amyApp:4242,17csystem.echo.0.raw,4l4000,0e,0f,0g,0h,0i,22j12kecho.sleepMS,3v500,,4kping,0z\n";

is(Pluton::Packet::netstring('k', 'Hello'), '5kHello,', 'netstring');
is(Pluton::Packet::netstring('Q'), '0Q,', 'empty netstring');

is(Pluton::Packet::encode_request(id => 100, client_name => 'plSend:26446', service_key => 'system.echo.0.raw',
    timeout_ms => 4000, context => [ 'echo.sleepMS' => 5 ], data => 'Hello'), $REQ, 'request vector');
is(Pluton::Packet::encode_response(id => 100, client_name => 'plSend:26446', service_name => 'echo:26429/0',
    data => 'Hello'), $RESP, 'response vector');
is(Pluton::Packet::encode_response(id => 100, client_name => 'plSend:26448', service_name => 'echo:26429/0',
    fault_code => 111, fault_text => 'sleep time negative'), $FAULT, 'fault vector');
is(Pluton::Packet::encode_request(id => 100, client_name => 'myApp:4242', service_key => 'system.echo.0.raw',
    timeout_ms => 4000, no_wait => 1, no_remote => 1, no_retry => 1, keep_affinity => 1, need_affinity => 1,
    context => { 'echo.sleepMS' => 500 }, data => 'ping'), $ALL, 'all attributes vector');
is(Pluton::Packet::encode_request(id => 0, service_key => 'plTest.service.0.raw', timeout_ms => 0),
    "0Q,1b0,20cplTest.service.0.raw,1l0,0z\n", 'plTest empty request');
is(Pluton::Packet::encode_response(id => 0, service_name => 'echo:706/0'), "0A,1b0,10secho:706/0,0z\n",
    'empty response');
is(Pluton::Packet::encode_request(id => 0, service_key => 'system.echo.0.raw', timeout_ms => 0, data => 'Hello'),
    pack('H*', '30512c3162302c31376373797374656d2e6563686f2e302e7261772c316c302c356b48656c6c6f2c307a0a'),
    'plTest hex vector');
is(Pluton::Packet::encode_response(id => 1, fault_code => 5), "0A,1b1,1p5,0z\n", 'fault without text');
# A fault code Perl holds as a float goes out as an integer (found by the
# differential test: 1e+20 was written as is).
is(Pluton::Packet::encode_response(id => 1, fault_code => 0 + '99999999999999999999'),
    "0A,1b1,19p9223372036854775807,0z\n", 'a huge fault code saturates');
is(Pluton::Packet::encode_response(id => 1, fault_code => -1e20), "0A,1b1,20p-9223372036854775808,0z\n",
    'a huge negative one too');
is(Pluton::Packet::encode_response(id => 1, fault_code => 2.5), "0A,1b1,1p2,0z\n", 'a fraction is truncated');

my $f = Pluton::Packet::decode($REQ, 'Q');
is($f->{b}, '100', 'b');
is($f->{a}, 'plSend:26446', 'a');
is($f->{c}, 'system.echo.0.raw', 'c');
is($f->{l}, '4000', 'l');
is($f->{k}, 'Hello', 'k');
is_deeply(Pluton::Packet::decode_context($f->{j}), { 'echo.sleepMS' => 5 }, 'context');
my $rq = Pluton::Packet::request_fields(Pluton::Packet::decode($ALL, 'Q'));
is_deeply([ @$rq{qw(id client_name no_wait no_remote no_retry keep_affinity need_affinity data)} ],
    [ 100, 'myApp:4242', 1, 1, 1, 1, 1, 'ping' ], 'request fields');
my $rs = Pluton::Packet::response_fields(Pluton::Packet::decode($FAULT, 'A'));
is_deeply([ @$rs{qw(id client_name service_name fault_code fault_text data)} ],
    [ 100, 'plSend:26448', 'echo:26429/0', 111, 'sleep time negative', '' ], 'response fields');

# The decoder rules (t.80 cases and docs/protocol.md 1.2).
my $base = '0Q,3b100,12aplPing:26666,17csystem.echo.0.raw,4l5000,';
ok(eval { Pluton::Packet::decode("${base}0z\n", 'Q') }, 'ends with newline');
ok(eval { Pluton::Packet::decode("${base}0z,", 'Q') }, 'ends with comma');
my @bad = (
    [ "${base}0zX"                 => "incorrect netString terminator - comma or \\n expected" ],
    [ "0G,3b100,0z\n"              => "Unexpected netString type. Wanted: requestPT, but got: 'G' (?unknownPT?)" ],
    [ "0A,3b100,0z\n"              => "Unexpected netString type. Wanted: requestPT, but got: 'A' (responsePT)" ],
    [ "0Q,3b1x00,0z\n"             => "incorrect netString terminator - comma or \\n expected" ],
    [ "${base}4l5000,0z\n"         => "Duplicate netString type of 'l'" ],
    [ "0Q,123456789012b1,0z\n"     => 'netString length value greater than 999999999' ],
    [ "0Q,1000000000b1,0z\n"       => 'netString length value greater than 999999999' ],
    [ "0Q,0\tx,0z\n"               => 'invalid netString type (not isprint())' ],
    [ "xQ,0z\n"                    => 'leading netString character not a digit' ],
    [ "0Q,0{,0z\n"                 => "Out-of-range netString type: '{'" ],
    [ "0Q,0Q,0Q,0z\n"              => "Duplicate netString type of 'Q'" ],
    [ "3b100,0z\n"                 => "Unexpected netString type. Wanted: requestPT, but got: 'b' (?unknownPT?)" ],
    [ "0Q,3b100,"                  => 'unexpected EOF in packet' ],
);
for my $t (@bad) {
    my ($bytes, $text) = @$t;
    eval { Pluton::Packet::decode($bytes, 'Q') };
    (my $err = $@) =~ s/\n\z//;
    is($err, $text, "rejects: $text");
}
ok(eval { Pluton::Packet::decode("0Q,999999999b", 'Q'); 1 } ? 0 : 1, 'a maximal length just needs more bytes');
is(eval { Pluton::Packet::decode("0Q,0y,3xabc,0z\n", 'Q')->{x} }, 'abc', 'unknown types are ignored (kept)');
is(eval { Pluton::Packet::decode("0Q,3b007,0z\n", 'Q')->{b} }, '007', 'leading zeros accepted');
# The size limit applies once the prefix is complete, before the type byte is
# checked; input that ends inside the prefix is truncated (found by
# conformance/differential_test.go).
{
    my $d = Pluton::Packet::Decoder->new('Q', max_size => 10);
    $d->add('0Q,3b100,99999999');
    is(scalar(my @r = $d->next), 0, 'a large prefix without its end needs more bytes');
    is($d->eof->{text}, 'unexpected EOF in packet', 'and is truncated at EOF');
    $d = Pluton::Packet::Decoder->new('Q', max_size => 10);
    $d->add("0Q,3b100,99999999\x00");
    my (undef, $e) = $d->next;
    is($e->{kind}, 'too_large', 'too large before the bad type byte');
    is($d->partial_fields->{b}, '100', 'with the fields read before it');
}
# As the original's decodePacket (found by conformance/differential_test.go):
# the packet type is not a field, so a second Q is an unknown type, ignored.
is(eval { Pluton::Packet::decode("0Q,1b7,0Q,0z\n", 'Q')->{b} }, '7', 'a second Q is ignored');
is_deeply(Pluton::Packet::Decoder::scan_request(\"0Q,1b7,0Q,0z\n"), { b => '7', Q => '', z => '' },
    'scan_request: a second Q too');
eval { Pluton::Packet::decode("0A,0z\n", 'A') };
is($@, '', 'response packet type');
eval { Pluton::Packet::decode($REQ, 'A') };
like($@, qr/Wanted: responsePT, but got: 'Q' \(requestPT\)/, 'wanted responsePT');

# Incremental decoding, one byte at a time, packets back to back.
{
    my $d = Pluton::Packet::Decoder->new('Q', keep_raw => 1);
    my @pkts;
    for my $byte (split //, $REQ . $ALL) {
        $d->add($byte);
        while (my ($p, $e) = $d->next) {
            die $e->{text} if $e;
            push @pkts, $p;
        }
    }
    is(scalar @pkts, 2, 'two packets byte by byte');
    is($pkts[0]{raw}, $REQ, 'raw of the first');
    is($pkts[1]{fields}{k}, 'ping', 'data of the second');
    is($d->eof, undef, 'clean end');
}
{
    my $d = Pluton::Packet::Decoder->new('Q');
    my $flood = '1' x 5000;
    $d->add($flood);
    my ($p, $e) = $d->next;
    is($e->{text}, 'netString length value greater than 999999999', 'a flood of digits');
}
{
    my $big = substr(join('', map { chr } 0 .. 255) x 1200, 0, 300_001);
    my $pkt = Pluton::Packet::encode_request(id => 5, service_key => 'a.b.0.raw', data => $big);
    my $d = Pluton::Packet::Decoder->new('Q');
    my $got;
    for (my $i = 0; $i < length $pkt; $i += 65536) {
        $d->add(substr($pkt, $i, 65536));
        my ($p, $e) = $d->next;
        $got = $p if $p;
    }
    ok($got && $got->{fields}{k} eq $big, 'binary data in chunks');
}

# the service key of each request is checked (a service sees the same one over and over)
{
    my $d = Pluton::Packet::Decoder->new('Q', check_key => 1);
    my @got;
    for my $key ('system.echo.0.raw', 'system.echo.0.raw', 'system.echo.0.bad', 'system.echo.0.raw', 'a.b.01.raw') {
        $d->add(Pluton::Packet::encode_request(id => 1, service_key => $key, data => 'x'));
        my ($p, $e) = $d->next;
        push @got, $p ? $p->{fields}{c} : $e->{text};
    }
    is_deeply(\@got, [ 'system.echo.0.raw', 'system.echo.0.raw', 'Invalid Service Key: serialization type is unrecognized',
        'system.echo.0.raw', 'Invalid Service Key: version has ambiguous leading zero' ], 'keys checked');
    is($d->pending, 0, 'nothing left');
}
is(eval { Pluton::Packet::decode("0Q,00000000002b12,0z\n", 'Q')->{b} }, '12', 'a long length with leading zeros');

# numbers (strtol)
is(Pluton::Packet::number('100'), 100, 'number');
is(Pluton::Packet::number('-5x'), -5, 'trailing junk');
is(Pluton::Packet::number(''), 0, 'empty');
is(Pluton::Packet::number('abc'), 0, 'non-numeric');
is(Pluton::Packet::number(' +7'), 7, 'space and sign');

# context
is(Pluton::Packet::encode_context(a => 1, b => ''), '1ka,1v1,1kb,0v,', 'encode context');
is_deeply(Pluton::Packet::decode_context('1ka,1v1,1ka,1v2,'), { a => 2 }, 'last value wins');
is_deeply(Pluton::Packet::decode_context(''), {}, 'empty context');
is_deeply([ Pluton::Packet::context_pairs('1ka,1v1,1kb,0v,1ka,1v2,') ], [ a => 1, b => '', a => 2 ], 'pairs in order');
for my $t (
    [ '1xa,1v1,' => "Service Error: Unexpected Context type. Wanted: 'k', but got: 'x'" ],
    [ '1ka,1ka,' => "Service Error: Unexpected Context type. Wanted: 'v', but got: 'k'" ],
    [ '1ka,'     => 'Service Error: Context leading netString character not a digit' ],
    [ '5ka,'     => 'Service Error: Context truncated' ],
    [ '1ka'      => 'Service Error: Context truncated' ],
    [ '12'       => 'Service Error: Context truncated' ],
    [ 'ka,'      => 'Service Error: Context leading netString character not a digit' ],
    [ '1ka;1v1,' => 'Service Error: Context incorrect netString terminator - comma or \n expected' ],
    [ '1000000000k' => 'Service Error: Context netString length value greater than 999999999' ],
) {
    eval { Pluton::Packet::decode_context($t->[0]) };
    (my $e = $@) =~ s/\n\z//;
    is($e, $t->[1], "bad context: $t->[0]");
}

# the one-pass scan of a request that arrived whole agrees with the decoder
{
    my $req = "0Q,3b100,12aplSend:26446,17csystem.echo.0.raw,4l4000,20j12kecho.sleepMS,1v5,,5kHello,0z\n";
    my $f = Pluton::Packet::Decoder::scan_request(\$req, 0);
    is_deeply($f, Pluton::Packet::decode($req, 'Q'), 'scan_request: the same fields as the decoder');
    for my $case (
        [ 'incomplete',          substr($req, 0, -2) ],
        [ 'bytes after the end', $req . '0Q,' ],
        [ 'a duplicate type',    "0Q,1b1,1b2,0z\n" ],
        [ 'a bad terminator',    "0Q,1b1;0z\n" ],
        [ 'not a request',       "0A,1b1,0z\n" ],
        [ 'a type above z',      "0Q,1{1,0z\n" ],
        [ 'a length digit flood', "0Q,1234567890k" ],
    ) {
        my ($what, $bytes) = @$case;
        is(Pluton::Packet::Decoder::scan_request(\$bytes, 0), undef, "scan_request leaves $what to the decoder");
    }
    is(Pluton::Packet::Decoder::scan_request(\$req, 19), undef, 'and a netstring above max_size (the context, 20 bytes)');
    ok(Pluton::Packet::Decoder::scan_request(\$req, 20), 'at max_size it passes');
}

done_testing;
