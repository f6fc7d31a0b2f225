# The frame parser and request decoder unit tests (t/unit/unit_tests.c),
# built by make as build/unit-tests; they print TAP themselves.

use strict;
use warnings;
use FindBin;

my $bin = "$FindBin::Bin/../build/unit-tests";

if (!-x $bin) {
    print "1..1\nnot ok 1 - $bin is built (run make)\n";
    exit 1;
}

exec $bin or die "exec $bin: $!";
