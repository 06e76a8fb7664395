package Pluton::Compat::Client;

use strict;
use warnings;

use Pluton::Client;
use Pluton::Compat::ClientRequest;
use Pluton::Fault;

our $VERSION = '0.1.0';

sub new {
    my ($class, $name, $timeout_ms) = @_;
    my $client = Pluton::Client->new(name => defined $name ? $name : q{},
        timeout_ms => defined $timeout_ms ? $timeout_ms : 4000);
    return bless { client => $client, initialized => 0 }, $class;
}

# The native client underneath.
sub client { my $self = shift; return $self->{client} }

sub getAPIVersion { return $Pluton::Client::VERSION }

sub initialize {
    my ($self, $lookup) = @_;
    my $ok = $self->{client}->initialize($lookup);
    $self->{initialized} = 1 if $ok;
    return $ok ? 1 : 0;
}

sub hasFault { my $self = shift; return $self->{client}->has_fault }
sub getFault { my $self = shift; return $self->{client}->fault }

sub getFaultCode {
    my $self = shift;
    my $f = $self->{client}->fault;
    return $f ? $f->code : 0;
}

sub getFaultMessage {
    my ($self, $pre, $long) = @_;
    my $f = $self->{client}->fault;
    return $f ? $f->message($pre, $long) : q{};
}

sub setDebug {
    my ($self, $on) = @_;
    $self->{client}{debug} = $on ? 1 : 0;
    return;
}

sub setTimeoutMilliSeconds {
    my ($self, $ms) = @_;
    $self->{client}->set_timeout_ms($ms);
    return;
}

sub getTimeoutMilliSeconds { my $self = shift; return $self->{client}->timeout_ms }

sub addRequest {
    my ($self, $key, $request) = @_;
    if (!$self->{initialized}) {
        $self->{client}{fault} = Pluton::Fault->new(code => Pluton::Fault::NOT_INITIALIZED,
            text => 'addRequest before initialize');
        $request->{fault} = $self->{client}{fault} if ref $request;
        return 0;
    }
    return $self->{client}->add_request($key, $request) ? 1 : 0;
}

sub executeAndWaitSent { my $self = shift; return $self->{client}->wait_sent }
sub executeAndWaitAll  { my $self = shift; return $self->{client}->wait_all }
sub executeAndWaitAny  { my $self = shift; return $self->{client}->wait_any }

sub executeAndWaitOne {
    my ($self, $request) = @_;
    return $self->{client}->wait_one($request);
}

sub reset {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    $self->{client}->reset;
    return;
}

1;

__END__

=head1 NAME

Pluton::Compat::Client - the original Pluton client API, over Pluton::Client

=head1 SYNOPSIS

    use Yahoo::pluton;

    my $client = Yahoo::pluton::client->new('myApp');
    $client->initialize or die $client->getFaultMessage, "\n";
    my $r = Yahoo::pluton::clientRequest->new;
    $r->setRequestData('Hello');
    $r->setContext('echo.sleepMS', 5);
    $client->addRequest('system.echo.0.raw', $r) or die $r->getFaultText, "\n";
    $client->executeAndWaitAll;
    print $r->hasFault ? $r->getFaultText : $r->getResponseData;

=head1 DESCRIPTION

A thin layer with the method names, units (milliseconds) and return
conventions of the original Pluton client class (its Perl binding was
C<Yahoo::pluton::client>), so that programs written for it run unchanged.
Requests are L<Pluton::Compat::ClientRequest> objects. New code should use
L<Pluton::Client>. One difference from the original: each request has its own
deadline (its client's timeout when it was added), not one shared clock.

=head1 METHODS

=head2 new

    Pluton::Compat::Client->new($name, $timeout_ms)

The timeout defaults to 4000 ms.

=head2 initialize

    $client->initialize($lookup_map)

Finds the rendezvous directory (the argument, else C<plutonLookupMap>, else
the default home of F<docs/protocol.md> section 7.1). True or false, as the
original; C<addRequest> before a successful C<initialize> fails with
C<notInitialized> (-2).

=head2 addRequest

    $client->addRequest($key, $request)

Checks and starts the request; false with the fault on the request and the
client.

=head2 executeAndWaitSent, executeAndWaitAll, executeAndWaitAny, executeAndWaitOne

The original's waits: C<executeAndWaitAll> returns the number of requests
completed, C<executeAndWaitAny> a completed request (or undef),
C<executeAndWaitOne($request)> 1, or 0 on a timeout or a request never added,
C<executeAndWaitSent> 1 once every request is written.

=head2 setTimeoutMilliSeconds, getTimeoutMilliSeconds

The timeout of requests added from then on, in milliseconds.

=head2 hasFault, getFault, getFaultCode, getFaultMessage

The fault of the client's last failed call (C<getFault> returns the
L<Pluton::Fault>).

=head2 reset

Ends and forgets every outstanding request.

=head2 setDebug

Debug lines on stderr.

=head2 getAPIVersion

The SDK's version.

=head2 client

The native L<Pluton::Client> underneath.

=cut
