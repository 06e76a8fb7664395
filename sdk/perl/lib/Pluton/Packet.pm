package Pluton::Packet;

use strict;
use warnings;
use Scalar::Util ();
use Pluton::ServiceKey ();
use Pluton::Packet::Decoder;

our $VERSION = '0.1.0';

use constant MAX_LENGTH => 999_999_999;    ## no critic (ProhibitConstantPragma)
use constant END_PACKET => "0z\n";    ## no critic (ProhibitConstantPragma)

# The original's packet type names (packetToEnglish), used in the decoder's
# "Unexpected netString type" message; any other byte is ?unknownPT?.
our %TYPE_NAME = (
    Q => 'requestPT',     A => 'responsePT',
    L => 'remoteLoginPT', M => 'loginResponsePT',
);

sub type_name {
    my $t = shift;
    return exists $TYPE_NAME{$t} ? $TYPE_NAME{$t} : '?unknownPT?';
}

# One netstring: <length><type><payload>,
sub netstring {
    my ($type, $payload) = @_;
    $payload = '' unless defined $payload;
    return length($payload) . $type . $payload . ',';
}

# strtol(…, 10) semantics: optional space and sign, digits, junk ignored.
sub number {
    my $s = shift;
    return 0 unless defined $s && $s =~ /^[ \t\n\r\f\v]*([+-]?)([0-9]+)/;
    my ($sign, $digits) = ($1, $2);
    $digits =~ s/^0+(?=.)//;
    my $max = '9223372036854775807';
    if (length($digits) > length($max) || (length($digits) == length($max) && $digits gt $max)) {
        return $sign eq '-' ? -9223372036854775807 - 1 : 9223372036854775807;
    }
    return $sign eq '-' ? -$digits : 0 + $digits;
}

# integer($n): $n as a decimal integer for the wire: a number Perl holds as a
# float (1e+20, 2.5) is truncated and saturated at the 64-bit range.
sub integer {
    my $v = shift;
    return $v if $v =~ /\A-?[0-9]+\z/ || !Scalar::Util::looks_like_number($v);
    return '9223372036854775807' if $v >= 9223372036854775807;
    return '-9223372036854775808' if $v <= -9223372036854775808;
    return sprintf '%d', $v;
}

# Context: nested pairs <n>k<key>,<n>v<value>,
sub encode_context {
    my @pairs = @_;
    my $out = '';
    while (@pairs) {
        my ($k, $v) = splice @pairs, 0, 2;
        $out .= netstring('k', $k) . netstring('v', $v);
    }
    return $out;
}

# decode_context($payload): a hash ref (the last value of a repeated key wins);
# dies with the decoder's message (no trailing newline) for a malformed context.
sub decode_context {    ## no critic (RequireArgUnpacking)
    my %ctx;
    for (my @pairs = context_pairs($_[0]); @pairs;) {
        my ($k, $v) = splice @pairs, 0, 2;
        $ctx{$k} = $v;
    }
    return \%ctx;
}

# context_pairs($payload): the key/value pairs in order; dies as decode_context.
sub context_pairs {
    my $payload = shift;
    my @pairs;
    my $pos = 0;
    while ($pos < length $payload) {
        my $key = _context_netstring(\$payload, \$pos, 'k');
        my $value = _context_netstring(\$payload, \$pos, 'v');
        push @pairs, $key, $value;
    }
    return @pairs;
}

sub _context_netstring {
    my ($bufref, $posref, $want) = @_;
    my $len = length $$bufref;
    my $i = $$posref;
    my $n = 0;
    while ($i < $len && substr($$bufref, $i, 1) =~ /[0-9]/) {
        $n = $n * 10 + substr($$bufref, $i, 1);
        die "Service Error: Context netString length value greater than 999999999\n" if $n > MAX_LENGTH;
        $i++;
    }
    die "Service Error: Context leading netString character not a digit\n" if $i == $$posref;
    die "Service Error: Context truncated\n" if $i == $len;
    my $type = substr($$bufref, $i, 1);
    die "Service Error: Unexpected Context type. Wanted: '$want', but got: '$type'\n" if $type ne $want;
    $i++;
    die "Service Error: Context truncated\n" if $len - $i < $n + 1;
    my $term = substr($$bufref, $i + $n, 1);
    die "Service Error: Context incorrect netString terminator - comma or \\n expected\n"
        if $term ne ',' && $term ne "\n";
    $$posref = $i + $n + 1;
    return substr($$bufref, $i, $n);
}

