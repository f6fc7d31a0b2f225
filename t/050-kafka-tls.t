# TLS to Kafka: pubsub_kafka_ssl, pubsub_kafka_ssl_verify,
# pubsub_kafka_ssl_trusted_certificate and mutual TLS with
# pubsub_kafka_ssl_certificate/_key.
#
# The mock cluster speaks PLAINTEXT only, so each block puts the harness's
# TLS front (tools/kafka_front.py, "front: ssl" in --- kafka) before it: the
# brokers advertise 127.0.0.2:PORT while listening on 127.0.0.1:PORT, and
# the front on 127.0.0.2:PORT terminates TLS, so every broker connection
# (bootstrap and the brokers learned from Metadata) is a TLS one.  The
# certificates are made by the harness at test time ($TEST_NGINX_KAFKA_*).
#
# Locations meant to fail have "pubsub_kafka_timeout 1s" (the client's
# error comes within it); the others 5s, a bound on look-ups and on fetches
# of existing messages that only matters under valgrind, where setting up
# TLS and SASL can take a second.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time);

our $KAFKA = <<'EOF';
front: ssl
produce_n test-consumer 0 30 testmsg
EOF

my %DEFAULTS = (
    kafka        => $KAFKA,
    ws_path      => '/kafka',
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

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

# List offset -1 and fetch at 0 of test-consumer p0 (APISIX's TEST 5).
sub list_and_fetch {
    my ($ws, $partition, $prefix) = @_;
    $partition //= 0;
    $prefix //= 'testmsg';
    my $list = command($ws, cmd_kafka_list_offset =>
        topic => 'test-consumer', partition => $partition, timestamp => -1);
    my $fetch = command($ws, cmd_kafka_fetch =>
        topic => 'test-consumer', partition => $partition, offset => 0);
    $fetch =~ s/^(fetch 0="\Q$prefix\E1").*/$1/;
    return "$list\n$fetch";
}

# A list offset that must fail; "TIME_OK" when the answer came within
# $limit seconds (the timeout and a margin), then the error text.
sub failing_list_offset {
    my ($ws, $limit) = @_;
    $limit *= 3 if use_valgrind();
    my $t0 = time;
    my $answer = command($ws, cmd_kafka_list_offset =>
        topic => 'test-consumer', partition => 0, timestamp => -1);
    my $took = time - $t0;
    return ($took <= $limit ? 'TIME_OK' : sprintf('took %.1f s', $took))
        . "\n$answer";
}

run_tests();

__DATA__

=== TEST 1: TLS, verification off: list offset and fetch work (APISIX kafka.t TEST 5)
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_verify off;
    }
--- ws_code
[ list_and_fetch($ws), kafka_front_log() =~ /: tls ok$/m ? 'front: tls ok'
                                                         : 'front: no TLS' ]
--- ws_response
list_offset offset=30
fetch 0="testmsg1"
front: tls ok
--- no_error_log
[error]



=== TEST 2: TLS, verification on without the CA: ErrorResp within the timeout, "certificate verify failed" (APISIX kafka.t TEST 6)
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
    }
--- ws_code
failing_list_offset($ws, 3);
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"\z
--- error_log
certificate verify failed



=== TEST 3: TLS, verification on with the CA: works, for every broker of three (bootstrap and advertised ones all through the front)
--- kafka
brokers: 3
front: ssl
topic: test-consumer 3
leader test-consumer 0 1
leader test-consumer 1 2
leader test-consumer 2 3
produce_n test-consumer 0 30 testmsg
produce_n test-consumer 1 5 one-
produce_n test-consumer 2 5 two-
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_verify on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
    }
--- ws_code
my @out = (list_and_fetch($ws, 0), list_and_fetch($ws, 1, 'one-'),
           list_and_fetch($ws, 2, 'two-'));
my %ports = map { $_ => 1 } kafka_front_log() =~ /:(\d+) #\d+: tls ok$/mg;
[ @out, 'front: ' . scalar(keys %ports) . ' broker ports' ];
--- ws_response
list_offset offset=30
fetch 0="testmsg1"
list_offset offset=5
fetch 0="one-1"
list_offset offset=5
fetch 0="two-1"
front: 3 broker ports
--- no_error_log
[error]



=== TEST 4: TLS, verification on with a CA that did not sign the broker's certificate: fails
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_OTHER_CA;
    }
--- ws_code
failing_list_offset($ws, 3);
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"\z
--- error_log
certificate verify failed



=== TEST 5: mutual TLS: with the client certificate it works, and the front saw it
--- kafka
front: ssl mtls
produce_n test-consumer 0 30 testmsg
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
        pubsub_kafka_ssl_certificate_key $TEST_NGINX_KAFKA_CLIENT_KEY;
    }
--- ws_code
[ list_and_fetch($ws),
  kafka_front_log() =~ /tls ok, client certificate CN=nginx-client$/m
      ? 'front: client certificate CN=nginx-client' : 'front: none' ]
--- ws_response
list_offset offset=30
fetch 0="testmsg1"
front: client certificate CN=nginx-client
--- no_error_log
[error]



=== TEST 6: mutual TLS: without a client certificate the broker refuses: ErrorResp, "certificate required"
--- kafka
front: ssl mtls
produce_n test-consumer 0 30 testmsg
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
    }
--- ws_code
[ failing_list_offset($ws, 3),
  wait_kafka_front_log('peer did not return a certificate', 1)
      ? 'front: no client certificate' : 'front: ?' ]
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"
front: no client certificate\z
--- error_log
certificate required



=== TEST 7: plaintext client against the TLS broker: ErrorResp, librdkafka's hint
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 1s;
        pubsub_kafka_property fetch.wait.max.ms 10;
    }
--- ws_code
failing_list_offset($ws, 3);
--- ws_response_like
\ATIME_OK
error code=0 message="failed to list offset, topic: test-consumer, partition: 0, err: _[A-Z_]+"\z
--- error_log
Disconnected while requesting ApiVersion
