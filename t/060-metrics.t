# pubsub_metrics: the Prometheus exposition of all workers' counters,
# parsed by prometheus_client's parser (t/lib/prom_parse.py, Debian
# python3-prometheus-client); traffic through two workers summed; upgrade
# outcomes, close codes, commands by result, Kafka lag; reloads and a
# crashed worker never make a counter go down.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::HTTP qw(build_request http_request);
use JSON::PP ();
use List::Util qw(sum max);
use Time::HiRes qw(time sleep);

our $PARSER = "$Test::PubSub::REPO/t/lib/prom_parse.py";

# The second listener: reuseport, so the kernel spreads its connections
# over the workers (the first one goes to whichever worker accepts).
our $LISTEN = <<'EOF';
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT reuseport;
    location = /metrics {
        pubsub_metrics;
    }
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

sub get {
    my ($path, $port) = @_;
    return http_request(
        port    => $port // server_port(),
        request => build_request("GET $path"),
        timeout => 5,
    );
}

# scrape($port): the exposition parsed: { families, series, errors };
# dies on a parse error or a check that failed
sub scrape {
    my ($port) = @_;
    my $r = get('/metrics', $port);
    die 'metrics: ' . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    my $type = $r->{headers}{'content-type'}[0] // '';
    die "metrics: Content-Type $type\n"
        unless $type eq 'text/plain; version=0.0.4; charset=utf-8';
    my $file = servroot() . '/logs/metrics.txt';
    open my $fh, '>', $file or die "$file: $!\n";
    print $fh $r->{body};
    close $fh;
    my $out = qx($Test::PubSub::PYTHON $PARSER < $file);
    die "prom_parse.py failed: $?\n" if $?;
    my $m = JSON::PP::decode_json($out);
    die "metrics: @{ $m->{errors} }\n" if @{ $m->{errors} };
    $m->{text} = $r->{body};
    return $m;
}

# v($m, 'name{a="1"}'): a series' value, "absent" when there is none
sub v {
    my ($m, $key) = @_;
    my $v = $m->{series}{$key};
    return defined $v ? $v + 0 : 'absent';
}

# polls the exposition until $cond holds; the last one either way
sub wait_scrape {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 5) * (use_valgrind() ? 3 : 1);
    for (;;) {
        my $m = scrape();
        return $m if $cond->($m) || time > $deadline;
        sleep 0.05;
    }
}

