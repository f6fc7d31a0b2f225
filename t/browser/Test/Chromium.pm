package Test::Chromium;

# Headless Chromium for the browser tests, driven over the DevTools
# protocol (CDP) with the harness's own WebSocket client
# (Test::PubSub::WS): no Python, no Node.js, no WebDriver.
#
#   my $browser = Test::Chromium->start;        # dies when it cannot
#   my $page = $browser->new_page("http://127.0.0.1:$port/");
#   $page->wait_for('document.title !== ""', 'the title');
#   my $rows = $page->eval('[...document.querySelectorAll("tr")].length');
#   $page->close;
#   $browser->stop;                              # also done at exit
#
# Chromium runs in its own session (process group) with a fresh profile in
# a temporary directory.  stop() closes it over CDP, then kills its process
# group and any process left whose command line names the profile (the
# crash handler runs in a group of its own); an END block does it for every
# browser still running, and the browser gets SIGKILL when the test process
# dies (PR_SET_PDEATHSIG).

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

use Test::PubSub::Util qw(read_file wait_child tail_lines);
use Test::PubSub::WS qw(ws_text WS_TEXT WS_CONT WS_CLOSE WS_PING);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $OWNER = $$;
my %RUNNING;    # pid => browser

# The flags of every run (besides the debugging port and the profile).
our @FLAGS = qw(
    --headless --no-sandbox --disable-gpu --no-first-run
    --disable-background-networking --disable-component-update
    --disable-sync --disable-quic --disable-dev-shm-usage
    --disable-extensions --mute-audio --no-default-browser-check
);

# The Chromium binary: $CHROMIUM_BIN, else the first of the usual names
# found on PATH; undef when there is none.
sub find_binary {
    if (my $bin = $ENV{CHROMIUM_BIN}) {
        return -f $bin && -x _ ? $bin : undef;
    }
    for my $name (qw(chromium chromium-browser google-chrome-stable
                     google-chrome)) {
        for my $dir (split /:/, $ENV{PATH} // '/usr/bin') {
            return "$dir/$name" if -f "$dir/$name" && -x _;
        }
    }
    return undef;
}

# Test::Chromium->start(timeout => 20): start Chromium and connect to its
# browser target.  Dies (with the end of Chromium's log) on failure.
sub start {
    my ($class, %opt) = @_;
    my $timeout = $opt{timeout} // 20;
    my $bin = find_binary()
        or die "Chromium not found: install it (apt-get install -y chromium)"
             . " or set CHROMIUM_BIN\n";

    my $dir = tempdir('pubsub-chromium-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $profile = "$dir/profile";
    mkdir $profile or die "mkdir $profile: $!\n";
    my $log = "$dir/chromium.log";
    my @argv = ($bin, @FLAGS, '--remote-debugging-port=0',
                "--user-data-dir=$profile", 'about:blank');

    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        # child: a session of its own, so that the whole tree can be killed
        eval {
            $SIG{$_} = 'DEFAULT' for qw(PIPE INT TERM QUIT HUP CHLD);
            POSIX::setsid();
            _die_with_parent();
            open STDIN, '<', '/dev/null' or die "stdin: $!\n";
            open STDOUT, '>>', $log or die "$log: $!\n";
            open STDERR, '>&', \*STDOUT or die "stderr: $!\n";
            exec { $argv[0] } @argv;
            die "exec $argv[0]: $!\n";
        };
        print STDERR $@;
        POSIX::_exit(127);
    }

    my $self = bless {
        pid      => $pid,
        dir      => $dir,
        profile  => $profile,
        log      => $log,
        id       => 0,
        events   => [],
        buf      => '',
    }, $class;
    $RUNNING{$pid} = $self;

    # Chromium writes the port and the browser target's path into
    # DevToolsActivePort once it listens.
    my $deadline = time + $timeout;
    my ($port, $path);
    for (;;) {
        my $text = read_file("$profile/DevToolsActivePort");
        if ($text =~ /^(\d+)\n(\/\S+)/) {
            ($port, $path) = ($1, $2);
            last;
        }
        if (defined wait_child($pid, 0)) {
            delete $RUNNING{$pid};
            delete $self->{pid};
            $self->stop;
            die "Chromium ($bin) exited at start:\n" . $self->log_tail;
        }
        if (time > $deadline) {
            my $tail = $self->log_tail;
            $self->stop;
            die "Chromium ($bin) did not open its debugging port within"
                . " $timeout s:\n$tail";
        }
        sleep 0.05;
    }

    $self->{ws} = eval {
        Test::PubSub::WS->connect(port => $port, path => $path,
                                  timeout => 10);
    };
    unless ($self->{ws}) {
        my $err = $@;
        $self->stop;
        die "cannot connect to Chromium's DevTools: $err";
    }
    $self->{version} = $self->cmd('Browser.getVersion')->{product};
    return $self;
}

