# The demo page (html/index.html, demo.js, pubsub.js) in headless Chromium,
# against nginx and the kafka mock: messages produced while the page
# watches appear on it in order with their offsets; history from the
# earliest offset; pause and resume; reconnection after the socket drops
# without duplicates or gaps; errors of the server on the page.
#
# Needs Chromium (Debian package "chromium"); the test fails without it.
# Chromium is driven over the DevTools protocol (t/browser/Test/Chromium.pm)
# and always stopped at the end.

use strict;
use warnings;

use Cwd qw(abs_path);
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/browser";

use Test::PubSub;
use Test::Chromium;
use Time::HiRes qw(sleep time);

# nginx serves the page from the repository's html directory
$ENV{TEST_NGINX_PAGE_ROOT} = abs_path("$FindBin::Bin/../html");

our $CONFIG = <<'EOF';
    pubsub_kafka_property fetch.wait.max.ms 10;
    pubsub_kafka_timeout 1s;

    location / {
        root $TEST_NGINX_PAGE_ROOT;
        # module scripts must come as JavaScript
        types {
            text/html        html;
            text/css         css;
            text/javascript  js;
        }
    }
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
    }
EOF

my %DEFAULTS = (
    config  => $CONFIG,
    ws_path => '/kafka',
    timeout => 10,
);
for my $block (blocks()) {
    for my $name (keys %DEFAULTS) {
        $block->{$name} = [ $DEFAULTS{$name} ] unless exists $block->{$name};
    }
}

our $SLOW = use_valgrind() ? 3 : 1;

# for the ws_code sections, which do not see this file's lexicals
sub slow { $SLOW }

# One Chromium for the whole file, started by the first block.  When it
# cannot start, every block fails with the reason.
my ($BROWSER, $BROWSER_ERROR);

sub browser {
    die $BROWSER_ERROR if $BROWSER_ERROR;
    $BROWSER //= eval { Test::Chromium->start(timeout => 20 * $SLOW) };
    $BROWSER_ERROR = $@ || 'Chromium did not start' unless $BROWSER;
    die $BROWSER_ERROR if $BROWSER_ERROR;
    return $BROWSER;
}

END { $BROWSER->stop if $BROWSER }

# with_page($query, sub { my ($page) = @_; ... lines }): opens the demo
# page of this block's nginx with $query, runs the scenario, closes the
# page (before nginx stops), and returns the scenario's lines and a last
# line about exceptions and console errors of the page.  When the scenario
# dies, the error says what the page showed.
sub with_page {
    my ($query, $scenario) = @_;
    my $url = 'http://127.0.0.1:' . server_port() . "/$query";
    my $page = browser()->new_page($url);
    my @lines = eval {
        $page->wait_for('document.readyState === "complete"'
            . ' && window.pubsubDemo !== undefined', 'the page to load',
            10 * $SLOW);
        $scenario->($page);
    };
    my $err = $@;
    my @problems = eval { $page->problems };
    if ($err) {
        my $state = eval { describe(page_state($page)) } // "?: $@";
        eval { $page->screenshot(servroot() . '/logs/page.png') };
        $page->close;
        my $text = "$err" . "the page at $url:\n$state"
            . join('', map { "  $_\n" } @problems);
        utf8::encode($text);
        die $text;
    }
    $page->close;
    my @out = (@lines, @problems ? map { "page: $_" } @problems
                                  : 'page errors: none');
    utf8::encode($_) for @out;
    return \@out;
}

# What the page shows: status, error, the summary, and the rows of
# #messages oldest first.
sub page_state {
    my ($page) = @_;
    return $page->eval(<<'JS');
(() => {
  const text = (id) => document.getElementById(id).textContent;
  const error = document.getElementById('error');
  return {
    status: document.getElementById('status').dataset.state,
    error: error.hidden ? '' : error.textContent,
    earliest: text('earliest'),
    latest: text('latest'),
    next: text('next'),
    reconnects: Number(text('reconnects')),
    rows: [...document.querySelectorAll('#messages tr')].reverse().map((tr) => ({
      offset: tr.dataset.offset,
      key: tr.querySelector('.key').textContent,
      value: tr.querySelector('.value').textContent,
      delay: Number(tr.dataset.delay),
    })),
  };
})()
JS
}