# { pid => websockets } of the workers, from pubsub_kafka_status over the
# reuseport listener, until $want websockets are seen in all
sub workers {
    my ($want) = @_;
    my %ws;
    for (1 .. 200) {
        my $r = get('/status', tls_port());
        die "status: " . ($r->{error} // $r->{status}) . "\n"
            unless ($r->{status} // 0) == 200;
        my $s = JSON::PP::decode_json($r->{body});
        $ws{ $s->{pid} } = $s->{websockets};
        last if keys %ws >= 2 && sum(values %ws) == $want;
    }
    return \%ws;
}

sub frame_len { my ($f) = @_; return 2 + length $f->{payload} }

run_tests();

__DATA__

=== TEST 1: every family, well-formed; traffic through two workers is summed
--- worker_processes: 2
--- no_valgrind
--- timeout: 10
--- config eval
$::LISTEN . <<'EOF';
    location = /ws {
        pubsub;
    }
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
    }
EOF
--- kafka
topic: test 1
produce_n test 0 5 m
--- ws_path: /ws
--- ws_code
my $N = 24;
my @c = ($ws, map { ws_connect(port => tls_port(), path => '/ws') } 1 .. $N);
my ($in, $out) = (0, 0);
for my $i (0 .. $#c) {
    my $f = ws_binary(pb_req(sequence => $i, cmd_ping => { state => "s$i" }));
    $c[$i]->send($f);
    $in += length $f;
}
my $pongs = 0;
for my $c (@c) {
    my $f = $c->recv_frame;
    $pongs++ if ref $f && pb_resp_render($f->{payload}) =~ /pong/;
    $out += frame_len($f) if ref $f;
}
my $pids = workers(scalar @c);
my @n = values %$pids;
my $m = scrape();
my @lines = (
    "pongs: $pongs",
    'workers: ' . scalar(@n) . ', each with some: '
        . ((grep { $_ > 0 && $_ < @c } @n) == @n ? 'yes' : "no (@n)"),
    'open: ' . v($m, 'pubsub_websocket_connections'),
    'upgrades: ' . v($m, 'pubsub_connections_total{outcome="101"}'),
    'pings: ' . v($m, 'pubsub_commands_total{command="ping",result="ok"}'),
    'messages in/out: '
        . v($m, 'pubsub_websocket_messages_received_total') . '/'
        . v($m, 'pubsub_websocket_messages_sent_total'),
    'bytes in/out as sent/received: '
        . (v($m, 'pubsub_websocket_received_bytes_total') == $in ? 'yes'
           : v($m, 'pubsub_websocket_received_bytes_total') . " != $in")
        . '/'
        . (v($m, 'pubsub_websocket_sent_bytes_total') == $out ? 'yes'
           : v($m, 'pubsub_websocket_sent_bytes_total') . " != $out"),
);

# a Kafka fetch, on the reuseport listener too
my $k = ws_connect(port => tls_port(), path => '/kafka');
$k->send_req(sequence => 1, cmd_kafka_fetch =>
             { topic => 'test', partition => 0, offset => 2 });
my $r = $k->recv_resp;
my $got = scalar @{ $r->{kafka_fetch_resp}{messages} || [] };

# every client closes with 1000
for my $c (@c, $k) {
    $c->send(ws_close(1000));
    $c->recv_frame;
}
$m = wait_scrape(sub { v($_[0], 'pubsub_websocket_connections') == 0
    && @{ $_[0]{families}{pubsub_kafka_partition_lag}{samples} } });
push @lines,
    'fetched: ' . ($got == v($m,
        'pubsub_kafka_messages_delivered_total{via="fetch"}') ? 'counted'
        : "$got, counted " . v($m,
            'pubsub_kafka_messages_delivered_total{via="fetch"}')),
    'open after: ' . v($m, 'pubsub_websocket_connections'),
    'closed by clients: '
        . v($m, 'pubsub_close_frames_total{code="1000",direction="received"}'),
    'frames in/out: '
        . v($m, 'pubsub_websocket_frames_received_total') . '/'
        . v($m, 'pubsub_websocket_frames_sent_total');

my @families = sort keys %{ $m->{families} };
push @lines, 'families: ' . scalar(@families), map {
    my $f = $m->{families}{$_};
    my $n = @{ $f->{samples} };
    my %cmds = map { defined $_->{labels}{command}
                     ? ($_->{labels}{command} => 1) : () } @{ $f->{samples} };
    $_ eq 'pubsub_commands_total'
        ? "$_ $f->{type} " . ($n == 11 * keys %cmds ? '11 per command'
                              : "$n for " . join(',', sort keys %cmds))
        : "$_ $f->{type} $n"
} @families;
\@lines;
--- ws_response
pongs: 25
workers: 2, each with some: yes
open: 25
upgrades: 25
pings: 25
messages in/out: 25/25
bytes in/out as sent/received: yes/yes
fetched: counted
open after: 0
closed by clients: 26
frames in/out: 52/52
families: 29
pubsub_close_frames_total counter 16
pubsub_commands_total counter 11 per command
pubsub_connections_total counter 9
pubsub_kafka_brokers_down gauge 1
pubsub_kafka_brokers_up gauge 1
pubsub_kafka_commits_total counter 2
pubsub_kafka_fetches_total counter 1
pubsub_kafka_lookups gauge 1
pubsub_kafka_messages_delivered_total counter 2
pubsub_kafka_messages_read_total counter 1
pubsub_kafka_partition_lag gauge 1
pubsub_kafka_partitions gauge 1
pubsub_kafka_produced_records_total counter 2
pubsub_kafka_readers gauge 1
pubsub_kafka_seeks_total counter 1
pubsub_kafka_subscriptions gauge 1
pubsub_kafka_waiters gauge 1
pubsub_kafka_window_bytes gauge 1
pubsub_kafka_window_memory_bytes gauge 1
pubsub_kafka_window_messages gauge 1
pubsub_websocket_connections gauge 1
pubsub_websocket_frames_received_total counter 1
pubsub_websocket_frames_sent_total counter 1
pubsub_websocket_messages_received_total counter 1
pubsub_websocket_messages_sent_total counter 1
pubsub_websocket_output_overflows_total counter 1
pubsub_websocket_output_pauses_total counter 2
pubsub_websocket_received_bytes_total counter 1
pubsub_websocket_sent_bytes_total counter 1



=== TEST 2: upgrade outcomes: 403 from the access phase, 400, 426, 101; other locations do not count
--- config eval
$::LISTEN . <<'EOF';
    location = /ws {
        pubsub;
    }
    location = /denied {
        deny all;
        pubsub;
    }
    location = /plain {
        return 200 "plain\n";
    }
EOF
--- ws_path: /ws
--- ws_code
my @out;
my $d = ws_connect(path => '/denied', status => 403);
push @out, "denied: $d->{status}";
my $r = get('/ws');
push @out, "plain GET: $r->{status}";
my $v = ws_connect(path => '/ws', status => 426,
                   headers => ['Sec-WebSocket-Version: 8']);
push @out, "version 8: $v->{status}";
$r = get('/plain');
push @out, "other location: $r->{status}";
my $m = wait_scrape(sub {
    v($_[0], 'pubsub_connections_total{outcome="426"}') == 1 });
push @out, map {
    "$_: " . v($m, "pubsub_connections_total{outcome=\"$_\"}")
} qw(101 400 401 403 426 429 500 503 other);
\@out;
--- ws_response
denied: 403
plain GET: 400
version 8: 426
other location: 200
101: 1
400: 1
401: 0
403: 1
426: 1
429: 0
500: 0
503: 0
other: 0
--- error_log
access forbidden by rule
--- no_error_log eval
[qr/\[error\](?!.*access forbidden by rule)/]



=== TEST 3: close frames by code, received and sent
--- config eval
$::LISTEN . <<'EOF';
    location = /ws {
        pubsub;
    }
    location = /small {
        pubsub_max_message_size 16;
        pubsub;
    }
    location = /idle {
        pubsub_idle_timeout 200ms;
        pubsub;
    }
    location = /expires {
        pubsub_expires 200ms;
        pubsub;
    }
EOF
--- ws_path: /ws
--- ws_code
my @out;
$ws->send(ws_close(1001));
push @out, 'client 1001: ' . $ws->recv_line;
my $c = ws_connect(path => '/ws');
$c->send(ws_close());
push @out, 'client, no code: ' . $c->recv_line;
$c = ws_connect(path => '/ws');
$c->send(ws_close(4000));
push @out, 'client 4000: ' . $c->recv_line;
$c = ws_connect(path => '/ws');
$c->send(ws_binary('x', mask => 0));
push @out, 'unmasked: ' . $c->recv_line;
$c = ws_connect(path => '/small');
$c->send(ws_binary('x' x 100));
push @out, 'too big: ' . $c->recv_line;
$c = ws_connect(path => '/idle');
push @out, 'idle: ' . $c->recv_line;
$c = ws_connect(path => '/expires');
push @out, 'expired: ' . $c->recv_line;
my $m = wait_scrape(sub { v($_[0], 'pubsub_websocket_connections') == 0 });
for my $dir (qw(received sent)) {
    push @out, "$dir: " . join ' ', map {
        "$_=" . v($m,
                  "pubsub_close_frames_total{code=\"$_\",direction=\"$dir\"}")
    } qw(1000 1001 1002 1005 1008 1009 1011 other);
}
\@out;
--- ws_response
client 1001: close 1001
client, no code: close
client 4000: close 4000
unmasked: close 1002
too big: close 1009
idle: close 1000
expired: close 1008
received: 1000=0 1001=1 1002=0 1005=1 1008=0 1009=0 1011=0 other=1
sent: 1000=1 1001=1 1002=1 1005=1 1008=1 1009=1 1011=0 other=1



=== TEST 4: commands by result: ok, error (code 0), 400, canceled; unknown ones: error, 404
--- config eval
$::LISTEN . <<'EOF';
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 5s;
    }
    location = /ws {
        pubsub;
    }
