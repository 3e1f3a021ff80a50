// Server restart (same data dir, same ports) in the middle of a conversation:
// both SDKs reconnect with jittered backoff, queued sends go out with their
// messageIds, messages sent while a client was away come by sync — every
// message exactly once and in sequence order. Also: server down at connect,
// send timeouts, login and REST timeouts against a silent listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Server, nextEvent, waitFor, collect, settle, freePort, blackHole, APP_ID, makeToken, T, SLOW } from './helpers.mjs';
import { PetrelClient, createRest } from '../../web/sdk/petrel.js';

function strictlyIncreasing(list) {
  for (let i = 1; i < list.length; i++) if (!(list[i] > list[i - 1])) return false;
  return true;
}

test('server restart mid-conversation: reconnect, gap sync, no loss, no duplicates', async () => {
  const srv = new Server();
  await srv.start();
  const clients = [];
  try {
    await srv.ensureUsers(['alice', 'bob']);
    // alice waits at least 1.5 s before each reconnect; and while \`away\` is
    // set her sockets go to a closed port, so bob's sends below happen while
    // she is away however slow the machine is
    let away = false;
    const deadPort = await freePort();
    const Gated = class extends WebSocket {
      constructor(url, ...rest) { super(away ? `ws://127.0.0.1:${deadPort}/ws` : url, ...rest); }
    };
    const alice = await srv.client('alice', { imei: 'a-r', WebSocket: Gated, reconnect: { baseMs: 200, maxMs: 400, minMs: 1500 } });
    const bob = await srv.client('bob', { imei: 'b-r', reconnect: { baseMs: 50, maxMs: 200 } });
    clients.push(alice, bob);
    await alice.connect();
    await bob.connect();
    const atAlice = collect(alice);
    const atBob = collect(bob);
    const aliceRetries = collect(alice, 'reconnecting');
    const bobBack = collect(bob, 'reconnected');

    const bobSent = [];
    const aliceSent = [];
    for (let i = 0; i < 5; i++) {
      bobSent.push(await bob.sendText('alice', `b${i}`));
      aliceSent.push(await alice.sendText('bob', `a${i}`));
    }
    await waitFor(() => atAlice.length === 5 && atBob.length === 5, { what: 'first round' });

    const down = nextEvent(alice, 'disconnected');
    away = true;
    assert.equal(await srv.stop(), 0);
    await down;
    // alice sends while the server is down: queued
    const queued = [alice.sendText('bob', 'a-queued-1'), alice.sendText('bob', 'a-queued-2')];
    await settle();
    await srv.start(); // same ports, same data dir
    // bob is back first; he sends while alice is still away
    await waitFor(() => bobBack.length === 1, { what: 'bob reconnects' });
    for (let i = 5; i < 10; i++) bobSent.push(await bob.sendText('alice', `b${i}`));
    assert.notEqual(alice.state, 'open', 'alice is still away');
    away = false;
    await waitFor(() => alice.state === 'open', { what: 'alice reconnects' });
    for (const a of await Promise.all(queued)) aliceSent.push(a);
    for (let i = 10; i < 13; i++) bobSent.push(await bob.sendText('alice', `b${i}`));

    await waitFor(() => atAlice.length >= 13 && atBob.length >= 7, { what: 'all delivered' });
    await settle(500); // any duplicate would show up now
    assert.deepEqual(atAlice.map((m) => m.body.content), bobSent.map((_, i) => `b${i}`), 'alice: all, once, in order');
    assert.deepEqual(atAlice.map((m) => m.messageKey), bobSent.map((a) => a.messageKey));
    assert.ok(strictlyIncreasing(atAlice.map((m) => m.messageSequence)));
    assert.ok(atAlice.slice(5, 10).every((m) => m.source === 'sync'), 'the away messages came by sync');
    assert.deepEqual(atBob.map((m) => m.body.content), ['a0', 'a1', 'a2', 'a3', 'a4', 'a-queued-1', 'a-queued-2']);
    assert.ok(strictlyIncreasing(atBob.map((m) => m.messageSequence)));

    // backoff: every delay at least minMs, and jittered (not all equal)
    assert.ok(aliceRetries.length >= 1);
    assert.ok(aliceRetries.every((r) => r.delayMs >= 1500 && r.delayMs <= 1500 + 400));
    // the server holds exactly 7 + 13 messages in this conversation
    const h = await srv.rest('alice').getP2pMessageRange({ toId: 'bob', fromSequence: 1, limit: 200 });
    assert.equal(h.dataList.length, 20);
  } finally {
    for (const c of clients) c.close();
    await srv.dispose();
  }
});

