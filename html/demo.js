// The demo page: follows one partition through the gateway with pubsub.js
// and shows every message as it arrives.
//
// The watcher survives failures: when the socket drops (or a request times
// out) it reconnects, when the server answers with an error it retries on
// the same socket, both with exponential backoff, and each time it goes on
// at the offset after the last message shown, so no message is shown twice
// and none is skipped.
//
// Elements a test can read: #status (data-state: idle, connecting,
// starting, live, paused, retrying, stopped), #error (hidden when there is none), #earliest,
// #latest, #next, #count, #delay, #reconnects, and #messages, one <tr> per
// message, newest first, with data-offset, data-timestamp, data-delay and
// cells .offset .timestamp .key .value .delay.

import { PubSubClient, ServerError } from './pubsub.js';

const MAX_ROWS = 500;           // rows kept in the table
const OFFSETS_EVERY = 5000;     // ms between look-ups of earliest/latest
const BACKOFF_MIN = 500;        // ms before the first retry
const BACKOFF_MAX = 5000;       // ms, the longest wait between retries

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

function settingsFromUrl() {
  const q = new URLSearchParams(location.search);
  return {
    url: q.get('url') || defaultUrl(),
    topic: q.get('topic') || 'demo',
    partition: /^\d+$/.test(q.get('partition') || '') ? Number(q.get('partition')) : 0,
    from: parseFrom(q.get('from') || 'latest') ?? 'latest',
  };
}

function fillForm(s) {
  $('url').value = s.url;
  $('topic').value = s.topic;
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
    partition: Math.max(0, Math.trunc(Number($('partition').value) || 0)),
    from,
  };
}

// Puts the settings in the address bar, so a reload watches the same.
function saveToUrl(s) {
  const q = new URLSearchParams();
  q.set('topic', s.topic);
  q.set('partition', String(s.partition));
  q.set('from', String(s.from));
  if (s.url !== defaultUrl()) q.set('url', s.url);
  history.replaceState(null, '', `?${q}`);
}

// ---------------------------------------------------------------------------
// Display

function setStatus(state, text = state) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
}

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
  console.warn('pubsub demo:', message);
}

function clearError() {
  const el = $('error');
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
function messageRow(m) {
  const timestamp = Number(m.timestamp);
  const delay = Date.now() - timestamp;
  const tr = document.createElement('tr');
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
// Wiring

let watcher = null;

function resetView() {
  $('messages').replaceChildren();
  for (const id of ['earliest', 'latest', 'next', 'delay']) $(id).textContent = '–';
  for (const id of ['count', 'reconnects']) $(id).textContent = '0';
  clearError();
}

function watch(settings) {
  if (watcher) watcher.stop();
  resetView();
  if (!settings.topic) {
    showError('no topic given');
    setStatus('idle');
    return;
  }
  watcher = new Watcher(settings);
  $('pause').disabled = false;
  $('pause').textContent = 'Pause';
  watcher.start();
}

$('max-rows').textContent = String(MAX_ROWS);

$('from').addEventListener('change', () => {
  $('from-offset').hidden = $('from').value !== 'offset';
});

$('settings').addEventListener('submit', (e) => {
  e.preventDefault();
  const s = settingsFromForm();
  saveToUrl(s);
  watch(s);
});

$('pause').addEventListener('click', () => {
  if (!watcher) return;
  const paused = !watcher.paused;
  watcher.setPaused(paused);
  $('pause').textContent = paused ? 'Resume' : 'Pause';
});

$('clear').addEventListener('click', () => {
  $('messages').replaceChildren();
});

const initial = settingsFromUrl();
fillForm(initial);
watch({ ...initial, url: absoluteUrl(initial.url) });

// for tests and the console
window.pubsubDemo = { get watcher() { return watcher; } };