EOF
--- kafka
topic: test 1
produce_n test 0 2 m
--- ws_path: /kafka
--- ws_code
my @out;
$ws->send_req(sequence => 1, cmd_ping => { state => 'a' });
push @out, $ws->recv_line;
$ws->send_req(sequence => 2, cmd_kafka_fetch =>
              { topic => '', partition => 0, offset => 0 });
push @out, $ws->recv_line;
$ws->send_req(sequence => 3, cmd_kafka_subscribe => {});
push @out, $ws->recv_line =~ s/ message=.*//r;
$ws->send(ws_binary("\xff\xff\xff"));
push @out, $ws->recv_line =~ s/ message=.*//r;
# an extension command a bare pubsub location does not serve
my $bare = ws_connect(path => '/ws');
$bare->send_req(sequence => 4, cmd_kafka_subscribe => {});
push @out, $bare->recv_line =~ s/ message=.*//r;
# a fetch that waits at the end of the partition, and the client leaves
my $c = ws_connect(path => '/kafka');
$c->send_req(sequence => 5, cmd_kafka_fetch =>
             { topic => 'test', partition => 0, offset => 2 });
sleep 0.5;
$c->close;
my $m = wait_scrape(sub {
    v($_[0], 'pubsub_commands_total{command="fetch",result="canceled"}')
    == 1 });
