package Test::PubSub;

# Data-driven test harness for ngx_http_pubsub_kafka_module, in the spirit
# of Test::Nginx (which is not packaged for Debian), built on Test::Base.
# See the POD at the end for the test file format and the exported API.

use strict;
use warnings;

use Test::Base -base;    # makes us a Test::Base subclass (Spiffy, no filter)

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use POSIX ();
use Time::HiRes qw(sleep time);

use Test::PubSub::HTTP qw(build_request http_request);
use Test::PubSub::Mock;
use Test::PubSub::Proto qw(
    pb_req pb_req_encode pb_req_decode pb_resp_encode pb_resp_decode
    pb_resp_render pb_encode pb_decode pb_varint pb_key pb_field
    quote_bytes escape_bytes
);
use Test::PubSub::Util qw(
    free_port read_file write_file tail_lines spawn wait_child stop_child
    kill_tree describe_status
);
use Test::PubSub::WS qw(
    ws_frame ws_binary ws_text ws_ping ws_pong ws_close ws_cont
    ws_frame_parse ws_render ws_accept_key
    WS_CONT WS_TEXT WS_BINARY WS_CLOSE WS_PING WS_PONG
);

our @EXPORT = qw(
    run_tests done_testing
    ws_frame ws_binary ws_text ws_ping ws_pong ws_close ws_cont
    ws_frame_parse ws_render ws_accept_key
    WS_CONT WS_TEXT WS_BINARY WS_CLOSE WS_PING WS_PONG
    pb_req pb_req_encode pb_req_decode pb_resp_encode pb_resp_decode
    pb_resp_render pb_encode pb_decode pb_varint pb_key pb_field
    quote_bytes escape_bytes
    ws_connect http_get server_port servroot error_log_text wait_error_log
    nginx_pid nginx_reload mock_cmd kafka_brokers use_valgrind
    kafka_certs tls_port kafka_front_log wait_kafka_front_log
);

sub done_testing { goto &Test::More::done_testing }

# A client that has gone away must not kill the harness.
$SIG{PIPE} = 'IGNORE';

# ---------------------------------------------------------------------------
# Settings

# Repository root: this file is <root>/t/lib/Test/PubSub.pm.
our $REPO = dirname(dirname(dirname(dirname(abs_path(__FILE__)))));

our $NGINX    = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $MODULE   = $ENV{TEST_NGINX_MODULE}
    || "$REPO/build/ngx_http_pubsub_kafka_module.so";
our $MOCK     = $ENV{TEST_PUBSUB_MOCK} || "$REPO/build/pubsub-kafka-mock";
our $FRONT    = $ENV{TEST_PUBSUB_FRONT} || "$REPO/tools/kafka_front.py";
our $PYTHON   = $ENV{TEST_PUBSUB_PYTHON} || '/usr/bin/python3';

# The address the mock advertises when a block has a kafka front.
our $FRONT_IP = '127.0.0.2';
our $VALGRIND = $ENV{TEST_NGINX_USE_VALGRIND} ? 1 : 0;

# Seconds: reads default to 5 (--- timeout), nginx must listen within
# START and exit within STOP after SIGQUIT.  Valgrind slows nginx down.
our $READ_FACTOR   = $VALGRIND ? 3 : 1;
our $START_TIMEOUT = $VALGRIND ? 30 : 5;
our $STOP_TIMEOUT  = $VALGRIND ? 60 : 10;

our @VALGRIND_CMD = (
    'valgrind', '--tool=memcheck', '--leak-check=full',
    '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
    '--num-callers=30', '--keep-debuginfo=yes',
    "--suppressions=$REPO/t/valgrind.supp",
);

# Valgrind log lines that fail a block.
our $VALGRIND_ERRORS = qr/
    Invalid\ read | Invalid\ write | uninitialised | Invalid\ free
    | Mismatched\ free | definitely\ lost\ in\ loss\ record
    | Source\ and\ destination\ overlap
/x;

# Every section a block may have (Test::Base's ONLY, SKIP, LAST included).
my %KNOWN_SECTIONS = map { $_ => 1 } qw(
    ONLY SKIP LAST
    main_config http_config config worker_processes worker_connections
    log_level user_files
    timeout must_die no_valgrind kafka
    error_log no_error_log no_check_alerts
    request raw_request more_headers error_code response_headers
    response_headers_like response_body response_body_like
    ws_request ws_code ws_response ws_response_like ws_path ws_pipeline
    ws_handshake_status ws_frames ws_send_delay ws_tls
);

# The package test files run in (their eval sections and ws_code), set when
# they "use Test::PubSub".
our $TEST_PACKAGE = 'main';

sub import {
    $TEST_PACKAGE = caller;
    goto &Test::Base::import;
}

sub use_valgrind { $VALGRIND }

# The block being run, for the helpers that ws_code calls.
our $CURRENT;

# Started processes to clean up if the harness dies: nginx pid => 1, and
# the running kafka mock and its front.
my %NGINX_PIDS;
my $LIVE_MOCK;
my $LIVE_FRONT;
my $HARNESS_PID = $$;

END {
    if ($$ == $HARNESS_PID) {
        local $?;
        for my $pid (keys %NGINX_PIDS) {
            kill_tree($pid);
            wait_child($pid, 2);
        }
        $LIVE_FRONT->stop if $LIVE_FRONT;
        $LIVE_MOCK->stop if $LIVE_MOCK;
    }
}

for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        my $code = 128 + ($sig eq 'INT' ? 2 : 15);
        # a forked child (not exec'd) must not run the harness's END
        POSIX::_exit($code) if $$ != $HARNESS_PID;
        print STDERR "\n$sig received, stopping nginx and the kafka mock\n";
        exit $code;
    };
}

# ---------------------------------------------------------------------------
# Test::Base integration: the "eval" filter runs in the test file's package
# (Test::Base's own runs in Test::Base::Filter, where the helpers exported to
# the test file are not visible).  Errors are recorded on the block, which
# then fails, instead of silently becoming the section's value.

package Test::PubSub::Filter;

our @ISA = ('Test::Base::Filter');

