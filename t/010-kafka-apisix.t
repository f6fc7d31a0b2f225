# Parity with Apache APISIX's t/pubsub/kafka.t: list offset, fetch, and
# the error texts for missing topics, bad offsets and unreachable brokers.
# The mock holds 30 messages testmsg1..testmsg30 in test-consumer p0, one
# record batch each (as APISIX's CI produces them).

use lib 't/lib';
use Test::PubSub;

our $CONFIG = <<'EOF';
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        # answers as soon as messages are there; long for valgrind's sake
        pubsub_kafka_fetch_max_wait 3s;
    }
EOF

our $KAFKA = <<'EOF';
produce_n test-consumer 0 30 testmsg
topicerr not-exist UNKNOWN_TOPIC_OR_PART
EOF

# Fetches test-consumer p0 from $from on until $to, each time at the offset
# after the last message received; returns the lines "OFFSET=VALUE" and
# dies on anything unexpected (an error, a gap, a message below the offset
# asked for).
sub fetch_all {
    my ($ws, $topic, $from, $to) = @_;
    my @got;
    my $next = $from;
    my $seq = 100;
    my $tries = 0;
    while ($next <= $to) {
        die "no progress at $next\n" if ++$tries > 200;
        $ws->send_req(sequence => ++$seq, cmd_kafka_fetch =>
            { topic => $topic, partition => 0, offset => $next });
        my $r = $ws->recv_resp;
        die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
        my $f = $r->{kafka_fetch_resp}
            or die 'not a fetch response: '
                   . pb_resp_render(pb_resp_encode($r)) . "\n";
        for my $m (@{ $f->{messages} }) {
            die "got offset $m->{offset}, want $next\n"
                unless $m->{offset} == $next;
            push @got, "$m->{offset}=$m->{value}";
            $next++;
        }
    }
    return \@got;
}

# sections a block does not have get these (Test::Base has no
# add_block_preprocessor: fill in the parsed blocks before running them)
my %DEFAULTS = (
    config       => $CONFIG,
    kafka        => $KAFKA,
    ws_path      => '/kafka',
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

run_tests();

__DATA__

=== TEST 1: list offset -2 gives the first offset (0)
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -2 })) ]
--- ws_response
seq=1 list_offset offset=0



=== TEST 2: list offset -1 gives the end offset (30)
--- ws_request eval
[ ws_binary(pb_req(sequence => 2, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 })) ]
--- ws_response
seq=2 list_offset offset=30



=== TEST 3: fetch at 14 starts with offset 14 "testmsg15"
--- ws_request eval
[ ws_binary(pb_req(sequence => 3, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 14 })) ]
--- ws_response_like
\Aseq=3 fetch 14="testmsg15"( \d+="testmsg\d+")*\z



=== TEST 4: fetching on from 14 gives 14..29 contiguous and in order
--- ws_code
my $got = fetch_all($ws, 'test-consumer', 14, 29);
join "\n", @$got;
--- ws_response eval
join "\n", map { "$_=testmsg" . ($_ + 1) } 14 .. 29;



=== TEST 5: fetch at 0 starts with offset 0 "testmsg1", then all 30
--- ws_code
$ws->send_req(sequence => 5, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 0 });
my $first = $ws->recv_line;
my $all = fetch_all($ws, 'test-consumer', 0, 29);
[ $first =~ /^(seq=5 fetch 0="testmsg1")/ ? $1 : $first, @$all ];
--- ws_response eval
join "\n", 'seq=5 fetch 0="testmsg1"',
    map { "$_=testmsg" . ($_ + 1) } 0 .. 29;



=== TEST 6: fetch beyond the end: OFFSET_OUT_OF_RANGE
--- ws_request eval
[ ws_binary(pb_req(sequence => 6, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 999 })) ]
--- ws_response
seq=6 error code=0 message="failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE"



=== TEST 7: list offset of a missing topic
--- ws_request eval
[ ws_binary(pb_req(sequence => 7, cmd_kafka_list_offset =>
    { topic => 'not-exist', partition => 0, timestamp => -1 })) ]
--- ws_response
seq=7 error code=0 message="failed to list offset, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART"



=== TEST 8: fetch of a missing topic
--- ws_request eval
[ ws_binary(pb_req(sequence => 8, cmd_kafka_fetch =>
    { topic => 'not-exist', partition => 0, offset => 0 })) ]
--- ws_response
seq=8 error code=0 message="failed to fetch message, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART"



=== TEST 9: the same connection works on after errors
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_kafka_fetch =>
    { topic => 'not-exist', partition => 0, offset => 0 })),
  ws_binary(pb_req(sequence => 2, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 999 })),
  ws_binary(pb_req(sequence => 3, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 })) ]
--- ws_code
my %by_seq;
for (1 .. 3) {
    my $line = $ws->recv_line;
    $by_seq{$1} = $line if $line =~ /^seq=(\d+) /;
}
[ map { $by_seq{$_} // "seq $_ missing" } 1 .. 3 ];
--- ws_response
seq=1 error code=0 message="failed to fetch message, topic: not-exist, partition: 0, err: UNKNOWN_TOPIC_OR_PART"
seq=2 error code=0 message="failed to fetch message, topic: test-consumer, partition: 0, err: OFFSET_OUT_OF_RANGE"
seq=3 list_offset offset=30



=== TEST 10: broker unreachable: list offset fails within the timeout, the worker serves on
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
    }
    location = /down {
        pubsub_kafka_pass kafka://127.0.0.1:1;
        pubsub_kafka_timeout 1s;
    }
--- ws_path: /down
--- ws_code
$ws->send_req(sequence => 10, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
# meanwhile, another connection is served: its pong comes while the
# look-up (1 s against a refused port) still runs in the thread pool
my $other = ws_connect(path => '/kafka');
$other->send_req(sequence => 11, cmd_ping => { state => 'x' });
my $pong = $other->recv_line;
my $early = $ws->recv_frame(0);
my $pending = defined $early ? 'answered before the pong' : 'pending';
$other->send_req(sequence => 12, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 });
my $list = $other->recv_line;
[ $pong, $pending, $list, defined $early ? ws_render($early) : $ws->recv_line ];
--- ws_response_like
\Aseq=11 pong state="x"
pending
seq=12 list_offset offset=30
seq=10 error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"\z
--- no_error_log
[alert]
