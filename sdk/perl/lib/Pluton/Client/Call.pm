package Pluton::Client::Call;

use strict;
use warnings;

use parent 'Pluton::Client::Request';

our $VERSION = '0.1.0';

sub done {
    my $self = shift;
    return $self->{in_progress} ? 0 : 1;
}

sub result {
    my $self = shift;
    Carp::croak('result of a call still running: wait for it first') if $self->{in_progress};
    die $self->{fault} if $self->{fault}->code;
    return $self->{response};
}

1;

__END__

=head1 NAME

Pluton::Client::Call - one call made with Pluton::Client's submit

=head1 SYNOPSIS

    my @calls = map { $client->submit('system.echo.0.raw', "request $_") } 1 .. 3;
    $client->wait(@calls);
    for my $call (@calls) {
        my $reply = eval { $call->result };
        print defined $reply ? "$reply\n" : "failed: $@\n";
    }

=head1 DESCRIPTION

A call runs from C<submit> on; C<< $client->wait(@calls) >> runs it (and
every other call of the client) until the calls given are done. Each call
has its own deadline, its C<timeout> or the client's, counted from
C<submit>. A call is a L<Pluton::Client::Request>, so C<service_name> and the
other accessors of a request work on it too.

=head1 METHODS

=head2 result

The response data; dies with the call's L<Pluton::Fault>
(L<Pluton::Fault::Timeout> when its time ran out,
L<Pluton::Fault::Service> when the service sent a fault). Croaks while the
call is still running.

=head2 done

True once the call has completed (with a response or a fault).

=cut
