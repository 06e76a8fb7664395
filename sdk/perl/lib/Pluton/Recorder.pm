package Pluton::Recorder;

# The recorder (docs/protocol.md section 9): every request read and every
# response written, each in its own file, <prefix>in.<pid>.<NNNNN> and
# <prefix>out.<pid>.<NNNNN>.

use strict;
use warnings;

use Fcntl qw(O_WRONLY O_CREAT O_TRUNC);

our $VERSION = '0.1.0';

# new($prefix, $cycle): a recorder for this process (cycle 0 = unbounded).
sub new {
    my ($class, $prefix, $cycle) = @_;
    return bless { prefix => $prefix, cycle => $cycle || 0, count => 0, ok => 1 }, $class;
}

sub ok { my $self = shift; return $self->{ok} }

# The index of the next request's files: the count incremented first, then
# reduced modulo the cycle (so the first pair is 00001).
sub next_index {
    my $self = shift;
    my $n = ++$self->{count};
    return $self->{cycle} ? $n % $self->{cycle} : $n;
}

sub path {
    my ($self, $dir, $index) = @_;
    return sprintf '%s%s.%d.%05d', $self->{prefix}, $dir, $$, $index;
}

# write($dir, $index, $bytes): $dir is 'in' or 'out'. A failure is reported
# once on stderr and ends recording; it never fails the request.
sub write {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, $dir, $index, $bytes) = @_;
    return 0 unless $self->{ok};
    my $path = $self->path($dir, $index);
    my $fh;
    my $ok = sysopen($fh, $path, O_WRONLY | O_CREAT | O_TRUNC, oct 640) && chmod(oct 640, $fh);
    if ($ok) {
        my $off = 0;
        while ($ok && $off < length $bytes) {
            my $n = syswrite $fh, $bytes, length($bytes) - $off, $off;
            if (defined $n) { $off += $n }
            elsif (!$!{EINTR}) { $ok = 0 }
        }
        $ok = close($fh) && $ok;
    }
    if (!$ok) {
        print {*STDERR} "Pluton::Service: recorder stopped: cannot write $path: $!\n";
        $self->{ok} = 0;
    }
    return $ok ? 1 : 0;
}

1;

__END__

=head1 NAME

Pluton::Recorder - record requests and responses to files (internal)

=head1 DESCRIPTION

Used by L<Pluton::Service> in manager mode when the service's configuration
sets C<recorder-prefix>. For each request the index is incremented and then
reduced modulo C<recorder-cycle> (when that is not 0); the request packet,
exactly as read, goes to C<< <prefix>in.<pid>.<NNNNN> >> and the response
packet, exactly as written, to C<< <prefix>out.<pid>.<NNNNN> >> (mode 0640,
truncated if it exists). C<./svc 3<in-file 4>out> replays a recorded
request. A file that cannot be written is reported once on stderr and
recording stops for the instance; the request is served all the same.

=cut
