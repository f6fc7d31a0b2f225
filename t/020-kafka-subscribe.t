# Server push: subscriptions get their partitions' messages as the
# worker reads them, from the start asked for, in offset order, with
# headers and partition, within a window of credit.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages render_resp);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

our $KAFKA = <<'EOF';
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
EOF

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

=== TEST 1: a partition from the earliest: the positions, then every message in order
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -2 }]);
my $m = push_messages($ws, 7, 30);
push @out, scalar(@$m) . " messages", $m->[0], $m->[29];
\@out;
--- ws_response
subscribe 0@0
30 messages
p0 0=testmsg1
p0 29=testmsg30



=== TEST 2: from the end: nothing old, then what is produced
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -1 }]);
push @out, mock_cmd('produce test-consumer 0 new1 key=k1');
push @out, mock_cmd('produce test-consumer 0 new2');
push @out, @{ push_messages($ws, 7, 2) };
\@out;
--- ws_response
subscribe 0@30
ok 30
ok 31
p0 30[k1]=new1
p0 31=new2



=== TEST 3: from an offset; one past the end is kept at the end, one before the first at the first
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => 27 }]);
push @out, @{ push_messages($ws, 7, 3) };
push @out, subscribe($ws, 8, topic => 'test-consumer',
                     partitions => [{ partition => 0, offset => 999 }]);
\@out;
--- ws_response
subscribe 0@27
p0 27=testmsg28
p0 28=testmsg29
p0 29=testmsg30
subscribe 0@30



=== TEST 4: all partitions from the earliest: every partition in its own order, the pushes of each one partition's
--- kafka
topic: three 3
produce_n three 0 3 a
produce_n three 1 3 b
produce_n three 2 3 c
--- ws_code
my @out = subscribe($ws, 7, topic => 'three', all_partitions => 1,
                    start => -2);
my $m = push_messages($ws, 7, 9);
push @out, sort @$m;
\@out;
--- ws_response
subscribe 0@0 1@0 2@0
p0 0=a1
p0 1=a2
p0 2=a3
p1 0=b1
p1 1=b2
p1 2=b3
p2 0=c1
p2 1=c2
p2 2=c3



=== TEST 5: a listed partition from its offset, every other one from start -1 (the end)
--- kafka
topic: three 3
produce_n three 0 3 a
produce_n three 1 3 b
produce_n three 2 3 c
--- ws_code
my @out = subscribe($ws, 7, topic => 'three', all_partitions => 1,
                    start => -1, partitions => [{ partition => 1,
                                                  offset => 1 }]);
push @out, mock_cmd('produce three 2 late');
push @out, sort @{ push_messages($ws, 7, 3) };
\@out;
--- ws_response
subscribe 1@1 0@3 2@3
ok 3
p1 1=b2
p1 2=b3
p2 3=late



=== TEST 6: headers and keys round-trip, in pushes and in fetch answers
--- kafka
topic: test-consumer 1
produce test-consumer 0 v1 key=k1 h=trace=abc h=x=%00%01
produce test-consumer 0 v2
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -2 }]);
push @out, @{ push_messages($ws, 7, 2) };
$ws->send_req(sequence => 8, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 0 });
push @out, $ws->recv_line;
\@out;
--- ws_response
subscribe 0@0
p0 0[k1]{trace=abc,x=\x00\x01}=v1
p0 1=v2
seq=8 fetch 0[k1]{trace=abc,x=\x00\x01}="v1" 1="v2"



=== TEST 7: a filter on the key and on headers: others are not sent, and cost no credit
--- kafka
topic: test-consumer 1
produce test-consumer 0 a1 key=a h=t=1
produce test-consumer 0 b1 key=b h=t=1
produce test-consumer 0 a2 key=a h=t=2
produce test-consumer 0 a3 key=a h=t=1
produce test-consumer 0 a4 key=a h=t=1 h=u=9
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -2 }],
                    filter => { key => 'a', headers => [{ key => 't',
                                                          value => '1' }] },
                    window => 2);
push @out, @{ push_messages($ws, 7, 3, timeout => 1) };
push @out, 'credit';
$ws->send_req(sequence => 8, cmd_kafka_credit => { subscription => 7,
                                                   messages => 1 });
push @out, @{ push_messages($ws, 7, 2, timeout => 1) };
\@out;
--- ws_response
subscribe 0@0
p0 0[a]{t=1}=a1
p0 3[a]{t=1}=a3
credit
p0 4[a]{t=1,u=9}=a4



=== TEST 8: window 5: five messages, then nothing until credit; credit gives as many more
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => -2 }],
                    window => 5);
