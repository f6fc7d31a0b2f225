# Configuration of TLS and SASL to Kafka: misconfigurations fail "nginx -t"
# with a clear message; secrets (passwords, the client key) never reach any
# log, librdkafka's "debug all" output included; the settings are inherited
# and are part of the Kafka client's identity (different credentials,
# different client; identical settings, one shared client); the directives
# win over pubsub_kafka_property.
#
# Locations meant to fail have "pubsub_kafka_timeout 1s" (the client's
# error comes within it); the others 5s, a bound on look-ups and on fetches
# of existing messages that only matters under valgrind, where setting up
# TLS and SASL can take a second.

use lib 't/lib';
use Test::PubSub;
use JSON::PP ();

# The base64 lines of the test client key (its secret part).
sub key_body {
    open my $fh, '<', kafka_certs()->{client_key} or die "client key: $!";
    my @lines = grep { !/^-----/ && /\S/ } <$fh>;
    chomp @lines;
    return @lines;
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

sub list_offset {
    my ($path) = @_;
    my $ws = ws_connect(path => $path);
    return "$path: " . command($ws, cmd_kafka_list_offset =>
        topic => 'test-consumer', partition => 0, timestamp => -1);
}

# The Kafka clients of the worker (/status).
sub clients {
    my $r = http_get('/status');
    die "status: " . ($r->{error} // $r->{status}) . "\n"
        unless ($r->{status} // 0) == 200;
    my $s = JSON::PP::decode_json($r->{body});
    return (scalar @{ $s->{clients} }, $r->{body});
}

run_tests();

__DATA__

=== TEST 1: PLAIN without a password fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_username alice;
    }
--- must_die
--- error_log
"pubsub_kafka_sasl_mechanism PLAIN" needs "pubsub_kafka_sasl_username" and "pubsub_kafka_sasl_password"



=== TEST 2: SCRAM-SHA-512 without a user name (the password inherited from the server level) fails nginx -t
--- config
    pubsub_kafka_sasl_password alice-secret;

    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism SCRAM-SHA-512;
    }
--- must_die
--- error_log
"pubsub_kafka_sasl_mechanism SCRAM-SHA-512" needs "pubsub_kafka_sasl_username" and "pubsub_kafka_sasl_password"
--- no_error_log
alice-secret



=== TEST 3: an unknown mechanism fails nginx -t, naming the valid ones (and not the password)
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism SCRAM-SHA-1;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
--- must_die
--- error_log
unknown "pubsub_kafka_sasl_mechanism" "SCRAM-SHA-1": it must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or OAUTHBEARER
--- no_error_log
alice-secret



=== TEST 4: a certificate file that does not exist fails nginx -t (relative names are relative to the configuration prefix)
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate x.pem;
    }
--- must_die
--- error_log eval
[ qr{open\(\) "[^"]*/conf/x\.pem" failed \(2: No such file or directory\)} ]



=== TEST 5: a key file that is not PEM (the bare base64 of a key) fails nginx -t, without its contents in the output
--- user_files eval
[ [ 'key-body.txt', join("\n", main::key_body()) . "\n" ] ]
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
        pubsub_kafka_ssl_certificate_key $TEST_NGINX_HTML_DIR/key-body.txt;
    }
--- must_die
--- error_log eval
[ qr{"[^"]*/html/key-body\.txt" is not a PEM file} ]
--- no_error_log eval
[ main::key_body() ]



=== TEST 6: a client certificate without its key fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
    }
--- must_die
--- error_log
"pubsub_kafka_ssl_certificate" and "pubsub_kafka_ssl_certificate_key" go together



=== TEST 7: a client key without its certificate (inherited from the http level) fails nginx -t
--- http_config
    pubsub_kafka_ssl_certificate_key $TEST_NGINX_KAFKA_CLIENT_KEY;
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl on;
    }
--- must_die
--- error_log
"pubsub_kafka_ssl_certificate" and "pubsub_kafka_ssl_certificate_key" go together



=== TEST 8: a trusted certificate without "pubsub_kafka_ssl on" fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
    }
--- must_die
--- error_log
certificates for Kafka need "pubsub_kafka_ssl on"



