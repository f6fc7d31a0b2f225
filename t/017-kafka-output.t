# A client that asks for much and reads nothing: the answers the backend
# sends later (not in reply to a read, so reading less does not help)
# overflow pubsub_output_queue_size and the connection is closed; the
# worker and other clients carry on.

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port);

# a second server whose small send buffer fills with little data
$ENV{TEST_NGINX_SLOW_PORT} = free_port();

run_tests();

__DATA__

=== TEST 1: fetch answers for a client that does not read overflow the queue
--- kafka
produce_n big 0 20 m size=50000
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_SLOW_PORT sndbuf=16k;
        location = /kafka {
            pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
            pubsub_kafka_property fetch.wait.max.ms 10;
            pubsub_kafka_fetch_max_wait 3s;
            pubsub_output_queue_size 64k;
        }
    }
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_fetch_max_wait 3s;
    }
--- ws_path: /kafka
--- timeout: 10
--- ws_code
my @out;
my $slow = ws_connect(port => $ENV{TEST_NGINX_SLOW_PORT}, path => '/kafka');
my $burst = join '', map {
    ws_binary(pb_req(sequence => $_,
                     cmd_kafka_fetch => { topic => 'big', partition => 0,
                                          offset => 0 }))
} 1 .. 20;
$slow->send($burst);
push @out, wait_error_log('pubsub: client does not read, output queue over '
                          . '65536 bytes, closing connection', 10)
           ? 'logged' : 'not logged';
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
logged
seq=99 offset 19, 50000 bytes
--- error_log
pubsub: client does not read, output queue over 65536 bytes, closing connection
--- no_error_log
[error]
