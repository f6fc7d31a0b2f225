# Fetch answers and the output queue: answers to fetches in flight together
# are cut to the room left in pubsub_output_queue_size (empty when not even
# one message fits), so a client that pipelines fetches is not
# disconnected, and one that reads nothing gets no more than the queue
# holds; the worker and other clients carry on.  No answer holds more than
# the queue, fetch or push, even when nothing waits.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port);
use Test::PubSub::Push qw(subscribe push_messages);

# a second server whose small send buffer fills with little data
$ENV{TEST_NGINX_SLOW_PORT} = free_port();

our $KAFKA = <<'EOF';
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
EOF

run_tests();

__DATA__

=== TEST 1: a client that asks for much and reads nothing is held to the queue
# 20 fetches of up to 1 MB each: the first answer fills the 64k queue, the
# others come empty; the kernel's buffers take that much, so nothing waits
# in nginx and the connection is neither overflowed nor timed out.
--- kafka
produce_n big 0 20 m size=50000
--- http_config eval
"    server {
        listen 127.0.0.1:\$TEST_NGINX_SLOW_PORT sndbuf=16k;
        location = /kafka {
$main::KAFKA
            pubsub_output_queue_size 64k;
            send_timeout 1s;
        }
    }"
--- config eval
"    location = /kafka {
$main::KAFKA
    }"
--- ws_path: /kafka
--- timeout: 10
--- ws_code
my @out;
my $slow = ws_connect(port => $ENV{TEST_NGINX_SLOW_PORT}, path => '/kafka');
$slow->send(join '', map {
    ws_binary(pb_req(sequence => $_,
                     cmd_kafka_fetch => { topic => 'big', partition => 0,
                                          offset => 0 }))
} 1 .. 20);
push @out, wait_error_log(qr/client timed out reading|output queue over/, 3)
           ? 'closed' : 'held, open';
# the other connection, on the same Kafka client, is served meanwhile
$ws->send_req(sequence => 99, cmd_kafka_fetch => { topic => 'big',
                                                   partition => 0,
                                                   offset => 19 });
my $r = $ws->recv_resp;
my @m = @{ $r->{kafka_fetch_resp}{messages} // [] };
push @out, sprintf "seq=%d offset %d, %d bytes", $r->{sequence},
                   $m[0]{offset}, length $m[0]{value};
return \@out;
--- ws_response
held, open
seq=99 offset 19, 50000 bytes
--- no_error_log
[error]
output queue over



=== TEST 2: a client pipelining fetches gets everything, within the queue
# 20 fetches in flight, each could be answered with all 1 MB: the queue of
# 256k cuts the later answers short (or empty) instead of closing.
--- kafka
produce_n big 0 20 m size=50000
--- config eval
"    location = /kafka {
$main::KAFKA
        pubsub_output_queue_size 256k;
    }"
--- ws_path: /kafka
--- timeout: 20
--- ws_code
my %got;
my $next = 0;
my $seq = 0;
my $inflight = 0;
while ($next < 20 && $seq < 2000) {
    while ($inflight < 20) {
        $ws->send_req(sequence => ++$seq,
                      cmd_kafka_fetch => { topic => 'big', partition => 0,
                                           offset => $next });
        $inflight++;
    }
    my $r = $ws->recv_resp;
    $inflight--;
    for my $m (@{ $r->{kafka_fetch_resp}{messages} // [] }) {
        $got{$m->{offset}} = length $m->{value};
        $next = $m->{offset} + 1 if $m->{offset} + 1 > $next;
    }
}
my @bad = grep { ($got{$_} // 0) != 50000 } 0 .. 19;
return @bad ? "missing or short: @bad" : "20 messages of 50000 bytes";
--- ws_response
20 messages of 50000 bytes
--- no_error_log
[error]
output queue over



=== TEST 3: no fetch answer holds more than the queue, even when nothing waits
# pubsub_kafka_fetch_max_bytes (1m) would take all 20 messages of 50000
# bytes; the queue of 64k takes one.  Answers that came out bigger than
# the queue made the empty answers of fetches in flight with them
# overflow it when the kernel had not taken them yet.
--- kafka
produce_n big 0 20 m size=50000
--- config eval
"    location = /kafka {
$main::KAFKA
        pubsub_output_queue_size 64k;
    }"
--- ws_path: /kafka
--- timeout: 20
--- ws_code
my ($next, @sizes) = (0);
# read up to the end, so that the window holds all 20
while ($next < 20) {
    $ws->send_req(sequence => 1, cmd_kafka_fetch => { topic => 'big',
                                                      partition => 0,
                                                      offset => $next });
    my @m = @{ $ws->recv_resp->{kafka_fetch_resp}{messages} // [] };
    $next = $m[-1]{offset} + 1 if @m;
}
$ws->send_req(sequence => 2, cmd_kafka_fetch => { topic => 'big',
                                                  partition => 0,
                                                  offset => 0 });
my @m = @{ $ws->recv_resp->{kafka_fetch_resp}{messages} // [] };
return sprintf "%d message(s), offset %d", scalar @m, $m[0]{offset};
--- ws_response
1 message(s), offset 0
--- no_error_log
[error]



=== TEST 4: no pushed answer holds more than the queue, even when nothing waits
--- kafka
produce_n big 0 20 m size=50000
--- config eval
"    location = /kafka {
$main::KAFKA
        pubsub_output_queue_size 64k;
    }"
--- ws_path: /kafka
--- timeout: 20
--- ws_code
my @out = subscribe($ws, 5, topic => 'big',
                    partitions => [{ partition => 0, offset => -2 }]);
# let the window fill before the client reads on
sleep 1;
my ($answers, $messages, $most) = (0, 0, 0);
while ($messages < 20) {
    my $r = $ws->recv_resp;
    my $n = @{ $r->{kafka_fetch_resp}{messages} // [] };
    $answers++;
    $messages += $n;
    $most = $n if $n > $most;
}
push @out, "$messages messages in $answers answers, at most $most each";
return \@out;
--- ws_response
subscribe 0@0
20 messages in 20 answers, at most 1 each
--- no_error_log
[error]