test('full jitter: many clients do not reconnect in lockstep after a restart', async () => {
  const srv = new Server();
  await srv.start();
  const clients = [];
  try {
    const users = Array.from({ length: 12 }, (_, i) => `j${i}`);
    await srv.ensureUsers(users);
    const delays = [];
    for (const u of users) {
      const c = await srv.client(u, { reconnect: { baseMs: 1000, maxMs: 4000 } });
      c.on('reconnecting', (r) => { if (r.attempt === 1) delays.push(r.delayMs); });
      clients.push(c);
      await c.connect();
    }
    await srv.stop();
    await waitFor(() => delays.length === users.length, { what: 'every client schedules a retry' });
    const distinct = new Set(delays.map((d) => Math.floor(d / 50)));
    assert.ok(distinct.size >= 6, `delays spread out: ${delays}`);
    assert.ok(delays.every((d) => d >= 0 && d <= 1000));
    await srv.start();
    await waitFor(() => clients.every((c) => c.state === 'open'), { ms: 2 * T, what: 'all back' });
  } finally {
    for (const c of clients) c.close();
    await srv.dispose();
  }
});

test('server down: connect() keeps retrying and succeeds when it comes up; without reconnect it rejects', async () => {
  // the users exist before the client can reach the server (a login of an
  // unknown user is refused for good): import them on a first run of the
  // same data dir on other ports
  const srv = new Server();
  await srv.start();
  await srv.ensureUsers(['alice', 'bob']);
  await srv.stop();
  srv.httpPort = 0;
  const port = await freePort();
  const token = makeToken(srv.secret, 'alice');
  // reconnect off: the first failure rejects
  const once = new PetrelClient({ baseUrl: `http://127.0.0.1:${port}`, appId: APP_ID, userId: 'alice', userSign: token, reconnect: false });
  await assert.rejects(once.connect(), (e) => e.code === 'NETWORK');
  assert.equal(once.state, 'closed');

  const c = new PetrelClient({ baseUrl: `http://127.0.0.1:${port}`, appId: APP_ID, userId: 'alice', userSign: token,
    reconnect: { baseMs: 50, maxMs: 200 }, sendTimeoutMs: 300 });
  const retries = collect(c, 'reconnecting');
  const p = c.connect();
  // a send while nothing is reachable times out
  await assert.rejects(c.sendText('bob', 'never'), (e) => e.code === 'TIMEOUT');
  await waitFor(() => retries.length >= 3, { what: 'retries' });
  try {
    await srv.start({ httpPort: port });
    const r = await p;
    assert.equal(r.userId, 'alice');
    assert.equal(c.state, 'open');
    // the timed-out message was never sent
    const h = await srv.rest('alice').queryP2pMessageHistory({ toId: 'bob', messageSequence: 0 });
    assert.equal(h.dataList.length, 0);
  } finally {
    c.close();
    await srv.dispose();
  }
});

test('timeouts: no LOGINACK from a silent listener, REST without an answer', async () => {
  const hole = await blackHole();
  try {
    const c = new PetrelClient({ baseUrl: `http://127.0.0.1:${hole.port}`, appId: APP_ID, userId: 'alice',
      userSign: 'x', loginTimeoutMs: 300, reconnect: false });
    const errors = collect(c, 'error');
    const t0 = Date.now();
    await assert.rejects(c.connect(), (e) => e.code === 'NETWORK');
    assert.ok(Date.now() - t0 >= 250, 'waited for the login deadline');
    assert.ok(errors.some((e) => e.code === 'LOGIN_TIMEOUT'));

    const rest = createRest({ baseUrl: `http://127.0.0.1:${hole.port}`, appId: APP_ID, userId: 'alice',
      userSign: 'x', timeoutMs: 300 });
    await assert.rejects(rest.getUserSequence(), (e) => e.code === 'TIMEOUT');
  } finally {
    await hole.close();
  }
  const port = await freePort();
  const rest = createRest({ baseUrl: `http://127.0.0.1:${port}`, appId: APP_ID, userId: 'alice', userSign: 'x' });
  await assert.rejects(rest.getUserSequence(), (e) => e.code === 'NETWORK');
});
