# What bounds a worker: its own thread pool, a cap on partitions and on
# look-ups in flight, fetches answered by their deadline whatever the
# pool does, topic names checked once, an answer larger than the output
# queue, a reader whose position left Kafka, two workers, and an exit
# that queued look-ups of a dead broker do not hold up.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util ();
use JSON::PP ();
use Time::HiRes qw(time sleep);

our $SEQ = 100;

sub answer {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
    return pb_resp_render(pb_resp_encode($r)) =~ s/^seq=\d+ //r;
}

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body});
}

run_tests();

__DATA__

=== TEST 1: pubsub_kafka_thread_pool names a declared pool; look-ups run there
--- main_config
    thread_pool kafka threads=2;
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_thread_pool kafka;
    }
--- kafka
produce_n t 0 3 m
--- ws_path: /kafka
--- ws_code
answer($ws, cmd_kafka_list_offset => topic => 't', partition => 0,
       timestamp => -1);
--- ws_response
list_offset offset=3
--- error_log
thread pool "kafka"
--- no_error_log
[error]
thread pool "default"



=== TEST 2: an unknown pool fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_thread_pool nosuch;
    }
--- must_die
--- error_log
unknown thread pool "nosuch"



=== TEST 3: by default the module's own pool "pubsub_kafka" (16 threads), not "default"; it may be declared before http
--- main_config
    thread_pool pubsub_kafka threads=1;
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- kafka
produce_n t 0 3 m
--- ws_path: /kafka
--- ws_code
answer($ws, cmd_kafka_list_offset => topic => 't', partition => 0,
       timestamp => -2);
--- ws_response
list_offset offset=0
--- error_log
thread pool "pubsub_kafka"
--- no_error_log
[error]
[emerg]
thread pool "default"



=== TEST 4: the default pool "pubsub_kafka" runs 16 threads in each worker
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- kafka
produce_n t 0 3 m
--- ws_path: /kafka
--- ws_code
my $r = answer($ws, cmd_kafka_list_offset => topic => 't', partition => 0,
               timestamp => -2);
# the worker's threads named after it: its own and the pool's (those of
# librdkafka are named "rdk:...")
my ($worker) = Test::PubSub::Util::child_pids(nginx_pid());
$worker //= nginx_pid();
my $nginx = 0;
for my $comm (glob "/proc/$worker/task/*/comm") {
    open my $fh, '<', $comm or next;
    my $name = <$fh> // '';
    close $fh;
    $nginx++ if $name =~ /^nginx/;
}
[ $r, "threads named nginx: $nginx" ];
--- ws_response
list_offset offset=0
threads named nginx: 17
--- no_valgrind



=== TEST 5: a pool of one thread and a queue of one, look-ups of a broker that is down: every fetch answered by its deadline
--- main_config
    thread_pool tiny threads=1 max_queue=1;
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_thread_pool tiny;
        pubsub_kafka_timeout 1s;
    }
--- kafka
topic: t 20
--- timeout: 10
--- ws_path: /kafka
--- ws_code
mock_cmd('down 1');
my $start = time;
$ws->send_req(sequence => $_, cmd_kafka_fetch =>
    { topic => 't', partition => $_ - 1, offset => 0 }) for 1 .. 20;
my (%seen, $errors);
for (1 .. 20) {
    my $r = $ws->recv_resp(5);
    $seen{ $r->{sequence} }++;
    $errors++ if $r->{error_resp};
}
my $took = time - $start;
[ "answered: " . scalar(keys %seen),
  "errors: $errors",
  "within 3 s: " . ($took < 3 ? 'yes' : sprintf '%.1f s', $took) ];
--- ws_response
answered: 20
errors: 20
within 3 s: yes
--- no_check_alerts
--- no_error_log
[alert]



=== TEST 6: pubsub_kafka_max_lookups and pubsub_kafka_max_partitions: the command past the limit fails at once, the others go on
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_max_lookups 2;
        pubsub_kafka_timeout 3s;
    }
    location = /few {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_max_partitions 2;
        pubsub_kafka_fetch_max_wait 0;
    }