=== TEST 9: a client certificate and key with "pubsub_kafka_ssl off" fail nginx -t
--- config
    pubsub_kafka_ssl on;

    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl off;
        pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
        pubsub_kafka_ssl_certificate_key $TEST_NGINX_KAFKA_CLIENT_KEY;
    }
--- must_die
--- error_log
certificates for Kafka need "pubsub_kafka_ssl on"



=== TEST 10: GSSAPI needs no user name or password: nginx starts with only the Kerberos settings
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_sasl_mechanism GSSAPI;
        pubsub_kafka_sasl_kerberos_service_name kafka;
        pubsub_kafka_sasl_kerberos_principal nginx@EXAMPLE.COM;
        pubsub_kafka_sasl_kerberos_keytab /etc/nginx/nginx.keytab;
    }
--- request
GET /kafka
--- error_code: 400
--- error_log
pubsub: kafka client for



=== TEST 11: secrets never reach the log: SASL PLAIN over mutual TLS, right and wrong password, librdkafka "debug all", error_log debug, the status page
--- kafka
front: sasl_ssl PLAIN,SCRAM-SHA-256 user=alice:alice-secret mtls
produce_n test-consumer 0 30 testmsg
--- config
    pubsub_kafka_timeout 5s;
    pubsub_kafka_property debug all;
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_ssl on;
    pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
    pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
    pubsub_kafka_ssl_certificate_key $TEST_NGINX_KAFKA_CLIENT_KEY;
    pubsub_kafka_sasl_username alice;

    location = /plain {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /scram {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_sasl_mechanism SCRAM-SHA-256;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /wrong {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_password wrong-Pa55word;
        pubsub_kafka_timeout 1s;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- ws_path: /plain
--- ws_code
my @out = (list_offset('/plain'), list_offset('/scram'),
           list_offset('/wrong') =~ s/ message=.*/ .../r);
my ($n, $status) = clients();
push @out, "clients: $n";
my $stderr = do {
    local $/;
    open my $fh, '<', servroot() . '/logs/stderr.log';
    $fh ? <$fh> : '';
};
my @secrets = ('alice-secret', 'wrong-Pa55word', key_body());
push @out, 'status: ' . ((grep { index($status, $_) >= 0 } @secrets)
                         ? 'has a secret' : 'no secret');
push @out, 'stderr: ' . ((grep { index($stderr, $_) >= 0 } @secrets)
                         ? 'has a secret' : 'no secret');
push @out, 'debug: ' . (error_log_text() =~ /SASLPLAIN|SASL/ ? 'on' : 'off');
\@out;
--- ws_response
/plain: list_offset offset=30
/scram: list_offset offset=30
/wrong: error code=0 ...
clients: 3
status: no secret
stderr: no secret
debug: on
--- error_log
SASL authentication error
sasl.password = [redacted]
ssl.key.pem = [redacted]
--- no_error_log eval
[ 'alice-secret', 'wrong-Pa55word', main::key_body() ]



=== TEST 12: sharing: locations inheriting the same credentials share one Kafka client, other credentials for the same brokers get their own; each authenticates as its user
--- kafka
front: sasl_plaintext PLAIN user=alice:alice-secret user=bob:bob-secret
produce_n test-consumer 0 30 testmsg
--- config
    pubsub_kafka_timeout 5s;
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_sasl_mechanism PLAIN;
    pubsub_kafka_sasl_username alice;
    pubsub_kafka_sasl_password alice-secret;

    location = /alice1 {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /alice2 {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
    location = /bob {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_sasl_username bob;
        pubsub_kafka_sasl_password bob-secret;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- ws_path: /alice1
--- ws_code
my @out = map { list_offset($_) } qw(/alice1 /alice2 /bob);
my ($n) = clients();
my $front = kafka_front_log();
push @out, "clients: $n";
push @out, join ' ', map { $front =~ /auth ok: PLAIN user $_$/m ? $_ : "no $_" }
    qw(alice bob);
\@out;
--- ws_response
/alice1: list_offset offset=30
/alice2: list_offset offset=30
/bob: list_offset offset=30
clients: 2
alice bob
--- no_error_log
[error]



=== TEST 13: identity: the same settings written out in two locations share a client; another password, another mechanism or verification off make separate ones
--- kafka
front: sasl_ssl PLAIN,SCRAM-SHA-512 user=alice:alice-secret
produce_n test-consumer 0 30 testmsg
--- config
    pubsub_kafka_timeout 5s;
    pubsub_kafka_property fetch.wait.max.ms 10;

    location = /a {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /a-again {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /a-scram {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_sasl_mechanism SCRAM-SHA-512;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /a-noverify {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_verify off;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password alice-secret;
    }
    location = /a-wrong {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
        pubsub_kafka_sasl_mechanism PLAIN;
        pubsub_kafka_sasl_username alice;
        pubsub_kafka_sasl_password not-alice-secret;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- ws_path: /a
--- ws_code
my @out = map { list_offset($_) } qw(/a /a-again /a-scram /a-noverify);
my ($n) = clients();
push @out, "clients: $n";
\@out;
--- ws_response
/a: list_offset offset=30
/a-again: list_offset offset=30
/a-scram: list_offset offset=30
/a-noverify: list_offset offset=30
clients: 4



=== TEST 14: the directives win over pubsub_kafka_property: security.protocol plaintext and verification settings given as properties are overridden by pubsub_kafka_ssl and pubsub_kafka_ssl_verify
--- kafka
front: ssl
produce_n test-consumer 0 30 testmsg
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_timeout 5s;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_property security.protocol plaintext;
        pubsub_kafka_property enable.ssl.certificate.verification false;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_trusted_certificate $TEST_NGINX_KAFKA_CA;
    }
--- ws_path: /kafka
--- ws_code
[ list_offset('/kafka'),
  kafka_front_log() =~ /: tls ok$/m ? 'front: tls ok' : 'front: no TLS' ]
--- ws_response
/kafka: list_offset offset=30
front: tls ok
--- no_error_log
[error]



=== TEST 15: a client key that is not the certificate's fails nginx -t, not the workers
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_ssl on;
        pubsub_kafka_ssl_certificate $TEST_NGINX_KAFKA_CLIENT_CERT;
        pubsub_kafka_ssl_certificate_key $TEST_NGINX_KAFKA_SERVER_KEY;
    }
--- must_die
--- error_log eval
[ qr{"[^"]*" is not the key of "[^"]*"} ]
--- no_error_log eval
[ main::key_body() ]



=== TEST 16: GSSAPI without a keytab (nor a kinit command) fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism GSSAPI;
        pubsub_kafka_sasl_kerberos_principal nginx@EXAMPLE.COM;
    }
--- must_die
--- error_log
"pubsub_kafka_sasl_mechanism GSSAPI" needs "pubsub_kafka_sasl_kerberos_keytab"



=== TEST 17: OAUTHBEARER without a token source fails nginx -t
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism OAUTHBEARER;
    }
--- must_die
--- error_log
"pubsub_kafka_sasl_mechanism OAUTHBEARER" needs a token source



=== TEST 18: a Kafka client librdkafka refuses in the worker does not take nginx down
# sasl.kerberos.kinit.cmd with a placeholder of an unset property passes
# librdkafka's property check but fails rd_kafka_new() in the worker: its
# locations answer with an error, the rest of nginx serves on.
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_sasl_mechanism GSSAPI;
        pubsub_kafka_property sasl.kerberos.kinit.cmd "kinit -t %{sasl.kerberos.keytab}";
    }
    location = /ws {
        pubsub;
    }
--- ws_path: /kafka
--- ws_code
$ws->send_req(sequence => 1, cmd_kafka_list_offset => { topic => 't',
                                                        partition => 0,
                                                        timestamp => -1 });
my @out = ($ws->recv_line);
my $ping = ws_connect(path => '/ws');
$ping->send_req(sequence => 2, cmd_ping => { state => 'up' });
push @out, $ping->recv_line;
return \@out;
--- ws_response
seq=1 error code=0 message="failed to list offset, topic: t, partition: 0, err: kafka client not started"
seq=2 pong state="up"
--- error_log
pubsub: kafka client for "127.0.0.1:9092" not started
--- no_check_alerts
