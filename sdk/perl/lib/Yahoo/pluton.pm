package Yahoo::pluton;

use strict;
use warnings;

use Pluton::Compat::Service;

our $VERSION = '0.1.0';

# The original binding's class names.
@Yahoo::pluton::service::ISA = ('Pluton::Compat::Service');

1;

__END__

=head1 NAME

Yahoo::pluton - the original Pluton Perl binding's class names

=head1 SYNOPSIS

    use Yahoo::pluton;

    my $svc = Yahoo::pluton::service->new('echo');
    $svc->initialize or exit 42;
    while ($svc->getRequest) {
        $svc->sendResponse($svc->getRequestData);
    }
    $svc->terminate;

=head1 DESCRIPTION

Services written for the original Pluton's Perl binding (C<use Yahoo::pluton>)
run unchanged on this SDK: C<Yahoo::pluton::service> is
L<Pluton::Compat::Service>, the original service API over the native
L<Pluton::Service>.

=cut
