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
