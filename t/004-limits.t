# Limits and timers: a client that does not read (send_timeout, the output
# queue bound), server pings, the idle timeout.
#
# The blocks with a client that never reads connect to a second server
# listening with "sndbuf=16k", so that little data fills the connection.
# (Shrinking the client's SO_RCVBUF after connect, the other way, makes
# Linux drop the segments carrying the server's window updates once the
# buffer overflows: the client's own writes then stall for good, and the
# server never sees the flood.)

use lib 't/lib';
use Test::PubSub;
use Test::PubSub::Util qw(free_port);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(time sleep);

$ENV{TEST_NGINX_SLOW_PORT} = free_port();

# A client that never reads: write pings with $size bytes of state,
# without blocking, until error.log has $log, the server closed or
# $seconds passed.  Returns "logged" when $log is in error.log by then,
# else "closed: ERROR" or "still open".
sub flood {
    my ($ws, $size, $log, $seconds) = @_;
    my $sock = $ws->sock;
    my $deadline = time + $seconds;
    my $check = 0;
    my ($pending, $seq) = ('', 0);
    while (time < $deadline) {
        if (time > $check) {
            my $text = error_log_text();
            return 'logged'
                if ref $log ? $text =~ $log : index($text, $log) >= 0;
            $check = time + 0.05;
        }
        $pending = ws_binary(pb_req(sequence => ++$seq,
            cmd_ping => { state => 'x' x $size })) unless length $pending;
        my $n = syswrite $sock, $pending;
        if (defined $n) {
            substr $pending, 0, $n, '';
            next;
        }
        unless ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
            my $err = "$!";
            return wait_error_log($log, 2) ? 'logged' : "closed: $err";
        }
        sleep 0.01;
    }
    return wait_error_log($log, 0.2) ? 'logged' : 'still open';
}

# Read (and drop) whatever the server sent until EOF; "eof" or "timeout".
sub drain {
    my ($ws, $seconds) = @_;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        my $f = $ws->recv_frame($deadline - time);
        return 'timeout' unless defined $f;
        return 'eof' unless ref $f;
    }
    return 'timeout';
}

run_tests();

__DATA__

=== TEST 1: send_timeout: a client that does not read is closed, nginx stays healthy
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_SLOW_PORT sndbuf=16k;
        location = /ws {
            pubsub;
            pubsub_max_message_size 128k;
            send_timeout 1s;
        }
    }
--- config
    location = /ws {
        pubsub;
    }
--- timeout: 10
--- ws_code
my @out;
my $slow = ws_connect(port => $ENV{TEST_NGINX_SLOW_PORT});
push @out, flood($slow, 60000, 'pubsub: client timed out reading', 8);
push @out, drain($slow, 5);
my $ws2 = ws_connect(port => $ENV{TEST_NGINX_SLOW_PORT});
$ws2->send_req(sequence => 2, cmd_ping => { state => 'healthy' });
push @out, $ws2->recv_line;
return \@out;
--- ws_response
logged
eof
seq=2 pong state="healthy"
--- error_log
client timed out reading
--- no_error_log
[error]
output queue over



=== TEST 2: output queue bound: answers to what was read overflow it
# A client that does not read makes nginx stop reading it once half the
# queue waits (send_timeout then closes it, TEST 1); the bound closes it
# when the answers to requests already read exceed the queue.  Which of the
# two comes first depends on how much the kernel's buffers took, so either
# closes the connection here, within send_timeout.
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_SLOW_PORT sndbuf=16k;
        location = /ws {
            pubsub;
            pubsub_output_queue_size 4k;
            send_timeout 1s;
        }
    }
--- config
    location = /ws {
        pubsub;
    }
--- timeout: 10
--- ws_code
my @out;
my $slow = ws_connect(port => $ENV{TEST_NGINX_SLOW_PORT});
push @out, flood($slow, 1000,
    qr/pubsub: client does not read, output queue over 4096 bytes, closing connection|client timed out reading/,
    5);
push @out, drain($slow, 5);
return \@out;
--- ws_response
logged
eof
--- error_log eval
[qr/output queue over 4096 bytes, closing connection|client timed out reading/]
--- no_error_log
[error]



=== TEST 3: a reader that is merely slow gets everything
--- config
    location = /ws {
        pubsub;
        pubsub_output_queue_size 4k;
    }
