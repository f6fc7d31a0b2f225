package Test::PubSub::Mock;

# Runs build/pubsub-kafka-mock (librdkafka's mock cluster) for a test block.
#
# Its protocol: started as "pubsub-kafka-mock [--brokers N]
# [--topic NAME:PARTITIONS]... [--advertise IP]", it prints one line, the
# bootstrap list "127.0.0.1:P1,127.0.0.1:P2,..."; then it reads commands on
# stdin, one a line, and answers each with one line, "ok ..." or "error
# TEXT".  It exits on stdin EOF or SIGTERM.
#
# Also here: Test::PubSub::Mock::Front runs tools/kafka_front.py, the TLS
# and SASL front of the mock (with --advertise 127.0.0.2 the brokers
# advertise 127.0.0.2:P while listening on 127.0.0.1:P, and the front on
# 127.0.0.2:P carries every client connection), and make_certs() writes the
# test certificates.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Handle;
use IO::Select;
use Time::HiRes qw(time);

use Test::PubSub::Util qw(spawn stop_child read_file tail_lines);

# Parse a "--- kafka" section: "brokers: N" (default 1), "topic: NAME
# PARTITIONS" lines, an optional "front: ..." line (see parse_front) and
# commands (every other non-empty line).  Returns ($brokers, \@topics as
# "NAME:PARTITIONS", \@commands), and a 4th value, the parse_front hash,
# when there is a front line.
sub parse_section {
    my ($text) = @_;
    my ($brokers, $front, @topics, @commands) = (1);
    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '' || $line =~ /^#/;
        if ($line =~ /^brokers:\s*(\d+)$/) {
            $brokers = $1;
        }
        elsif ($line =~ /^front:\s*(.*)$/) {
            die "more than one kafka front line\n" if $front;
            $front = parse_front($1);
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
    return ($brokers, \@topics, \@commands, $front ? $front : ());
}

# The mechanisms and user a SASL front gets unless its line names them.
our $DEFAULT_MECHANISMS = 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512';
our $DEFAULT_USER       = 'alice:alice-secret';

# parse_front("sasl_ssl PLAIN,SCRAM-SHA-256 user=alice:secret mtls"): the
# words of a "front:" line.  The first is the security protocol the client
# must speak: ssl, sasl_plaintext or sasl_ssl.  Then, in any order:
# MECH,MECH... (the SASL mechanisms offered, default $DEFAULT_MECHANISMS;
# GSSAPI and OAUTHBEARER may be offered but never succeed), user=NAME:PASS
# (repeatable, default $DEFAULT_USER), mtls (TLS requires a client
# certificate signed by the test CA).  Returns { mode, tls, sasl,
# mechanisms, users => [NAME:PASS...], mtls }; dies on a bad line.
sub parse_front {
    my ($spec) = @_;
    my @words = split ' ', $spec // '';
    my $mode = shift(@words) // '';
    die "bad kafka front '$spec' (want: front: ssl|sasl_plaintext|sasl_ssl"
        . " [MECH,...] [user=NAME:PASS]... [mtls])\n"
        unless $mode =~ /^(?:ssl|sasl_plaintext|sasl_ssl)$/;
    my %f = (
        mode  => $mode,
        tls   => $mode ne 'sasl_plaintext' ? 1 : 0,
        sasl  => $mode =~ /^sasl_/ ? 1 : 0,
        users => [],
        mtls  => 0,
    );
    for my $w (@words) {
        if ($w =~ /^user=([^:\s]+):(\S*)$/) {
            push @{ $f{users} }, "$1:$2";
        }
        elsif ($w eq 'mtls') {
            $f{mtls} = 1;
        }
        elsif ($w =~ /^[A-Z][A-Z0-9-]*(?:,[A-Z][A-Z0-9-]*)*$/) {
            $f{mechanisms} = $w;
        }
        else {
            die "bad word '$w' in kafka front '$spec'\n";
        }
    }
    die "kafka front '$spec': mtls needs ssl or sasl_ssl\n"
        if $f{mtls} && !$f{tls};
    die "kafka front '$spec': mechanisms and users need sasl_*\n"
        if !$f{sasl} && ($f{mechanisms} || @{ $f{users} });
    if ($f{sasl}) {
        $f{mechanisms} //= $DEFAULT_MECHANISMS;
        $f{users} = [$DEFAULT_USER] unless @{ $f{users} };
    }
    return \%f;
}

# Test::PubSub::Mock->start(binary => PATH, brokers => N, topics => [...],
# advertise => IP, log => FILE (its stderr), timeout => 10): start it and
# read the bootstrap line.  Dies on failure.  With advertise (a loopback
# address other than 127.0.0.1) the bootstrap list and Metadata name
# IP:PORT while the brokers listen on 127.0.0.1:PORT: a front must listen
# on IP:PORT (Test::PubSub::Mock::Front).
sub start {
    my ($class, %opt) = @_;
    my $bin = $opt{binary};
    die "kafka mock $bin is not executable (build it: make)\n" unless -x $bin;

    my @argv = ($bin, '--brokers', $opt{brokers} // 1);
    push @argv, '--topic', $_ for @{ $opt{topics} || [] };
    push @argv, '--advertise', $opt{advertise} if $opt{advertise};

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

# ---------------------------------------------------------------------------
# Test certificates

# make_certs($dir): writes (once per process: a second call with the same
# $dir returns the same files) a CA and, signed by it, a server certificate
# for IP:127.0.0.1, IP:127.0.0.2 and DNS:localhost and a client certificate
# (CN nginx-client) for mutual TLS, plus a second CA that signed nothing
# ("other CA").  EC P-256 keys, unencrypted PEM; about 0.2 s.  Returns
# { dir, ca, ca_key, server_cert, server_key, client_cert, client_key,
# other_ca } (paths).  Dies when openssl fails.
my %CERTS;

sub make_certs {
    my ($dir) = @_;
    return $CERTS{$dir} if $CERTS{$dir};

    require File::Path;
    File::Path::remove_tree($dir);
    File::Path::make_path($dir);

    my %f = (
        dir         => $dir,
        ca          => "$dir/ca.pem",
        ca_key      => "$dir/ca.key",
        server_cert => "$dir/server.pem",
        server_key  => "$dir/server.key",
        client_cert => "$dir/client.pem",
        client_key  => "$dir/client.key",
        other_ca    => "$dir/other-ca.pem",
    );

    my $run = sub {
        my @cmd = ('openssl', @_);
        my $out = "$dir/openssl.log";
        my $pid = spawn(\@cmd, stdout => $out, stderr => $out);
        waitpid $pid, 0;
        die "@cmd failed:\n" . tail_lines(read_file($out), 10) if $?;
    };
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
              '-nodes');
    my $ext = sub {
        my ($name, $text) = @_;
        open my $fh, '>', "$dir/$name" or die "$dir/$name: $!\n";
        print $fh $text;
        close $fh;
        return "$dir/$name";
    };

    for my $ca (['ca', 'pubsub-test-ca'], ['other-ca', 'pubsub-other-ca']) {
        $run->('req', '-x509', @ec, '-keyout', "$dir/$ca->[0].key",
               '-out', "$dir/$ca->[0].pem", '-days', '3650',
               '-subj', "/CN=$ca->[1]");
    }

    my %leaf = (
        server => ['localhost',
                   "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\n"
                   . "extendedKeyUsage=serverAuth\n"],
        client => ['nginx-client', "extendedKeyUsage=clientAuth\n"],
    );
    for my $name (sort keys %leaf) {
        my ($cn, $extra) = @{ $leaf{$name} };
        $run->('req', @ec, '-keyout', "$dir/$name.key",
               '-out', "$dir/$name.csr", '-subj', "/CN=$cn");
        my $cnf = $ext->("$name.ext", "basicConstraints=CA:FALSE\n"
            . "keyUsage=digitalSignature,keyEncipherment\n" . $extra);
        $run->('x509', '-req', '-in', "$dir/$name.csr", '-CA', $f{ca},
               '-CAkey', $f{ca_key}, '-CAcreateserial',
               '-out', "$dir/$name.pem", '-days', '3650',
               '-extfile', $cnf);
    }

    # nginx workers may run as another user than the harness
    chmod 0644, glob("$dir/*");
    return $CERTS{$dir} = \%f;
}

# ---------------------------------------------------------------------------
# The TLS and SASL front

package Test::PubSub::Mock::Front;

# Runs tools/kafka_front.py in front of a mock started with advertise: it
# listens on IP:PORT for each port of the bootstrap list and forwards to
# 127.0.0.1:PORT, terminating TLS and/or SASL.  Its stderr (a line per
# "tls ok", "tls failed", "auth ok", "auth failed" event) goes to the log
# file.  Inherits _read_line, stop and DESTROY from Test::PubSub::Mock.

our @ISA = ('Test::PubSub::Mock');

# Test::PubSub::Mock::Front->start(script => PATH, python => PATH,
# brokers => "IP:P1,IP:P2", front => parse_front(...), certs =>
# make_certs(...) (for TLS), log => FILE, timeout => 10): start it and wait
# for its READY line.  Dies on failure.
sub start {
    my ($class, %opt) = @_;
    my $front = $opt{front};
    my ($ip) = $opt{brokers} =~ /^([\d.]+):/
        or die "kafka front: bad broker list '$opt{brokers}'\n";

    my @argv = ($opt{python} // '/usr/bin/python3', $opt{script},
                '--listen-ip', $ip, '--ports', $opt{brokers});
    if ($front->{tls}) {
        my $c = $opt{certs} or die "kafka front: TLS needs certificates\n";
        push @argv, '--cert', $c->{server_cert}, '--key', $c->{server_key};
        push @argv, '--client-ca', $c->{ca} if $front->{mtls};
    }
    if ($front->{sasl}) {
        push @argv, '--sasl', $front->{mechanisms};
        push @argv, '--user', $_ for @{ $front->{users} };
    }

    pipe my $child_in, my $to_child or die "pipe: $!\n";
    pipe my $from_child, my $child_out or die "pipe: $!\n";
    my $pid = Test::PubSub::Util::spawn(\@argv,
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
    unless (defined $line && $line eq 'READY') {
        $self->stop;
        my $why = defined $line ? "printed '$line'" : 'printed nothing';
        my $log = $opt{log} ? Test::PubSub::Util::tail_lines(
            Test::PubSub::Util::read_file($opt{log}), 10) : '';
        die "kafka front (@argv) $why instead of READY\n$log";
    }
    return $self;
}

sub log_file { $_[0]{log} }

1;