# parse_netstring(\$buf, $pos) ->
#   ('ok', $type, $payload, $next_pos) | ('more') | ('error', $text)
sub parse_netstring {
    my ($bufref, $pos) = @_;
    my $blen = length $$bufref;
    return ('more') if $pos >= $blen;
    my $c = substr($$bufref, $pos, 1);
    return ('error', 'leading netString character not a digit') if $c !~ /[0-9]/;
    my $n = 0;
    my $p = $pos;
    while ($p < $blen) {
        $c = substr($$bufref, $p, 1);
        last if $c !~ /[0-9]/;
        $n = $n * 10 + $c;
        return ('error', 'netString length value greater than 999999999') if $n > MAX_LENGTH;
        $p++;
    }
    return ('more') if $p >= $blen;
    my $type = substr($$bufref, $p, 1);
    my $o = ord $type;
    return ('error', 'invalid netString type (not isprint())') if $o < 0x20 || $o > 0x7e;
    $p++;
    return ('more') if $blen < $p + $n + 1;
    my $term = substr($$bufref, $p + $n, 1);
    return ('error', "incorrect netString terminator - comma or \\n expected")
        if $term ne ',' && $term ne "\n";
    return ('ok', $type, substr($$bufref, $p, $n), $p + $n + 1);
}

sub encode_request {
    my %r = @_;
    my $out = netstring('Q')
        . netstring('b', defined $r{id} ? $r{id} : 0);
    $out .= netstring('a', $r{client_name}) if defined $r{client_name} && length $r{client_name};
    $out .= netstring('c', defined $r{service_key} ? $r{service_key} : '');
    $out .= netstring('l', defined $r{timeout_ms} ? $r{timeout_ms} : 0);
    $out .= netstring('e') if $r{no_wait};
    $out .= netstring('f') if $r{no_remote};
    $out .= netstring('g') if $r{no_retry};
    $out .= netstring('h') if $r{keep_affinity};
    $out .= netstring('i') if $r{need_affinity};
    if (defined $r{context}) {
        my $ctx = ref $r{context} eq 'ARRAY' ? encode_context(@{ $r{context} })
                : ref $r{context} eq 'HASH'  ? encode_context(map { ($_, $r{context}{$_}) } sort keys %{ $r{context} })
                :                              $r{context};
        $out .= netstring('j', $ctx) if length $ctx;
    }
    $out .= netstring('m') if $r{file_descriptor};
    $out .= netstring('k', $r{data}) if defined $r{data} && length $r{data};
    return $out . END_PACKET;
}

sub encode_response {
    my %r = @_;
    return response_packet(map { defined $_ ? $_ : '' } @r{qw(id client_name service_name fault_code fault_text data)});
}

# response_packet($id, $client_name, $service_name, $fault_code, $fault_text,
# $data): encode_response with the fields in that order, all defined.
sub response_packet {    ## no critic (RequireArgUnpacking)
    my $out = response_head(@_[0 .. 4]);
    $out .= length($_[5]) . 'q' . $_[5] . ',' if length $_[5];
    return $out . END_PACKET;
}

# response_head($id, $client_name, $service_name, $fault_code, $fault_text):
# the response packet up to its data netstring (q), all arguments defined.
sub response_head {
    my ($id, $client_name, $service_name, $fault_code, $fault_text) = @_;
    $id = 0 unless length $id;
    my $out = '0A,' . length($id) . 'b' . $id . ',';
    $out .= length($client_name) . 'a' . $client_name . ',' if length $client_name;
    $out .= length($service_name) . 's' . $service_name . ',' if length $service_name;
    if ($fault_code) {
        $fault_code = integer($fault_code);
        $out .= length($fault_code) . 'p' . $fault_code . ',';
        $out .= length($fault_text) . 'r' . $fault_text . ',' if length $fault_text;
    }
    return $out;
}

# Turns a decoded field map into a friendlier request hash.
sub request_fields {
    my $f = shift;
    return {
        id            => number($f->{b}),
        client_name   => defined $f->{a} ? $f->{a} : '',
        service_key   => defined $f->{c} ? $f->{c} : '',
        timeout_ms    => number($f->{l}),
        no_wait       => exists $f->{e} ? 1 : 0,
        no_remote     => exists $f->{f} ? 1 : 0,
        no_retry      => exists $f->{g} ? 1 : 0,
        keep_affinity => exists $f->{h} ? 1 : 0,
        need_affinity => exists $f->{i} ? 1 : 0,
        context       => $f->{j},
        data          => defined $f->{k} ? $f->{k} : '',
    };
}

