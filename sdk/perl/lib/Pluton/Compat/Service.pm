package Pluton::Compat::Service;

use strict;
use warnings;

use Scalar::Util ();

use Pluton::Fault;
use Pluton::Service;

our $VERSION = '0.1.0';

sub new {
    my ($class, $name) = @_;
    return bless { svc => Pluton::Service->new(defined $name ? $name : q{}), fault => undef }, $class;
}

# The native service underneath, and its current request.
sub service { my $self = shift; return $self->{svc} }
sub request { my $self = shift; return $self->{req} }

sub _fail {
    my ($self, $code, $text) = @_;
    $self->{fault} = Pluton::Fault->new(code => $code, text => $text);
    return 0;
}

# Runs $code; a Pluton::Fault it dies with becomes this object's fault.
sub _try {
    my ($self, $code) = @_;
    my $r;
    return $r if eval { $r = $code->(); 1 };
    my $err = $@;
    die $err unless Scalar::Util::blessed($err) && $err->isa('Pluton::Fault');
    $self->{fault} = $err;
    return;
}

sub getAPIVersion { return $Pluton::Service::VERSION }

sub initialize {
    my $self = shift;
    return $self->_fail(Pluton::Fault::ALREADY_INITIALIZED, 'initialize called twice') if $self->{initialized};
    $self->{fault} = undef;
    $self->_try(sub { $self->{svc}->initialize }) or return 0;
    $self->{initialized} = 1;
    return 1;
}

sub getRequest {
    my $self = shift;
    return $self->_fail(Pluton::Fault::NOT_INITIALIZED, 'getRequest before initialize') unless $self->{initialized};
    return $self->_fail(Pluton::Fault::GET_REQUEST_NOT_NEXT, 'getRequest called before the previous request was answered')
        if $self->{req} && !$self->{req}->answered;
    $self->{req} = undef;
    $self->{fault} = undef;
    my $req = $self->_try(sub { $self->{svc}->next }) or return 0;
    $self->{req} = $req;
    return 1;
}

sub sendResponse {
    my ($self, $data) = @_;
    return $self->_fail(Pluton::Fault::NOT_INITIALIZED, 'sendResponse before initialize') unless $self->{initialized};
    my $req = $self->{req};
    return $self->_fail(Pluton::Fault::SEND_RESPONSE_NOT_NEXT, 'no request to respond to') if !$req || $req->answered;
    return $req->respond($data) ? 1 : $self->_lost;
}

sub sendFault {
    my ($self, $code, $text) = @_;
    return $self->_fail(Pluton::Fault::NOT_INITIALIZED, 'sendFault before initialize') unless $self->{initialized};
    my $req = $self->{req};
    return $self->_fail(Pluton::Fault::SEND_RESPONSE_NOT_NEXT, 'no request to respond to') if !$req || $req->answered;
    return $req->fault($code, $text) ? 1 : $self->_lost;
}

# A response that could not be written: the service's fault, and false.
sub _lost {
    my $self = shift;
    $self->{fault} = $self->{svc}{fault};
    return 0;
}

sub terminate {
    my $self = shift;
    $self->{svc}->_end if $self->{initialized};
    return;
}

sub hasFault     { my $self = shift; return $self->{fault} ? 1 : 0 }
sub getFault     { my $self = shift; return $self->{fault} }
sub getFaultCode { my $self = shift; return $self->{fault} ? $self->{fault}->code : 0 }
sub getFaultText { my $self = shift; return $self->{fault} ? $self->{fault}->text : q{} }

sub getFaultMessage {
    my ($self, $pre, $long) = @_;
    return $self->{fault} ? $self->{fault}->message($pre, $long) : q{};
}

sub _key {
    my ($self, $part) = @_;
    my $req = $self->{req} or return q{};
    return $req->key->$part;
}

