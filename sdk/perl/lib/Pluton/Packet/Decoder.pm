package Pluton::Packet::Decoder;

use strict;
use warnings;

require Pluton::Packet;
require Pluton::ServiceKey;

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    # A netstring whose payload is at least this long and incomplete is read
    # into a scalar of its own, at its end, with its known length: no
    # concatenation of chunks, and the payload becomes the field without a
    # copy.
    LARGE => 65_536,
    # Read past the end of a large payload in the same read: its terminator
    # and the end of the packet. Small, so that the payload's buffer wastes
    # less than perl's limit for sharing it on copy (80 bytes): the field
    # and what the application copies of it are then one buffer.
    TAIL => 48,
};

# Incremental decoder: add() bytes, then next() returns
#   ($packet)         a complete packet { type => 'Q', fields => {...}, raw => ... }
#   (undef, $error)   { kind => 'netstring'|'packet', text => ... }
#   ()                more bytes needed
#
# No regular expression with a capture runs on a buffer that may be large:
# perl would share the buffer with the match (copy on write), and the next
# append would copy all of it (a 1 MiB request read in chunks cost
# milliseconds). Headers are matched in a copy of a few bytes.
sub new {
    my ($class, $expect, %opt) = @_;
    my $self = bless {
        expect   => $expect,
        buf      => '',
        pos      => 0,
        fields   => undef,
        keep_raw => $opt{keep_raw} ? 1 : 0,
        check_key => $opt{check_key} ? 1 : 0,
        max_size => $opt{max_size} || 0,
        error    => undef,
        # buffers to read large payloads into, by length (see start_large)
        pool     => $opt{pool},
        # service keys known to be good (the service's cache)
        known    => $opt{known},
        # a large payload being read: its bytes so far, its netstring type
        # and length (buf then holds only the bytes after the payload)
        large    => undef,
        large_type => undef,
        large_len  => 0,
    }, $class;
    return $self;
}

sub add {    ## no critic (RequireArgUnpacking)
    my $self = shift;
    if (defined $self->{large} && (my $left = $self->{large_len} - length $self->{large}) > 0) {
        if (length $_[0] <= $left) {
            $self->{large} .= $_[0];
            return;
        }
        $self->{large} .= substr $_[0], 0, $left;
        $self->{buf} .= substr $_[0], $left;
        return;
    }
    $self->{buf} .= $_[0];
    return;
}

# want: how many more bytes complete the netstring being read (at least 1).
sub want {
    my $self = shift;
    my $need = 1;
    if (defined $self->{large}) {
        $need = $self->{large_len} - length($self->{large}) + 1 - length $self->{buf};
    }
    elsif (substr($self->{buf}, $self->{pos}, 11) =~ /\A([0-9]{1,10})[^0-9]/) {
        # <digits><type><payload><terminator>
        $need = $self->{pos} + length($1) + 1 + $1 + 1 - length $self->{buf};
    }
    return $need < 1 ? 1 : $need;
}

# fill($fh, $size): one sysread of at least $size bytes (more when a known
# payload needs more) appended straight to the buffer, or to the large
# payload being read (the rest of it and the end of the packet). Returns
# sysread's result.
sub fill {
    my ($self, $fh, $size) = @_;
    if (defined $self->{large}) {
        my $large = \$self->{large};
        my $left = $self->{large_len} - length $$large;
        if ($left > 0) {
            my $r = sysread $fh, $$large, $left + TAIL, length $$large;
            if ($r && $r > $left) {    # the bytes after the payload go to the buffer
                $self->{buf} .= substr $$large, $self->{large_len}, $r - $left, q{};
            }
            return $r;
        }
    }
    elsif (length $self->{buf}) {
        my $need = $self->want;
        $size = $need if $need > $size;
    }
    return sysread $fh, $self->{buf}, $size, length $self->{buf};
}

