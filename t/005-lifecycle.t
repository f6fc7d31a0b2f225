# Connection lifecycle: nginx graceful shutdown and reload close open
# WebSockets with 1001, clients that vanish without a close frame.

use lib 't/lib';
use Test::PubSub;
use Time::HiRes qw(time);

run_tests();

__DATA__

=== TEST 1: graceful shutdown: the client gets close 1001, then EOF, promptly
# Under valgrind the harness runs nginx with master_process off, and a
# single-process nginx exits on SIGQUIT without a graceful shutdown
# (ngx_single_process_cycle never closes idle connections): no 1001 to see.
--- no_valgrind
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my @out;
$ws->send_req(sequence => 1, cmd_ping => { state => 'before' });
push @out, $ws->recv_line;
kill 'QUIT', nginx_pid();
# well before any timeout of nginx or the harness
push @out, $ws->recv_lines(3, 3);
return \@out;
--- ws_response
seq=1 pong state="before"
close 1001
eof
--- error_log
gracefully shutting down
--- no_error_log
[error]
without a close frame



=== TEST 2: graceful shutdown with several clients, one in the middle of a message
# Under valgrind the harness runs nginx with master_process off, and a
# single-process nginx exits on SIGQUIT without a graceful shutdown
# (ngx_single_process_cycle never closes idle connections): no 1001 to see.
--- no_valgrind
--- config
    location = /ws {
        pubsub;
        pubsub_ping_interval 10s;
        pubsub_idle_timeout 20s;
    }
--- ws_code
my @out;
my $ws2 = ws_connect();
my $ws3 = ws_connect();
$ws->send_req(sequence => 1, cmd_ping => {});
push @out, $ws->recv_line;
$ws2->send_req(sequence => 2, cmd_ping => {});
push @out, $ws2->recv_line;
# half a message: its first fragment, and half of a frame
my $req = pb_req(sequence => 3, cmd_ping => { state => 'half' });
$ws3->send(ws_binary(substr($req, 0, 4), fin => 0) . ws_ping('sync'));
push @out, $ws3->recv_line;
$ws3->send(substr ws_cont(substr $req, 4), 0, 5);
kill 'QUIT', nginx_pid();
for my $c ($ws, $ws2, $ws3) {
    push @out, join ' ', $c->recv_lines(3, 3);
}
return \@out;
--- ws_response
seq=1 pong state=""
seq=2 pong state=""
pong "sync"
close 1001 eof
close 1001 eof
close 1001 eof
--- no_error_log
[error]
without a close frame



=== TEST 3: reload: the old worker closes with 1001, a new connection works
# nginx_reload needs the master process, which the harness runs only
# without valgrind (master_process off under valgrind)
--- no_valgrind
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my @out;
$ws->send_req(sequence => 1, cmd_ping => { state => 'old' });
push @out, $ws->recv_line;
nginx_reload();
push @out, $ws->recv_lines(3, 3);
my $new = ws_connect();
$new->send_req(sequence => 2, cmd_ping => { state => 'new' });
push @out, $new->recv_line;
return \@out;
--- ws_response
seq=1 pong state="old"
close 1001
eof
seq=2 pong state="new"
--- no_error_log
[error]



=== TEST 4: client disconnects without a close frame
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
$ws->send_req(sequence => 1, cmd_ping => {});
my $line = $ws->recv_line;
$ws->close;
my $logged = wait_error_log('pubsub: client closed connection without a close frame', 3);
return [$line, $logged ? 'logged' : 'not logged'];
--- ws_response
seq=1 pong state=""
logged
--- error_log
pubsub: client closed connection without a close frame
--- no_error_log
[error]
[warn]
invalid websocket frame
timed out



=== TEST 5: client disconnects in the middle of a fragmented message
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my $req = pb_req(sequence => 5, cmd_ping => { state => 'x' x 300 });
$ws->send(ws_binary(substr($req, 0, 100), fin => 0) . ws_ping('sync'));
my $line = $ws->recv_line;
$ws->send(substr ws_cont(substr $req, 100), 0, 50);
$ws->close;
my $logged = wait_error_log('pubsub: client closed connection without a close frame', 3);
return [$line, $logged ? 'logged' : 'not logged'];
--- ws_response
pong "sync"
logged
--- no_error_log
[error]
[warn]
invalid websocket frame



=== TEST 6: client half-closes after its close frame: clean close
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
$ws->send(ws_close(1000));
$ws->shutdown_write;
return [$ws->recv_lines(3)];
--- ws_response
close 1000
eof
--- no_error_log
[error]
[warn]
without a close frame



=== TEST 7: many connections opened and dropped; nginx stays healthy
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
my @conns = map { ws_connect() } 1 .. 20;
my $i = 0;
for my $c (@conns) {
    $i++;
    $c->send_req(sequence => $i, cmd_ping => { state => "c$i" });
    # half of them leave abruptly, half with a close frame
    $c->send(ws_close(1000)) if $i % 2;
}
my @bad;
$i = 0;
for my $c (@conns) {
    $i++;
    my $line = $c->recv_line;
    push @bad, "$i: $line" unless $line eq "seq=$i pong state=\"c$i\"";
    $c->close;
}
$ws->send_req(sequence => 99, cmd_ping => { state => 'still' });
return [@bad, $ws->recv_line];
--- ws_response
seq=99 pong state="still"
--- no_error_log
[error]



=== TEST 8: a WebSocket upgraded after the worker began shutting down
# The connection was accepted before SIGQUIT, its handshake arrives after
# nginx closed its idle connections: it still gets 101, close 1001, EOF,
# and the worker exits without leaving the socket open.
--- no_valgrind
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
use IO::Socket::INET;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => server_port()) or die "$!";
select undef, undef, undef, 0.2;
kill 'QUIT', nginx_pid();
select undef, undef, undef, 0.3;
print $s "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
       . "Connection: Upgrade\r\n"
       . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       . "Sec-WebSocket-Version: 13\r\n\r\n";
my ($all, $buf) = ('');
my $deadline = time + 5;
while (time < $deadline) {
    my $n = sysread $s, $buf, 4096;
    last unless $n;
    $all .= $buf;
}
my @out;
push @out, $all =~ m{^HTTP/1.1 101 } ? '101' : 'no 101';
push @out, $all =~ /\x88[\x02-\x7d]\x03\xe9/ ? 'close 1001' : 'no close';
return \@out;
--- ws_response
101
close 1001
--- no_error_log
[error]