sub getServiceKey         { my $self = shift; return $self->{req} ? $self->{req}->key->key : q{} }
sub getServiceApplication { my $self = shift; return $self->_key('application') }
sub getServiceFunction    { my $self = shift; return $self->_key('function') }
sub getServiceVersion     { my $self = shift; return $self->{req} ? $self->{req}->key->version : 0 }
sub getSerializationType  { my $self = shift; return $self->_key('serialization') }
sub getClientName         { my $self = shift; return $self->{req} ? $self->{req}->client_name : q{} }
sub getRequestData        { my $self = shift; return $self->{req} ? $self->{req}->data : q{} }
sub hasFileDescriptor     { return 0 }
sub getFileDescriptor     { return -1 }

sub getContext {
    my ($self, $name) = @_;
    my $req = $self->{req} or return undef;    ## no critic (ProhibitExplicitReturnUndef)
    return $self->_try(sub { $req->context($name) });
}

sub DESTROY {
    my $self = shift;
    local ($@, $!, $?);
    $self->terminate;
    return;
}

1;

__END__

=head1 NAME

Pluton::Compat::Service - the original Pluton service API, over Pluton::Service

=head1 SYNOPSIS

    use Pluton::Compat::Service;    # or: use Yahoo::pluton; Yahoo::pluton::service->new('echo')

    my $svc = Pluton::Compat::Service->new('echo');
    $svc->initialize or die $svc->getFaultMessage, "\n";
    while ($svc->getRequest) {
        my $ms = $svc->getContext('echo.sleepMS');
        $svc->sendResponse($svc->getRequestData);
    }
    $svc->terminate;

=head1 DESCRIPTION

A thin layer with the method names and return conventions of the original
Pluton's service class (its Perl binding was C<Yahoo::pluton::service>), so
that services written for it run unchanged: every call returns true or
false, and a failure leaves its L<Pluton::Fault> in C<getFault>. Each method
maps to the native L<Pluton::Service> / L<Pluton::Request> API, which new code
should use. L<Yahoo::pluton> provides the original class names.

=head1 METHODS

=head2 new

    Pluton::Compat::Service->new($name)

=head2 initialize

Starts the service (L<Pluton::Service/initialize>). False with the fault
C<alreadyInitialized> (-1) the second time, or with the fault that says why
it cannot start.

=head2 getRequest

Waits for the next request (L<Pluton::Service/next>). False means stop: the
manager asked for it (SIGTERM, maximum requests), stand-alone input ended,
or a fault (C<getFault>). Out of sequence (a response still owed):
C<getRequestNotNext> (-53).

=head2 sendResponse

    $svc->sendResponse($bytes)

Answers the current request. Out of sequence: C<sendResponseNotNext> (-59).

=head2 sendFault

    $svc->sendFault($code, $text)

Answers the current request with a fault (codes up to 10 are reserved).

=head2 terminate

Ends the service: final statistics and report (also done when the loop ends
and when the object is destroyed).

=head2 getServiceKey, getServiceApplication, getServiceFunction, getServiceVersion, getSerializationType

The parts of the client's key for the current request (the serialization
as a string, C<raw>).

=head2 getClientName, getRequestData

The current request's client name and data.

=head2 getContext

    my $value = $svc->getContext($name);    # undef if absent

A malformed context returns undef and sets the fault C<contextFormatError>
(-22).

=head2 hasFault, getFault, getFaultCode, getFaultText, getFaultMessage

The last fault: C<getFault> returns the L<Pluton::Fault> (or undef);
C<getFaultMessage($prefix, $long)> its message.

=head2 hasFileDescriptor, getFileDescriptor

Placeholders of the original: false and -1.

=head2 getAPIVersion

The SDK's version.

=head2 service

The native L<Pluton::Service> underneath.

=head2 request

The current request as a native L<Pluton::Request> (undef before the first
C<getRequest>), for what the original API has no getter for, such as
C<< $svc->request->no_wait >>.

=cut
