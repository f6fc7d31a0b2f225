// html/pubsub.js's subscription with the reconnect option, for
// t/070-soak.t: node js-client-reconnect.mjs URL TOPIC COUNT [GROUP]
//
// Subscribes to every partition from the earliest offset (with GROUP: the
// group's committed offsets where it has some, and autoCommit), with a
// window, and prints each message handed out as a JSON line
// {"partition":P,"offset":O,"value":"..."}, a line "reconnected N" after
// each new socket; after COUNT messages it unsubscribes, closes and prints
// {"end":{...positions}}.  An error of the subscription ends it with
// {"error":"..."} and exit status 1.

import { PubSubClient } from '../../html/pubsub.js';

const [url, topic, count, group] = process.argv.slice(2);
const want = Number(count);
let seen = 0;

const client = new PubSubClient(url, { requestTimeout: 10000 });
let opened = 0;
client.addEventListener('open', () => {
  if (opened++ > 0) console.log(`reconnected ${client.reconnects}`);
});

const sub = client.subscribe(topic, {
  allPartitions: true,
  start: 'earliest',
  window: 16,
  reconnect: { delay: 100, maxDelay: 1000 },
  ...(group ? { group, autoCommit: 200 } : {}),
  onError: (err) => {
    console.log(JSON.stringify({ error: err.message }));
    process.exit(1);
  },
});

for await (const m of sub) {
  console.log(JSON.stringify({ partition: m.partition, offset: m.offset,
    value: m.valueText }));
  if (++seen === want) break;
}

const end = await sub.ended;
client.close();
console.log(JSON.stringify({ end: Object.fromEntries(end) }));