--- ws_code
my $n = 0;
my $got = 0;
# 30 KB of responses in all: what the kernel buffers hold for a client
# that reads late, so that only the output queue could be in the way
for my $round (1 .. 10) {
    $ws->send(join '', map {
        ws_binary(pb_req(sequence => ++$n, cmd_ping => { state => 'y' x 1000 }))
    } 1 .. 3);
    sleep 0.01;
}
while ($got < $n) {
    my $r = $ws->recv_resp;
    die "response $got has sequence $r->{sequence}\n"
        unless $r->{sequence} == $got + 1;
    $got++;
}
return "$got responses";
--- ws_response
30 responses
--- no_error_log
[error]
output queue over



=== TEST 4: pubsub_ping_interval: the server pings a silent client
--- config
    location = /ws {
        pubsub;
        pubsub_ping_interval 200ms;
    }
--- ws_response
ping ""
ping ""
ping ""
--- no_error_log
[error]



=== TEST 5: server pings do not get in the way of responses
--- config
    location = /ws {
        pubsub;
        pubsub_ping_interval 100ms;
    }
--- ws_code
my @out;
my $f = $ws->recv_frame(3);
push @out, ref $f ? ws_render($f) : 'none';
$ws->send(ws_pong(''));
$ws->send_req(sequence => 6, cmd_ping => { state => 'between' });
# skip server pings until the response
for (1 .. 20) {
    my $line = $ws->recv_line;
    next if $line eq 'ping ""';
    push @out, $line;
    last;
}
return \@out;
--- ws_response
ping ""
seq=6 pong state="between"
--- no_error_log
[error]



=== TEST 6: no server pings without pubsub_ping_interval
--- config
    location = /ws {
        pubsub;
    }
--- ws_code
return $ws->recv_line(0.5);
--- ws_response
timeout
--- no_error_log
[error]



=== TEST 7: pubsub_idle_timeout: a silent client gets close 1000
--- config
    location = /ws {
        pubsub;
        pubsub_idle_timeout 300ms;
    }
--- ws_response
close 1000
eof
--- error_log
pubsub: client sent nothing for 300 ms, closing
--- no_error_log
[error]



=== TEST 8: pubsub_idle_timeout: a client that keeps sending is not closed
--- config
    location = /ws {
        pubsub;
        pubsub_idle_timeout 300ms;
    }
--- ws_code
my @out;
my $start = time;
my $n = 0;
while (time - $start < 0.6) {
    $n++;
    $ws->send_req(sequence => $n, cmd_ping => { state => "i$n" });
    my $line = $ws->recv_line;
    push @out, $line unless $line eq "seq=$n pong state=\"i$n\"";
    sleep 0.1;
}
push @out, "pings answered" if $n >= 3;
# then silence: closed by the idle timeout
push @out, $ws->recv_lines(2);
return \@out;
--- ws_response
pings answered
close 1000
eof
--- error_log
pubsub: client sent nothing for 300 ms, closing
--- no_error_log
[error]



=== TEST 9: pubsub_idle_timeout: control frames count as activity
--- config
    location = /ws {
        pubsub;
        pubsub_idle_timeout 300ms;
    }
--- ws_code
my @out;
my $start = time;
my $n = 0;
while (time - $start < 0.6) {
    $n++;
    $ws->send(ws_ping("k$n"));
    my $line = $ws->recv_line;
    push @out, $line unless $line eq "pong \"k$n\"";
    sleep 0.1;
}
push @out, "pings answered" if $n >= 3;
return \@out;
--- ws_response
pings answered
--- no_error_log
[error]
client sent nothing



=== TEST 10: idle timeout and server pings together: server pings do not keep it open
--- config
    location = /ws {
        pubsub;
        pubsub_idle_timeout 500ms;
        pubsub_ping_interval 200ms;
    }
--- ws_code
my @out;
for (1 .. 10) {
    my $line = $ws->recv_line;
    next if $line eq 'ping ""';
    push @out, $line;
    last if $line eq 'eof' || $line eq 'timeout';
}
return \@out;
--- ws_response
close 1000
eof
--- error_log
pubsub: client sent nothing for 500 ms, closing
--- no_error_log
[error]
