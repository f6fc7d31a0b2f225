// The demo page: follows a topic through the gateway with pubsub.js and
// shows every message as it arrives, in two ways that can run side by
// side:
//
// - push (the default): client.subscribe() to every partition; the server
//   sends messages as they come, within a window of credit; a consumer
//   group kept in localStorage and autoCommit make a reload of the page go
//   on where it left off.
// - the fetch loop: client.tail() on one partition, APISIX's way.
//
// Both survive failures: when the socket drops (or a request times out)
// they reconnect, when the server answers with an error they retry on the
// same socket, with exponential backoff, and each time they go on after
// the last message shown, so no message is shown twice and none is
// skipped.  A box publishes to the topic (client.produce()); what it
// publishes comes back through the subscription.
//
// Elements a test can read.  The fetch loop: #status (data-state: idle,
// connecting, starting, live, paused, retrying, stopped), #error (hidden
// when there is none), #earliest, #latest, #next, #count, #delay,
// #reconnects, and #messages, one <tr> per message, newest first, with
// data-offset, data-timestamp, data-delay and cells .offset .timestamp
// .key .value .delay.  Push: #push-status (the same states), #push-error,
// #push-group, #push-resumed, #push-positions ("0:12 1:30", data-positions
// the same as JSON), #push-count, #push-delay, #push-gaps,
// #push-reconnects, and #push-messages, rows with data-partition too and a
// .partition cell.  Publishing: #publish-key, #publish-value,
// #publish-send, #publish-result (data-state: idle, sending, ok, error;
// data-partition and data-offset when ok).  #panels data-mode: push, both
// or fetch.

import { PubSubClient, ServerError } from './pubsub.js';

const MAX_ROWS = 500;           // rows kept in the table
const OFFSETS_EVERY = 5000;     // ms between look-ups of earliest/latest
const BACKOFF_MIN = 500;        // ms before the first retry
const BACKOFF_MAX = 5000;       // ms, the longest wait between retries
const PUSH_WINDOW = 100;        // messages the server may push ahead
const COMMIT_EVERY = 1000;      // ms between commits of the push group
const GROUP_KEY = 'pubsub-demo-group';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Settings: URL parameters, the form

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/kafka`;
}

// A gateway URL as typed: "/kafka" is taken relative to this server.
function absoluteUrl(url) {
  if (url.startsWith('/')) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}${url}`;
  }
  return url;
}

// "latest", "earliest" or an offset (BigInt) from text; null if invalid.
function parseFrom(text) {
  if (text === 'latest' || text === 'earliest') return text;
  if (/^\d+$/.test(text)) return BigInt(text);
  return null;
}

const MODES = ['push', 'both', 'fetch'];

// mode: as given; else a link naming a partition (the fetch loop's links
// from before push existed) opens the fetch loop, any other push
function settingsFromUrl() {
  const q = new URLSearchParams(location.search);
  const mode = MODES.includes(q.get('mode')) ? q.get('mode')
    : q.has('partition') ? 'fetch' : 'push';
  return {
    url: q.get('url') || defaultUrl(),
    topic: q.get('topic') || 'demo',
    mode,
    partition: /^\d+$/.test(q.get('partition') || '') ? Number(q.get('partition')) : 0,
    from: parseFrom(q.get('from') || 'latest') ?? 'latest',
  };
}

function fillForm(s) {
  $('url').value = s.url;
  $('topic').value = s.topic;
  $('mode').value = s.mode;
  $('partition').value = String(s.partition);
  const isOffset = typeof s.from === 'bigint';
  $('from').value = isOffset ? 'offset' : s.from;
  $('from-offset').value = isOffset ? String(s.from) : '0';
  $('from-offset').hidden = !isOffset;
}

function settingsFromForm() {
  const from = $('from').value === 'offset'
    ? parseFrom($('from-offset').value.trim()) ?? 0n
    : $('from').value;
  return {
    url: absoluteUrl($('url').value.trim() || defaultUrl()),
    topic: $('topic').value.trim(),
    mode: $('mode').value,
    partition: Math.max(0, Math.trunc(Number($('partition').value) || 0)),
    from,
  };
}

