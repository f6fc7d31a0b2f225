# Group offsets: commit where a client got to and read it back, from any
# connection, after a reload, through another nginx on the same cluster;
# a subscription with a group starts there; commits of one group close
# together go to Kafka as one Admin request.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Push qw(subscribe push_messages sub_answer render_resp);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use File::Path qw(make_path);

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_commit_interval 50ms;
        pubsub_kafka_groups *;
    }
    location = /status {
        pubsub_kafka_status;
    }
EOF

our $KAFKA = <<'EOF';
topic: t 3
produce_n t 0 10 a
produce_n t 1 10 b
produce_n t 2 10 c
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

our $SEQ = 0;

sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    return render_resp(sub_answer($ws, $seq));
}

sub commit {
    my ($ws, $group, %offsets) = @_;
    return command($ws, cmd_kafka_commit => group => $group, topic => 't',
        offsets => [ map { { partition => $_, offset => $offsets{$_} } }
                     sort keys %offsets ]);
}

sub committed {
    my ($ws, $group, @parts) = @_;
    return command($ws, cmd_kafka_committed => group => $group,
                   topic => 't', partitions => \@parts);
}

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body})->{clients}[0];
}

run_tests();

__DATA__

=== TEST 1: commit, then committed on this connection and another; none committed is -1; no partitions means all
--- ws_code
my @out = (commit($ws, 'g1', 0 => 5, 1 => 7),
           committed($ws, 'g1', 0, 1, 2),
           committed(ws_connect(path => '/kafka'), 'g1'),
           committed($ws, 'other', 1));
\@out;
--- ws_response
commit
committed 0@5 1@7 2@-1
committed 0@5 1@7 2@-1
committed 1@-1



=== TEST 2: a subscription with the group starts where it committed, explicit offsets win, others from start
--- ws_code
my @out = (commit($ws, 'g2', 0 => 8, 2 => 3));
push @out, subscribe($ws, 100, topic => 't', all_partitions => 1,
                     start => -1, group => 'g2');
push @out, subscribe($ws, 101, topic => 't', all_partitions => 1,
                     start => -2, group => 'g2',
                     partitions => [{ partition => 2, offset => 9 }]);
push @out, subscribe($ws, 102, topic => 't', all_partitions => 1,
                     start => -2, group => 'none-yet');
\@out;
--- ws_response
commit
subscribe 0@8 1@10 2@3
subscribe 2@9 0@8 1@0
subscribe 0@0 1@0 2@0



=== TEST 3: errors name the group, topic and partition, with codes
--- kafka
topic: t 3
produce_n t 0 10 a
topic: gone 1
topicerr gone UNKNOWN_TOPIC_OR_PART
--- ws_code
my @out = (
    command($ws, cmd_kafka_commit => group => '', topic => 't',
            offsets => [{ partition => 0, offset => 1 }]),
    commit($ws, 'g3', 0 => -1),
    command($ws, cmd_kafka_commit => group => 'g3', topic => 't'),
    commit($ws, 'g3', 0 => 11),
    commit($ws, 'g3', 5 => 0),
    command($ws, cmd_kafka_committed => group => 'g3', topic => 'gone'),
);
push @out, mock_cmd('err 8 UNKNOWN_MEMBER_ID 1');
push @out, commit($ws, 'g3', 0 => 1);
push @out, mock_cmd('err 8 REBALANCE_IN_PROGRESS 1');
push @out, commit($ws, 'g3', 0 => 1);
push @out, commit($ws, 'g3', 0 => 2), committed($ws, 'g3', 0);
\@out;
--- ws_response
error code=400 message="failed to commit, topic: t, err: empty group"
error code=400 message="failed to commit, group: g3, topic: t, partition: 0, err: negative offset"
error code=400 message="failed to commit, group: g3, topic: t, err: no offsets"
error code=400 message="failed to commit, group: g3, topic: t, partition: 0, err: offset 11 is beyond the end 10"
error code=404 message="failed to commit, group: g3, topic: t, partition: 5, err: _UNKNOWN_PARTITION"
error code=404 message="failed to read committed offsets, group: g3, topic: gone, err: UNKNOWN_TOPIC_OR_PART"
ok
error code=400 message="failed to commit, group: g3, topic: t, partition: 0, err: UNKNOWN_MEMBER_ID"
ok
error code=400 message="failed to commit, group: g3, topic: t, partition: 0, err: REBALANCE_IN_PROGRESS"
commit
committed 0@2



