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
    Pluton::Service->new('echo')->serve(sub {
        my $request = shift;
        return $request->data;    # die Pluton::Fault->new(code => 111, text => '...') to fault
    });

A client:

    use Pluton::Client;
    my $client = Pluton::Client->new(name => 'me', timeout => 4);
    my $reply  = $client->call('system.echo.0.raw', 'Hello');   # dies with a Pluton::Fault

=head1 DESCRIPTION

Pluton runs pools of single-threaded service processes behind per-service
Unix sockets. This distribution is its Perl SDK, written with core modules
only (L<File::Map> is used when installed):

=over

=item L<Pluton::Service>, L<Pluton::Request>

The service side: the loop form (C<< while (my $request = $service->next) >>)
and the handler form (C<< $service->serve(sub { ... }) >>), requests and their
answers, the manager's stats segment and report pipe, stops on SIGTERM.

=item L<Pluton::Client>, L<Pluton::Client::Call>, L<Pluton::Client::Request>

The client side: C<call>, parallel C<submit> / C<wait>, and request objects
for affinity and the original's waits.

=item L<Pluton::Fault>, L<Pluton::Fault::Timeout>, L<Pluton::Fault::Service>

Faults: the exceptions of both sides, with code constants.

=item L<Pluton::Compat::Service>, L<Yahoo::pluton>

The original Pluton service API (C<initialize>, C<getRequest>,
C<sendResponse>, ...), so that services written for it run unchanged.

=item L<Pluton::ServiceKey>, L<Pluton::Packet>, L<Pluton::Packet::Decoder>

Service keys and the netstring wire protocol.

=back

The byte formats are described in F<docs/protocol.md> of Pluton for Go, the
model shared by the Go, Python, PHP and Perl SDKs in F<docs/sdk.md>.

=head1 EXAMPLE

F<examples/echo.pl> is the echo service (service name C<echo>, key
C<system.echo.0.raw> by convention): context C<echo.sleepMS> sleeps before
replying (a negative value gives fault 111 C<sleep time negative>),
C<echo.sleepAfter> sleeps (seconds) after replying, C<echo.log> logs to
stderr.

=head1 LICENSE

BSD 3-Clause; see the F<LICENSE> file.

=cut
