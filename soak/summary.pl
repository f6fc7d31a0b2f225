#!/usr/bin/perl
# perl soak/summary.pl [DIR]: one line per figure of the newest report of
# each scenario in DIR (default soak/results), as make soak prints them.

use strict;
use warnings;

use JSON::PP;

my $dir = shift // 'soak/results';
my %newest;
for my $f (sort glob "$dir/*.json") {
    my ($scenario) = $f =~ m{([a-z0-9]+)-\d{8}-\d{6}\.json$} or next;
    $newest{$scenario} = $f;
}
die "no reports in $dir\n" unless %newest;

sub load {
    open my $fh, '<', $_[0] or die "$_[0]: $!\n";
    local $/;
    return decode_json(<$fh>);
}

sub streams {
    my ($r, $k) = @_;
    my $s = $r->{$k};
    return sprintf '%s: %d of %d complete, lost %d, duplicated %d, '
        . 'out of order %d, %d messages', $k, $s->{complete}, $s->{clients},
        $s->{lost}, $s->{duplicated}, $s->{out_of_order}, $s->{messages};
}

sub errors {
    my ($r) = @_;
    my @e;
    for my $k (qw(subscribe_errors fetch_errors produce_errors)) {
        for my $s (@{ $r->{$k}{seen} || [] }) {
            push @e, "$s->{count} x $s->{code} '$s->{message}'"
                . ($s->{documented} ? '' : ' (UNDOCUMENTED)');
        }
    }
    return 'errors seen: ' . (@e ? join('; ', @e) : 'none');
}

for my $scenario (qw(brokers readersctl readers readers50ctl readers50 storm
                     storm2)) {
    my $f = $newest{$scenario} or next;
    my $r = load($f);
    print "== $scenario ($f): ", ($r->{ok} ? 'ok' : 'FAILED'),
        ($r->{error} ? " ($r->{error})" : ''), "\n";
    my $p = $r->{produced};
    printf "  produced: gateway %d sent, %d acked; direct %d sent, %d acked;"
        . " acked missing %d, wrong %d; stored twice %d (gateway %d,"
        . " direct %d)\n",
        $p->{gateway}{sent}, $p->{gateway}{acked}, $p->{direct}{sent},
        $p->{direct}{acked},
        $p->{gateway}{acked_missing} + $p->{direct}{acked_missing},
        $p->{gateway}{acked_wrong} + $p->{direct}{acked_wrong},
        $p->{stored_twice}, $p->{gateway_stored_twice},
        $p->{direct_stored_twice} if $p;
    for my $t (@{ $r->{stored_twice_list} || [] }) {
        print "    stored twice: ", ($t->{via} eq 'g' ? 'gateway' : 'direct'),
            " record $t->{id} at ",
            join(', ', map { "partition $_->[0] offset $_->[1]" }
                 @{ $t->{offsets} }), "\n";
    }
    print '  ', streams($r, 'push'), "\n" if $r->{push}{clients};
    print '  ', streams($r, 'fetch'), "\n" if $r->{fetch}{clients};
    print '  ', errors($r), "\n";
    if ($scenario eq 'brokers') {
        print "  longest stall per partition, ms: push @{ $r->{push}{stall_ms} }",
            "; fetch @{ $r->{fetch}{stall_ms} }\n";
        print "  reconnects $r->{reconnects}, resubscribes ",
            "$r->{resubscribes}\n";
    }
    if ($scenario =~ /^readers/) {
        my $l = $r->{latency_ms};
        if ($r->{control}) {
            printf "  (nobody stops) p99 latency of the others: %.1f ms"
                . " before, %.1f ms in the stop's window\n",
                $l->{baseline}{p99}, $l->{stopped}{p99};
            next;
        }
        printf "  p99 latency of the others: %.1f ms before the stop, %.1f ms"
            . " while %d are stopped: ratio %.2f\n",
            $l->{baseline}{p99}, $l->{stopped}{p99}, $r->{stopped},
            $l->{p99_ratio};
        if (my $cf = $newest{"${scenario}ctl"}) {
            my $c = load($cf)->{latency_ms}{stopped}{p99};
            printf "  against the run without stopped readers, same window:"
                . " %.1f ms: ratio %.2f (goal <= 2)\n", $c,
                $c > 0 ? $l->{stopped}{p99} / $c : 0;
        }
        printf "  stopped ones complete: %d of %d\n",
            $r->{push}{stopped_complete}, $r->{push}{stopped};
        printf "  worker RSS: %.1f KB per connection; %.1f KB more per stopped"
            . " subscriber (goal <= 64)\n", $r->{kb_per_connection} // -1,
            $r->{kb_per_stopped_subscriber} // -1;
    }
    if ($scenario =~ /^storm/) {
        my $c = $r->{cycles};
        printf "  cycles: %d planned, %d subscribed, %d failed; websockets"
            . " %d before, %d after\n", $c->{planned}, $c->{subscribed},
            $c->{failed}, $r->{websockets_before}, $r->{websockets_after};
        printf "  worker RSS: %d KB before the storm, %d KB after: %+.2f%%"
            . " (goal within 5%%), %+.2f%% without the shared windows'"
            . " growth (%.0f KB)\n", $r->{rss_kb}{before_fault},
            $r->{rss_kb}{after_fault}, $r->{rss_change_pct} // 0,
            $r->{rss_change_pct_without_window} // 0,
            $r->{window_kb}[1] - $r->{window_kb}[0];
        printf "  %.0f s for the cycles\n", $c->{seconds};
    }
}

if (my $f = $newest{worker}) {
    my $r = load($f);
    print "== worker ($f), $r->{messages_per_partition} messages a partition\n";
    print "  $_\n" for @{ $r->{lines} };
}
