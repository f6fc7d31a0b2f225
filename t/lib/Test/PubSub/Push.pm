package Test::PubSub::Push;

# Helpers for the tests of the extension's commands: subscribe and read
# what a subscription pushes, in order and checked, one line per message.

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time);

use Test::PubSub::Proto qw(pb_resp_encode pb_resp_render escape_bytes);

our @EXPORT_OK = qw(
    subscribe push_messages sub_answer render_resp
    message_line
);

# "seq=N ..." of a decoded response, without the sequence
sub render_resp {
    my ($r) = @_;
    return pb_resp_render(pb_resp_encode($r)) =~ s/^seq=-?\d+ //r;
}

# "p0 14=value", "p1 3[key]{h=v}=value"
sub message_line {
    my ($m) = @_;
    my $line = "p$m->{partition} $m->{offset}";
    $line .= '[' . escape_bytes($m->{key}) . ']' if length $m->{key};
    if (@{ $m->{headers} }) {
        $line .= '{' . join(',', map {
            escape_bytes($_->{key}) . '=' . escape_bytes($_->{value})
        } @{ $m->{headers} }) . '}';
    }
    return $line . '=' . escape_bytes($m->{value});
}

# Answers of other sequences read while waiting for one: kept in the
# connection's own object (not in a table keyed by its address, which a
# later connection may get), for push_messages and sub_answer to read
# first.

sub _next_resp {
    my ($ws, $timeout) = @_;
    my $stash = $ws->{pushed_stash} ||= [];
    return shift @$stash if @$stash;
    my $f = $ws->recv_frame($timeout);
    return undef unless defined $f;
    die "eof\n" unless ref $f;
    my $r = Test::PubSub::Proto::pb_resp_decode($f->{payload});
    die "not a response\n" unless $r;
    return $r;
}

# The next answer with sequence $seq (others are kept for later).
sub sub_answer {
    my ($ws, $seq, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my @other;
    for (;;) {
        my $r = _next_resp($ws, $deadline - time);
        unless ($r) {
            unshift @{ $ws->{pushed_stash} }, @other;
            die "no answer of sequence $seq\n";
        }
        if ($r->{sequence} == $seq) {
            unshift @{ $ws->{pushed_stash} }, @other;
            return $r;
        }
        push @other, $r;
    }
}

# Sends CmdKafkaSubscribe and returns its first answer, rendered.
sub subscribe {
    my ($ws, $seq, %args) = @_;
    $ws->send_req(sequence => $seq, cmd_kafka_subscribe => \%args);
    return render_resp(sub_answer($ws, $seq));
}

# The messages subscription $seq pushes until $n came (or $timeout
# seconds passed): message lines, and "subscribe ..." lines for other
# answers of the subscription.  Dies on an answer of another sequence
# (unless $opt{others} collects them), on a message out of order or
# twice within its partition.
sub push_messages {
    my ($ws, $seq, $n, %opt) = @_;
    my $timeout = $opt{timeout} // 5;
    my $deadline = time + $timeout;
    my (@lines, %next);
    my $count = 0;
    while ($count < $n) {
        my $left = $deadline - time;
        last if $left <= 0 && !@{ $ws->{pushed_stash} || [] };
        my $r = _next_resp($ws, $left > 0 ? $left : 0);
        last unless $r;
        if ($r->{sequence} != $seq) {
            if ($opt{others}) {
                push @{ $opt{others} },
                    "seq=$r->{sequence} " . render_resp($r);
            }
            else {
                $opt{keep} ? push(@{ $opt{kept} }, $r)
                           : die 'answer of sequence ' . $r->{sequence}
                                 . ': ' . render_resp($r) . "\n";
            }
            next;
        }
        my $fr = $r->{kafka_fetch_resp};
        unless ($fr) {
            push @lines, render_resp($r);
            next;
        }
        die "an empty push\n" unless @{ $fr->{messages} };
        my $part = $fr->{messages}[0]{partition};
        for my $m (@{ $fr->{messages} }) {
            die "partition $m->{partition} in a push of $part\n"
                if $m->{partition} != $part;
            die "p$part offset $m->{offset} after $next{$part}\n"
                if defined $next{$part} && $m->{offset} < $next{$part};
            $next{$part} = $m->{offset} + 1;
            push @lines, message_line($m);
            $count++;
        }
    }
    push @{ $ws->{pushed_stash} }, @{ $opt{kept} || [] };
    return \@lines;
}

1;
