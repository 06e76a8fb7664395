package Pluton::Fault::Service;

use strict;
use warnings;

use parent -norequire, 'Pluton::Fault';
require Pluton::Fault;

our $VERSION = '0.1.0';

1;

__END__

=head1 NAME

Pluton::Fault::Service - a fault sent in a response packet

=head1 SYNOPSIS

    my $reply = eval { $client->call('system.echo.0.raw', 'x',
                                     context => { 'echo.sleepMS' => -1 }) };
    if (ref $@ && $@->isa('Pluton::Fault::Service')) {
        print $@->code, ' ', $@->text, "\n";    # 111 sleep time negative
    }

=head1 DESCRIPTION

A L<Pluton::Fault> that arrived in a response: the service sent it (its
handler died, or it answered with C<< $request->fault >>), or the manager
sent it on the service's behalf (code 7, C<SERVICE_UNAVAILABLE>: a service in
backoff, halted or without an instance).

=cut