sub describe {
    my ($s) = @_;
    return "  status=$s->{status} error=\"$s->{error}\" earliest=$s->{earliest}"
        . " latest=$s->{latest} next=$s->{next}"
        . " reconnects=$s->{reconnects}\n"
        . join '', map { "  row $_->{offset} $_->{key} $_->{value}\n" }
          @{ $s->{rows} };
}

# wait_state($page, $what, sub { my ($state) = @_; ... }): polls the page
# until the condition holds; its state then.  Dies after 10 s.
sub wait_state {
    my ($page, $what, $cond, $timeout) = @_;
    $timeout = ($timeout // 10) * $SLOW;
    my $deadline = time + $timeout;
    for (;;) {
        my $s = page_state($page);
        return $s if $cond->($s);
        die "timed out after $timeout s waiting for $what\n"
            if time > $deadline;
        sleep 0.05;
    }
}

sub rows { scalar @{ $_[0]{rows} } }

# The rows as "OFFSET KEY VALUE" lines.
sub row_lines {
    my ($s) = @_;
    return map { "$_->{offset} $_->{key} $_->{value}" } @{ $s->{rows} };
}

sub click {
    my ($page, $id) = @_;
    return $page->eval("document.getElementById('$id').click(),"
                       . " document.getElementById('$id').textContent");
}

# produce("TOPIC PART VALUE key=K"): one message through the mock.
sub produce {
    for my $what (@_) {
        my $answer = mock_cmd("produce $what");
        die "mock: produce $what: $answer\n" unless $answer =~ /^ok/;
    }
}

run_tests();

__DATA__

=== TEST 1: messages produced while the page watches appear live, in order, with their offsets
--- kafka
topic: test 1
produce test 0 old1 key=k0
produce test 0 old2 key=k0
--- ws_code
with_page('?topic=test&partition=0&from=latest', sub {
    my ($page) = @_;
    my $s = wait_state($page, 'the page to follow the partition', sub {
        $_[0]{status} eq 'live' && $_[0]{latest} eq '2'
    });
    my @out = ("status $s->{status}", "earliest $s->{earliest}",
               "latest $s->{latest}", 'rows ' . rows($s));

    produce(map { "test 0 m$_ key=k$_" } 1 .. 5);
    wait_state($page, '5 messages', sub { rows($_[0]) >= 5 });
    sleep 0.3;    # anything more (a duplicate) would come now
    $s = page_state($page);
    push @out, row_lines($s);

    # produce to display: Date.now() - the message timestamp
    my @bad = grep { $_->{delay} < -100 || $_->{delay} > 5000 * slow() }
              @{ $s->{rows} };
    push @out, @bad ? 'delays bad: ' . join(' ', map { $_->{delay} } @bad)
                    : 'delays ok';
    push @out, "latest $s->{latest}", "next $s->{next}";
    @out;
});
--- ws_response
status live
earliest 0
latest 2
rows 0
2 k1 m1
3 k2 m2
4 k3 m3
5 k4 m4
6 k5 m5
delays ok
latest 7
next 7
page errors: none
--- no_error_log
[error]



=== TEST 2: from the earliest offset: the history first, then live; pause holds messages back
--- kafka
topic: test 1
produce test 0 h1 key=k
produce test 0 h2 key=k
produce test 0 h3 key=k
--- ws_code
with_page('?topic=test&partition=0&from=earliest', sub {
    my ($page) = @_;
    my $s = wait_state($page, 'the history', sub {
        rows($_[0]) >= 3 && $_[0]{status} eq 'live'
    });
    my @out = row_lines($s);

    push @out, 'button ' . click($page, 'pause');
    $s = wait_state($page, 'paused', sub { $_[0]{status} eq 'paused' });
    produce('test 0 p4 key=k', 'test 0 p5 key=k');
    sleep 1;
    push @out, 'while paused: ' . rows(page_state($page)) . ' rows';

    push @out, 'button ' . click($page, 'pause');
    $s = wait_state($page, 'the held messages', sub { rows($_[0]) >= 5 });
    produce('test 0 l6 key=k');
    $s = wait_state($page, 'one more', sub { rows($_[0]) >= 6 });
    sleep 0.3;
    $s = page_state($page);
    push @out, row_lines($s), "status $s->{status}";
    @out;
});
--- ws_response
0 k h1
1 k h2
2 k h3
button Resume
while paused: 3 rows
button Pause
0 k h1
1 k h2
2 k h3
3 k p4
4 k p5
5 k l6
status live
page errors: none
--- no_error_log
[error]



=== TEST 3: the socket drops (nginx reload): the page reconnects and goes on without duplicates or gaps
--- no_valgrind
--- kafka
topic: test 1
produce test 0 old key=k
--- ws_code
with_page('?topic=test&partition=0&from=latest', sub {
    my ($page) = @_;
    wait_state($page, 'the page to follow the partition', sub {
        $_[0]{status} eq 'live'
    });
    produce('test 0 a1 key=k', 'test 0 a2 key=k');
    wait_state($page, '2 messages', sub { rows($_[0]) >= 2 });

    # the old worker closes every WebSocket with 1001 at once
    nginx_reload();
    # produced while the page is away
    produce('test 0 b3 key=k', 'test 0 b4 key=k');
    my $s = wait_state($page, 'the page to reconnect', sub {
        $_[0]{reconnects} >= 1 && $_[0]{status} eq 'live'
    });
    produce('test 0 c5 key=k');
    wait_state($page, '5 messages', sub { rows($_[0]) >= 5 });
    sleep 0.3;
    $s = page_state($page);
    (row_lines($s), 'reconnected: ' . ($s->{reconnects} >= 1 ? 'yes' : 'no'),
     'error: ' . ($s->{error} || 'none'), "status $s->{status}");
});
--- ws_response
1 k a1
2 k a2
3 k b3
4 k b4
5 k c5
reconnected: yes
error: none
status live
page errors: none
--- no_error_log
[error]



=== TEST 4: an unknown topic: the server's error shows on the page; it goes on once the topic exists
--- kafka
topic: test 1
topicerr missing UNKNOWN_TOPIC_OR_PART
--- ws_code
with_page('?topic=missing&partition=0&from=earliest', sub {
    my ($page) = @_;
    my $s = wait_state($page, 'an error', sub { $_[0]{error} ne '' });
    my @out = ("error: $s->{error}");
    $s = wait_state($page, 'a retry', sub { $_[0]{status} eq 'retrying' });
    push @out, "status $s->{status}";

    # (topicerr made the mock create the topic)
    for my $cmd ('topicerr missing NO_ERROR', 'produce missing 0 hello key=k') {
        my $answer = mock_cmd($cmd);
        die "mock: $cmd: $answer\n" unless $answer =~ /^ok/;
    }
    $s = wait_state($page, 'the message', sub {
        rows($_[0]) >= 1 && $_[0]{error} eq ''
    });
    (@out, row_lines($s), 'error: ' . ($s->{error} || 'none'),
     "status $s->{status}");
});
--- ws_response
error: failed to list offset, topic: missing, partition: 0, err: UNKNOWN_TOPIC_OR_PART
status retrying
0 k hello
error: none
status live
page errors: none



=== TEST 5: the broker goes down: the error shows on the page; when it is back the page goes on without gaps
--- kafka
topic: test 1
produce test 0 old key=k
--- ws_code
with_page('?topic=test&partition=0&from=latest', sub {
    my ($page) = @_;
    wait_state($page, 'the page to follow the partition', sub {
        $_[0]{status} eq 'live'
    });
    produce('test 0 a1 key=k');
    wait_state($page, 'a message', sub { rows($_[0]) >= 1 });

    # a fetch waiting at the end fails within pubsub_kafka_timeout (1s)
    mock_cmd('down 1') =~ /^ok/ or die "mock: down failed\n";
    my $s = wait_state($page, 'an error', sub { $_[0]{error} ne '' });
    # librdkafka's reason depends on timing
    (my $error = $s->{error}) =~ s/err: (?:_TIMED_OUT|_TRANSPORT|_ALL_BROKERS_DOWN)$/err: REASON/;
    my @out = ("error: $error");
    $s = wait_state($page, 'a retry', sub { $_[0]{status} eq 'retrying' });
    push @out, "status $s->{status}";

    mock_cmd('up 1') =~ /^ok/ or die "mock: up failed\n";
    produce('test 0 b2 key=k');
    $s = wait_state($page, 'the page to go on', sub {
        rows($_[0]) >= 2 && $_[0]{error} eq ''
    }, 15);
    sleep 0.3;
    $s = page_state($page);
    (@out, row_lines($s), "status $s->{status}");
});
--- ws_response
error: failed to fetch message, topic: test, partition: 0, err: REASON
status retrying
1 k a1
2 k b2
status live
page errors: none



=== TEST 6: push view: live, a message published from the page comes back, a reload resumes by group
--- config
    pubsub_kafka_property fetch.wait.max.ms 10;

    location / {
        root $TEST_NGINX_PAGE_ROOT;
        types {
            text/html        html;
            text/css         css;
            text/javascript  js;
        }
    }
    location = /kafka {
        pubsub_kafka_pass kafka://$TEST_NGINX_KAFKA_BROKERS;
        pubsub_kafka_write pt;
        pubsub_kafka_groups demo-page-*;
    }
--- kafka
topic: pt 2
produce pt 0 before
--- ws_code
my $push_state = sub {
    my ($page) = @_;
    return $page->eval(<<'JS');
(() => ({
  status: document.getElementById('push-status').dataset.state,
  resumed: document.getElementById('push-resumed').textContent,
  result: document.getElementById('publish-result').dataset.state,
  rows: [...document.querySelectorAll('#push-messages tr')].reverse()
    .map((tr) => `${tr.dataset.partition}:${tr.dataset.offset} `
                 + tr.querySelector('.value').textContent),
}))()
JS
};
my $wait = sub {
    my ($page, $what, $cond) = @_;
    my $deadline = time + 10 * slow();
    for (;;) {
        my $s = $push_state->($page);
        return $s if $cond->($s);
        die "timed out waiting for $what\n" if time > $deadline;
        sleep 0.05;
    }
};
my @out;
my $url = '?topic=pt';
push @out, @{ with_page($url, sub {
    my ($page) = @_;
    my $s = $wait->($page, 'push to be live', sub { $_[0]{status} eq 'live' });
    my @o = ("status $s->{status}", "resumed: $s->{resumed}");
    produce('pt 0 p0a', 'pt 1 p1a', 'pt 1 p1b');
    $s = $wait->($page, '3 messages', sub { @{ $_[0]{rows} } >= 3 });
    push @o, sort @{ $s->{rows} };
    $page->eval("document.getElementById('publish-value').value"
                . " = 'from the page',"
                . " document.getElementById('publish-send').click()");
    $s = $wait->($page, 'the published message back',
                 sub { grep { /from the page/ } @{ $_[0]{rows} } });
    push @o, "publish: $s->{result}", grep { /from the page/ } @{ $s->{rows} };
    sleep 1.5;    # the group commits every second
    # a reload in the same browser context keeps the page's localStorage
    $page->navigate('http://127.0.0.1:' . server_port() . "/$url");
    $page->wait_for('document.readyState === "complete"'
        . ' && window.pubsubDemo !== undefined', 'the page to reload',
        10 * slow());
    $s = $wait->($page, 'push to be live again',
                 sub { $_[0]{status} eq 'live' });
    push @o, "after the reload: $s->{resumed}", 'rows ' . @{ $s->{rows} };
    produce('pt 0 p0b');
    $s = $wait->($page, 'the new message', sub { @{ $_[0]{rows} } >= 1 });
    sleep 0.3;
    push @o, @{ $s->{rows} };
    @o;
}) };
\@out;
--- ws_response_like
\Astatus live
resumed: at the end \(nothing committed yet\)
0:1 p0a
1:0 p1a
1:1 p1b
publish: ok
[01]:\d from the page
after the reload: where the group left off: 0:\d 1:\d
rows 0
0:\d p0b
page errors: none\z
--- no_error_log
[error]
