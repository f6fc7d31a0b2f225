package Test::PubSub::Util;

# Small process, file and socket helpers shared by the harness modules.
# Nothing here knows about nginx or WebSocket.

use strict;
use warnings;

use Exporter 'import';
use Errno qw(EINTR ECHILD);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    free_port read_file write_file tail_lines
    spawn wait_child stop_child child_pids kill_tree describe_status
);

# A TCP port on 127.0.0.1 that nothing listens on right now.  It is taken
# below the kernel's ephemeral range (ip_local_port_range), from which
# port 0 and every outgoing connection (clients, librdkafka) get theirs: a
# port the kernel chose and we closed again may be some connection's local
# port by the time nginx binds it.  Another test run may still take it,
# which is unlikely enough.
sub free_port {
    my $low = 32768;

    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my $range = <$fh> // '';
        $low = $1 if $range =~ /^\s*(\d+)/;
        close $fh;
    }

    if ($low > 2048) {
        for (1 .. 50) {
            my $port = 1024 + int rand($low - 1024);
            my $sock = IO::Socket::INET->new(
                LocalAddr => '127.0.0.1',
                LocalPort => $port,
                Proto     => 'tcp',
                Listen    => 1,
                ReuseAddr => 1,
            ) or next;
            close $sock;
            return $port;
        }
    }

    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 1,
        ReuseAddr => 1,
    ) or die "cannot bind a free port: $!\n";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

# Whole file as bytes, or '' when it does not exist.
sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return defined $text ? $text : '';
}

sub write_file {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
    print {$fh} $data;
    close $fh or die "cannot write $path: $!\n";
}

# The last $n lines of $text (all of them when fewer); with $filter (a
# regex) only lines matching it are considered.
sub tail_lines {
    my ($text, $n, $filter) = @_;
    my @lines = split /\n/, $text;
    @lines = grep { $_ =~ $filter } @lines if $filter;
    splice @lines, 0, @lines - $n if @lines > $n;
    return join '', map { "$_\n" } @lines;
}

# Fork and exec @$argv (no shell).  Options: stdin, stdout, stderr: a file
# name to open (stdout/stderr opened for appending), or a file handle to dup;
# stdin defaults to /dev/null.  Returns the child's pid.
sub spawn {
    my ($argv, %opt) = @_;

    my $pid = fork;
    die "fork failed: $!\n" unless defined $pid;
    return $pid if $pid;

    # child: from here on only exec or _exit, never return into the harness
    eval {
        $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM QUIT HUP CHLD);
        _redirect(\*STDIN, '<', $opt{stdin} // '/dev/null');
        _redirect(\*STDOUT, '>>', $opt{stdout}) if defined $opt{stdout};
        _redirect(\*STDERR, '>>', $opt{stderr}) if defined $opt{stderr};
        exec { $argv->[0] } @$argv;
        die "exec $argv->[0] failed: $!\n";
    };
    print STDERR $@;
    POSIX::_exit(127);
}

sub _redirect {
    my ($std, $mode, $target) = @_;
    if (ref $target) {
        open $std, "$mode&", $target or die "dup failed: $!\n";
    }
    else {
        open $std, $mode, $target or die "cannot open $target: $!\n";
    }
}

# Wait up to $timeout seconds for child $pid to exit.  Returns its wait
# status ($?), or undef if it is still running.
sub wait_child {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    for (;;) {
        my $r = waitpid $pid, WNOHANG;
        return $? if $r == $pid;
        # not our child any more (already reaped): report a clean exit
        return 0 if $r < 0 && $! == ECHILD;
        return undef if time >= $deadline;
        sleep 0.02;
    }
}

# Pids of the processes whose parent is $ppid, read from /proc.
sub child_pids {
    my ($ppid) = @_;
    my @pids;
    opendir my $dh, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = read_file("/proc/$pid/stat");
        # the command name is in parentheses and may contain spaces
        next unless $stat =~ /\)\s+\S+\s+(\d+)/;
        push @pids, $pid if $1 == $ppid;
    }
    closedir $dh;
    return @pids;
}

# SIGKILL $pid and, first, all of its descendants (so that nginx workers
# do not outlive a killed master).  Only used on processes we started.
sub kill_tree {
    my ($pid) = @_;
    my @todo = ($pid);
    my @all;
    while (@todo) {
        my $p = shift @todo;
        push @all, $p;
        push @todo, child_pids($p);
    }
    kill 'KILL', reverse @all;
}

# Graceful stop: send $signal, wait $timeout seconds, then SIGKILL the
# process tree.  Returns ($status, $killed): the wait status and whether it
# had to be killed.
sub stop_child {
    my ($pid, $signal, $timeout) = @_;
    kill $signal, $pid;
    my $status = wait_child($pid, $timeout);
    return ($status, 0) if defined $status;
    kill_tree($pid);
    $status = wait_child($pid, 5);
    return ($status, 1);
}

# "exit code 1", "killed by signal 11 (core dumped)", ...
sub describe_status {
    my ($status) = @_;
    return 'still running' unless defined $status;
    if ($status & 127) {
        return sprintf 'killed by signal %d%s', $status & 127,
            $status & 128 ? ' (core dumped)' : '';
    }
    return 'exit code ' . ($status >> 8);
}

1;