for my $cmd (qw(ping fetch subscribe list_offset unknown)) {
    my @r = grep {
        v($m, "pubsub_commands_total{command=\"$cmd\",result=\"$_\"}")
    } qw(ok canceled error 400 403 404 429 500 503 504 other);
    push @out, "$cmd: " . (join(' ', map {
        "$_="
        . v($m, "pubsub_commands_total{command=\"$cmd\",result=\"$_\"}")
    } @r) || 'none');
}
\@out;
--- ws_response
seq=1 pong state="a"
seq=2 error code=0 message="failed to fetch message, topic: , partition: 0, err: invalid topic name"
seq=3 error code=400
seq=0 error code=0
seq=4 error code=404
ping: ok=1
fetch: canceled=1 error=1
subscribe: 400=1
list_offset: none
unknown: error=1 404=1



=== TEST 5: lag of a partition with a reader: its high watermark minus the reader's next offset
--- timeout: 10
--- config eval
$::LISTEN . <<'EOF';
    # 10 messages of 115 bytes fill a window: the sweeping reader pauses
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property fetch.message.max.bytes 200;
        pubsub_kafka_property queued.max.messages.kbytes 1;
        pubsub_kafka_buffer_size 1150;
        pubsub_kafka_fetch_max_bytes 50;
        pubsub_kafka_fetch_max_wait 200ms;
    }
    location = /all {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property fetch.message.max.bytes 200;
        pubsub_kafka_property queued.max.messages.kbytes 1;
        pubsub_kafka_buffer_size 1150;
        pubsub_kafka_fetch_max_wait 200ms;
    }
EOF
--- kafka
topic: lag 2
produce_n lag 1 40 m size=100
--- ws_path: /kafka
--- ws_code
my $series = 'pubsub_kafka_partition_lag{cluster="' . kafka_brokers()
             . '",partition="1",topic="lag"}';
my @out;
$ws->send_req(sequence => 1, cmd_kafka_fetch =>
              { topic => 'lag', partition => 1, offset => 0 });
my $r = $ws->recv_resp;
my $n = @{ $r->{kafka_fetch_resp}{messages} };
push @out, "fetched: $n";
# the sweeping reader reads on until its window is full, then pauses
my $m = wait_scrape(sub { v($_[0], $series) ne 'absent'
                          && v($_[0], $series) > 0 });
sleep 0.5;
# the reader's next offset: the end of its window, which a fetch from the
# window's start gets whole (in the other location, the same client)
my $all = ws_connect(path => '/all');
$all->send_req(sequence => 2, cmd_kafka_fetch =>
               { topic => 'lag', partition => 1, offset => 1 });