sub version { $_[0]{version} }

sub log_tail {
    my ($self) = @_;
    return tail_lines(read_file($self->{log}), 15,
        qr/^(?!.*(?:dbus|unexpected operator))/);
}

# Set PR_SET_PDEATHSIG: SIGKILL when the test process dies, whatever kills
# it.  Best effort (Linux only).
sub _die_with_parent {
    eval {
        package main;    # syscall.ph defines its functions here
        require 'syscall.ph';
        syscall(&SYS_prctl, 1, 9);    # PR_SET_PDEATHSIG, SIGKILL
    };
}

# ---------------------------------------------------------------------------
# The protocol

# The next CDP message (a hash ref), or undef on timeout.  Events are
# queued by cmd(); close frames and EOF die.
sub _recv {
    my ($self, $timeout) = @_;
    my $ws = $self->{ws} or die "Chromium: not connected\n";
    my $deadline = time + $timeout;
    my $data = '';
    for (;;) {
        my $f = $ws->recv_frame(max(0, $deadline - time));
        return undef unless defined $f;
        die "Chromium closed the DevTools connection\n" unless ref $f;
        die "Chromium closed the DevTools connection\n"
            if $f->{opcode} == WS_CLOSE;
        next if $f->{opcode} == WS_PING;
        next unless $f->{opcode} == WS_TEXT || $f->{opcode} == WS_CONT;
        $data .= $f->{payload};
        next unless $f->{fin};
        return $JSON->decode($data);
    }
}

sub max { $_[0] > $_[1] ? $_[0] : $_[1] }

