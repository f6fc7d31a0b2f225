package Test::PubSub::Push;

# Helpers for the tests of the extension's commands: subscribe and read
# what a subscription pushes, in order and checked, one line per message.

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time);

use Test::PubSub::Proto qw(pb_resp_encode pb_resp_render escape_bytes);

our @EXPORT_OK = qw(
    subscribe push_messages push_until sub_answer render_resp
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

# Sends CmdKafkaSubscribe and returns its first answer, rendered.
sub subscribe {
    my ($ws, $seq, %args) = @_;
    $ws->send_req(sequence => $seq, cmd_kafka_subscribe => \%args);
    my $r = $ws->recv_resp;
    die "seq $r->{sequence}, want $seq: " . render_resp($r) . "\n"
        unless $r->{sequence} == $seq;
    return render_resp($r);
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
        last if $left <= 0;
        my $f = $ws->recv_frame($left);
        last unless defined $f;
        die "eof after $count messages\n" unless ref $f;
        my $r = Test::PubSub::Proto::pb_resp_decode($f->{payload});
        die "not a response\n" unless $r;
        if ($r->{sequence} != $seq) {
            die 'answer of sequence ' . $r->{sequence} . ': '
                . render_resp($r) . "\n" unless $opt{others};
            push @{ $opt{others} }, "seq=$r->{sequence} " . render_resp($r);
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
    return \@lines;
}

1;
