# Configuration of the Kafka backend: what "nginx -t" refuses, and why.

use lib 't/lib';
use Test::PubSub;

run_tests();

__DATA__

=== TEST 1: unknown librdkafka property
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_property foo.bar 1;
    }
--- error_log
invalid Kafka property "foo.bar"



=== TEST 2: property with an invalid value
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_property fetch.wait.max.ms abc;
    }
--- error_log
invalid Kafka property "fetch.wait.max.ms"



=== TEST 3: invalid property at server level
--- must_die
--- config
    pubsub_kafka_property queued.max.messages.kbytes -5;
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
    }
--- error_log
invalid Kafka property "queued.max.messages.kbytes"



=== TEST 4: the brokers cannot be set as a property
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_property bootstrap.servers x;
    }
--- error_log
cannot set the brokers



=== TEST 5: nor under their other name
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_property metadata.broker.list 127.0.0.1:9093;
    }
--- error_log
cannot set the brokers



=== TEST 6: URL of another scheme
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass http://x;
    }
--- error_log
invalid URL "http://x"



=== TEST 7: URL with nothing after the scheme
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://;
    }
--- error_log
invalid URL



=== TEST 8: a broker without a port in a list
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://a:1,b;
    }
--- error_log
invalid Kafka broker "b"



=== TEST 9: broker ports out of range
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://a:0;
    }
--- error_log
invalid Kafka broker "a:0"



=== TEST 10: broker port above 65535
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://a:1,b:65536;
    }
--- error_log
invalid Kafka broker "b:65536"



=== TEST 11: a name without an upstream block
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://nope;
    }
--- error_log
no upstream "nope" with servers



=== TEST 12: an upstream server without a port
--- must_die
--- http_config
    upstream kafka_up {
        server 127.0.0.1;
    }
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://kafka_up;
    }
--- error_log
has no port



=== TEST 13: pubsub_kafka_timeout 0
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_timeout 0;
    }
--- error_log
"pubsub_kafka_timeout" must not be 0



=== TEST 14: pubsub_kafka_pass twice
--- must_die
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://127.0.0.1:9092;
        pubsub_kafka_pass kafka://127.0.0.1:9093;
    }
--- error_log
"pubsub_kafka_pass" directive is duplicate



=== TEST 15: a valid configuration with all of it is accepted (control)
--- http_config
    upstream kafka_up {
        server 127.0.0.1:9092;
        server 127.0.0.1:9093;
    }
    pubsub_kafka_property client.id gateway;
    pubsub_kafka_timeout 2s;
--- config
    pubsub_kafka_fetch_max_bytes 64k;
    location = /a {
        pubsub_kafka_pass kafka://kafka_up;
        pubsub_kafka_fetch_max_wait 50ms;
    }
    location = /b {
        pubsub_kafka_pass kafka://127.0.0.1:9092,localhost:9093;
        pubsub_kafka_property fetch.wait.max.ms 10;
        pubsub_kafka_buffer_size 1m;
    }
    location = /status {
        pubsub_kafka_status;
    }
--- request
GET /status
--- response_body_like
^\{"pid":\d+,"websockets":0,"clients":\[\{"brokers":"127\.0\.0\.1:9092,127\.0\.0\.1:9093",.*\},\{"brokers":"127\.0\.0\.1:9092,localhost:9093",.*\}\]\}\r?\n$
--- no_error_log
[emerg]



=== TEST 16: an upstream server's weight means nothing to Kafka
--- must_die
--- http_config
    upstream kafka_up {
        server 127.0.0.1:9092 weight=2;
    }
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://kafka_up;
    }
--- error_log
Kafka broker "127.0.0.1:9092" in upstream "kafka_up": "weight" means nothing to Kafka



=== TEST 17: nor does a backup server
--- must_die
--- http_config
    upstream kafka_up {
        server 127.0.0.1:9092;
        server 127.0.0.1:9093 backup;
    }
--- config
    location = /kafka {
        pubsub_kafka_pass kafka://kafka_up;
    }
--- error_log
Kafka broker "127.0.0.1:9093" in upstream "kafka_up": "backup" means nothing to Kafka