$r = $all->recv_resp;
my $next = $r->{kafka_fetch_resp}{messages}[-1]{offset} + 1;
my (undef, $low, $high) = split ' ', mock_cmd('wm lag 1');
push @out, "high watermark: $high";
# a refresh a second: the value follows within one
$m = wait_scrape(sub { v($_[0], $series) == $high - $next }, 3);
my $lag = v($m, $series);
push @out, 'lag = high watermark - next: '
    . ($lag == $high - $next ? 'yes' : "no: $lag, next $next");
push @out, 'behind: ' . ($lag > 0 ? 'yes' : 'no');
# read to the end: no lag
while ($next < 40) {
    $all->send_req(sequence => 3, cmd_kafka_fetch =>
                   { topic => 'lag', partition => 1, offset => $next });
    $r = $all->recv_resp;
    my @msgs = @{ $r->{kafka_fetch_resp}{messages} || [] };
    $next = $msgs[-1]{offset} + 1 if @msgs;
}
$m = wait_scrape(sub { v($_[0], $series) eq '0' });
push @out, 'at the end: ' . v($m, $series);
push @out, 'other partition: '
    . (grep({ /partition="0"/ } keys %{ $m->{series} }) ? 'listed'
       : 'not listed');
\@out;
--- ws_response
fetched: 1
high watermark: 40
lag = high watermark - next: yes
behind: yes
at the end: 0
other partition: not listed



=== TEST 6: reloads: the same configuration keeps the counters, another one starts a zone afresh; no zone is left behind
--- worker_processes: 2
--- no_valgrind
--- timeout: 10
--- config eval
$::LISTEN . <<'EOF';
    location = /ws {
        pubsub;
    }
EOF
--- kafka
topic: t 1
--- ws_path: /ws
--- ws_code
my @out;
my $master = nginx_pid();
my $zones = sub {
    open my $fh, '<', "/proc/$master/maps" or die "maps: $!\n";
    return scalar grep { m{/dev/zero \(deleted\)} } <$fh>;
};
my $ping = sub {
    my @c = @_;
    $_->send_req(sequence => 1, cmd_ping => {}) for @c;
    $_->recv_line for @c;
};
my @c = ($ws, map { ws_connect(port => tls_port()) } 1 .. 9);
$ping->(@c);
my $before = scrape();
my $mapped = $zones->();

# the same configuration: the old workers close their WebSockets (1001)
nginx_reload();
$_->recv_line for @c;
my @d = map { ws_connect(port => tls_port()) } 1 .. 4;
$ping->(@d);
my $after = wait_scrape(sub {
    v($_[0], 'pubsub_websocket_connections') == 4 });
