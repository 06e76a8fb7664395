use strict;
use warnings;
use Test::More;
use File::Find;
use Pod::Checker;
use lib 't/lib';
use PlutonTest;

# Every module has valid POD, and every public method of a public module
# (one whose NAME line does not say "internal") has its own =head2 or =item.

my @modules;
find({ no_chdir => 1, wanted => sub { push @modules, $_ if /\.pm\z/ } }, lib_dir());
ok(@modules >= 10, 'modules found');

for my $pm (sort @modules) {
    (my $name = $pm) =~ s{^\Q${\ lib_dir()}\E/}{};
    my $checker = Pod::Checker->new(-warnings => 2);
    open(my $null, '>', '/dev/null') or die;
    $checker->parse_from_file($pm, $null);
    is($checker->num_errors, 0, "$name: POD without errors");
    is($checker->num_warnings, 0, "$name: POD without warnings");
    my $src = slurp($pm);
    next if $src =~ /^=head1 NAME\s*\n\s*\S+ - .*\(internal\)\s*$/m;
    my ($code, $pod) = split /^__END__$/m, $src, 2;
    $pod = '' unless defined $pod;
    my %documented;
    for my $h ($pod =~ /^=(?:head2|item)\s+(.+)$/mg) {
        $documented{$_} = 1 for $h =~ /([A-Za-z_]\w*)/g;
    }
    my @subs = grep { !/\A_/ && $_ ne 'DESTROY' && $_ ne 'import' } $code =~ /^sub\s+(\w+)/mg;
    my @missing = grep { !$documented{$_} } @subs;
    is_deeply(\@missing, [], "$name: every public method is documented");
}

done_testing;
