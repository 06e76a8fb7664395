package Pluton::Compat::ClientRequest;

use strict;
use warnings;

use parent 'Pluton::Client::Request';

use Exporter qw(import);

our $VERSION = '0.1.0';

# The original's attribute bits.
use constant {    ## no critic (ProhibitConstantPragma)
    noWaitAttr       => 0x0001,
    noRemoteAttr     => 0x0002,
    noRetryAttr      => 0x0004,
    keepAffinityAttr => 0x0008,
    needAffinityAttr => 0x0010,
    allAttrs         => 0xFFFF,
};
our @EXPORT_OK = qw(noWaitAttr noRemoteAttr noRetryAttr keepAffinityAttr needAffinityAttr allAttrs);

my @BITS = ([ noWaitAttr, 'no_wait' ], [ noRemoteAttr, 'no_remote' ], [ noRetryAttr, 'no_retry' ],
            [ keepAffinityAttr, 'keep_affinity' ], [ needAffinityAttr, 'need_affinity' ]);

sub new {
    my $class = shift;
    return $class->SUPER::new;
}

sub setRequestData {
    my ($self, $data) = @_;
    return $self->set_request_data($data);
}

sub setAttribute {
    my ($self, $mask) = @_;
    $self->{attr}{ $_->[1] } = 1 for grep { $mask & $_->[0] } @BITS;
    return;
}

sub clearAttribute {
    my ($self, $mask) = @_;
    $self->{attr}{ $_->[1] } = 0 for grep { $mask & $_->[0] } @BITS;
    return;
}

# True if any bit of the mask is set (as the original did).
sub getAttribute {
    my ($self, $mask) = @_;
    return (grep { ($mask & $_->[0]) && $self->{attr}{ $_->[1] } } @BITS) ? 1 : 0;
}

sub setContext {
    my ($self, $name, $value) = @_;
    return $self->set_context($name, $value);
}

sub getResponseData { my $self = shift; return $self->response }
sub inProgress      { my $self = shift; return $self->in_progress }
sub hasFault        { my $self = shift; return $self->has_fault }
sub getFaultCode    { my $self = shift; return $self->fault_code }
sub getFaultText    { my $self = shift; return $self->fault_text }
sub getServiceName  { my $self = shift; return $self->service_name }

sub setClientHandle {
    my ($self, $handle) = @_;
    $self->set_handle($handle);
    return;
}

sub getClientHandle { my $self = shift; return $self->handle }

1;

__END__

=head1 NAME

Pluton::Compat::ClientRequest - the original Pluton client request API

=head1 SYNOPSIS

    use Pluton::Compat::ClientRequest qw(noRetryAttr);
    my $r = Pluton::Compat::ClientRequest->new;    # or Yahoo::pluton::clientRequest->new
    $r->setRequestData('Hello');
    $r->setAttribute(noRetryAttr);

=head1 DESCRIPTION

The original request class's names over L<Pluton::Client::Request> (whose
methods work too), for L<Pluton::Compat::Client>.

=head1 CONSTANTS

The attribute bits, exportable: C<noWaitAttr> (0x1), C<noRemoteAttr> (0x2),
C<noRetryAttr> (0x4), C<keepAffinityAttr> (0x8), C<needAffinityAttr> (0x10),
C<allAttrs> (0xFFFF).

=head1 METHODS

=head2 new

An empty request.

=head2 setRequestData

    $r->setRequestData($bytes)

The request data.

=head2 setAttribute, clearAttribute, getAttribute

    $r->setAttribute(noWaitAttr | noRetryAttr);

By bit mask; C<getAttribute($mask)> is true if any bit of the mask is set, as
in the original.

=head2 setContext

    $r->setContext($name, $value)

False (fault -23) for names starting with C<pluton.>.

=head2 getResponseData

The response data ('' on a fault).

=head2 inProgress, hasFault, getFaultCode, getFaultText, getServiceName

The state and result of the request.

=head2 setClientHandle, getClientHandle

Caller data kept with the request.

=cut
