// SDK against a petreld with a tiny send rate (2 messages/s per user): a
// burst over it is refused with 62081 "rate limited", which the SDK treats
// like 90000: it resends with the same messageId until the server takes
// it, so every send resolves and the peer gets each message once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Server, waitFor, collect, settle, T } from './helpers.mjs';

let srv;
const clients = [];
async function connected(user, opts) {
  const c = await srv.client(user, opts);
  clients.push(c);
  await c.connect();
  return c;
}

before(async () => {
  srv = new Server({ flags: ['--send-rate-user=2'] });
  await srv.start();
  await srv.ensureUsers(['gina', 'hugo']);
});

after(async () => {
  for (const c of clients) c.close();
  assert.equal(await srv.stop(), 0, 'petreld exits 0 on SIGTERM');
  await srv.dispose();
});

test('a burst over the send rate is resent until taken: every send resolves, each delivered once', async () => {
  const gina = await connected('gina', { imei: 'g-1', ackTimeoutMs: 300 });
  const hugo = await connected('hugo', { imei: 'h-1' });
  const atHugo = collect(hugo);
  const refused = collect(gina, 'messageAck');
  const texts = Array.from({ length: 8 }, (_, i) => `burst ${i}`);
  const acks = await Promise.all(texts.map((t) => gina.sendText('hugo', t)));
  assert.equal(acks.length, 8);
  assert.ok(refused.some((a) => a.code === 62081), 'the server refused part of the burst with 62081');
  await waitFor(() => atHugo.length >= 8, { what: 'hugo receives all eight', ms: 4 * T });
  await settle();
  assert.deepEqual(atHugo.map((m) => m.body.content).sort(), [...texts].sort(), 'each once');
  assert.deepEqual(new Set(atHugo.map((m) => m.messageId)), new Set(acks.map((a) => a.messageId)));
});