sub response_fields {
    my $f = shift;
    return {
        id           => number($f->{b}),
        client_name  => defined $f->{a} ? $f->{a} : '',
        service_name => defined $f->{s} ? $f->{s} : '',
        fault_code   => number($f->{p}),
        fault_text   => defined $f->{r} ? $f->{r} : '',
        data         => defined $f->{q} ? $f->{q} : '',
    };
}

# Decode one complete packet from a string; returns the field hash ref, or dies
# with the error text. $expect is 'Q' or 'A'.
sub decode {
    my ($bytes, $expect) = @_;
    my $d = Pluton::Packet::Decoder->new($expect);
    $d->add($bytes);
    my ($pkt, $err) = $d->next;
    die "$err->{text}\n" if $err;
    if (!$pkt) {
        my $e = $d->eof;
        die "$e->{text}\n";
    }
    return $pkt->{fields};
}

1;

__END__

=head1 NAME

Pluton::Packet - netstring packets of the Pluton wire protocol

=head1 SYNOPSIS

    use Pluton::Packet;
    my $bytes = Pluton::Packet::encode_request(
        id => 100, client_name => 'plSend:26446', service_key => 'system.echo.0.raw',
        timeout_ms => 4000, context => [ 'echo.sleepMS' => 5 ], data => 'Hello');
    my $fields = Pluton::Packet::decode($response_bytes, 'A');   # dies if malformed

=head1 DESCRIPTION

A packet is a run of netstrings C<< <length><type><payload>, >> starting with
C<0Q,> (request) or C<0A,> (response) and ending with C<0z\n>. See
F<docs/protocol.md> section 1 for the fields and the decoder rules, which
this module and L<Pluton::Packet::Decoder> implement with the same error
texts. All functions are plain functions (no objects).

=head1 FUNCTIONS

=head2 encode_request

    encode_request(id => $n, client_name => $s, service_key => $k, timeout_ms => $ms,
                   no_wait => 1, no_remote => 1, no_retry => 1, keep_affinity => 1,
                   need_affinity => 1, context => \%or\@, data => $bytes)

A request packet, fields in the original's order.

=head2 encode_response

    encode_response(id => $n, client_name => $s, service_name => $s,
                    fault_code => $c, fault_text => $t, data => $bytes)

A response packet.

=head2 response_packet

    response_packet($id, $client_name, $service_name, $fault_code, $fault_text, $data)

C<encode_response> with positional arguments, all defined.

=head2 response_head

    response_head($id, $client_name, $service_name, $fault_code, $fault_text)

The start of that packet, up to its data netstring: a large response is
written as this, C<< <length>q >>, the data and C<,0z\n>, without a copy
of the data.

=head2 decode

    decode($bytes, 'Q' | 'A')

The fields (type => payload) of the one packet in C<$bytes>; dies with the
decoder's message.

=head2 request_fields, response_fields

A decoded field map as a hash with readable names (C<id>, C<client_name>,
C<service_key>, C<timeout_ms>, the attributes, C<context>, C<data>; or
C<id>, C<client_name>, C<service_name>, C<fault_code>, C<fault_text>,
C<data>).

=head2 netstring

    netstring($type, $payload)

One netstring.

=head2 parse_netstring

    parse_netstring(\$buffer, $pos)

One netstring at C<$pos>: C<('ok', $type, $payload, $next_pos)>,
C<('more')> or C<('error', $text)>.

=head2 encode_context

    encode_context(name => value, ...)

A context payload (nested C<k>/C<v> netstrings).

=head2 decode_context

A context payload as a hash reference (the last value of a repeated name
wins); dies with the decoder's message (C<Service Error: ...>).

=head2 context_pairs

A context payload as name/value pairs in order; dies as C<decode_context>.

=head2 integer

A number as a decimal integer for the wire: one Perl holds as a float
(C<1e+20>) is truncated and saturated at the 64-bit range, as a fault code
is sent.

=head2 number

A numeric field read as C<strtol> does: an optional sign and digits,
trailing junk ignored, anything else 0.

=head2 type_name

The original's name of a packet type (C<requestPT>, C<responsePT>,
C<remoteLoginPT>, C<loginResponsePT>), or C<?unknownPT?> for any other byte,
a netstring type included (as the original's C<packetToEnglish>).

=cut
