package Pluton::Fault::Timeout;

use strict;
use warnings;

use parent -norequire, 'Pluton::Fault';
require Pluton::Fault;

our $VERSION = '0.1.0';

1;

__END__

=head1 NAME

Pluton::Fault::Timeout - the fault of a call whose time ran out

=head1 SYNOPSIS

    my $reply = eval { $client->call($key, $data, timeout => 0.5) };
    if (ref $@ && $@->isa('Pluton::Fault::Timeout')) {
        # code -19 (SERVICE_TIMEOUT), text 'service timeout'
    }

=head1 DESCRIPTION

A L<Pluton::Fault> with the code -19 (C<serviceTimeout>). Every fault made
with that code is of this class.

=cut