# cmd($method, \%params, $session, $timeout): the result of a CDP command;
# dies on a CDP error or timeout.  Events that come meanwhile are queued.
sub cmd {
    my ($self, $method, $params, $session, $timeout) = @_;
    my $id = ++$self->{id};
    my $msg = { id => $id, method => $method, params => $params // {} };
    $msg->{sessionId} = $session if defined $session;
    $self->{ws}->send(ws_text($JSON->encode($msg)))
        or die "Chromium: cannot send $method: $self->{ws}{error}\n";

    my $deadline = time + ($timeout // 10);
    for (;;) {
        my $m = $self->_recv($deadline - time);
        die "Chromium: no answer to $method within " . ($timeout // 10)
            . " s\n" unless $m;
        if (!defined $m->{id}) {
            push @{ $self->{events} }, $m;
            splice @{ $self->{events} }, 0, 100 if @{ $self->{events} } > 1000;
            next;
        }
        next unless $m->{id} == $id;
        die "Chromium: $method failed: $m->{error}{message}\n"
            if $m->{error};
        return $m->{result};
    }
}

# Reads what Chromium has sent so far (without waiting) into the queue.
sub pump {
    my ($self) = @_;
    while (my $m = $self->_recv(0)) {
        push @{ $self->{events} }, $m unless defined $m->{id};
    }
}

# The queued events of a session, removed from the queue.
sub take_events {
    my ($self, $session) = @_;
    $self->pump;
    my (@mine, @rest);
    for my $e (@{ $self->{events} }) {
        if (($e->{sessionId} // '') eq ($session // '')) {
            push @mine, $e;
        }
        else {
            push @rest, $e;
        }
    }
    $self->{events} = \@rest;
    return @mine;
}

# new_page($url): a new tab (Test::Chromium::Page) that loads $url, in a
# browser context of its own (like an incognito window): its own cache,
# cookies and connections, all gone when the page is closed.  Chromium
# keeps idle and speculative (preconnected) connections to a server open
# after a tab closed; closing the context closes them, so that a server
# stopped after the page does not wait for them.
sub new_page {
    my ($self, $url) = @_;
    my $context = $self->cmd('Target.createBrowserContext',
                             { disposeOnDetach => JSON::PP::true });
    my $target = $self->cmd('Target.createTarget', {
        url              => 'about:blank',
        browserContextId => $context->{browserContextId},
    });
    my $attach = $self->cmd('Target.attachToTarget', {
        targetId => $target->{targetId},
        flatten  => JSON::PP::true,
    });
    my $page = bless {
        browser  => $self,
        context  => $context->{browserContextId},
        target   => $target->{targetId},
        session  => $attach->{sessionId},
        problems => [],
    }, 'Test::Chromium::Page';
    $page->cmd('Runtime.enable');
    $page->cmd('Log.enable');
    $page->cmd('Page.enable');
    $page->navigate($url) if defined $url;
    return $page;
}

# Close the browser: over CDP first, then by killing what is left.
sub stop {
    my ($self) = @_;
    return if $$ != $OWNER;
    if ($self->{ws} && $self->{pid}) {
        eval { $self->cmd('Browser.close', {}, undef, 2) };
    }
    if (my $ws = delete $self->{ws}) {
        $ws->close;
    }
    if (my $pid = delete $self->{pid}) {
        delete $RUNNING{$pid};
        if (!defined wait_child($pid, 3)) {
            kill 'KILL', -$pid;     # its process group (setsid above)
            kill 'KILL', $pid;
            wait_child($pid, 5);
        }
        # nothing that our profile started survives, in any group
        kill 'KILL', -$pid;
    }
    _kill_profile_processes($self->{profile}) if $self->{profile};
}

# Processes whose command line names $profile (a directory only we use).
sub _kill_profile_processes {
    my ($profile) = @_;
    opendir my $dh, '/proc' or return;
    my @pids;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        next if $pid == $$;
        my $cmdline = read_file("/proc/$pid/cmdline");
        push @pids, $pid if index($cmdline, $profile) >= 0;
    }
    closedir $dh;
    kill 'KILL', @pids if @pids;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@, $!);
    $self->stop if $self->{pid} || $self->{ws};
}

END {
    local $?;
    $_->stop for values %RUNNING;
}

# ---------------------------------------------------------------------------
# A tab

package Test::Chromium::Page;

use Time::HiRes qw(sleep time);

sub cmd {
    my ($self, $method, $params, $timeout) = @_;
    return $self->{browser}->cmd($method, $params, $self->{session},
                                 $timeout);
}

sub navigate {
    my ($self, $url) = @_;
    my $r = $self->cmd('Page.navigate', { url => $url });
    die "navigation to $url failed: $r->{errorText}\n" if $r->{errorText};
    return $r;
}

# eval($js): the value of a JavaScript expression in the page (promises
# awaited, the value returned as JSON); dies on an exception.
sub eval {
    my ($self, $js) = @_;
    my $r = $self->cmd('Runtime.evaluate', {
        expression    => $js,
        returnByValue => JSON::PP::true,
        awaitPromise  => JSON::PP::true,
    });
    if (my $ex = $r->{exceptionDetails}) {
        my $text = $ex->{exception}{description} // $ex->{text};
        die "JavaScript exception in ($js): $text\n";
    }
    return $r->{result}{value};
}

# wait_for($js, $what, $timeout): polls $js until it gives a true value
# and returns it; dies after $timeout seconds (default 10) with $what.
sub wait_for {
    my ($self, $js, $what, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    for (;;) {
        my $v = $self->eval($js);
        return $v if $v;
        die "timed out after " . ($timeout // 10) . " s waiting for "
            . ($what // $js) . "\n" if time > $deadline;
        sleep 0.05;
    }
}

# Uncaught exceptions and console errors of the page so far, as text
# lines; warnings are left out.
sub problems {
    my ($self) = @_;
    for my $e ($self->{browser}->take_events($self->{session})) {
        my $p = $e->{params} // {};
        if ($e->{method} eq 'Runtime.exceptionThrown') {
            my $d = $p->{exceptionDetails} // {};
            push @{ $self->{problems} }, 'exception: '
                . ($d->{exception}{description} // $d->{text} // '?');
        }
        elsif ($e->{method} eq 'Runtime.consoleAPICalled'
               && $p->{type} eq 'error') {
            push @{ $self->{problems} }, 'console.error: ' . join ' ',
                map { $_->{value} // $_->{description} // '' }
                @{ $p->{args} || [] };
        }
        elsif ($e->{method} eq 'Log.entryAdded'
               && ($p->{entry}{level} // '') eq 'error') {
            push @{ $self->{problems} }, "log: $p->{entry}{text}"
                . ($p->{entry}{url} ? " ($p->{entry}{url})" : '');
        }
    }
    return @{ $self->{problems} };
}

# A PNG of the page (for debugging).
sub screenshot {
    my ($self, $file) = @_;
    require MIME::Base64;
    my $r = $self->cmd('Page.captureScreenshot', { format => 'png' });
    open my $fh, '>:raw', $file or die "$file: $!\n";
    print {$fh} MIME::Base64::decode_base64($r->{data});
    close $fh;
}

# Closes the tab and its browser context (and so its connections).
sub close {
    my ($self) = @_;
    my $b = $self->{browser};
    if (my $target = delete $self->{target}) {
        eval { $b->cmd('Target.closeTarget', { targetId => $target }) };
    }
    if (my $context = delete $self->{context}) {
        eval {
            $b->cmd('Target.disposeBrowserContext',
                    { browserContextId => $context });
        };
    }
}

1;