--- kafka
topic: t 3
produce_n t 0 3 m
--- ws_path: /kafka
--- ws_code
my @out;
mock_cmd('rtt 1 300');
$ws->send_req(sequence => $_, cmd_kafka_list_offset =>
    { topic => 't', partition => 0, timestamp => -1 }) for 1 .. 3;
my %by;
for (1 .. 3) {
    my $r = $ws->recv_resp;
    $by{ $r->{sequence} } = pb_resp_render(pb_resp_encode($r));
}
push @out, map { $by{$_} } 1 .. 3;
mock_cmd('rtt 1 0');
my $few = ws_connect(path => '/few');
for my $p (0 .. 2) {
    push @out, answer($few, cmd_kafka_fetch => topic => 't', partition => $p,
                      offset => $p ? 0 : 3);
}
\@out;
--- ws_response
seq=1 list_offset offset=3
seq=2 list_offset offset=3
seq=3 error code=0 message="failed to list offset, topic: t, partition: 0, err: too many look-ups in flight"
fetch
fetch
error code=0 message="failed to fetch message, topic: t, partition: 2, err: too many partitions in use"
--- error_log
the limit of "pubsub_kafka_max_lookups"
the limit of "pubsub_kafka_max_partitions"
--- no_error_log
[error]



=== TEST 7: look-ups refused past pubsub_kafka_max_lookups are logged once a second with their count, not once each
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_max_lookups 1;
        pubsub_kafka_timeout 3s;
    }
--- kafka
topic: t 1
produce_n t 0 3 m
--- ws_path: /kafka
--- ws_code
my @out;
mock_cmd('rtt 1 300');
# one look-up in flight and $n refused, all at once
my $burst = sub {
    my ($n) = @_;
    $ws->send_req(sequence => $_, cmd_kafka_list_offset =>
        { topic => 't', partition => 0, timestamp => -1 }) for 1 .. $n + 1;
    my $refused = 0;
    for (1 .. $n + 1) {
        $refused++ if $ws->recv_line =~ /too many look-ups in flight/;
    }
    return $refused;
};
push @out, "refused: " . $burst->(9);
my @lines = grep { /the limit of "pubsub_kafka_max_lookups"/ }
            split /\n/, error_log_text();
push @out, "lines: " . @lines, map { /(\d+ refused)/ ? $1 : $_ } @lines;
sleep 1.2;
push @out, "refused: " . $burst->(1);
@lines = grep { /the limit of "pubsub_kafka_max_lookups"/ }
         split /\n/, error_log_text();
push @out, "lines: " . @lines, map { /(\d+ refused)/ ? $1 : $_ } @lines;
mock_cmd('rtt 1 0');
\@out;
--- ws_response
refused: 9
lines: 1
1 refused
refused: 1
lines: 2
1 refused
9 refused



=== TEST 8: topic names: a NUL byte, bytes that are not UTF-8, characters Kafka refuses: clear errors, escaped
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
--- kafka
topic: t 1
--- ws_path: /kafka
--- ws_code
[ answer($ws, cmd_kafka_fetch => topic => "a\0b", partition => 0),
  answer($ws, cmd_kafka_fetch => topic => "a\xff", partition => 0),
  answer($ws, cmd_kafka_list_offset => topic => 'a "b"\\c', partition => 0),
  answer($ws, cmd_kafka_subscribe => topic => "caf\xc3\xa9",
          partitions => [{ partition => 0 }]),
  answer($ws, cmd_kafka_subscribe => topic => "a\0",
          partitions => [{ partition => 0 }]) ];
--- ws_response
error code=0 message="invalid string in request: CmdKafkaFetch.topic holds a NUL byte"
error code=0 message="invalid string in request: CmdKafkaFetch.topic is not UTF-8"
error code=0 message="failed to list offset, topic: a \\x22b\\x22\\x5cc, partition: 0, err: invalid topic name"
error code=400 message="failed to subscribe, topic: caf\\xc3\\xa9, partition: 0, err: invalid topic name"
error code=400 message="invalid string in request: CmdKafkaSubscribe.topic holds a NUL byte"
--- no_error_log
[error]