// Puts the settings in the address bar, so a reload watches the same.
function saveToUrl(s) {
  const q = new URLSearchParams();
  q.set('topic', s.topic);
  q.set('mode', s.mode);
  q.set('partition', String(s.partition));
  q.set('from', String(s.from));
  if (s.url !== defaultUrl()) q.set('url', s.url);
  history.replaceState(null, '', `?${q}`);
}

// ---------------------------------------------------------------------------
// Display

function setStatus(state, text = state, id = 'status') {
  const el = $(id);
  el.dataset.state = state;
  el.textContent = text;
}

function showError(message, id = 'error') {
  const el = $(id);
  el.textContent = message;
  el.hidden = false;
  console.warn('pubsub demo:', message);
}

function clearError(id = 'error') {
  const el = $(id);
  if (!el.hidden) {
    el.hidden = true;
    el.textContent = '';
  }
}

function formatDelay(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.round(ms / 60000)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

function formatTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// A cell for key or value bytes: their text when they are valid UTF-8,
// else hex (marked "binary").
function bytesCell(className, bytes) {
  const td = document.createElement('td');
  td.className = className;
  let text;
  try {
    text = strictUtf8.decode(bytes);
  } catch (e) {
    text = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    td.classList.add('binary');
  }
  if (text.length > 300) {
    td.title = text.slice(0, 4000);
    text = `${text.slice(0, 300)}…`;
  }
  td.textContent = text;
  return td;
}

function textCell(className, text, title) {
  const td = document.createElement('td');
  td.className = className;
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

// The row of a message; delay is Date.now() - the message's timestamp.
// withPartition: a first cell with the partition (push shows them all).
function messageRow(m, withPartition = false) {
  const timestamp = Number(m.timestamp);
  const delay = Date.now() - timestamp;
  const tr = document.createElement('tr');
  if (withPartition) {
    tr.dataset.partition = String(m.partition);
    tr.append(textCell('partition', String(m.partition)));
  }
  tr.dataset.offset = String(m.offset);
  tr.dataset.timestamp = String(m.timestamp);
  tr.dataset.delay = String(delay);

  // the demo producer puts its own clock in "ms": show that delay too
  let producerNote = '';
  try {
    const ms = JSON.parse(m.valueText).ms;
    if (typeof ms === 'number') producerNote = `producer clock: ${formatDelay(Date.now() - ms)}`;
  } catch (e) {
    // not JSON
  }

  tr.append(
    textCell('offset', String(m.offset)),
    textCell('timestamp', formatTime(timestamp), new Date(timestamp).toISOString()),
    bytesCell('key', m.key),
    bytesCell('value', m.value),
    textCell('delay', formatDelay(delay), producerNote),
  );
  return { tr, delay };
}

// ---------------------------------------------------------------------------
// The watcher: one partition, one connection at a time

class Watcher {
  constructor(settings) {
    this.s = settings;
    this.client = null;      // the PubSubClient in use
    this.tail = null;        // its Tail
    this.next = null;        // offset to go on from after a failure
    this.lastShown = null;   // BigInt offset of the last message shown
    this.latest = null;      // BigInt, the end offset as far as we know
    this.paused = false;
    this.stopped = false;
    this.attempt = 0;        // failures since the last good answer
    this.retryTimer = null;
    this.offsetsTimer = null;
    this.received = 0;
    this.reconnects = 0;
  }

  start() {
    this.connect();
    this.offsetsTimer = setInterval(() => this.refreshOffsets(), OFFSETS_EVERY);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.offsetsTimer);
    if (this.tail) this.tail.stop();
    const client = this.client;
    this.client = null;
    this.tail = null;
    if (client) client.close();
    setStatus('stopped');
  }

  setPaused(paused) {
    this.paused = paused;
    if (this.tail) {
      if (paused) this.tail.pause();
      else this.tail.resume();
    }
    if (paused) setStatus('paused');
    else if (this.tail && this.tail.state === 'running') setStatus('live');
  }

  connect() {
    if (this.stopped) return;
    setStatus('connecting', 'connecting…');
    const client = new PubSubClient(this.s.url);
    this.client = client;
    client.addEventListener('close', (e) => this.onClose(client, e.detail));
    client.addEventListener('error', (e) => console.warn('pubsub demo:', e.detail));
    client.opened.then(() => {
      if (client !== this.client) return;
      setStatus('starting', 'connected, starting…');
      this.refreshOffsets();
      this.startTail();
    }, () => {
      // the 'close' event handles it
    });
  }

  startTail() {
    const from = this.next ?? this.s.from;
    const tail = this.client.tail(this.s.topic, this.s.partition, {
      from,
      onMessage: (m, t) => this.show(m, t),
      onBatch: (msgs, t) => this.onBatch(t),
      onError: (err, t) => this.onTailError(t, err),
    });
    if (this.paused) tail.pause();
    this.tail = tail;
  }

  // Every answer of a fetch: the partition is being followed.
  onBatch(tail) {
    if (tail !== this.tail) return;
    this.attempt = 0;
    clearError();
    setStatus(this.paused ? 'paused' : 'live');
    if (tail.nextOffset !== null) $('next').textContent = String(tail.nextOffset);
  }

  show(m, tail) {
    if (tail !== this.tail) return;
    const offset = BigInt(m.offset);
    this.next = tail.nextOffset;
    // a safety net: a message already shown is not shown again
    if (this.lastShown !== null && offset <= this.lastShown) return;
    this.lastShown = offset;

    const { tr, delay } = messageRow(m);
    const tbody = $('messages');
    tbody.prepend(tr);
    while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();

    this.received++;
    $('count').textContent = String(this.received);
    $('delay').textContent = formatDelay(delay);
    $('next').textContent = String(tail.nextOffset);
    if (this.latest === null || offset + 1n > this.latest) {
      this.latest = offset + 1n;
      $('latest').textContent = String(this.latest);
    }
  }

  onTailError(tail, err) {
    if (tail !== this.tail || this.stopped) return;
    this.tail = null;
    if (tail.nextOffset !== null) this.next = tail.nextOffset;
    showError(err.message);
    if (err instanceof ServerError && this.client && this.client.isOpen) {
      // the server is there but cannot serve this now: ask again later
      this.retry(false);
    } else {
      // the connection is gone or does not answer: a new one
      const client = this.client;
      this.client = null;
      if (client) client.close();
      this.retry(true);
    }
  }

  onClose(client, detail) {
    if (client !== this.client || this.stopped) return;
    if (this.tail) {
      const tail = this.tail;
      this.tail = null;
      tail.stop();
      if (tail.nextOffset !== null) this.next = tail.nextOffset;
    }
    this.client = null;
    showError(`connection closed (${detail.code}${detail.reason ? ` ${detail.reason}` : ''})`);
    this.retry(true);
  }

  // Waits (exponential backoff with jitter), then starts a new tail on the
  // same connection, or a new connection.
  retry(reconnect) {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt++;
    setStatus('retrying',
      `${reconnect ? 'reconnecting' : 'retrying'} in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      if (reconnect || !this.client || !this.client.isOpen) {
        this.reconnects++;
        $('reconnects').textContent = String(this.reconnects);
        this.connect();
      } else {
        this.startTail();
      }
    }, delay);
  }

  async refreshOffsets() {
    const client = this.client;
    if (!client || !client.isOpen) return;
    const { topic, partition } = this.s;
    try {
      const [earliest, latest] = await Promise.all([
        client.listOffset(topic, partition, -2),
        client.listOffset(topic, partition, -1),
      ]);
      if (client !== this.client) return;
      $('earliest').textContent = String(earliest);
      const end = BigInt(latest);
      if (this.latest === null || end > this.latest) this.latest = end;
      $('latest').textContent = String(this.latest);
    } catch (err) {
      // a closed connection is reported by the 'close' handler
      if (err instanceof ServerError && client === this.client) showError(err.message);
    }
  }
}

// ---------------------------------------------------------------------------
// Push: every partition of the topic, one subscription at a time

// The consumer group of this browser (made up the first time), so that a
// reload goes on where the page left off.
function pageGroup(fresh = false) {
  let group = null;
  try {
    group = fresh ? null : localStorage.getItem(GROUP_KEY);
  } catch (e) {
    // no storage (a sandboxed page): a group for this visit only
  }
  if (!group) {
    group = `demo-page-${Math.random().toString(36).slice(2, 10)}`;
    try {
      localStorage.setItem(GROUP_KEY, group);
    } catch (e) {
      // as above
    }
  }
  return group;
}

const PUSH = 'push-status';

function formatPositions(positions) {
  const list = [...positions].sort((a, b) => a[0] - b[0]);
  return list.length ? list.map(([p, o]) => `${p}:${o}`).join(' ') : '–';
}

class PushWatcher {
  constructor(settings, group) {
    this.s = settings;
    this.group = group;
    this.client = null;      // the PubSubClient in use
    this.sub = null;         // its Subscription
    this.positions = null;   // Map partition -> next offset, to go on from after a failure
    this.lastShown = new Map(); // partition -> BigInt offset of the last message shown
    this.paused = false;
    this.resume = null;      // resolves the wait of a paused onMessage
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.received = 0;
    this.gaps = 0;
    this.reconnects = 0;
  }

  start() {
    $('push-group').textContent = this.group;
    this.connect();
  }

  // Ends the subscription and closes the socket: the client sends the
  // group's last commit first.
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.setPaused(false);
    const client = this.client;
    this.client = null;
    this.sub = null;
    if (client) client.close();
    setStatus('stopped', 'stopped', PUSH);
  }

  // Paused, onMessage holds the message it got: the subscription keeps
  // what follows (at most the window) and grants no credit, so the server
  // stops pushing.
  setPaused(paused) {
    this.paused = paused;
    if (!paused && this.resume) {
      this.resume();
      this.resume = null;
    }
    if (this.stopped) return;
    if (paused) setStatus('paused', 'paused', PUSH);
    else if (this.sub && this.sub.state === 'running') setStatus('live', 'live', PUSH);
  }

  connect() {
    if (this.stopped) return;
    setStatus('connecting', 'connecting…', PUSH);
    const client = new PubSubClient(this.s.url);
    this.client = client;
    client.addEventListener('close', (e) => this.onClose(client, e.detail));
    // e.g. a commit that failed: the subscription goes on
    client.addEventListener('error', (e) => console.warn('pubsub demo (push):', e.detail));
    client.opened.then(() => {
      if (client !== this.client) return;
      this.subscribe();
    }, () => {
      // the 'close' event handles it
    });
  }

  async subscribe() {
    const client = this.client;
    setStatus('starting', 'connected, starting…', PUSH);
    if (this.positions === null) {
      // the first start: say where the group left off
      try {
        const committed = await client.committed(this.group, this.s.topic);
        if (client !== this.client) return;
        const known = [...committed].filter(([, o]) => o >= 0);
        $('push-resumed').textContent = known.length
          ? `where the group left off: ${formatPositions(known)}`
          : 'at the end (nothing committed yet)';
      } catch (err) {
        if (client !== this.client) return;
        if (!(err instanceof ServerError)) return;   // the 'close' event handles it
        $('push-resumed').textContent = `(committed: ${err.message})`;
      }
    }
    const sub = client.subscribe(this.s.topic, {
      // after a failure: every partition where the page was, exactly
      partitions: this.positions ?? undefined,
      allPartitions: true,
      start: 'latest',
      group: this.group,
      autoCommit: COMMIT_EVERY,
      window: PUSH_WINDOW,
      onMessage: (m) => this.onMessage(sub, m),
      onGap: (gaps) => this.onGap(sub, gaps),
      onEnd: (positions, s) => this.onEnd(s),
      onError: (err, s) => this.onError(s, err),
    });
    this.sub = sub;
    sub.started.then((positions) => {
      if (sub !== this.sub) return;
      this.attempt = 0;
      clearError('push-error');
      this.showPositions(sub);
      setStatus(this.paused ? 'paused' : 'live', this.paused ? 'paused' : 'live', PUSH);
    }, () => {
      // onError handles it
    });
  }

  onMessage(sub, m) {
    if (sub !== this.sub) return undefined;
    if (this.paused) {
      return new Promise((resolve) => { this.resume = resolve; })
        .then(() => this.show(sub, m));
    }
    this.show(sub, m);
    return undefined;
  }

  show(sub, m) {
    if (sub !== this.sub) return;
    this.positions = new Map(sub.positions);
    const offset = BigInt(m.offset);
    const last = this.lastShown.get(m.partition);
    // a safety net: a message already shown is not shown again
    if (last !== undefined && offset <= last) return;
    this.lastShown.set(m.partition, offset);

    const { tr, delay } = messageRow(m, true);
    const tbody = $('push-messages');
    tbody.prepend(tr);
    while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
    this.received++;
    $('push-count').textContent = String(this.received);
    $('push-delay').textContent = formatDelay(delay);
    this.showPositions(sub);
  }

  onGap(sub, gaps) {
    if (sub !== this.sub) return;
    this.gaps += gaps.length;
    $('push-gaps').textContent = String(this.gaps);
    this.positions = new Map(sub.positions);
    this.showPositions(sub);
  }

  showPositions(sub) {
    const el = $('push-positions');
    el.textContent = formatPositions(sub.positions);
    el.dataset.positions = JSON.stringify(Object.fromEntries(
      [...sub.positions].map(([p, o]) => [p, String(o)])));
  }

  // The server ended it (nginx reloads, credentials expired).
  onEnd(sub) {
    if (sub !== this.sub || this.stopped) return;
    this.positions = new Map(sub.positions);
    if (sub.endReason === 'server') {
      // the socket closes next, usually; if not, subscribe again on it
      this.sub = null;
      this.retry(false);
    }
  }

  onError(sub, err) {
    if (sub !== this.sub || this.stopped) return;
    this.sub = null;
    if (sub.positions.size > 0) this.positions = new Map(sub.positions);
    showError(err.message, 'push-error');
    if (err instanceof ServerError && this.client && this.client.isOpen) {
      this.retry(false);
    } else {
      const client = this.client;
      this.client = null;
      if (client) client.close();
      this.retry(true);
    }
  }

  onClose(client, detail) {
    if (client !== this.client || this.stopped) return;
    if (this.sub && this.sub.positions.size > 0) this.positions = new Map(this.sub.positions);
    this.sub = null;
    this.client = null;
    showError(`connection closed (${detail.code}${detail.reason ? ` ${detail.reason}` : ''})`,
      'push-error');
    this.retry(true);
  }

  retry(reconnect) {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt++;
    setStatus('retrying',
      `${reconnect ? 'reconnecting' : 'retrying'} in ${(delay / 1000).toFixed(1)} s`, PUSH);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      if (reconnect || !this.client || !this.client.isOpen) {
        this.reconnects++;
        $('push-reconnects').textContent = String(this.reconnects);
        this.connect();
      } else {
        this.subscribe();
      }
    }, delay);
  }
}

// ---------------------------------------------------------------------------
// Publishing: a connection of its own, opened when first needed

class Publisher {
  constructor() {
    this.client = null;
    this.url = null;
  }

  async publish(url, topic, key, value) {
    if (!this.client || this.client.closed || this.url !== url) {
      if (this.client) this.client.close();
      this.client = new PubSubClient(url);
      this.url = url;
    }
    return this.client.produce(topic, value, { key });
  }
}

// ---------------------------------------------------------------------------
// Wiring

let watcher = null;       // the fetch loop
let pushWatcher = null;   // push
let settings = null;
const publisher = new Publisher();

function resetView() {
  $('messages').replaceChildren();
  for (const id of ['earliest', 'latest', 'next', 'delay']) $(id).textContent = '–';
  for (const id of ['count', 'reconnects']) $(id).textContent = '0';
  clearError();
  $('push-messages').replaceChildren();
  for (const id of ['push-resumed', 'push-positions', 'push-delay']) $(id).textContent = '–';
  for (const id of ['push-count', 'push-gaps', 'push-reconnects']) $(id).textContent = '0';
  clearError('push-error');
}

function watch(s, group = pageGroup()) {
  if (watcher) watcher.stop();
  if (pushWatcher) pushWatcher.stop();
  watcher = null;
  pushWatcher = null;
  settings = s;
  resetView();
  $('panels').dataset.mode = s.mode;
  $('push-panel').hidden = s.mode === 'fetch';
  $('fetch-panel').hidden = s.mode === 'push';
  $('publish-topic').textContent = s.topic || '–';
  if (!s.topic) {
    showError('no topic given');
    setStatus('idle');
    return;
  }
  $('pause').disabled = false;
  $('pause').textContent = 'Pause';
  if (s.mode !== 'push') {
    watcher = new Watcher(s);
    watcher.start();
  }
  if (s.mode !== 'fetch') {
    pushWatcher = new PushWatcher(s, group);
    pushWatcher.start();
  }
}

for (const el of document.querySelectorAll('.max-rows')) el.textContent = String(MAX_ROWS);
$('max-rows').textContent = String(MAX_ROWS);

function showFetchSettings() {
  for (const el of document.querySelectorAll('.fetch-setting')) {
    el.hidden = $('mode').value === 'push';
  }
}

$('from').addEventListener('change', () => {
  $('from-offset').hidden = $('from').value !== 'offset';
});

$('mode').addEventListener('change', showFetchSettings);

$('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  const s = settingsFromForm();
  saveToUrl(s);
  watch(s);
});

$('pause').addEventListener('click', () => {
  const paused = !((watcher && watcher.paused) || (pushWatcher && pushWatcher.paused));
  if (!watcher && !pushWatcher) return;
  if (watcher) watcher.setPaused(paused);
  if (pushWatcher) pushWatcher.setPaused(paused);
  $('pause').textContent = paused ? 'Resume' : 'Pause';
});

$('clear').addEventListener('click', () => {
  $('messages').replaceChildren();
  $('push-messages').replaceChildren();
});

$('push-reset').addEventListener('click', () => {
  if (settings) watch(settings, pageGroup(true));
});

$('publish').addEventListener('submit', async (e) => {
  e.preventDefault();
  const result = $('publish-result');
  if (!settings || !settings.topic) return;
  const value = $('publish-value').value || `hello from the page at ${new Date().toISOString()}`;
  result.dataset.state = 'sending';
  delete result.dataset.partition;
  delete result.dataset.offset;
  result.textContent = 'sending…';
  try {
    const { partition, offset } = await publisher.publish(settings.url, settings.topic,
      $('publish-key').value, value);
    result.dataset.state = 'ok';
    result.dataset.partition = String(partition);
    result.dataset.offset = String(offset);
    result.textContent = `stored: partition ${partition}, offset ${offset}`;
  } catch (err) {
    result.dataset.state = 'error';
    result.textContent = err.message;
  }
});

// leaving the page: the push group's last commit goes out before the close
window.addEventListener('pagehide', () => {
  if (pushWatcher) pushWatcher.stop();
});

const initial = settingsFromUrl();
fillForm(initial);
showFetchSettings();
watch({ ...initial, url: absoluteUrl(initial.url) });

// for tests and the console
window.pubsubDemo = {
  get watcher() { return watcher; },
  get pushWatcher() { return pushWatcher; },
};
