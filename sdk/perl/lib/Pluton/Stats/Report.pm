package Pluton::Stats::Report;

use strict;
use warnings;

use Time::HiRes ();
require Pluton::Stats;

our $VERSION = '0.1.0';

use constant {    ## no critic (ProhibitConstantPragma)
    REPORT_VERSION => 1,
    REPORT_SIZE    => 528,
    REPORT_ENTRIES => 16,
};

# new($fd, $slot): the fd 5 reporter; undef if fd cannot be opened.
sub new {
    my ($class, $fd, $slot) = @_;
    my $fh;
    open($fh, '>&=', $fd) or return undef;    ## no critic (ProhibitExplicitReturnUndef, RequireBriefOpen)
    binmode $fh;
    return bless {
        fh      => $fh,
        pid     => $$,
        slot    => (defined $slot && $slot =~ /^[0-9]+$/ && $slot <= 0xFFFFFFFE) ? $slot : 0xFFFFFFFF,
        entries => [],
        oldest  => undef,
        ok      => 1,
    }, $class;
}

sub ok      { my $self = shift; return $self->{ok} }
sub count   { my $self = shift; return scalar @{ $self->{entries} } }

# add($outcome, $duration_us, $request_bytes, $response_bytes, $function, $now):
# one entry ($now: the time it finished); the record goes out at 16 entries.
sub add {
    my ($self, $outcome, $dur, $rq, $rs, $func, $now) = @_;
    return unless $self->{ok};
    my $e = $self->{entries};
    # durations and sizes are cut to 32 bits, the function name to 16 bytes (a16)
    push @{$e}, pack 'V V V V a16', $outcome, $dur > 0xFFFF_FFFF ? 0xFFFF_FFFF : $dur < 0 ? 0 : $dur,
        $rq > 0xFFFF_FFFF ? 0xFFFF_FFFF : $rq, $rs > 0xFFFF_FFFF ? 0xFFFF_FFFF : $rs, defined $func ? $func : q{};
    $self->{oldest} = defined $now ? $now : Time::HiRes::time() unless defined $self->{oldest};
    $self->flush if @{$e} >= REPORT_ENTRIES;
    return;
}

# Sends the pending entries if the oldest is at least 1 s old: the service
# calls it when it is about to block waiting for a request.
sub flush_if_due {
    my $self = shift;
    $self->flush if defined $self->{oldest} && Time::HiRes::time() - $self->{oldest} >= 1;
    return;
}

# Writes one record (even with 0 entries).
sub flush {
    my $self = shift;
    return unless $self->{ok};
    my @e = splice @{ $self->{entries} }, 0, REPORT_ENTRIES;
    my $rec = pack('V V V V', REPORT_VERSION, $self->{pid}, $self->{slot}, scalar @e)
        . join('', @e);
    $rec .= "\0" x (REPORT_SIZE - length $rec);
    my $n;
    {
        $n = syswrite($self->{fh}, $rec);
        redo if !defined $n && $!{EINTR};
    }
    $self->{ok} = 0 unless defined $n && $n == REPORT_SIZE;
    $self->{oldest} = @{ $self->{entries} } ? Time::HiRes::time() : undef;
    return;
}

sub close {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    close($self->{fh}) if $self->{fh};
    $self->{fh} = undef;
    $self->{ok} = 0;
    return;
}

1;

__END__

=head1 NAME

Pluton::Stats::Report - the fd 5 report records (internal)

=head1 DESCRIPTION

Used by L<Pluton::Service> in manager mode; not a public interface. One
entry per finished request (ok, fault, read or write error), sent as 528-byte
records (F<docs/protocol.md> section 5) with one C<syswrite> each: when 16
entries are held, when the instance is about to wait and its oldest entry
is at least a second old, and once at exit. A failed write ends reporting
for the instance; it never stops the service.

=cut