sub eval {
    my ($self, @args) = @_;
    my $code  = join '', @args;
    my $block = $self->current_block;

    # which section is this? (run_filters keeps the original values)
    my $section = '?';
    my $orig = $block->original_values || {};
    my $trim = sub { my $s = shift // ''; $s =~ s/^\s+|\s+$//gr };
    for my $name (keys %$orig) {
        $section = $name if $trim->($orig->{$name}) eq $trim->($code);
    }

    my $pkg = $Test::PubSub::TEST_PACKAGE;
    my @r = CORE::eval("package $pkg;\n#line 1 \"--- $section eval\"\n$code");
    if ($@) {
        push @{ $block->{_pubsub_errors} }, "--- $section eval failed: $@";
        return '';
    }
    return @r;
}

package Test::PubSub;

# ---------------------------------------------------------------------------
# Running the blocks

# run_tests(): run every block; when the file did not plan, end with
# done_testing.
sub run_tests {
    my $tb = Test::More->builder;
    my $own_plan = !$tb->has_plan;
    Test::More::plan('no_plan') if $own_plan;
    run_block($_) for blocks();
    Test::More::done_testing() if $own_plan;
}

# Section value (first value for list sections), or undef when absent.
sub _sec {
    my ($block, $name) = @_;
    return undef unless exists $block->{$name};
    my @v = @{ $block->{$name} };
    return $v[0];
}

# Inline values ("--- timeout: 3") with surrounding blanks removed.
sub _sec_trim {
    my $v = _sec(@_);
    return undef unless defined $v;
    $v =~ s/^\s+|\s+$//g;
    return $v;
}

sub _has { exists $_[0]->{ $_[1] } }

# Non-empty lines of a text section.
sub _lines {
    my ($text) = @_;
    return () unless defined $text;
    return grep { /\S/ } map { s/\r$//r } split /\n/, $text;
}

# Label text for an item of error_log and the like.
sub _short {
    my ($item) = @_;
    my $s = ref $item eq 'Regexp' ? "$item" : $item;
    $s = substr($s, 0, 60) . '...' if length $s > 63;
    return $s;
}

# Items of an error_log / no_error_log section: an eval giving an array ref
# (strings and qr//), a single qr//, or text lines (substrings).
sub _log_items {
    my ($block, $name) = @_;
    return () unless _has($block, $name);
    my $v = _sec($block, $name);
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v eq 'Regexp';
    return _lines($v);
}

sub _is_ws_block {
    my ($block) = @_;
    return scalar grep { _has($block, $_) }
        qw(ws_request ws_code ws_response ws_response_like);
}

# The labels of the checks each phase of a block makes, so that a block
# always makes the same number of assertions whatever happens.
sub _labels {
    my ($block) = @_;
    my %l;
    my $must_die = _has($block, 'must_die');

    $l{start} = [$must_die ? 'nginx -t fails' : 'nginx starts'];

    $l{request} = [];
    if (!$must_die && (_has($block, 'request')
                       || _has($block, 'raw_request'))) {
        push @{ $l{request} }, 'status code';
        for (_lines(_sec($block, 'response_headers'))) {
            push @{ $l{request} }, "response_headers: $_";
        }
        for (_lines(_sec($block, 'response_headers_like'))) {
            push @{ $l{request} }, "response_headers_like: $_";
        }
        for (qw(response_body response_body_like)) {
            push @{ $l{request} }, $_ if _has($block, $_);
        }
    }

    $l{ws} = [];
    if (!$must_die && _is_ws_block($block)) {
        push @{ $l{ws} }, 'ws handshake';
        my $status = _sec_trim($block, 'ws_handshake_status') // 101;
        if ($status == 101) {
            my @cmp = grep { _has($block, $_) }
                qw(ws_response ws_response_like);
            @cmp = ('ws_code') if !@cmp && _has($block, 'ws_code');
            push @{ $l{ws} }, @cmp;
        }
    }

    $l{stop} = $must_die ? [] : ['nginx exits'];

    $l{logs} = [];
    push @{ $l{logs} }, map { 'error_log: ' . _short($_) }
        _log_items($block, 'error_log');
    push @{ $l{logs} }, map { 'no_error_log: ' . _short($_) }
        _log_items($block, 'no_error_log');
    push @{ $l{logs} }, 'no alerts in error.log'
        unless _has($block, 'no_check_alerts');

    $l{valgrind} = $VALGRIND ? ['valgrind'] : [];
    return \%l;
}

# The number of assertions run_block makes for $block.
sub block_checks {
    my ($block) = @_;
    my $l = _labels($block);
    my $n = 0;
    $n += @$_ for values %$l;
    return $n;
}

# ---------------------------------------------------------------------------
# Assertions with a fixed count per block.  Each phase announces its labels;
# checks take them; at the end of a phase the ones not taken are reported:
# the first as a failure when nothing failed yet (an error cut the phase
# short), the others as skipped.

sub _phase {
    my ($run, $labels, $code) = @_;
    return unless @$labels;
    $run->{pending} = [@$labels];
    $run->{phase_failed} = 0;
    my $ok = eval { $code->(); 1 };
    my $err = $ok ? undef : ($@ || 'unknown error');
    _flush($run, $err);
}

sub _take {
    my ($run, $label) = @_;
    my $p = $run->{pending} || [];
    for my $i (0 .. $#$p) {
        if ($p->[$i] eq $label) {
            splice @$p, $i, 1;
            last;
        }
    }
}

sub _flush {
    my ($run, $err) = @_;
    my $tb = Test::More->builder;
    my @pending = @{ $run->{pending} };
    for my $label (@pending) {
        if (!$run->{phase_failed}) {
            _ok($run, $label, 0,
                $err // "check not reached (harness bug?)");
        }
        else {
            $tb->skip("$run->{name} - $label: not reached");
        }
    }
    $run->{pending} = [];
}

sub _skip_all {
    my ($run, $labels, $why) = @_;
    my $tb = Test::More->builder;
    $tb->skip("$run->{name} - $_: $why") for @$labels;
}

sub _diag {
    my @text = grep { defined && length } @_;
    Test::More::diag(join '', map { /\n\z/ ? $_ : "$_\n" } @text) if @text;
}

# Test::Builder level that makes failures point at the test file's line
# calling run_tests (not at this module).
sub _level {
    my $i = 1;
    while (my @c = caller($i)) {
        return $Test::Builder::Level + $i if $c[0] eq $TEST_PACKAGE;
        $i++;
    }
    return $Test::Builder::Level;
}

sub _ok {
    my ($run, $label, $ok, @diag) = @_;
    local $Test::Builder::Level = _level();
    _take($run, $label);
    Test::More::ok($ok, "$run->{name} - $label");
    unless ($ok) {
        _diag(@diag);
        $run->{phase_failed} = 1;
        $run->{failed} = 1;
    }
    return $ok;
}

# Exact comparison, with a diff for multi-line text.
sub _is {
    my ($run, $label, $got, $expected) = @_;
    local $Test::Builder::Level = _level();
    _take($run, $label);
    my $ok = defined $got && $got eq $expected;
    Test::Base::is($got, $expected, "$run->{name} - $label");
    unless ($ok) {
        $run->{phase_failed} = 1;
        $run->{failed} = 1;
    }
    return $ok;
}

sub _like {
    my ($run, $label, $got, $re) = @_;
    local $Test::Builder::Level = _level();
    _take($run, $label);
    my $ok = defined $got && $got =~ $re;
    Test::More::like($got, $re, "$run->{name} - $label");
    unless ($ok) {
        $run->{phase_failed} = 1;
        $run->{failed} = 1;
    }
    return $ok;
}

# ---------------------------------------------------------------------------
# One block

sub _test_name {
    my $name = basename($0);
    $name =~ s/\.t$//;
    return $name;
}

sub run_block {
    my ($block) = @_;
    my $name = $block->name // 'TEST ?';
    my $servroot = "$REPO/t/servroot/" . _test_name();
    my $run = {
        block    => $block,
        name     => $name,
        servroot => $servroot,
        timeout  => (_sec_trim($block, 'timeout') || 5) * $READ_FACTOR,
        conns    => [],
    };
    local $CURRENT = $run;

    my $labels = _labels($block);
    my $must_die = _has($block, 'must_die');
    my @after_start = map { @{ $labels->{$_} } }
        qw(request ws stop logs valgrind);

    if ($VALGRIND && _has($block, 'no_valgrind')) {
        _skip_all($run, [@{ $labels->{start} }, @after_start],
            'no_valgrind');
        return;
    }

    my $ok = eval {
        my $started = _start($run, $labels->{start}[0]);
        if ($must_die ? $started eq 'setup failed' : $started ne 'ok') {
            _skip_all($run, \@after_start,
                'not run: ' . ($must_die ? 'setup failed'
                                         : 'nginx did not start'));
        }
        else {
            unless ($must_die) {
                _phase($run, $labels->{request}, sub { _do_request($run) });
                _phase($run, $labels->{ws}, sub { _do_ws($run) });
                _close_conns($run);
                _phase($run, $labels->{stop}, sub { _stop_nginx($run) });
            }
            _stop_mock($run);
            _phase($run, $labels->{logs}, sub { _check_logs($run) });
            _phase($run, $labels->{valgrind}, sub { _check_valgrind($run) });
        }
        1;
    };
    my $err = $@;

    # whatever happened: no process of this block survives it
    _close_conns($run);
    if ($run->{pid}) {
        kill_tree($run->{pid});
        wait_child($run->{pid}, 5);
        delete $NGINX_PIDS{ $run->{pid} };
    }
    _stop_mock($run);

    unless ($ok) {
        local $Test::Builder::Level = _level();
        Test::More::fail("$name - harness error");
        _diag($err);
    }
}

# ---------------------------------------------------------------------------
# Starting nginx

# Replace $TEST_NGINX_* variables: those of %$vars, then the environment's.
# Unknown ones stay as they are.
sub substitute {
    my ($text, $vars) = @_;
    return $text unless defined $text && !ref $text;
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{
        exists $vars->{$1} ? $vars->{$1}
        : defined $ENV{$1} ? $ENV{$1}
        : "\$$1"
    }ge;
    return $text;
}

# The text of nginx.conf.  Arguments: servroot, port, module (path or
# undef), master (bool), workers, log_level, user_root (bool), main_config,
# http_config, config.
sub build_config {
    my (%a) = @_;
    my $root = $a{servroot};
    my $as_text = sub {
        my ($text) = @_;
        return '' unless defined $text && $text =~ /\S/;
        $text .= "\n" unless $text =~ /\n\z/;
        return $text;
    };

    my $conf = "# written by Test::PubSub for $a{name}\n";
    $conf .= "load_module $a{module};\n" if defined $a{module};
    $conf .= "daemon off;\n";
    $conf .= 'master_process ' . ($a{master} ? 'on' : 'off') . ";\n";
    $conf .= "worker_processes $a{workers};\n";
    $conf .= "user root;\n" if $a{user_root};
    $conf .= "error_log logs/error.log $a{log_level};\n";
    $conf .= "pid logs/nginx.pid;\n\n";
    $conf .= $as_text->($a{main_config});
    $conf .= <<"EOF";

events {
    worker_connections @{[ $a{connections} // 1024 ]};
}

http {
    access_log logs/access.log;
    client_body_temp_path $root/client_body_temp;
    proxy_temp_path $root/proxy_temp;
    fastcgi_temp_path $root/fastcgi_temp;
    uwsgi_temp_path $root/uwsgi_temp;
    scgi_temp_path $root/scgi_temp;
    default_type text/plain;

EOF
    $conf .= $as_text->($a{http_config});
    $conf .= <<"EOF";

    server {
        listen 127.0.0.1:$a{port};
        server_name localhost;

EOF
    $conf .= $as_text->($a{config});
    $conf .= "    }\n}\n";
    return $conf;
}

# Files of a "--- user_files" section: ">>> name" then contents, or an eval
# giving [[name, contents], ...].  Returns a list of [name, contents].
sub parse_user_files {
    my ($v) = @_;
    return () unless defined $v;
    return map { [@$_] } @$v if ref $v eq 'ARRAY';
    my @parts = split /^>>>\s*(\S+)[ \t]*\n/m, $v;
    shift @parts;    # text before the first file
    my @files;
    while (@parts) {
        my ($name, $content) = splice @parts, 0, 2;
        push @files, [$name, $content // ''];
    }
    return @files;
}

# The command line that runs nginx (under valgrind when asked).
sub _nginx_cmd {
    my ($run, @extra) = @_;
    my $root = $run->{servroot};
    my @cmd = ($NGINX, @extra, '-p', "$root/", '-c', "$root/conf/nginx.conf");
    unshift @cmd, @VALGRIND_CMD, "--log-file=$root/logs/valgrind.log"
        if $VALGRIND;
    return @cmd;
}

# Last lines of nginx's stderr and error log (debug lines left out).
sub _nginx_output {
    my ($run) = @_;
    my $root = $run->{servroot};
    my $stderr = tail_lines(read_file("$root/logs/stderr.log"), 20);
    my $log = tail_lines(read_file("$root/logs/error.log"), 20,
        qr/^\S+ \S+ \[(?!debug\])/);
    my $text = '';
    $text .= "nginx stderr:\n$stderr" if length $stderr;
    $text .= "error.log (last lines above debug):\n$log" if length $log;
    return $text;
}

# Prepare the servroot, start the kafka mock, write the config and start
# nginx (or, for must_die, run nginx -t).  Makes the start check and
# returns 'ok', 'failed' (nginx did not come up / -t did not fail) or
# 'setup failed'.
sub _start {
    my ($run, $label) = @_;
    my $block = $run->{block};
    my $root = $run->{servroot};

    my @problems = @{ $block->{_pubsub_errors} || [] };
    for my $s (@{ $block->{_section_order}[0] || [] }) {
        push @problems, "unknown section '--- $s'" unless $KNOWN_SECTIONS{$s};
    }
    if (@problems) {
        _ok($run, $label, 0, @problems);
        return 'setup failed';
    }

    my $setup = eval {
        remove_tree($root);
        make_path(map { "$root/$_" } qw(conf logs html));
        $run->{port} = free_port();

        my $brokers = '127.0.0.1:' . free_port();    # nothing listens
        my $certs = _needs_certs($block) ? kafka_certs() : undef;
        if (_has($block, 'kafka')) {
            my ($n, $topics, $cmds, $front) =
                Test::PubSub::Mock::parse_section(_sec($block, 'kafka'));
            $certs ||= kafka_certs() if $front && $front->{tls};
            $run->{mock} = Test::PubSub::Mock->start(
                binary    => $MOCK,
                brokers   => $n,
                topics    => $topics,
                advertise => $front ? $FRONT_IP : undef,
                log       => "$root/logs/mock.log",
            );
            $LIVE_MOCK = $run->{mock};
            $brokers = $run->{mock}->brokers;
            if ($front) {
                $run->{front} = Test::PubSub::Mock::Front->start(
                    script  => $FRONT,
                    python  => $PYTHON,
                    brokers => $brokers,
                    front   => $front,
                    certs   => $certs,
                    log     => "$root/logs/front.log",
                );
                $LIVE_FRONT = $run->{front};
            }
            for my $cmd (@$cmds) {
                my $answer = $run->{mock}->cmd($cmd);
                die "kafka mock: '$cmd' answered '$answer'\n"
                    unless $answer =~ /^ok\b/;
            }
        }
        $run->{brokers} = $brokers;
        $run->{tls_port} = free_port() if _needs_tls_port($block);

        $run->{vars} = {
            TEST_NGINX_SERVER_PORT   => $run->{port},
            TEST_NGINX_SERVROOT      => $root,
            TEST_NGINX_HTML_DIR      => "$root/html",
            TEST_NGINX_KAFKA_BROKERS => $brokers,
            $run->{tls_port} ? (TEST_NGINX_TLS_PORT => $run->{tls_port})
                             : (),
            $certs ? _cert_vars($certs) : (),
        };
        my $vars = $run->{vars};
        my $main = substitute(_sec($block, 'main_config'), $vars);
        $run->{workers} = _sec_trim($block, 'worker_processes') || 1;
        my $conf = build_config(
            name        => "t/" . _test_name() . ".t $run->{name}",
            servroot    => $root,
            port        => $run->{port},
            module      => $ENV{TEST_NGINX_NO_MODULE} ? undef : $MODULE,
            master      => !$VALGRIND,
            workers     => $run->{workers},
            connections => _sec_trim($block, 'worker_connections') || 1024,
            log_level   => _sec_trim($block, 'log_level') || 'debug',
            user_root   => $> == 0 && !(($main // '') =~ /^\s*user\s/m),
            main_config => $main,
            http_config => substitute(_sec($block, 'http_config'), $vars),
            config      => substitute(_sec($block, 'config'), $vars),
        );
        write_file("$root/conf/nginx.conf", $conf);

        for my $f (parse_user_files(_sec($block, 'user_files'))) {
            my $path = "$root/html/$f->[0]";
            make_path(dirname($path));
            write_file($path, substitute($f->[1], $vars));
        }
        1;
    };
    unless ($setup) {
        _ok($run, $label, 0, "setup failed: $@");
        return 'setup failed';
    }

    return _nginx_t($run, $label) if _has($block, 'must_die');

    my $pid = spawn([_nginx_cmd($run)],
        stdout => "$root/logs/stderr.log",
        stderr => "$root/logs/stderr.log",
    );
    $NGINX_PIDS{$pid} = 1;
    $run->{pid} = $pid;

    # nginx writes its pid file after it opened the listening sockets, so
    # from then on connections are accepted (queued until a worker takes
    # them); polling for it keeps probe connections out of the logs.
    my $deadline = time + $START_TIMEOUT;
    for (;;) {
        my $status = wait_child($pid, 0);
        if (defined $status) {
            delete $NGINX_PIDS{$pid};
            delete $run->{pid};
            _ok($run, $label, 0,
                'nginx exited before listening (' . describe_status($status)
                . ')', _nginx_output($run));
            return 'failed';
        }
        my $pidfile = read_file("$root/logs/nginx.pid");
        if ($pidfile =~ /^\d+/) {
            _ok($run, $label, 1);
            return 'ok';
        }
        if (time > $deadline) {
            _ok($run, $label, 0,
                "nginx is not listening after $START_TIMEOUT s",
                _nginx_output($run));
            return 'failed';
        }
        sleep 0.02;
    }
}

# must_die: nginx -t must fail.
sub _nginx_t {
    my ($run, $label) = @_;
    my $root = $run->{servroot};
    my $out = "$root/logs/nginx-t.out";
    my $pid = spawn([_nginx_cmd($run, '-t')], stdout => $out, stderr => $out);
    my $status = wait_child($pid, $STOP_TIMEOUT);
    unless (defined $status) {
        kill_tree($pid);
        wait_child($pid, 5);
        _ok($run, $label, 0, "nginx -t did not finish in $STOP_TIMEOUT s");
        return 'failed';
    }
    my $failed = $status != 0;
    _ok($run, $label, $failed,
        'nginx -t succeeded (' . describe_status($status) . '):',
        read_file($out));
    return $failed ? 'ok' : 'failed';
}

# ---------------------------------------------------------------------------
# Stopping

sub _close_conns {
    my ($run) = @_;
    $_->close for @{ $run->{conns} };
    $run->{conns} = [];
}

sub _stop_nginx {
    my ($run) = @_;
    my $pid = delete $run->{pid} or die "nginx is not running\n";
    my ($status, $killed) = stop_child($pid, 'QUIT', $STOP_TIMEOUT);
    delete $NGINX_PIDS{$pid};
    if ($killed) {
        _ok($run, 'nginx exits', 0,
            "nginx did not exit within $STOP_TIMEOUT s after SIGQUIT"
            . ' (killed)', _nginx_output($run));
        return;
    }
    _ok($run, 'nginx exits', $status == 0,
        'nginx ' . describe_status($status), _nginx_output($run));
}

sub _stop_mock {
    my ($run) = @_;
    if (my $front = delete $run->{front}) {
        undef $LIVE_FRONT;
        my $problem = $front->stop;
        _diag("$run->{name}: kafka front: $problem") if $problem;
    }
    my $mock = delete $run->{mock} or return;
    undef $LIVE_MOCK;
    my $problem = $mock->stop;
    _diag("$run->{name}: $problem") if $problem;
}

# ---------------------------------------------------------------------------
# Test certificates

# The $TEST_NGINX_* variables naming the test certificates.
my %CERT_VARS = (
    TEST_NGINX_KAFKA_CERTS       => 'dir',
    TEST_NGINX_KAFKA_CA          => 'ca',
    TEST_NGINX_KAFKA_SERVER_CERT => 'server_cert',
    TEST_NGINX_KAFKA_SERVER_KEY  => 'server_key',
    TEST_NGINX_KAFKA_CLIENT_CERT => 'client_cert',
    TEST_NGINX_KAFKA_CLIENT_KEY  => 'client_key',
    TEST_NGINX_KAFKA_OTHER_CA    => 'other_ca',
);

sub _cert_vars {
    my ($certs) = @_;
    return map { $_ => $certs->{ $CERT_VARS{$_} } } keys %CERT_VARS;
}

# Does the block use the certificates (a variable naming one, or wss)?
sub _needs_certs {
    my ($block) = @_;
    return 1 if _has($block, 'ws_tls');
    my $names = join '|', keys %CERT_VARS;
    for my $name (qw(main_config http_config config user_files)) {
        my $v = _sec($block, $name);
        return 1 if defined $v && !ref $v && $v =~ /\$(?:$names)\b/;
    }
    return 0;
}

# Does the block use $TEST_NGINX_TLS_PORT (or wss, or ws_connect(tls))?
sub _needs_tls_port {
    my ($block) = @_;
    return 1 if _has($block, 'ws_tls');
    for my $name (qw(main_config http_config config user_files ws_code)) {
        my $v = _sec($block, $name);
        return 1 if defined $v && !ref $v
                    && $v =~ /\$TEST_NGINX_TLS_PORT\b|\btls\s*=>/;
    }
    return 0;
}

# kafka_certs(): the test certificates (Test::PubSub::Mock::make_certs),
# made at the first call in this test file's process, in
# t/servroot/<test file name>.certs; works outside blocks too (e.g. in an
# eval section).
sub kafka_certs {
    return Test::PubSub::Mock::make_certs(
        "$REPO/t/servroot/" . _test_name() . '.certs');
}

# ---------------------------------------------------------------------------
# Plain HTTP request

sub _more_headers {
    my ($run) = @_;
    my $text = substitute(_sec($run->{block}, 'more_headers'), $run->{vars});
    return [_lines($text)];
}

sub _do_request {
    my ($run) = @_;
    my $block = $run->{block};
    my $vars = $run->{vars};

    my $req;
    if (_has($block, 'raw_request')) {
        $req = _sec($block, 'raw_request');
        $req = join '', @$req if ref $req eq 'ARRAY';
        $req = substitute($req, $vars);
    }
    else {
        $req = build_request(substitute(_sec($block, 'request'), $vars),
            _more_headers($run));
    }

    my $r = http_request(
        port    => $run->{port},
        request => $req,
        timeout => $run->{timeout},
    );
    if ($r->{error}) {
        _ok($run, 'status code', 0, "no response: $r->{error}",
            length $r->{raw} ? 'got: ' . quote_bytes($r->{raw}) : undef);
        return;    # the other checks are reported as not reached
    }

    my $code = _sec_trim($block, 'error_code') // 200;
    _is($run, 'status code', $r->{status}, $code);

    for my $line (_lines(_sec($block, 'response_headers'))) {
        my $label = "response_headers: $line";
        if ($line =~ /^!\s*(\S+)/) {
            my $v = $r->{headers}{ lc $1 };
            _ok($run, $label, !$v, $v ? "present: @$v" : ());
        }
        elsif ($line =~ /^([^:]+?)\s*:\s*(.*?)\s*$/) {
            my ($name, $want) = ($1, $2);
            my @got = @{ $r->{headers}{ lc $name } || [] };
            if (@got == 1) {
                _is($run, $label, $got[0], $want);
            }
            else {
                _ok($run, $label, scalar(grep { $_ eq $want } @got),
                    @got ? "got: @got" : 'header absent');
            }
        }
        else {
            _ok($run, $label, 0, 'want "Name: value" or "!Name"');
        }
    }

    for my $line (_lines(_sec($block, 'response_headers_like'))) {
        my $label = "response_headers_like: $line";
        if ($line =~ /^([^:]+?)\s*:\s*(.*?)\s*$/) {
            my ($name, $re) = ($1, $2);
            my @got = @{ $r->{headers}{ lc $name } || [] };
            _ok($run, $label, scalar(grep { /$re/ } @got),
                @got ? "got: @got" : 'header absent');
        }
        else {
            _ok($run, $label, 0, 'want "Name: regex"');
        }
    }

    if (_has($block, 'response_body')) {
        _is($run, 'response_body', $r->{body},
            _sec($block, 'response_body') // '');
    }
    if (_has($block, 'response_body_like')) {
        _like($run, 'response_body_like', $r->{body},
            _regex(_sec($block, 'response_body_like'), 's'));
    }
}

# A qr// from a section: an eval'd qr// as is, text with its trailing
# newlines removed and the given flags.
sub _regex {
    my ($v, $flags) = @_;
    return $v if ref $v eq 'Regexp';
    $v //= '';
    $v =~ s/\n+\z//;
    return qr/(?$flags)$v/;
}

# ---------------------------------------------------------------------------
# WebSocket

sub _do_ws {
    my ($run) = @_;
    my $block = $run->{block};

    # an array ref of byte strings (or, from an eval, a plain list)
    my @frames = grep { defined } @{ $block->{ws_request} || [] };
    @frames = @{ $frames[0] } if @frames == 1 && ref $frames[0] eq 'ARRAY';
    my $pipeline = _has($block, 'ws_pipeline');
    my $status = _sec_trim($block, 'ws_handshake_status') // 101;

    my $tls = _has($block, 'ws_tls');
    my $ws = eval {
        Test::PubSub::WS->connect(
            port    => $tls ? $run->{tls_port} : $run->{port},
            $tls ? (tls => _tls_options()) : (),
            path    => _sec_trim($block, 'ws_path') || '/ws',
            headers => _more_headers($run),
            timeout => $run->{timeout},
            status  => $status,
            extra   => $pipeline ? join('', @frames) : '',
        );
    };
    _ok($run, 'ws handshake', $ws ? 1 : 0, $@);
    return unless $ws;
    push @{ $run->{conns} }, $ws;
    return unless $status == 101;

    if (!$pipeline && @frames) {
        my $delay = _sec_trim($block, 'ws_send_delay');
        if ($delay) {
            for my $i (0 .. $#frames) {
                sleep $delay if $i;
                $ws->send($frames[$i]);
            }
        }
        else {
            $ws->send(join '', @frames);
        }
    }

    my $got;
    if (_has($block, 'ws_code')) {
        $got = _run_ws_code($run, _sec($block, 'ws_code'), $ws);
        $got = join "\n", @$got if ref $got eq 'ARRAY';
        unless (_has($block, 'ws_response')
                || _has($block, 'ws_response_like')) {
            _ok($run, 'ws_code', 1);
            return;
        }
    }
    else {
        my $n = _sec_trim($block, 'ws_frames');
        if (!$n) {
            my $expected = _sec($block, 'ws_response');
            $n = defined $expected ? scalar(split /\n/, $expected) : 1;
        }
        $got = join "\n", $ws->recv_lines($n, $run->{timeout});
    }
    $got //= '';

    if (_has($block, 'ws_response')) {
        my $expected = _sec($block, 'ws_response') // '';
        s/\n+\z// for $got, $expected;
        _is($run, 'ws_response', "$got\n", "$expected\n");
    }
    if (_has($block, 'ws_response_like')) {
        _like($run, 'ws_response_like', $got,
            _regex(_sec($block, 'ws_response_like'), 'ms'));
    }
}

# Compile and run a ws_code section in the test file's package with $ws.
sub _run_ws_code {
    my ($run, $code, $ws) = @_;
    (my $where = "ws_code of $run->{name}") =~ s/["\n]//g;
    my $sub = eval "package $TEST_PACKAGE; sub { my \$ws = shift;\n"
        . "#line 1 \"$where\"\n$code\n}";
    die "ws_code does not compile: $@" unless $sub;
    my $r = eval { $sub->($ws) };
    die "ws_code died: $@" if $@;
    return $r;
}

# ---------------------------------------------------------------------------
# Error log and valgrind checks

sub _check_logs {
    my ($run) = @_;
    my $block = $run->{block};
    my $root = $run->{servroot};
    my $must_die = _has($block, 'must_die');

    my $log = read_file("$root/logs/error.log");
    $log = read_file("$root/logs/nginx-t.out") . $log if $must_die;
    my $where = $must_die ? 'nginx -t output and error.log' : 'error.log';

    for my $item (_log_items($block, 'error_log')) {
        my $found = ref $item eq 'Regexp' ? $log =~ $item
                                          : index($log, $item) >= 0;
        _ok($run, 'error_log: ' . _short($item), $found,
            "not found in $where ($root/logs)");
    }
    for my $item (_log_items($block, 'no_error_log')) {
        my @hits = grep {
            ref $item eq 'Regexp' ? $_ =~ $item : index($_, $item) >= 0
        } split /\n/, $log;
        splice @hits, 5 if @hits > 5;
        _ok($run, 'no_error_log: ' . _short($item), !@hits,
            "found in $where:", map { "  $_" } @hits);
    }

    unless (_has($block, 'no_check_alerts')) {
        # nginx -t reports a bad config with [emerg]: expected there
        my $re = $must_die ? qr/\[(?:alert|crit)\]/
                           : qr/\[(?:alert|crit|emerg)\]/;
        my @hits = grep { $_ =~ $re } split /\n/, $log;
        splice @hits, 10 if @hits > 10;
        _ok($run, 'no alerts in error.log', !@hits,
            "found in $where:", map { "  $_" } @hits);
    }
}

# Excerpts of a valgrind log around the errors that fail a block.
sub valgrind_errors {
    my ($text) = @_;
    my @lines = split /\n/, $text;
    my @out;
    for my $i (0 .. $#lines) {
        next unless $lines[$i] =~ $VALGRIND_ERRORS;
        # the error line and its stack, up to the next empty "==pid== "
        for my $j ($i .. $#lines) {
            last if $j > $i && $lines[$j] =~ /^==\d+==\s*$/;
            push @out, $lines[$j];
        }
        last if @out > 80;
    }
    return @out;
}

sub _check_valgrind {
    my ($run) = @_;
    my $file = "$run->{servroot}/logs/valgrind.log";
    my $text = read_file($file);
    unless (length $text) {
        _ok($run, 'valgrind', 0, "no valgrind log $file");
        return;
    }
    my @errors = valgrind_errors($text);
    _ok($run, 'valgrind', !@errors, "valgrind found errors ($file):",
        map { "  $_" } @errors);
}

# ---------------------------------------------------------------------------
# Helpers for ws_code

sub _current {
    return $CURRENT if $CURRENT;
    my $what = (caller(1))[3];
    die "$what: no test block is running\n";
}

sub server_port { _current()->{port} }
sub servroot    { _current()->{servroot} }
sub nginx_pid   { _current()->{pid} }

sub kafka_brokers { _current()->{brokers} }

# tls_port(): the port $TEST_NGINX_TLS_PORT names in this block (a block
# gets one when a section names it, or has ws_tls, or its ws_code says
# "tls =>").
sub tls_port { _current()->{tls_port} }

# IO::Socket::SSL options verifying a server certificate of the test CA.
sub _tls_options {
    return {
        SSL_ca_file         => kafka_certs()->{ca},
        SSL_verify_mode     => 1,    # SSL_VERIFY_PEER
        SSL_hostname        => 'localhost',
        SSL_verifycn_name   => 'localhost',
        SSL_verifycn_scheme => 'http',
    };
}

# kafka_front_log(): what this block's kafka front logged so far ('' when
# there is none); wait_kafka_front_log($string_or_qr, $timeout): true once
# it contains that (polling), false after $timeout seconds (default the
# block's timeout).
sub kafka_front_log {
    return read_file(_current()->{servroot} . '/logs/front.log');
}

sub wait_kafka_front_log {
    my ($what, $timeout) = @_;
    my $run = _current();
    my $deadline = time + ($timeout // $run->{timeout});
    for (;;) {
        my $log = read_file("$run->{servroot}/logs/front.log");
        return 1 if ref $what ? $log =~ $what : index($log, $what) >= 0;
        return 0 if time > $deadline;
        sleep 0.05;
    }
}

sub error_log_text {
    return read_file(_current()->{servroot} . '/logs/error.log');
}

# ws_connect(%opt): Test::PubSub::WS->connect to this block's nginx with
# the block's timeout; closed before nginx is stopped.  tls => 1 connects
# with TLS to $TEST_NGINX_TLS_PORT and verifies nginx's certificate against
# the test CA (host name localhost); tls => { IO::Socket::SSL options }
# uses those instead.
sub ws_connect {
    my (%opt) = @_;
    my $run = _current();
    if ($opt{tls} && !ref $opt{tls}) {
        $opt{tls} = _tls_options();
        $opt{port} //= $run->{tls_port};
    }
    my $ws = Test::PubSub::WS->connect(
        port    => $run->{port},
        timeout => $run->{timeout},
        %opt,
    );
    push @{ $run->{conns} }, $ws;
    return $ws;
}

# http_get($path, @headers): a GET on a new connection; the response as
# Test::PubSub::HTTP::http_request returns it.
sub http_get {
    my ($path, @headers) = @_;
    my $run = _current();
    return http_request(
        port    => $run->{port},
        request => build_request("GET $path", \@headers),
        timeout => $run->{timeout},
    );
}

# mock_cmd("down 1"): the kafka mock's answer line.
sub mock_cmd {
    my ($cmd) = @_;
    my $mock = _current()->{mock} or die "mock_cmd: no --- kafka section\n";
    return $mock->cmd($cmd);
}

# wait_error_log($string_or_qr, $timeout): true once error.log contains it
# (polling), false after $timeout seconds (default the block's timeout).
sub wait_error_log {
    my ($what, $timeout) = @_;
    my $run = _current();
    my $deadline = time + ($timeout // $run->{timeout});
    for (;;) {
        my $log = read_file("$run->{servroot}/logs/error.log");
        return 1 if ref $what ? $log =~ $what : index($log, $what) >= 0;
        return 0 if time > $deadline;
        sleep 0.05;
    }
}

# nginx_reload(): SIGHUP, then wait until the master started the new
# workers and the old ones began shutting down (they stop accepting right
# after logging that).  Dies after the stop timeout.
sub nginx_reload {
    my $run = _current();
    die "nginx_reload: nginx is not running\n" unless $run->{pid};
    die "nginx_reload: not possible under valgrind (master_process off);"
        . " mark the block --- no_valgrind\n" if $VALGRIND;

    my $file = "$run->{servroot}/logs/error.log";
    my $offset = -s $file || 0;
    kill 'HUP', $run->{pid};

    my $n = $run->{workers};
    my $deadline = time + $STOP_TIMEOUT;
    for (;;) {
        my $new = substr read_file($file), $offset;
        my $started = () = $new =~ /start worker process \d+/g;
        my $leaving = () = $new =~ /gracefully shutting down/g;
        if ($started >= $n && $leaving >= $n) {
            sleep 0.1;
            return 1;
        }
        if (time > $deadline) {
            die "nginx_reload: no new workers after $STOP_TIMEOUT s\n"
                . tail_lines($new, 20, qr/^\S+ \S+ \[(?!debug\])/);
        }
        sleep 0.05;
    }
}

1;

__END__

=head1 NAME

Test::PubSub - data-driven tests of ngx_http_pubsub_kafka_module

=head1 SYNOPSIS

    use lib 't/lib';
    use Test::PubSub;

    run_tests();    # plans with done_testing unless the file planned

    __DATA__

    === TEST 1: ping gets pong with the same state
    --- config
        location = /ws {
            pubsub;
        }
    --- ws_request eval
    [ ws_binary(pb_req(sequence => 7, cmd_ping => { state => "abc" })) ]
    --- ws_response
    seq=7 pong state="abc"
    --- no_error_log
    [error]

=head1 WHAT A BLOCK DOES

For each block the harness empties t/servroot/<test file name>/, writes
conf/nginx.conf (the sections main_config, http_config and config go at
the top level, in http{} and in the server{} listening on a free port of
127.0.0.1), starts the kafka mock (and its TLS/SASL front) when there is a
--- kafka section, starts
nginx (daemon off, master_process on, error_log debug) and waits for its
pid file, which nginx writes once it listens.  Then it makes the plain HTTP
request, then the WebSocket exchange, closes its connections, stops nginx
with SIGQUIT (SIGKILL and a failure after 10 s), stops the mock, and checks
error.log.  Under valgrind the timeouts are longer.

Every block makes a fixed number of assertions (see block_checks):
"nginx starts" (or "nginx -t fails"), then one per check of the sections
below, "nginx exits", one per error_log / no_error_log item, "no alerts in
error.log" and, under valgrind, "valgrind".  When something cuts a phase
short the remaining checks are reported as skipped after one failure.

=head1 SECTIONS

=over

=item main_config, http_config, config

nginx configuration.  $TEST_NGINX_SERVER_PORT, $TEST_NGINX_SERVROOT,
$TEST_NGINX_HTML_DIR, $TEST_NGINX_KAFKA_BROKERS, $TEST_NGINX_TLS_PORT and
any other $TEST_NGINX_* environment variable are replaced (also in request,
raw_request, more_headers and user_files).  Without a --- kafka section
$TEST_NGINX_KAFKA_BROKERS is 127.0.0.1 and a port nothing listens on.
"user root;" is added when the harness runs as root and main_config has no
user directive.

$TEST_NGINX_TLS_PORT is a second free port of 127.0.0.1 for a TLS
listener ("listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl;" in --- config adds
it to the harness's server{}); --- ws_tls and ws_connect(tls => 1) connect
to it.  Only blocks that name it, have ws_tls or say "tls =>" in ws_code
get one.

Test certificates, made with openssl at the first block that names one
(or has a TLS kafka front or --- ws_tls), once per test file, in
t/servroot/<test file name>.certs (EC P-256, unencrypted PEM; see
kafka_certs): $TEST_NGINX_KAFKA_CA (the test CA),
$TEST_NGINX_KAFKA_SERVER_CERT and $TEST_NGINX_KAFKA_SERVER_KEY (signed by
it, for IP:127.0.0.1, IP:127.0.0.2 and DNS:localhost: the kafka front's and
good for nginx's own ssl_certificate), $TEST_NGINX_KAFKA_CLIENT_CERT and
$TEST_NGINX_KAFKA_CLIENT_KEY (CN nginx-client, for mutual TLS),
$TEST_NGINX_KAFKA_OTHER_CA (a CA that signed none of them) and
$TEST_NGINX_KAFKA_CERTS (their directory).

=item worker_processes: N, worker_connections: N (default 1024), log_level:
LEVEL (default debug), timeout: N

timeout is the seconds any one read waits (default 5; 3 times that under
valgrind).

=item user_files

">>> name" lines, each followed by the file's contents, written under
html/ ($TEST_NGINX_HTML_DIR); or an eval giving [[name, contents], ...].

=item must_die

Run "nginx -t" instead of starting nginx; it must fail.  error_log and
no_error_log then look at its output and error.log; the alert check only
looks for [alert] and [crit].

=item error_log, no_error_log

One substring per non-empty line, or an eval giving an array ref of
strings and qr//.  Checked after nginx exited.  Unless --- no_check_alerts,
error.log must not contain [alert], [crit] or [emerg].

=item request, raw_request, more_headers

request: "GET /t" becomes "GET /t HTTP/1.1" with Host: localhost and
Connection: close (a request line that names a protocol is kept); further
lines are a body (one trailing newline removed; Content-Length added).
more_headers lines are added; one naming a default header replaces it;
"!Name" removes it.  raw_request (or its eval, a string or an array ref of
strings) is sent as is.  The response is read until the server closes or
it is complete.

=item error_code (default 200), response_headers, response_headers_like,
response_body, response_body_like

response_headers: "Name: value" lines (exact value) and "!Name" (absent).
response_headers_like: "Name: regex".  response_body is compared exactly
(de-chunked); response_body_like is a regex with /s.

=item ws_request, ws_code, ws_response, ws_response_like

A block with any of them connects to ws_path (default /ws), does the
handshake (more_headers apply as above) and checks the 101 and
Sec-WebSocket-Accept ("ws handshake"); with "--- ws_handshake_status: N"
it checks that status instead and stops there.  ws_request is an eval
giving an array ref of byte strings (frames, or any bytes), all sent in
one write after the 101; with --- ws_pipeline they go in the same write as
the handshake; with "--- ws_send_delay: SECONDS" each one is a separate
write with that pause between.  Then the server frames are read and
rendered one per line (see ws_render) until there are as many lines as
ws_response has ("--- ws_frames: N" overrides, default 1 for
ws_response_like), TCP EOF (line "eof") or a read timeout (line
"timeout").  ws_response compares exactly (trailing newlines ignored);
ws_response_like is a regex with /ms.

ws_code is Perl run in the test file's package, after the handshake and
ws_request, with $ws (a Test::PubSub::WS); its return value (a string, or
an array ref of lines) is what ws_response / ws_response_like compare.
Without either, the check "ws_code" passes when it does not die.

=item kafka

"brokers: N" (default 1), "topic: NAME PARTITIONS" lines, and commands
for the mock, each of which must answer "ok".

An optional "front: ..." line puts TLS and/or SASL in front of the mock
(which speaks PLAINTEXT only), tools/kafka_front.py run with
/usr/bin/python3:

    front: ssl [mtls]
    front: sasl_plaintext [MECH,...] [user=NAME:PASS]...
    front: sasl_ssl [MECH,...] [user=NAME:PASS]... [mtls]

The first word is the security.protocol a client must speak.  MECH,...
are the SASL mechanisms offered (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512;
also OAUTHBEARER, accepting a JWT whose "sub" is a known user, unsigned
ones included, and GSSAPI, offered but never completed); user=NAME:PASS
the accounts (repeatable, default user=alice:alice-secret); mtls makes TLS
require a client certificate signed by $TEST_NGINX_KAFKA_CA.  TLS uses
$TEST_NGINX_KAFKA_SERVER_CERT.  With a front the mock is started with
"--advertise 127.0.0.2": its brokers listen on 127.0.0.1:PORT but
advertise 127.0.0.2:PORT (in $TEST_NGINX_KAFKA_BROKERS and in Metadata),
where the front listens, one listener per broker, so every broker
connection of nginx, bootstrap or learned from Metadata, goes through it.
The mock's commands work as without a front.  The front logs one line per
event to logs/front.log ("tls ok[, client certificate CN=...]", "tls
failed: REASON", "auth ok: MECH user NAME", "auth failed: MECH user NAME:
REASON", "auth failed: mechanism MECH not enabled"; never a password): see
kafka_front_log and wait_kafka_front_log.

=item ws_tls

The WebSocket exchange of ws_request / ws_code goes over TLS to
$TEST_NGINX_TLS_PORT (which the config must listen on with ssl), verifying
nginx's certificate against $TEST_NGINX_KAFKA_CA for the name localhost.
Needs IO::Socket::SSL (Debian libio-socket-ssl-perl).

=item no_valgrind, no_check_alerts

=back

=head1 EXPORTED

Test::Base's exports (blocks, is, like, ok, plan, ...), done_testing, and:

    run_tests()                    run all blocks
    ws_frame($op, $payload, %opt)  fin, rsv, mask, mask_key, len16, len64,
                                   length
    ws_binary/ws_text/ws_ping/ws_pong/ws_cont($payload, %opt)
    ws_close($code, $reason, %opt) no payload when $code is undef
    ws_frame_parse($bytes)         ($frame, $consumed) or ()
    ws_render($frame)              the one-line rendering
    ws_accept_key($key)
    WS_CONT WS_TEXT WS_BINARY WS_CLOSE WS_PING WS_PONG
    pb_req(%fields)                PubSubReq bytes, fields in given order
    pb_req_encode(\%h) pb_resp_encode(\%h) pb_encode($msg, \%h or \@pairs)
    pb_req_decode($b) pb_resp_decode($b) pb_decode($msg, $b)  undef if bad
    pb_resp_render($bytes)
    pb_varint($n) pb_key($num, $wt) pb_field($num, varint|bytes|fixed64|
                                             fixed32 => $v)
    quote_bytes($b) escape_bytes($b)
    ws_connect(%opt) http_get($path, @headers) server_port() servroot()
    error_log_text() wait_error_log($str_or_qr, $timeout) nginx_pid()
    nginx_reload() mock_cmd($line) kafka_brokers() use_valgrind()
    kafka_certs() tls_port() kafka_front_log()
    wait_kafka_front_log($str_or_qr, $timeout)

ws_connect(tls => 1, ...) connects with TLS to $TEST_NGINX_TLS_PORT,
verifying nginx's certificate against the test CA (tls => { ... } passes
IO::Socket::SSL options instead, port => P another port); $ws->sock is
then an IO::Socket::SSL.  kafka_certs() returns the test certificates
{ dir, ca, ca_key, server_cert, server_key, client_cert, client_key,
other_ca } (paths), making them on the first call; it works outside a
block too, e.g. in an eval section.  tls_port() is $TEST_NGINX_TLS_PORT.
kafka_front_log() is what the kafka front logged so far;
wait_kafka_front_log() polls it like wait_error_log.

=head1 ENVIRONMENT

TEST_NGINX_BINARY (default /usr/sbin/nginx), TEST_NGINX_MODULE (default
build/ngx_http_pubsub_kafka_module.so), TEST_NGINX_NO_MODULE=1 (no
load_module line), TEST_PUBSUB_MOCK (default build/pubsub-kafka-mock),
TEST_PUBSUB_FRONT (default tools/kafka_front.py), TEST_PUBSUB_PYTHON
(default /usr/bin/python3), TEST_NGINX_USE_VALGRIND=1.

=cut