# resume($fields, $bytes, $pos): as reset, add($bytes) and next, when the
# whole netstrings of $bytes before $pos are decoded into $fields already (a
# scan of a connection's first read that found its packet incomplete), so
# they are not decoded again.
sub resume {    ## no critic (RequireArgUnpacking)
    my ($self, $fields, undef, $pos) = @_;
    $self->reset;
    $self->{fields} = $fields;
    if ($self->{keep_raw}) {
        $self->{buf} = $_[2];
        $self->{pos} = $pos;
    }
    elsif (substr($_[2], $pos, 10) =~ /\A([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/ && $1 >= LARGE
        && !($self->{max_size} && $1 > $self->{max_size}) && $pos + length($1) + 1 + $1 >= length $_[2]) {
        # an incomplete large payload (as next would do, without the copy
        # of the bytes into the buffer first)
        $self->_start_large($_[2], $pos + length($1) + 1, $2, $1);
        return ();
    }
    else {
        $self->{buf} = substr $_[2], $pos;
    }
    return $self->next;
}

# _start_large($bytes, $from, $type, $length): a large payload begins with
# the bytes of $bytes from $from. Its scalar is one of the pool's buffers of
# that length when there is one (a payload of the same length was read
# before and is done with): written in place, so its memory is not given
# back and faulted in again for every request.
sub _start_large {    ## no critic (RequireArgUnpacking)
    my ($self, undef, $from, $type, $num) = @_;
    my $pool = $self->{pool};
    my $free = $pool && $pool->{ 0 + $num };
    if ($free && @{$free}) {
        $pool->{count}--;
        $pool->{bytes} -= $num;
        $self->{large} = pop @{$free};    # the buffer itself (a temporary's, taken over)
        substr $self->{large}, 0, length $self->{large}, substr $_[1], $from;
    }
    else {
        $self->{large} = substr $_[1], $from;
    }
    @{$self}{qw(large_type large_len)} = ($type, 0 + $num);
    return;
}

sub pending {
    my $self = shift;
    return length($self->{buf}) + (defined $self->{large} ? length($self->{large}) + 1 : 0);
}

# Drops whatever is buffered, for a new connection.
sub reset {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    $self->{buf}    = '';
    $self->{pos}    = 0;
    $self->{fields} = undef;
    $self->{error}  = undef;
    $self->{large}  = undef;
    return;
}

# True if some bytes of a packet have been seen and the packet is unfinished.
sub in_packet { my $self = shift; return $self->pending > 0 }

sub next {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    return (undef, $self->{error}) if $self->{error};
    my $bufref = \$self->{buf};
    my $len    = length $$bufref;
    my $pos    = $self->{pos};
    my $fields = $self->{fields};
    my ($num, $type);
    if (defined $self->{large}) {
        # a large payload: whole once its bytes and the terminator are in
        return () if length($self->{large}) < $self->{large_len} || !$len;
        return $self->_error('netstring', "incorrect netString terminator - comma or \\n expected")
            if substr($$bufref, 0, 1) ne ',' && substr($$bufref, 0, 1) ne "\n";
        $type = $self->{large_type};
        $pos = 1;
        if (!$fields) {
            return $self->_unexpected($type) if $type ne $self->{expect};
            $fields = {};
            $self->{large} = undef;
        }
        elsif ($type gt 'z') {
            return $self->_error('packet', "Out-of-range netString type: '$type'");
        }
        elsif (exists $fields->{$type}) {
            return $self->_error('packet', "Duplicate netString type of '$type'");
        }
        else {
            $fields->{$type} = delete $self->{large};    # the payload's buffer itself, not a copy
            return $self->_packet($fields, $pos) if $type eq 'z';
        }
    }
    # Each turn consumes one whole netstring <length><type><payload><terminator>.
    while ($pos < $len) {
        if (substr($$bufref, $pos, 10) =~ /\A([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/) {    # the usual header
            ($num, $type) = ($1, $2);
        }
        else {
            $self->{fields} = $fields;
            my @header = $self->_header($pos, $len) or last;
            return @header unless defined $header[0];
            ($num, $type) = @header;
        }
        if ($self->{max_size} && $num > $self->{max_size}) {
            $self->{fields} = $fields;
            return $self->_too_large($num);
        }
        my $at  = $pos + length($num) + 1;    # where the payload starts
        my $end = $at + $num;
        if ($end >= $len) {
            if ($num >= LARGE && !$self->{keep_raw}) {
                # the rest of the payload is read into a scalar of its own;
                # the netstrings before it are in the fields already
                $self->_start_large($$bufref, $at, $type, $num);
                $$bufref = q{};
                $pos = 0;
            }
            last;
        }
        my $term = substr $$bufref, $end, 1;
        return $self->_error('netstring', "incorrect netString terminator - comma or \\n expected")
            if $term ne ',' && $term ne "\n";
        if (!$fields) {
            return $self->_unexpected($type) if $type ne $self->{expect};
            # As the original, the packet type is not a field: a second Q (or
            # A) later in the packet is an unknown type, ignored.
            $fields = {};
            $pos    = $end + 1;
            next;
        }
        elsif ($type gt 'z') {
            return $self->_error('packet', "Out-of-range netString type: '$type'");
        }
        elsif (exists $fields->{$type}) {
            return $self->_error('packet', "Duplicate netString type of '$type'");
        }
        $fields->{$type} = substr($$bufref, $at, $num);
        $pos = $end + 1;
        return $self->_packet($fields, $pos) if $type eq 'z';
    }
    # only whole netstrings are consumed: pos stays at the first unparsed one
    $self->{pos}    = $pos;
    $self->{fields} = $fields;
    return ();
}

# A whole packet, whose last byte is at $pos - 1 in the buffer: the bytes
# after it stay for the next one.
sub _packet {
    my ($self, $fields, $pos) = @_;
    my $bufref = \$self->{buf};
    my %pkt = (type => $self->{expect}, fields => $fields);
    $pkt{raw} = substr($$bufref, 0, $pos) if $self->{keep_raw};
    if ($pos == length $$bufref) { $$bufref = q{} }
    else                         { substr($$bufref, 0, $pos, q{}) }
    $self->{pos}    = 0;
    $self->{fields} = undef;
    if ($self->{check_key}) {
        # As the original: a request whose key fails the client rules is malformed.
        # A service is sent the same key over and over: each new one is checked once.
        my $key = defined $fields->{c} ? $fields->{c} : '';
        if ((!defined $self->{good_key} || $key ne $self->{good_key}) && !($self->{known} && $self->{known}{$key})) {
            my $bad = Pluton::ServiceKey->check($key, client => 1);
            return (undef, { kind => 'packet', text => "Invalid Service Key: $bad" }) if defined $bad;
            $self->{good_key} = $key;
        }
    }
    return (\%pkt);
}

sub _unexpected {
    my ($self, $type) = @_;
    return $self->_error('packet', "Unexpected netString type. Wanted: "
        . Pluton::Packet::type_name($self->{expect})
        . ", but got: '$type' (" . Pluton::Packet::type_name($type) . ")");
}

# The header <length><type> at $pos when it is not the usual one of at most 9
# digits and a type: ($length_digits, $type); () when more bytes are needed;
# (undef, $error) when it is malformed.
sub _header {
    my ($self, $pos, $len) = @_;
    my $bufref = \$self->{buf};
    # the digits, matched in a copy (see new); a long run of them (leading
    # zeros) in the whole buffer
    my ($num) = substr($$bufref, $pos, 16) =~ /\A([0-9]*)/;
    if (length $num == 16) {
        pos($$bufref) = $pos;    ## no critic (RequireLocalizedPunctuationVars)
        ($num) = $$bufref =~ /\G([0-9]*)/gc;
        pos($$bufref) = undef;    ## no critic (RequireLocalizedPunctuationVars)
    }
    return $self->_error('netstring', 'leading netString character not a digit') unless length $num;
    # checked before waiting for more digits: a flood of digits fails at once
    return $self->_error('netstring', 'netString length value greater than 999999999')
        if $num =~ /\A0*[1-9][0-9]{9}/;
    my $at = $pos + length $num;
    return () if $at >= $len;
    # the size limit applies as soon as the prefix is complete, before the type byte is checked
    return $self->_too_large($num) if $self->{max_size} && $num > $self->{max_size};
    my $type = substr($$bufref, $at, 1);
    my $o    = ord $type;
    return $self->_error('netstring', 'invalid netString type (not isprint())') if $o < 0x20 || $o > 0x7e;
    return ($num, $type);
}

# A netstring longer than max_size: the error 'too_large' with the length.
sub _too_large {
    my ($self, $num) = @_;
    $num =~ s/\A0+(?=.)//;
    return (undef, $self->{error} = {
        kind => 'too_large', size => $num,
        text => "request data of $num bytes exceeds maximum-request-size $self->{max_size}",
    });
}

# set_max_size($bytes): the largest netstring accepted (0: no limit).
sub set_max_size {
    my ($self, $max) = @_;
    $self->{max_size} = $max || 0;
    return;
}

# The fields of the packet being decoded (those complete so far).
sub partial_fields {
    my $self = shift;
    return $self->{fields} || {};
}

sub _error {
    my ($self, $kind, $text) = @_;
    return (undef, $self->{error} = { kind => $kind, text => $text });
}


# scan_request(\$bytes, $max_size): the fields of the request packet that
# $bytes holds exactly (the usual first read of a connection), or undef for
# anything else (incomplete, more bytes, or not valid: the decoder then says
# why). One pass, with the decoder's rules; the key is not checked here.
sub scan_request {
    my ($bufref, $max) = @_;
    my ($fields, undef, $whole) = scan_prefix($bufref, $max);
    return $whole ? $fields : undef;
}

# scan_prefix(\$bytes, $max_size): (\%fields, $pos, $whole): as
# scan_request, the fields of the whole netstrings of a request at the
# start of $bytes and the position after them; $whole when they are a
# whole packet and all of $bytes. () when $bytes does not start a request
# with 0Q, (the decoder then says why). The fields and position are what
# resume takes.
sub scan_prefix {
    my ($bufref, $max) = @_;
    return unless substr($$bufref, 0, 3) eq '0Q,';
    my $len = length $$bufref;
    my %f;
    my $i = 3;
    while (substr($$bufref, $i, 10) =~ /\A([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/) {
        my $end = $i + length($1) + 1 + $1;
        last if $end >= $len || ($max && $1 > $max) || exists $f{$2} || $2 gt 'z';
        my $term = substr $$bufref, $end, 1;
        last if $term ne ',' && $term ne "\n";
        $f{$2} = substr $$bufref, $end - $1, $1;
        $i = $end + 1;
        return (\%f, $i, $i == $len) if $2 eq 'z';
    }
    return (\%f, $i, 0);
}

# At end of input: undef if clean (nothing pending), else the error.
sub eof {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    return $self->{error} if $self->{error};
    return undef unless $self->pending;    ## no critic (ProhibitExplicitReturnUndef)
    return $self->{error} = { kind => 'packet', text => 'unexpected EOF in packet' };
}

1;

__END__

=head1 NAME

Pluton::Packet::Decoder - incremental decoder of netstring packets

=head1 SYNOPSIS

    my $d = Pluton::Packet::Decoder->new('A');     # 'Q' for requests
    $d->add($bytes);
    my ($packet, $error) = $d->next;    # () when more bytes are needed
    print $packet->{fields}{q} if $packet;

=head1 DESCRIPTION

Decodes packets as they arrive, with the rules and error texts of
F<docs/protocol.md> section 1.2. Bytes after a complete packet stay for the
next one.

=head1 METHODS

=head2 new

    Pluton::Packet::Decoder->new($type, keep_raw => 1, check_key => 1, max_size => $bytes,
                                 known => \%keys, pool => \%buffers)

C<$type> is C<Q> or C<A>. C<keep_raw> keeps each packet's bytes in
C<< $packet->{raw} >>; C<check_key> checks a request's service key with the
client rules; C<max_size> (0: none) fails a netstring whose length prefix
exceeds it, as soon as the prefix is read. C<known> is a hash whose keys
are service keys known to pass that check (the service's cache: they are
not checked again). C<pool> (the service's) holds
scalars done with, by the length of the large payload they held (C<<
{ count => n, bytes => n, <length> => [ scalars ] } >>): a large payload of
the same length is read into one of them in place of a new scalar.

=head2 add

Appends bytes.

=head2 next

Returns C<($packet)> for a complete packet (C<< { type => 'Q', fields => {
type => payload } } >>), C<(undef, $error)> for a malformed one (C<< { kind
=> 'netstring' | 'packet' | 'too_large', text => ... } >>; decoding stops
there), or C<()> when more bytes are needed.

=head2 eof

At the end of the input: undef if nothing is pending, else the error
(C<unexpected EOF in packet>).

=head2 fill

    $d->fill($fh, $size)

One C<sysread> of at least C<$size> bytes (more when a known payload needs
more) appended to the buffer; returns what C<sysread> returned. The payload
of a netstring of C<LARGE> (64 KiB) bytes or more that is not complete is
read into a scalar of its own, at its end, the rest of its known length (and
a few bytes past it) at a time; that scalar becomes the field, without a
copy. Bytes read past the payload stay for what follows.

=head2 want

How many more bytes complete the netstring being read (at least 1).

=head2 resume

    my ($packet, $error) = $d->resume($fields, $bytes, $pos);

As C<reset>, C<add($bytes)> and C<next>, when the whole netstrings of
C<$bytes> before C<$pos> have been decoded into C<$fields> already, with
these rules (the first read of a connection scanned by the service, whose
packet was incomplete): they are not decoded again.

=head2 pending

The number of bytes buffered.

=head2 in_packet

True while a packet has begun and is not complete.

=head2 reset

Drops everything buffered (for a new connection).

=head2 scan_request

    my $fields = Pluton::Packet::Decoder::scan_request(\$bytes, $max_size);

The fields of the request packet that C<$bytes> holds exactly, in one pass;
undef for anything else (an incomplete or malformed packet, or more bytes
after it), which the decoder then handles. The service key is not checked.

=head2 scan_prefix

    my ($fields, $pos, $whole) = Pluton::Packet::Decoder::scan_prefix(\$bytes, $max_size);

The same scan: the fields of the whole netstrings at the start of
C<$bytes> (a request starting with C<0Q,>) and the position after them, and
whether they are the whole packet and all of C<$bytes>; an empty list when
C<$bytes> does not start with C<0Q,>. Unless the packet is whole (or a C<z>
was read), C<< $d->resume($fields, $bytes, $pos) >> decodes on from there.

=head2 partial_fields

The fields of the packet being decoded, those complete so far (a hash
reference).

=head2 set_max_size

    $d->set_max_size($bytes)

Changes C<max_size>.

=cut
