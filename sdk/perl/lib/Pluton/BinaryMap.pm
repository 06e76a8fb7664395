package Pluton::BinaryMap;

# The original Pluton's binary lookup map (version 1001, docs/protocol.md
# section 7.2), as an original manager or `plutonManager --lookup-format
# binary` (or the <L>.bin beside the text map) writes it. Native byte order.

use strict;
use warnings;

use Carp ();
use File::Basename qw(dirname);

use Pluton::Fault;

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    MAP_VERSION    => 1001,
    HEADER_SIZE    => 32,
    ENTRY_SIZE     => 20,
    RENDEZVOUS_KEY => '/rendezvous',
    MAX_READ       => 64 << 20,
};

# key_hash($bytes): the original's hash, h += h << 5; h ^= c in 32 bits.
sub key_hash {
    my ($key) = @_;
    my $h = 0;
    for my $c (unpack 'C*', $key) {
        $h = (($h + ($h << 5)) & 0xFFFF_FFFF) ^ $c;
    }
    return $h;
}

# is_binary($bytes): whether the data starts with the binary map's version.
sub is_binary {
    my ($data) = @_;
    return length($data) >= 4 && unpack('L', $data) == MAP_VERSION ? 1 : 0;
}

# new($bytes): the parsed map; dies with a message naming the field that
# does not fit.
sub new {
    my ($class, $data) = @_;
    Carp::croak('not a binary lookup map') unless is_binary($data);
    my $len = length $data;
    Carp::croak(sprintf '%d bytes, less than the %d-byte header', $len, HEADER_SIZE) if $len < HEADER_SIZE;
    my (undef, $flag, $table, $max_index, $size, $entry_base, $string_base) = unpack 'L a1 x3 L L L L L', $data;
    Carp::croak('hashTableSize is 0') if $table == 0;
    Carp::croak("hashTableSize $table does not fit in $len bytes") if HEADER_SIZE - 4 + 4 * $table > $len;
    Carp::croak("mapSize $size is more than the file's $len bytes") if $size > $len;
    Carp::croak("entry or string base beyond mapSize $size") if $entry_base > $size || $string_base > $size;
    my $last = $max_index;
    if ($string_base >= $entry_base) {
        my $room = int(($string_base - $entry_base) / ENTRY_SIZE) - 1;
        $room = 0 if $room < 0;
        $last = $room if $room < $last;
    }
    return bless {
        data        => $data,
        table       => $table,
        size        => $size,
        entry_base  => $entry_base,
        string_base => $string_base,
        last        => $last,
        stale       => $flag ne 'n' ? 1 : 0,
    }, $class;
}

sub stale { my $self = shift; return $self->{stale} }

# _entry($index): (key, value, next) or the empty list.
sub _entry {
    my ($self, $idx) = @_;
    return if $idx == 0 || $idx > $self->{last};
    my $at = $self->{entry_base} + ENTRY_SIZE * $idx;
    return if $at + ENTRY_SIZE > $self->{size};
    my ($ko, $kl, $vo, $vl, $next) = unpack "x$at l l l l L", $self->{data};
    my @out;
    for my $f ([ $ko, $kl ], [ $vo, $vl ]) {
        my ($off, $n) = @$f;
        my $start = $self->{string_base} + $off;
        return if $off < 0 || $n < 0 || $start + $n > $self->{size};
        push @out, substr $self->{data}, $start, $n;
    }
    return (@out, $next);
}

# get($key): the value of exactly $key, or undef.
sub get {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, $key) = @_;
    my $slot = HEADER_SIZE - 4 + 4 * (key_hash($key) % $self->{table});
    my $idx = unpack "x$slot L", $self->{data};
    for (0 .. $self->{last}) {
        my ($k, $v, $next) = $self->_entry($idx);
        return undef unless defined $k;    ## no critic (ProhibitExplicitReturnUndef)
        return $v if $k eq $key;
        $idx = $next;
    }
    return undef;    ## no critic (ProhibitExplicitReturnUndef)
}

# find($key): the original's lookup, $key, else $key less its last
# .component, and so on. (value, matched key) or the empty list.
sub find {
    my ($self, $key) = @_;
    while (length $key) {
        my $v = $self->get($key);
        return ($v, $key) if defined $v;
        last unless $key =~ s/\.[^.]*\z//;
    }
    return;
}

# entries(): every entry, as a hash of key => value.
sub entries {
    my $self = shift;
    my %out;
    for my $idx (1 .. $self->{last}) {
        my ($k, $v) = $self->_entry($idx);
        $out{$k} = $v if defined $k && length $k;
    }
    return \%out;
}