my $m = push_messages($ws, 7, 6, timeout => 1);
push @out, scalar(@$m) . " then nothing", $m->[-1];
$ws->send_req(sequence => 8, cmd_kafka_credit => { subscription => 7,
                                                   messages => 5 });
$m = push_messages($ws, 7, 6, timeout => 1);
push @out, scalar(@$m) . " more", $m->[-1];
$ws->send_req(sequence => 9, cmd_kafka_credit => { subscription => 7,
                                                   messages => 100 });
$m = push_messages($ws, 7, 20);
push @out, scalar(@$m) . " more", $m->[-1];
\@out;
--- ws_response
subscribe 0@0
5 then nothing
p0 4=testmsg5
5 more
p0 9=testmsg10
20 more
p0 29=testmsg30



=== TEST 9: unsubscribe: the positions with its own sequence, and nothing after it
--- ws_code
my @out = subscribe($ws, 7, topic => 'test-consumer',
                    partitions => [{ partition => 0, offset => 20 }]);
push @out, scalar(@{ push_messages($ws, 7, 10) }) . ' messages';
$ws->send_req(sequence => 8, cmd_kafka_unsubscribe => { subscription => 7 });
push @out, $ws->recv_line;
push @out, mock_cmd('produce test-consumer 0 after');
$ws->send_req(sequence => 9, cmd_ping => { state => 'still here' });
push @out, $ws->recv_line;
push @out, $ws->recv_line(0.5);
\@out;
--- ws_response
subscribe 0@20
10 messages
seq=8 subscribe ended 0@30
ok 30
seq=9 pong state="still here"
timeout



=== TEST 10: errors of the new commands carry a code and name the topic
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_max_subscriptions 1;
        pubsub_kafka_timeout 2s;
    }
--- kafka
topic: test-consumer 1
topic: gone 1
topicerr gone UNKNOWN_TOPIC_OR_PART
--- ws_code
my @reqs = (
    { topic => 'bad topic', partitions => [{ partition => 0 }] },
    { topic => 'test-consumer' },
    { topic => 'test-consumer', partitions => [{ partition => 0 }],
      window => -1 },
    { topic => 'test-consumer', partitions => [{ partition => 0 },
                                               { partition => 0 }] },
    { topic => 'test-consumer', partitions => [{ partition => -1 }] },
    { topic => 'test-consumer', partitions => [{ partition => 0,
                                                 offset => -3 }] },
    { topic => 'test-consumer', partitions => [{ partition => 5 }] },
    { topic => 'gone', all_partitions => 1 },
);
my @out;
my $seq = 0;
for my $r (@reqs) {
    push @out, "seq=" . ++$seq . " " . subscribe($ws, $seq, %$r);
}
push @out, subscribe($ws, 20, topic => 'test-consumer',
                     partitions => [{ partition => 0, offset => -1 }]);
push @out, subscribe($ws, 21, topic => 'test-consumer',
                     partitions => [{ partition => 0, offset => -1 }]);
$ws->send_req(sequence => 22, cmd_kafka_credit => { subscription => 99,
                                                    messages => 1 });
push @out, $ws->recv_line;
$ws->send_req(sequence => 23, cmd_kafka_credit => { subscription => 20,
                                                    messages => 0 });
push @out, $ws->recv_line;
$ws->send_req(sequence => 24, cmd_kafka_unsubscribe => { subscription => 99 });
push @out, $ws->recv_line;
\@out;
--- ws_response
seq=1 error code=400 message="failed to subscribe, topic: bad topic, partition: 0, err: invalid topic name"
seq=2 error code=400 message="failed to subscribe, topic: test-consumer, err: no partitions: list them, or set all_partitions"
seq=3 error code=400 message="failed to subscribe, topic: test-consumer, err: negative window"
seq=4 error code=400 message="failed to subscribe, topic: test-consumer, partition: 0, err: a partition listed twice"
seq=5 error code=400 message="failed to subscribe, topic: test-consumer, partition: -1, err: negative partition"
seq=6 error code=400 message="failed to subscribe, topic: test-consumer, partition: 0, err: offset must be -2, -1 or >= 0"
seq=7 error code=404 message="subscription failed, topic: test-consumer, partition: 5, err: _UNKNOWN_PARTITION"
seq=8 error code=404 message="subscription failed, topic: gone, err: UNKNOWN_TOPIC_OR_PART"
subscribe 0@0
error code=429 message="too many subscriptions: 1, the limit of this location"
seq=22 error code=404 message="no subscription 99 on this connection"
seq=23 error code=400 message="credit must be above 0, not 0"
seq=24 error code=404 message="no subscription 99 on this connection"
--- no_error_log
[error]