my @down = grep {
    $before->{families}{ $_ =~ s/\{.*//r }{type} eq 'counter'
    && v($after, $_) < $before->{series}{$_}
} keys %{ $before->{series} };
push @out, 'counters down: ' . (@down ? "@down" : 'none');
push @out, 'upgrades: ' . v($before, 'pubsub_connections_total{outcome="101"}')
    . ' then ' . v($after, 'pubsub_connections_total{outcome="101"}');
push @out, 'pings: ' . v($after,
    'pubsub_commands_total{command="ping",result="ok"}');
push @out, 'closed by the reload: ' . v($after,
    'pubsub_close_frames_total{code="1001",direction="sent"}');
push @out, 'open: ' . v($after, 'pubsub_websocket_connections');
$_->close for @d;

# another set of series, back and forth: a new zone each time, the old
# one unmapped by the master
my $conf = servroot() . '/conf/nginx.conf';
my $text = do { local (@ARGV, $/) = $conf; <> };
my $brokers = kafka_brokers();
my $other = $text =~ s{(location = /ws \{)}
    {location = /kafka { pubsub_kafka_pass kafka://$brokers; }\n    $1}r;
for my $t ($other, $text, $other) {
    open my $fh, '>', $conf or die "$conf: $!\n";
    print $fh $t;
    close $fh;
    nginx_reload();
}
my $m = wait_scrape(sub { exists $_[0]{families}{pubsub_kafka_readers} });
push @out, 'new series: ' . (exists $m->{families}{pubsub_kafka_readers}
                             ? 'yes' : 'no');
push @out, 'upgrades in the new zone: '
    . v($m, 'pubsub_connections_total{outcome="101"}');
push @out, 'zones mapped by the master: '
    . ($zones->() == $mapped ? 'as many as before' : $zones->() . " != $mapped");
\@out;
--- ws_response
counters down: none
upgrades: 10 then 14
pings: 14
closed by the reload: 10
open: 4
new series: yes
upgrades in the new zone: 0
zones mapped by the master: as many as before
--- no_error_log
[error]
[crit]



=== TEST 7: a worker that crashed: its counters stay, its gauges go
--- worker_processes: 1
--- no_valgrind
--- no_check_alerts
--- config eval
$::LISTEN . <<'EOF';
    location = /ws {
        pubsub;
    }
EOF
--- ws_path: /ws
--- ws_code
my @out;
my $master = nginx_pid();
my $worker = sub {
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        return $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $master;
    }
    return undef;
};
my @c = ($ws, map { ws_connect() } 1 .. 2);
$_->send_req(sequence => 1, cmd_ping => {}) for @c;
$_->recv_line for @c;
my $m = scrape();
push @out, 'open: ' . v($m, 'pubsub_websocket_connections');
my $pid = $worker->();
kill 'KILL', $pid;
my $deadline = time + 5;
sleep 0.05 while (($worker->() // $pid) == $pid && time < $deadline);
$m = wait_scrape(sub { v($_[0], 'pubsub_websocket_connections') == 0 });
push @out, 'open after the crash: ' . v($m, 'pubsub_websocket_connections');
push @out, 'upgrades: ' . v($m, 'pubsub_connections_total{outcome="101"}');
push @out, 'pings: ' . v($m,
    'pubsub_commands_total{command="ping",result="ok"}');
\@out;
--- ws_response
open: 3
open after the crash: 0
upgrades: 3
pings: 3
--- error_log
exited on signal 9



=== TEST 8: GET and HEAD only; not inherited by nested locations' handlers
--- config
    location = /metrics {
        pubsub_metrics;
    }
--- request
POST /metrics
x
--- error_code: 405



=== TEST 9: HEAD: the headers only
--- config
    location = /metrics {
        pubsub_metrics;
    }
--- request
HEAD /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body



=== TEST 10: pubsub_metrics takes no arguments
--- config
    location = /metrics {
        pubsub_metrics on;
    }
--- must_die
--- error_log
invalid number of arguments in "pubsub_metrics" directive



=== TEST 11: the extension's Kafka counters: pushes, subscriptions open, records produced by result, commits by result
--- config eval
$::LISTEN . <<'EOF';
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_write test;
        pubsub_kafka_groups g;
    }
EOF
--- kafka
topic: test 1
produce_n test 0 3 m
--- ws_path: /kafka
--- ws_code
use Test::PubSub::Push qw(subscribe push_messages sub_answer render_resp);
my @out;
my $counts = sub {
    my ($m) = @_;
    return join ' ', map { v($m, $_) }
        'pubsub_kafka_messages_delivered_total{via="push"}',
        'pubsub_kafka_subscriptions',
        'pubsub_kafka_produced_records_total{result="acknowledged"}',
        'pubsub_kafka_produced_records_total{result="failed"}',
        'pubsub_kafka_commits_total{result="ok"}',
        'pubsub_kafka_commits_total{result="failed"}';
};
push @out, 'before: ' . $counts->(scrape());
push @out, subscribe($ws, 1, topic => 'test',
                     partitions => [{ partition => 0, offset => -2 }]);
push @out, @{ push_messages($ws, 1, 3) };
for my $seq (2, 3) {
    $ws->send_req(sequence => $seq, cmd_kafka_produce =>
                  { topic => 'test', partition => 0, value => "p$seq" });
    push @out, render_resp(sub_answer($ws, $seq));
}
$ws->send_req(sequence => 4, cmd_kafka_produce =>
              { topic => 'test', partition => 7, value => 'nowhere' });
push @out, render_resp(sub_answer($ws, 4, 15)) =~ s/ message=.*//r;
push @out, @{ push_messages($ws, 1, 2) };
$ws->send_req(sequence => 5, cmd_kafka_commit => { group => 'g',
              topic => 'test', offsets => [{ partition => 0, offset => 5 }] });
push @out, render_resp(sub_answer($ws, 5));
$ws->send_req(sequence => 6, cmd_kafka_commit => { group => 'g',
              topic => 'test', offsets => [{ partition => 0, offset => 99 }] });
push @out, render_resp(sub_answer($ws, 6)) =~ s/ message=.*//r;
push @out, 'subscribed: ' . $counts->(scrape());
$ws->send_req(sequence => 7, cmd_kafka_unsubscribe => { subscription => 1 });
push @out, render_resp(sub_answer($ws, 7));
push @out, 'after: ' . $counts->(wait_scrape(sub {
    v($_[0], 'pubsub_kafka_subscriptions') == 0 }));
\@out;
--- ws_response_like
\Abefore: 0 0 0 0 0 0
subscribe 0@0
p0 0=m1
p0 1=m2
p0 2=m3
produce p0@3 ts=\d+
produce p0@4 ts=\d+
error code=404
p0 3=p2
p0 4=p3
commit
error code=400
subscribed: 5 1 2 1 1 1
subscribe ended 0@5
after: 5 0 2 1 1 1\z



=== TEST 12: the cluster's series move with what clients do: broker connections up, then down with the broker; partitions, readers, window, waiters, messages read, fetches
--- timeout: 30
--- config eval
$::LISTEN . <<'EOF';
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property statistics.interval.ms 100;
        pubsub_kafka_fetch_max_wait 10s;
    }
EOF
--- kafka
topic: mv 1
produce_n mv 0 20 m
--- ws_path: /kafka
--- no_check_alerts
--- error_log
brokers are down
--- no_error_log
[crit]
--- ws_code
my $k = sub { "pubsub_kafka_$_[0]\{cluster=\"" . kafka_brokers() . '"}' };
my @moving = qw(partitions readers window_messages window_bytes
                window_memory_bytes waiters messages_read_total fetches_total);
my $m = scrape();
my @out = ('before: ' . join ' ', map { v($m, $k->($_)) } @moving);
$ws->send_req(sequence => 1, cmd_kafka_fetch =>
              { topic => 'mv', partition => 0, offset => 0 });
my $r = $ws->recv_resp;
push @out, 'fetched: '
    . (@{ $r->{kafka_fetch_resp}{messages} || [] } ? 'some' : 'none');
# a fetch at the end waits for the next message
$ws->send_req(sequence => 2, cmd_kafka_fetch =>
              { topic => 'mv', partition => 0, offset => 20 });
$m = wait_scrape(sub { v($_[0], $k->('waiters')) >= 1
                       && v($_[0], $k->('brokers_up')) >= 1 }, 10);
push @out, map { my $v = v($m, $k->($_)); "$_: " . ($v > 0 ? 'moved' : $v) }
    'brokers_up', @moving;
push @out, 'window memory holds the window: '
    . (v($m, $k->('window_memory_bytes')) >= v($m, $k->('window_bytes'))
       ? 'yes' : 'no');
push @out, 'brokers_down: ' . v($m, $k->('brokers_down'));
mock_cmd('down 1');
$m = wait_scrape(sub { v($_[0], $k->('brokers_down')) >= 1 }, 15);
push @out, 'broker down: '
    . (v($m, $k->('brokers_down')) >= 1 ? 'counted' : 'not counted');
mock_cmd('up 1');
$m = wait_scrape(sub { v($_[0], $k->('brokers_down')) == 0 }, 15);
push @out, 'broker up again: '
    . (v($m, $k->('brokers_down')) == 0 ? 'counted' : 'not counted');
\@out;
--- ws_response
before: 0 0 0 0 0 0 0 0
fetched: some
brokers_up: moved
partitions: moved
readers: moved
window_messages: moved
window_bytes: moved
window_memory_bytes: moved
waiters: moved
messages_read_total: moved
fetches_total: moved
window memory holds the window: yes
brokers_down: 0
broker down: counted
broker up again: counted