# rendezvous(): the /rendezvous entry, else the directory of the first
# socket (a map written by the original); dies when there is neither.
sub rendezvous {
    my $self = shift;
    my $v = $self->get(RENDEZVOUS_KEY);
    return $v if defined $v && length $v;
    for my $idx (1 .. $self->{last}) {
        my (undef, $p) = $self->_entry($idx);
        return dirname($p) if defined $p && $p =~ /\.socket\z/;
    }
    Carp::croak('binary lookup map names no rendezvous directory and no service');
}

# read_rendezvous($path): the empty list when $path is not a binary map
# (or cannot be opened: the caller reports that); else ($dir) or
# (undef, $fault) with the fault of docs/protocol.md section 7.2.
sub read_rendezvous {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or return;
    my $data = '';
    my $n = read $fh, $data, MAX_READ;
    close $fh;
    return if !defined $n || !is_binary($data);
    if (length($data) < HEADER_SIZE) {
        return (undef, Pluton::Fault->new(Pluton::Fault::SHM_IMPOSSIBLY_SMALL,
            sprintf('%s: %d bytes, less than the %d-byte header of a binary lookup map',
                $path, length $data, HEADER_SIZE)));
    }
    my $dir = eval { Pluton::BinaryMap->new($data)->rendezvous };
    return ($dir) if defined $dir;
    (my $why = $@) =~ s/ at \S+ line \d+\.?\n?\z//;
    return (undef, Pluton::Fault->new(Pluton::Fault::MAP_INITIALIZATION_FAILED,
        "$path: binary lookup map: $why"));
}

1;

__END__

=head1 NAME

Pluton::BinaryMap - read the original Pluton's binary lookup map

=head1 SYNOPSIS

    use Pluton::BinaryMap;

    my $map = Pluton::BinaryMap->new($bytes);    # dies on a bad map
    my ($socket, $matched) = $map->find('AddressBook.JSON.0.AddEntry');
    my $dir = $map->rendezvous;

    # what Pluton::Client does with a lookup location
    my ($dir, $fault) = Pluton::BinaryMap::read_rendezvous($path);

=head1 DESCRIPTION

The original Pluton manager wrote a binary lookup map (version 1001) that
its clients mapped; C<plutonManager> writes it beside the text map
(F<< <-L>.bin >>) or, with C<--lookup-format binary>, at C<-L> itself.
L<Pluton::Client> reads either format at any lookup path, detected by
content: a binary map starts with the 32-bit number 1001 in native byte
order, a text map with C<#>. The layout is in F<docs/protocol.md> section 7.2.

Keys are search keys C<App.Ser.Ver[.Func]> (the service key
C<App.Func.Ver.Ser> reordered; a wildcard service has no function) and
values the absolute paths of the services' sockets. The entry
C</rendezvous>, written by C<plutonManager>, names the rendezvous directory.

=head1 FUNCTIONS

=head2 new

    my $map = Pluton::BinaryMap->new($bytes);

Parses a map read into memory. Dies with a message naming what is wrong
when the data is not a binary map, is shorter than the 32-byte header, or
its header does not fit the data (C<hashTableSize is 0>,
C<mapSize N is more than the file's M bytes>, ...). Entries that point
outside the data are skipped by the lookups below rather than read.

=head2 get

    my $socket = $map->get('py.raw.0.echo');

The value of exactly this key, or undef.

=head2 find

    my ($socket, $matched) = $map->find('py.raw.0.echo');

The original's lookup: the whole key, else the key less its last
C<.component>, and so on, so an exact function wins over the wildcard
C<App.Ser.Ver>. The empty list when nothing matches.

=head2 entries

    my $all = $map->entries;    # { key => value, ... }

Every entry, including C</rendezvous>.

=head2 rendezvous

    my $dir = $map->rendezvous;

The rendezvous directory: the C</rendezvous> entry, else the directory of
the first socket (a map written by the original manager). Dies when the map
has neither.

=head2 stale

True when the remap flag is C<Y>: the manager replaced this map, re-open
the path.

=head2 is_binary

    Pluton::BinaryMap::is_binary($bytes)

Whether the data starts with the binary map's version (1001).

=head2 key_hash

    Pluton::BinaryMap::key_hash($bytes)

The original's hash (C<h += h << 5; h ^= c>, unsigned 32 bits).

=head2 read_rendezvous

    my ($dir, $fault) = Pluton::BinaryMap::read_rendezvous($path);

Reads the file at C<$path>. The empty list when it is not a binary map (or
cannot be opened), so the caller reads it as a text map. Else the
rendezvous directory, or undef and a L<Pluton::Fault>: C<shmImpossiblySmall>
(-107) for a map shorter than its header, C<mapInitializationFailed> (-32)
naming the path and the field for a header that does not fit.

=head1 SEE ALSO

L<Pluton::Client>, F<docs/protocol.md> section 7.2, F<docs/manager.md>
("Lookup map formats").

=cut
