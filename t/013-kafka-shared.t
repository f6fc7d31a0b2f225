# Sharing: many WebSocket clients tailing one partition go through one
# Kafka client (two librdkafka handles, at most two fetch streams, a few
# broker connections); locations with the same Kafka settings share a
# client, different settings get their own; kafka://UPSTREAM.

use lib 't/lib';
use Test::PubSub;
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(time);

our $STATUS = <<'EOF';
    location = /status {
        pubsub_kafka_status;
    }
EOF

my %DEFAULTS = (
    no_error_log => "[error]\n",
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SEQ = 1000;

sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
    return (pb_resp_render(pb_resp_encode($r)) =~ s/^seq=\d+ //r, $r);
}

sub status {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    return JSON::PP::decode_json($r->{body});
}

sub wait_status {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * (use_valgrind() ? 3 : 1);
    my $s;
    for (;;) {
        $s = status();
        return $s if $cond->($s) || time > $deadline;
        select undef, undef, undef, 0.05;
    }
}

# The nginx process serving requests: the worker (the master's only
# child), or nginx itself without a master (valgrind mode).
sub worker_pid {
    my $master = nginx_pid();
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        # pid (comm) state ppid ...
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $master;
    }
    return @kids == 1 ? $kids[0] : $master;
}

# Established TCP connections of process $pid to any of the TCP ports.
sub tcp_connections_to {
    my ($pid, @ports) = @_;
    my %port = map { $_ => 1 } @ports;
    my %inode;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $target = readlink $fd // next;
        $inode{$1} = 1 if $target =~ /^socket:\[(\d+)\]$/;
    }
    my $n = 0;
    for my $file ("/proc/$pid/net/tcp", "/proc/$pid/net/tcp6") {
        open my $fh, '<', $file or next;
        <$fh>;
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            my ($rport) = $f[2] =~ /:([0-9A-F]{4})$/;
            next unless $f[3] eq '01' && $inode{ $f[9] };    # ESTABLISHED
            $n++ if $port{ hex $rport };
        }
    }
    return $n;
}

sub mock_ports {
    return map { /:(\d+)$/ ? $1 : () } split /,/, kafka_brokers();
}

run_tests();

__DATA__

=== TEST 1: many clients tail one partition: identical complete data, one client, at most two fetch streams, few broker connections
--- timeout: 10
--- config eval
$::STATUS . <<'EOF';
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /short {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 200ms;
    }
EOF
--- kafka
topic: fan 1
--- ws_path: /short
--- ws_code
# valgrind mode: 20 clients instead of 100 (each fetch costs much more
# time there, and the point, no dependence on the count, stays visible)
my $N = use_valgrind() ? 20 : 100;
my $MSGS = 50;

# one client first: its Kafka connections are there before the others
my ($start_line) = command($ws, cmd_kafka_list_offset =>
    topic => 'fan', partition => 0, timestamp => -1);
my ($first_fetch) = command($ws, cmd_kafka_fetch =>
    topic => 'fan', partition => 0, offset => 0);
my $worker = worker_pid();
my $conns_before = tcp_connections_to($worker, mock_ports());

my @c = map { ws_connect(path => '/kafka') } 1 .. $N;
my (%start, %next, %got);
for my $i (0 .. $#c) {
    my ($line, $r) = command($c[$i], cmd_kafka_list_offset =>
        topic => 'fan', partition => 0, timestamp => -1);
    die "client $i: $line\n" unless $r->{kafka_list_offset_resp};
    $start{$i} = $next{$i} = $r->{kafka_list_offset_resp}{offset};
    $got{$i} = [];
}
my $send_fetch = sub {
    my ($i) = @_;
    $c[$i]->send_req(sequence => $i + 1, cmd_kafka_fetch =>
        { topic => 'fan', partition => 0, offset => $next{$i} });
};
$send_fetch->($_) for 0 .. $#c;
my $parked = wait_status(sub { $_[0]{clients}[0]{waiters} == $N });

my $produced = mock_cmd("produce_n fan 0 $MSGS m");

my %sock = map { $c[$_]->sock => $_ } 0 .. $#c;
my $sel = IO::Select->new(map { $_->sock } @c);
my $deadline = time + (use_valgrind() ? 120 : 30);
my %done;
while (keys %done < $N && time < $deadline) {
    for my $s ($sel->can_read(1)) {
        my $i = $sock{$s};
        while (defined(my $f = $c[$i]->recv_frame(0))) {
            die "client $i: connection closed\n" unless ref $f;
            my $r = pb_resp_decode($f->{payload})
                or die "client $i: " . ws_render($f) . "\n";
            die "client $i: " . pb_resp_render($f->{payload}) . "\n"
                unless $r->{kafka_fetch_resp} && $r->{sequence} == $i + 1;
            for my $m (@{ $r->{kafka_fetch_resp}{messages} }) {
                push @{ $got{$i} }, "$m->{offset}=$m->{value}";
                $next{$i} = $m->{offset} + 1;
            }
            if ($next{$i} >= $start{$i} + $MSGS) {
                $done{$i} = 1;
                $sel->remove($s);
                last;
            }
            $send_fetch->($i);
        }
    }
}

