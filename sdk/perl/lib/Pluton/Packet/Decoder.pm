package Pluton::Packet::Decoder;

use strict;
use warnings;

require Pluton::Packet;
require Pluton::ServiceKey;

our $VERSION = '0.1.0';

# Incremental decoder: add() bytes, then next() returns
#   ($packet)         a complete packet { type => 'Q', fields => {...}, raw => ... }
#   (undef, $error)   { kind => 'netstring'|'packet', text => ... }
#   ()                more bytes needed
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
    }, $class;
    return $self;
}

sub add {    ## no critic (RequireArgUnpacking)
    my $self = shift;
    $self->{buf} .= $_[0];
    return;
}

# want: how many more bytes complete the netstring being read (at least 1).
sub want {
    my $self = shift;
    my $b = \$self->{buf};
    pos($$b) = $self->{pos};    ## no critic (RequireLocalizedPunctuationVars)
    my $need = 1;
    if ($$b =~ /\G([0-9]{1,10})[^0-9]/gc) {
        # <digits><type><payload><terminator>
        $need = $self->{pos} + length($1) + 1 + $1 + 1 - length($$b);
        $need = 1 if $need < 1;
    }
    pos($$b) = undef;    ## no critic (RequireLocalizedPunctuationVars)
    return $need;
}

# fill($fh, $size): one sysread of at least $size bytes (more when a known
# payload needs more) appended straight to the buffer. Returns sysread's result.
sub fill {
    my ($self, $fh, $size) = @_;
    if (length $self->{buf}) {
        my $need = $self->want;
        $size = $need if $need > $size;
    }
    return sysread($fh, $self->{buf}, $size, length $self->{buf});
}

sub pending { my $self = shift; return length($self->{buf}) }

# Drops whatever is buffered, for a new connection.
sub reset {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    $self->{buf}    = '';
    $self->{pos}    = 0;
    $self->{fields} = undef;
    $self->{error}  = undef;
    return;
}

# True if some bytes of a packet have been seen and the packet is unfinished.
sub in_packet { my $self = shift; return length($self->{buf}) > 0 }

sub next {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    return (undef, $self->{error}) if $self->{error};
    my $bufref = \$self->{buf};
    my $len    = length $$bufref;
    my $pos    = $self->{pos};
    my $fields = $self->{fields};
    my ($num, $type);
    # Each turn consumes one whole netstring <length><type><payload><terminator>.
    while ($pos < $len) {
        pos($$bufref) = $pos;
        if ($$bufref =~ /\G([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/gc) {    # the usual header
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
        last if $end >= $len;
        pos($$bufref) = $end;
        return $self->_error('netstring', "incorrect netString terminator - comma or \\n expected")
            unless $$bufref =~ /\G[,\n]/gc;
        if (!$fields) {
            return $self->_error('packet', "Unexpected netString type. Wanted: "
                . Pluton::Packet::type_name($self->{expect})
                . ", but got: '$type' (" . Pluton::Packet::type_name($type) . ")")
                if $type ne $self->{expect};
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
        next if $type ne 'z';
        # a whole packet: the bytes after it stay for the next one
        my %pkt = (type => $self->{expect}, fields => $fields);
        $pkt{raw} = substr($$bufref, 0, $pos) if $self->{keep_raw};
        substr($$bufref, 0, $pos, '');
        $self->{pos}    = 0;
        $self->{fields} = undef;
        if ($self->{check_key}) {
            # As the original: a request whose key fails the client rules is malformed.
            # A service is sent the same key over and over: each new one is checked once.
            my $key = defined $fields->{c} ? $fields->{c} : '';
            if (!defined $self->{good_key} || $key ne $self->{good_key}) {
                my $bad = Pluton::ServiceKey->check($key, client => 1);
                return (undef, { kind => 'packet', text => "Invalid Service Key: $bad" }) if defined $bad;
                $self->{good_key} = $key;
            }
        }
        return (\%pkt);
    }
    # only whole netstrings are consumed: pos stays at the first unparsed one
    $self->{pos}    = $pos;
    $self->{fields} = $fields;
    return ();
}

# The header <length><type> at $pos when it is not the usual one of at most 9
# digits and a type: ($length_digits, $type); () when more bytes are needed;
# (undef, $error) when it is malformed.
sub _header {
    my ($self, $pos, $len) = @_;
    my $bufref = \$self->{buf};
    pos($$bufref) = $pos;
    $$bufref =~ /\G([0-9]*)/gc;
    my $num = $1;
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
    return unless substr($$bufref, 0, 3) eq '0Q,';
    my $len = length $$bufref;
    my %f;
    pos($$bufref) = 3;    ## no critic (RequireLocalizedPunctuationVars)
    while ($$bufref =~ /\G([0-9]{1,9})([\x20-\x2f\x3a-\x7e])/gc) {
        my $end = pos($$bufref) + $1;
        return if $end >= $len || ($max && $1 > $max) || exists $f{$2} || $2 gt 'z';
        my $term = substr $$bufref, $end, 1;
        return if $term ne ',' && $term ne "\n";
        $f{$2} = substr $$bufref, $end - $1, $1;
        return $end + 1 == $len ? \%f : undef if $2 eq 'z';
        pos($$bufref) = $end + 1;    ## no critic (RequireLocalizedPunctuationVars)
    }
    return;
}

# At end of input: undef if clean (nothing pending), else the error.
sub eof {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    return $self->{error} if $self->{error};
    return undef unless length $self->{buf};    ## no critic (ProhibitExplicitReturnUndef)
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

    Pluton::Packet::Decoder->new($type, keep_raw => 1, check_key => 1, max_size => $bytes)

C<$type> is C<Q> or C<A>. C<keep_raw> keeps each packet's bytes in
C<< $packet->{raw} >>; C<check_key> checks a request's service key with the
client rules; C<max_size> (0: none) fails a netstring whose length prefix
exceeds it, as soon as the prefix is read.

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
more) appended to the buffer; returns what C<sysread> returned.

=head2 want

How many more bytes complete the netstring being read (at least 1).

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

=head2 partial_fields

The fields of the packet being decoded, those complete so far (a hash
reference).

=head2 set_max_size

    $d->set_max_size($bytes)

Changes C<max_size>.

=cut