=== TEST 9: a message larger than the output queue is still sent when nothing else waits
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_output_queue_size 1k;
    }
--- kafka
topic: t 1
produce_n t 0 1 big size=3000
produce_n t 0 1 small
--- ws_path: /kafka
--- ws_code
my $r = answer($ws, cmd_kafka_fetch => topic => 't', partition => 0,
               offset => 0);
my $s = answer($ws, cmd_kafka_fetch => topic => 't', partition => 0,
               offset => 1);
[ $r =~ /^fetch 0="big1\.{2996}"( 1="small1")?$/ ? 'big one sent' : $r, $s ];
--- ws_response
big one sent
fetch 1="small1"
--- no_error_log
[error]
client does not read



=== TEST 10: a reader whose next offset left Kafka while it waited: its fetch gets OFFSET_OUT_OF_RANGE, the partition is read again
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_buffer_size 64k;
        pubsub_kafka_fetch_max_bytes 1k;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- kafka
topic: t 1
produce_batch t 0 1000 m size=1000
--- timeout: 20
--- ws_path: /kafka
--- ws_code
my @out;
push @out, answer($ws, cmd_kafka_fetch => topic => 't', partition => 0,
                  offset => 0) =~ s/\.+"/"/r;
# the reader reads one window ahead, then pauses
my ($reader, $deadline) = (undef, time + 5);
while (time < $deadline) {
    my ($p) = @{ status()->{clients}[0]{partition_list} };
    ($reader) = grep { $_->{paused} } @{ $p->{reading} };
    last if $reader;
    sleep 0.05;
}
push @out, $reader ? 'paused' : 'not paused';
push @out, mock_cmd('produce_batch t 0 7000 x size=1000') =~ s/\d+ \d+/N M/r;
push @out, answer($ws, cmd_kafka_fetch => topic => 't', partition => 0,
                  offset => $reader->{next});
my ($low) = mock_cmd('wm t 0') =~ /^ok (\d+)/;
push @out, answer($ws, cmd_kafka_fetch => topic => 't', partition => 0,
                  offset => $low) =~ /^fetch $low="x/ ? 'read again' : 'not';
\@out;
--- ws_response
fetch 0="m1"
paused
ok N M
error code=0 message="failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE"
read again



=== TEST 11: two workers: each has its own client; both answer
--- worker_processes: 2
--- no_valgrind
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- kafka
topic: t 1
produce_n t 0 5 m
--- ws_path: /kafka
--- ws_code
my (%pids, @bad);
for (1 .. 40) {
    my $c = ws_connect(path => '/kafka');
    my $a = answer($c, cmd_kafka_fetch => topic => 't', partition => 0,
                   offset => 4);
    push @bad, $a unless $a eq 'fetch 4="m5"';
    $pids{ status()->{pid} }++;
    last if keys %pids == 2 && $_ >= 10;
}
[ "workers seen: " . scalar(keys %pids), "wrong: " . scalar(@bad) ];
--- ws_response
workers seen: 2
wrong: 0
--- no_error_log
[error]



=== TEST 12: quit with 64 look-ups queued against a broker that is down: nginx exits within pubsub_kafka_timeout or so
--- no_valgrind
--- main_config
    thread_pool pubsub_kafka threads=2;
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 3s;
    }
--- kafka
topic: t 1
--- timeout: 20
--- ws_path: /kafka
--- ws_code
mock_cmd('down 1');
$ws->send_req(sequence => $_, cmd_kafka_list_offset =>
    { topic => 't', partition => 0, timestamp => -1 }) for 1 .. 100;
sleep 0.5;
my $pid = nginx_pid();
my $start = time;
kill 'QUIT', $pid;
# the master is a child of the harness: gone is a zombie, or no process
my $alive = sub {
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    return (split ' ', <$fh>)[2] ne 'Z';
};
sleep 0.05 while $alive->() && time - $start < 15;
my $took = time - $start;
[ $took < 6 ? 'exited within 6 s' : sprintf('took %.1f s', $took) ];
--- ws_response
exited within 6 s
--- no_check_alerts
--- no_error_log
[alert]
