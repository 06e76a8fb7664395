package Pluton;

use strict;
use warnings;

our $VERSION = '0.1.0';

1;

__END__

=head1 NAME

Pluton - Perl SDK of Pluton for Go: write services and call them

=head1 VERSION

0.1.0 (the release of Pluton for Go that this SDK belongs to)

=head1 SYNOPSIS

A service (run by the Pluton manager, or stand-alone with
C<< ./echo.pl 3<requests 4>responses >>):

    use Pluton::Service;
    my $svc = Pluton::Service->new('echo');
    $svc->initialize or exit 42;
    while ($svc->get_request) {
        $svc->send_response($svc->request_data);
    }
    $svc->terminate;

A client:

    use Pluton::Client;
    my $client = Pluton::Client->new(name => 'me', timeout_ms => 4000);
    my $reply  = $client->call('system.echo.0.raw', 'Hello');   # dies with a Pluton::Fault

=head1 DESCRIPTION

Pluton runs pools of service processes behind per-service Unix sockets. This
distribution is its Perl SDK, written with core modules only:

=over

=item L<Pluton::Service>

The service side: mode detection (manager, accept, stand-alone), the request
loop, responses and faults, the stats segment on fd 4, the report pipe on
fd 5, and an immediate stop on SIGTERM while idle.

=item L<Pluton::Client>, L<Pluton::Client::Request>

The client side: lookup through the rendezvous directory, one-call
C<call>, and parallel requests with one shared timeout, noWait and
affinity.

=item L<Pluton::Fault>

Faults: code, name, text and the original's message format.

=item L<Pluton::ServiceKey>

Parsing and checking of C<Application.Function.Version.Serialization>.

=item L<Pluton::Packet>

The netstring wire protocol (encoder and incremental decoder).

=back

The byte formats are described in F<docs/protocol.md> of Pluton for Go.

=head1 EXAMPLE

F<examples/echo.pl> is the echo service (service name C<echo>,
key C<system.echo.0.raw> by convention): context C<echo.sleepMS> sleeps
before replying (a negative value gives fault 111 C<sleep time negative>),
C<echo.sleepAfter> sleeps (seconds) after replying, C<echo.log> logs to
stderr.

=cut
