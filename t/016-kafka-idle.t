# Shared reads of a partition stop after pubsub_kafka_read_timeout without
# fetches, the partition is forgotten, and a later fetch starts it again.

use lib 't/lib';
use Test::PubSub;
use JSON::PP ();
use Time::HiRes qw(time sleep);

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body})->{clients}[0];
}

# polls the status until $cond holds; the last status either way
sub wait_status {
    my ($cond, $timeout) = @_;
    my $deadline = time + $timeout * (use_valgrind() ? 3 : 1);
    my $s;
    for (;;) {
        $s = status();
        return $s if $cond->($s) || time > $deadline;
        sleep 0.05;
    }
}

sub fetch {
    my ($ws, $seq, $offset) = @_;
    $ws->send_req(sequence => $seq,
                  cmd_kafka_fetch => { topic => 'idle', partition => 0,
                                       offset => $offset });
    return $ws->recv_line;
}

run_tests();

__DATA__

=== TEST 1: an unread partition stops being read and comes back on demand
--- kafka
produce_n idle 0 3 m
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_read_timeout 300ms;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- ws_path: /kafka
--- ws_code
my @out;
push @out, fetch($ws, 1, 0);
my $s = status();
push @out, "reading: partitions $s->{partitions}, cursors $s->{cursors}";
$s = wait_status(sub { $_[0]{cursors} == 0 && $_[0]{partitions} == 0 }, 3);
push @out, "idle: partitions $s->{partitions}, cursors $s->{cursors}";
push @out, fetch($ws, 2, 1);
$s = status();
push @out, "again: partitions $s->{partitions}, cursors $s->{cursors}";
return \@out;
--- ws_response_like
\Aseq=1 fetch 0="m1"( 1="m2")?( 2="m3")?$
^reading: partitions 1, cursors 1$
^idle: partitions 0, cursors 0$
^seq=2 fetch 1="m2"( 2="m3")?$
^again: partitions 1, cursors 1\z
--- ws_frames: 5
--- error_log
pubsub: kafka reader #0 of "idle" partition 0 idle, stopping
--- no_error_log
[error]



=== TEST 2: pubsub_kafka_read_timeout 0 is refused
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:1;
        pubsub_kafka_read_timeout 0;
    }
--- must_die
--- error_log
"pubsub_kafka_read_timeout" must not be 0
