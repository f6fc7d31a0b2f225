package Test::PubSub::Mock;

# Runs build/pubsub-kafka-mock (librdkafka's mock cluster) for a test block.
#
# Its protocol: started as "pubsub-kafka-mock [--brokers N]
# [--topic NAME:PARTITIONS]...", it prints one line, the bootstrap list
# "127.0.0.1:P1,127.0.0.1:P2,..."; then it reads commands on stdin, one a
# line, and answers each with one line, "ok ..." or "error TEXT".  It exits
# on stdin EOF or SIGTERM.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Handle;
use IO::Select;
use Time::HiRes qw(time);

use Test::PubSub::Util qw(spawn stop_child);

# Parse a "--- kafka" section: "brokers: N" (default 1), "topic: NAME
# PARTITIONS" lines, and commands (every other non-empty line).  Returns
# ($brokers, \@topics as "NAME:PARTITIONS", \@commands).
sub parse_section {
    my ($text) = @_;
    my ($brokers, @topics, @commands) = (1);
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '' || $line =~ /^#/;
        if ($line =~ /^brokers:\s*(\d+)$/) {
            $brokers = $1;
        }
        elsif ($line =~ /^topic:\s*(\S+)\s+(\d+)$/) {
            push @topics, "$1:$2";
        }
        elsif ($line =~ /^topic:/) {
            die "bad kafka line '$line' (want: topic: NAME PARTITIONS)\n";
        }
        else {
            push @commands, $line;
        }
    }
    return ($brokers, \@topics, \@commands);
}

# Test::PubSub::Mock->start(binary => PATH, brokers => N, topics => [...],
# log => FILE (its stderr), timeout => 10): start it and read the bootstrap
# line.  Dies on failure.
sub start {
    my ($class, %opt) = @_;
    my $bin = $opt{binary};
    die "kafka mock $bin is not executable (build it: make)\n" unless -x $bin;

    my @argv = ($bin, '--brokers', $opt{brokers} // 1);
    push @argv, '--topic', $_ for @{ $opt{topics} || [] };

    pipe my $child_in, my $to_child or die "pipe: $!\n";
    pipe my $from_child, my $child_out or die "pipe: $!\n";
    my $pid = spawn(\@argv,
        stdin  => $child_in,
        stdout => $child_out,
        stderr => $opt{log} // '/dev/null',
    );
    close $child_in;
    close $child_out;
    $to_child->autoflush(1);
    $from_child->blocking(0);

    my $self = bless {
        pid     => $pid,
        in      => $to_child,
        out     => $from_child,
        buf     => '',
        timeout => $opt{timeout} // 10,
        argv    => \@argv,
        log     => $opt{log},
    }, $class;

    my $line = $self->_read_line($self->{timeout});
    unless (defined $line && $line =~ /^\d+\.\d+\.\d+\.\d+:\d+(?:,\S+)*$/) {
        my $why = defined $line ? "printed '$line'" : 'printed nothing';
        $self->stop;
        die "kafka mock (@argv) $why instead of a bootstrap list\n";
    }
    $self->{brokers} = $line;
    return $self;
}

sub brokers { $_[0]{brokers} }
sub pid     { $_[0]{pid} }

# One line from the mock's stdout, or undef on timeout/EOF.
sub _read_line {
    my ($self, $timeout) = @_;
    my $sel = IO::Select->new($self->{out});
    my $deadline = time + $timeout;
    for (;;) {
        if ($self->{buf} =~ s/\A(.*?)\r?\n//) {
            return $1;
        }
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $self->{out}, my $chunk, 4096;
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            return undef;
        }
        return undef if $n == 0;
        $self->{buf} .= $chunk;
    }
}

# cmd("produce t 0 hello"): send one command and return the answer line;
# dies when none comes within the timeout.
sub cmd {
    my ($self, $command) = @_;
    die "kafka mock is not running\n" unless $self->{in};
    $command =~ s/\s+$//;
    print { $self->{in} } "$command\n"
        or die "kafka mock: cannot send '$command': $!\n";
    my $line = $self->_read_line($self->{timeout});
    die "kafka mock: no answer to '$command' within $self->{timeout} s\n"
        unless defined $line;
    return $line;
}

# Close its stdin, SIGTERM, wait (SIGKILL after 5 s).  Returns a text
# describing a problem, or '' when it ended cleanly.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return '';
    close delete $self->{in} if $self->{in};
    my ($status, $killed) = stop_child($pid, 'TERM', 5);
    close delete $self->{out} if $self->{out};
    return 'kafka mock did not exit, killed' if $killed;
    return '';
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop if $self->{pid};
}

1;
