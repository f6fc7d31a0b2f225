# wss://: a pubsub location in a server with "listen ... ssl" works
# unchanged (the WebSocket layer writes through c->send_chain, which is
# TLS-transparent).  The harness's client speaks TLS with --- ws_tls or
# ws_connect(tls => 1), to $TEST_NGINX_TLS_PORT, verifying nginx's
# certificate (made at test time, $TEST_NGINX_KAFKA_SERVER_CERT) against
# the test CA for the name localhost.
#
# Locations meant to fail have "pubsub_kafka_timeout 1s" (the client's
# error comes within it); the others 5s, a bound on look-ups and on fetches
# of existing messages that only matters under valgrind, where setting up
# TLS and SASL can take a second.

use lib 't/lib';
use Test::PubSub;

# The harness's server{} gets a second listener, with TLS.
our $TLS = <<'EOF';
    listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;
    ssl_certificate $TEST_NGINX_KAFKA_SERVER_CERT;
    ssl_certificate_key $TEST_NGINX_KAFKA_SERVER_KEY;

EOF

our $KAFKA = <<'EOF';
produce_n test-consumer 0 30 testmsg
EOF

our $SEQ = 100;

# One command; its answer rendered without "seq=N ".
sub command {
    my ($ws, $cmd, %args) = @_;
    my $seq = ++$SEQ;
    $ws->send_req(sequence => $seq, $cmd => \%args);
    my $line = $ws->recv_line;
    $line =~ s/^seq=$seq // or die "want seq=$seq, got: $line\n";
    return $line;
}

# Fetches test-consumer p0 from 0 on until $n messages came; the values
# (dies on a gap).
sub fetch_all {
    my ($ws, $n) = @_;
    my @values;
    my $tries = 0;
    while (@values < $n) {
        die "no progress at " . scalar(@values) . "\n" if ++$tries > 100;
        my $seq = ++$SEQ;
        $ws->send_req(sequence => $seq, cmd_kafka_fetch =>
            { topic => 'test-consumer', partition => 0,
              offset => scalar @values });
        my $r = $ws->recv_resp;
        die "seq $r->{sequence}, want $seq\n" unless $r->{sequence} == $seq;
        my $f = $r->{kafka_fetch_resp}
            or die 'not a fetch response: '
                   . pb_resp_render(pb_resp_encode($r)) . "\n";
        for my $m (@{ $f->{messages} }) {
            die "offset $m->{offset}, want " . scalar(@values) . "\n"
                unless $m->{offset} == @values;
            push @values, $m->{value};
        }
    }
    return @values;
}

# sections a block does not have get these (after the variables above are
# set: blocks() runs the eval sections)
my %DEFAULTS = (
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

=== TEST 1: control: the harness's TLS client through nginx's own WebSocket proxy (proxy_pass to the plain listener)
--- kafka
produce_n test-consumer 0 30 big- size=3000
--- config eval
$::TLS . <<'EOF'
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_timeout 5s;
    }
    location = /proxied {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/kafka;
        proxy_http_version 1.1;
        proxy_set_header Upgrade websocket;
        proxy_set_header Connection upgrade;
    }
EOF
--- ws_tls
--- ws_path: /proxied
--- ws_code
my @values = fetch_all($ws, 30);
$ws->send_req(sequence => 1, cmd_ping => { state => 'proxied' });
[ $ws->recv_line, scalar(@values) . ' messages' ]
--- ws_response
seq=1 pong state="proxied"
30 messages



=== TEST 2: wss: ping, list offset and fetch over TLS
--- config eval
$::TLS . <<'EOF'
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_timeout 5s;
    }
EOF
--- ws_tls
--- ws_request eval
[ ws_binary(pb_req(sequence => 1, cmd_ping => { state => 'tls' })),
  ws_binary(pb_req(sequence => 2, cmd_kafka_list_offset =>
    { topic => 'test-consumer', partition => 0, timestamp => -1 })),
  ws_binary(pb_req(sequence => 3, cmd_kafka_fetch =>
    { topic => 'test-consumer', partition => 0, offset => 29 })) ]
--- ws_code
# answered as they complete: in sequence order for the comparison
[ sort map { $ws->recv_line } 1 .. 3 ]
--- ws_response
seq=1 pong state="tls"
seq=2 list_offset offset=30
seq=3 fetch 29="testmsg30"



=== TEST 3: wss: the handshake really is TLS (the client saw nginx's certificate), and plain ws on the other port still works
--- config eval
$::TLS . <<'EOF'
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_timeout 5s;
    }
EOF
--- ws_code
my $wss = ws_connect(path => '/kafka', tls => 1);
my $cert = $wss->sock->peer_certificate('subject') // 'none';
my $alt = join ',', map { ref $_ ? '' : $_ }
    $wss->sock->peer_certificate('subjectAltNames');
[ "peer: $cert", command($wss, cmd_kafka_list_offset =>
      topic => 'test-consumer', partition => 0, timestamp => -2),
  command($ws, cmd_kafka_list_offset =>
      topic => 'test-consumer', partition => 0, timestamp => -1) ]
--- ws_response
peer: /CN=localhost
list_offset offset=0
list_offset offset=30



=== TEST 4: wss: answers larger than a TLS record (30 messages of 3000 bytes, fetched on to the end) arrive whole
--- kafka
produce_n test-consumer 0 30 big- size=3000
--- config eval
$::TLS . <<'EOF'
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_timeout 5s;
    }
EOF
--- ws_code
my $wss = ws_connect(path => '/kafka', tls => 1);
my @values = fetch_all($wss, 30);
my @bad = grep { $values[$_] !~ /^big-\Q@{[$_ + 1]}\E\.+$/
                 || length $values[$_] != 3000 } 0 .. $#values;
[ scalar(@values) . ' messages', @bad ? "bad: @bad" : 'all 3000 bytes' ]
--- ws_response
30 messages
all 3000 bytes



=== TEST 5: wss to nginx and TLS with SASL (SCRAM-SHA-512) to Kafka: TLS on both sides
--- kafka
front: sasl_ssl SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config eval
$::TLS . <<'EOF'
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_sasl_mechanism SCRAM-SHA-512;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
EOF
--- ws_tls
--- ws_code
my @values = fetch_all($ws, 30);
[ "$values[0] .. $values[-1]",
  kafka_front_log() =~ /auth ok: SCRAM-SHA-512 user alice$/m
      ? 'front: auth ok' : 'front: no auth' ]
--- ws_response
testmsg1 .. testmsg30
front: auth ok
