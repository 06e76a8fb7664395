use strict;
use warnings;
use Test::More;
use File::Find;
use lib 't/lib';
use PlutonTest;

# MANIFEST lists exactly the files of the distribution.

my $root = dist_root();
open(my $fh, '<', "$root/MANIFEST") or die "MANIFEST: $!";
my @listed = grep { length && !/^#/ } map { (split ' ', $_)[0] // '' } <$fh>;
close $fh;

ok(-f "$root/$_", "listed and present: $_") for @listed;

my %listed = map { $_ => 1 } @listed;
my @files;
find({ no_chdir => 1, wanted => sub {
    return unless -f $_;
    (my $rel = $File::Find::name) =~ s{^\Q$root\E/}{};
    push @files, $rel if $rel =~ m{^(?:lib|t|examples)/} && $rel !~ m{(?:~|\.swp|\.bak)$};
} }, map { "$root/$_" } grep { -d "$root/$_" } qw(lib t examples));
ok($listed{$_}, "present and listed: $_") for sort @files;
ok($listed{$_}, "listed: $_") for qw(Makefile.PL MANIFEST LICENSE Changes README.md);

ok(-x "$root/examples/echo.pl", 'the example is executable');
open(my $ex, '<', "$root/examples/echo.pl") or die;
is(scalar <$ex>, "#!/usr/bin/env perl\n", 'the example runs with env perl');

done_testing;