=== TEST 4: batching: 20 clients committing one group at once make one Admin request; two groups make two
--- ws_code
my @c = map { ws_connect(path => '/kafka') } 1 .. 20;
my $before = status()->{admin_requests};
$c[$_]->send_req(sequence => 1, cmd_kafka_commit => { group => 'batch',
    topic => 't', offsets => [{ partition => $_ % 3, offset => $_ % 10 }] })
    for 0 .. 19;
my @answers = map { render_resp($_->recv_resp) } @c;
my $after = status()->{admin_requests};
$c[$_]->send_req(sequence => 2, cmd_kafka_commit => { group => "g$_",
    topic => 't', offsets => [{ partition => 0, offset => 1 }] }) for 0 .. 1;
push @answers, map { render_resp($c[$_]->recv_resp) } 0 .. 1;
my $two = status()->{admin_requests};
[ 'answers: ' . join(' ', sort { $a cmp $b } keys %{ { map { $_ => 1 } @answers } }),
  'one group: ' . ($after - $before) . ' request',
  'two groups: ' . ($two - $after) . ' requests',
  'commits: ' . status()->{commits} ];
--- ws_response
answers: commit
one group: 1 request
two groups: 2 requests
commits: 22



=== TEST 5: after a reload, the new worker reads the same offsets
--- no_valgrind
--- ws_code
my @out = (commit($ws, 'g5', 1 => 4));
nginx_reload();
push @out, committed(ws_connect(path => '/kafka'), 'g5', 1);
\@out;
--- ws_response
commit
committed 1@4



=== TEST 6: a fleet: another nginx on the same cluster resumes a subscription by the group
--- no_valgrind
--- ws_code
my @out = subscribe($ws, 100, topic => 't',
                    partitions => [{ partition => 0, offset => -2 }],
                    group => 'fleet');
my $m = push_messages($ws, 100, 4);
push @out, commit($ws, 'fleet', 0 => 4);
$ws->close;

# a second gateway: its own nginx, prefix and port, the same brokers
my $root = servroot() . '2';
make_path("$root/conf", "$root/logs");
my $port = Test::PubSub::Util::free_port();
my $conf = Test::PubSub::build_config(
    name => 'second gateway', servroot => $root, port => $port,
    module => $Test::PubSub::MODULE, master => 1, workers => 1,
    log_level => 'info', user_root => $> == 0,
    config => "location = /kafka { pubsub_kafka_pass kafka://"
              . kafka_brokers() . "; pubsub_kafka_groups fleet; }");
Test::PubSub::Util::write_file("$root/conf/nginx.conf", $conf);
my $pid = Test::PubSub::Util::spawn(['/usr/sbin/nginx', '-p', "$root/",
                                     '-c', "$root/conf/nginx.conf"],
    stdout => "$root/logs/stderr.log", stderr => "$root/logs/stderr.log");
my $deadline = time + 5;
sleep 0.05 until -s "$root/logs/nginx.pid" || time > $deadline;
my $other = eval { ws_connect(path => '/kafka', port => $port) };
if ($other) {
    push @out, subscribe($other, 7, topic => 't',
                         partitions => [], all_partitions => 1, start => -1,
                         group => 'fleet');
    push @out, push_messages($other, 7, 1)->[0];
}
else {
    push @out, "second gateway: $@";
}
kill 'QUIT', $pid;
Test::PubSub::Util::wait_child($pid, 10);
\@out;
--- ws_response
subscribe 0@0
commit
subscribe 0@4 1@10 2@10
p0 4=a5
