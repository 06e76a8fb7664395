package Yahoo::pluton;

use strict;
use warnings;

use Pluton::Compat::Client;
use Pluton::Compat::ClientRequest;
use Pluton::Compat::Service;

our $VERSION = '0.1.0';

# The original binding's class names.
@Yahoo::pluton::service::ISA       = ('Pluton::Compat::Service');
@Yahoo::pluton::client::ISA        = ('Pluton::Compat::Client');
@Yahoo::pluton::clientRequest::ISA = ('Pluton::Compat::ClientRequest');

# The attribute bits, as the binding's constants.
for my $name (qw(noWaitAttr noRemoteAttr noRetryAttr keepAffinityAttr needAffinityAttr allAttrs)) {
    no strict 'refs';    ## no critic (ProhibitNoStrict)
    my $value = Pluton::Compat::ClientRequest->can($name)->();
    *{"Yahoo::pluton::$name"} = sub { return $value };
    ${"Yahoo::pluton::$name"} = $value;
}

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

Programs written for the original Pluton's Perl binding (C<use Yahoo::pluton>)
run unchanged on this SDK: C<Yahoo::pluton::service> is
L<Pluton::Compat::Service>, C<Yahoo::pluton::client> is
L<Pluton::Compat::Client> and C<Yahoo::pluton::clientRequest> is
L<Pluton::Compat::ClientRequest>: the original APIs over the native
L<Pluton::Service> and L<Pluton::Client>. The attribute bits are there as
C<Yahoo::pluton::noWaitAttr()> (also C<$Yahoo::pluton::noWaitAttr>) and so on.

=cut