my $want = join ' ', map { $_ - 1 + $start{0} . "=m$_" } 1 .. $MSGS;
my @wrong = grep { join(' ', @{ $got{$_} }) ne $want } 0 .. $#c;
my %starts = map { $_ => 1 } values %start;
my $s = status();
my $k = $s->{clients};
my $conns_after = tcp_connections_to($worker, mock_ports());
[ "start: $start_line / $first_fetch",
  'same start: ' . join(',', sort keys %starts),
  "parked: $parked->{clients}[0]{waiters} of $N",
  $produced,
  'complete: ' . (keys %done == $N ? 'all' : scalar(keys %done) . " of $N"),
  'wrong: ' . (@wrong ? "@wrong[0 .. ($#wrong < 4 ? $#wrong : 4)]" : 'none'),
  'kafka clients: ' . scalar(@$k),
  "handles: $k->[0]{handles}",
  "partitions: $k->[0]{partitions}",
  'cursors: ' . ($k->[0]{cursors} <= 2 ? 'at most 2' : $k->[0]{cursors}),
  "websockets: $s->{websockets}",
  'broker connections: '
      . ($conns_before >= 1 && $conns_before <= 4 ? 'few' : $conns_before)
      . ' / ' . ($conns_after >= 1 && $conns_after <= 4 ? 'few'
                                                         : $conns_after) ];
--- ws_response eval
my $n = $ENV{TEST_NGINX_USE_VALGRIND} ? 20 : 100;
join "\n", 'start: list_offset offset=0 / fetch', 'same start: 0',
    "parked: $n of $n", 'ok 0 49', 'complete: all', 'wrong: none',
    'kafka clients: 1', 'handles: 2', 'partitions: 1', 'cursors: at most 2',
    'websockets: ' . ($n + 1), 'broker connections: few / few';



=== TEST 2: two locations with the same Kafka settings share one client
--- config eval
$::STATUS . <<'EOF';
    location = /a {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /b {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 2s;
        pubsub_kafka_fetch_max_bytes 100;
    }
EOF
--- kafka
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
--- ws_path: /a
--- ws_code
my $b = ws_connect(path => '/b');
my ($a1) = command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 3);
my ($b1) = command($b, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 3);
my $s = status();
[ $a1 =~ /^(fetch 3="testmsg4")/ ? $1 : $a1, $b1 =~ /^(fetch 3="testmsg4")/ ? $1 : $b1,
  'kafka clients: ' . scalar(@{ $s->{clients} }),
  'brokers: ' . ($s->{clients}[0]{brokers} eq kafka_brokers() ? 'ok'
                 : $s->{clients}[0]{brokers}),
  "partitions: $s->{clients}[0]{partitions}" ];
--- ws_response
fetch 3="testmsg4"
fetch 3="testmsg4"
kafka clients: 1
brokers: ok
partitions: 1



=== TEST 3: a location with another Kafka property gets its own client
--- config eval
$::STATUS . <<'EOF';
    location = /a {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /c {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property client.id other;
        pubsub_kafka_fetch_max_wait 3s;
    }
EOF
--- kafka
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
--- ws_path: /a
--- ws_code
my $c = ws_connect(path => '/c');
my ($a1) = command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 3);
my ($c1) = command($c, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 3);
my $s = status();
[ $a1 =~ /^(fetch 3="testmsg4")/ ? $1 : $a1, $c1 =~ /^(fetch 3="testmsg4")/ ? $1 : $c1,
  'kafka clients: ' . scalar(@{ $s->{clients} }),
  'partitions: ' . join(',', map { $_->{partitions} } @{ $s->{clients} }) ];
--- ws_response
fetch 3="testmsg4"
fetch 3="testmsg4"
kafka clients: 2
partitions: 1,1



=== TEST 4: kafka://UPSTREAM takes the brokers from an upstream block
--- http_config
    upstream kafka_up {
        server $TEST_NGINX_KAFKA_BROKERS;
    }
--- config eval
$::STATUS . <<'EOF';
    location = /up {
        pubsub_kafka_pass kafka://kafka_up;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
    }
    location = /direct {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
    }
EOF
--- kafka
topic: test-consumer 1
produce_n test-consumer 0 30 testmsg
--- ws_path: /up
--- ws_code
my ($l) = command($ws, cmd_kafka_list_offset =>
    topic => 'test-consumer', partition => 0, timestamp => -1);
my ($f) = command($ws, cmd_kafka_fetch =>
    topic => 'test-consumer', partition => 0, offset => 29);
my $s = status();
[ $l, $f,
  'kafka clients: ' . scalar(@{ $s->{clients} }),
  'brokers: ' . ($s->{clients}[0]{brokers} eq kafka_brokers() ? 'ok'
                 : $s->{clients}[0]{brokers}) ];
--- ws_response
list_offset offset=30
fetch 29="testmsg30"
kafka clients: 1
brokers: ok
