// SDK against a real petreld: login, 1:1 send/ack/receive both ways with
// non-ASCII text, receipts, recall, resend deduplication, the kick, and
// ordered gap filling from a saved sync state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Server, nextEvent, waitFor, collect, settle } from './helpers.mjs';
import { PetrelClient } from '../../web/sdk/petrel.js';

let srv;
const clients = [];
async function connected(user, opts) {
  const c = await srv.client(user, opts);
  clients.push(c);
  await c.connect();
  return c;
}

before(async () => {
  srv = new Server();
  await srv.start();
  await srv.ensureUsers(['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
});

after(async () => {
  for (const c of clients) c.close();
  const code = await srv.stop();
  assert.equal(code, 0, 'petreld exits 0 on SIGTERM');
  await srv.dispose();
});

test('login, send both ways with ack, receive with exact UTF-8 bodies, receipts', async () => {
  const alice = await connected('alice', { imei: 'a-1' });
  const bob = await connected('bob', { imei: 'b-1' });
  assert.equal(alice.state, 'open');
  const atBob = collect(bob);
  const atAlice = collect(alice);
  const receiveAcks = collect(alice, 'onP2PMessageReceiveAck'); // seed alias

  const text = 'héllo 你好 😀 \u007f end';
  const ack = await alice.sendText('bob', text);
  assert.equal(typeof ack.messageKey, 'string', 'messageKey is a string (64-bit)');
  assert.ok(BigInt(ack.messageKey) > 9007199254740991n, 'messageKey exceeds 2^53: kept exact');
  assert.equal(ack.messageSequence, 1);
  await waitFor(() => atBob.length === 1, { what: 'bob receives' });
  const m = atBob[0];
  assert.equal(m.fromId, 'alice');
  assert.equal(m.body.content, text, 'exact body round trip');
  assert.equal(m.messageKey, ack.messageKey, 'same key, no precision loss');
  assert.equal(m.conversationId, '0_bob_alice');
  assert.equal(m.isSelf, false);

  // bob's SDK answered with 1107 automatically
  await waitFor(() => receiveAcks.length === 1, { what: 'receive ack at alice' });
  assert.equal(receiveAcks[0].fromId, 'bob');
  assert.equal(receiveAcks[0].messageKey, ack.messageKey);

  const back = await bob.sendText('alice', 'and back');
  assert.equal(back.messageSequence, 2);
  await waitFor(() => atAlice.length === 1, { what: 'alice receives' });
  assert.equal(atAlice[0].body.content, 'and back');

  // read receipt
  const receipt = nextEvent(bob, 'readReceipt');
  alice.markRead('bob', 2);
  const r = await receipt;
  assert.equal(r.fromId, 'alice');
  assert.equal(r.messageSequence, 2);
  const conv = await alice.rest.syncConversationList(0, 100);
  const c = conv.dataList.find((x) => x.conversationId === '0_alice_bob');
  assert.equal(c.readedSequence, 2);
});

test('recall: the peer is told, a second recall is refused with 50005', async () => {
  const carol = await connected('carol', { imei: 'c-1' });
  const dave = await connected('dave', { imei: 'd-1' });
  const ack = await carol.sendText('dave', 'oops');
  const notified = nextEvent(dave, 'onMessageRecalledNotify', { pred: (d) => d.messageKey === ack.messageKey });
  const res = await carol.recall(ack.messageKey);
  assert.equal(res.messageKey, ack.messageKey);
  assert.equal(res.messageSequence, ack.messageSequence);
  await notified;
  await assert.rejects(carol.recall(ack.messageKey), (e) => e.code === 50005);
  await assert.rejects(dave.recall(ack.messageKey), (e) => e.code === 60006, 'only the sender');
  const h = await dave.rest.queryP2pMessageHistory({ toId: 'carol', messageSequence: 0, limit: 10 });
  assert.equal(h.dataList[0].delFlag, 1);
});

test('resend after ack timeout uses the same messageId and is delivered once', async () => {
  // ackTimeoutMs 1: the SDK re-sends before the first ack can arrive
  const erin = await connected('erin', { imei: 'e-1', ackTimeoutMs: 1 });
  const frank = await connected('frank', { imei: 'f-1' });
  const atFrank = collect(frank);
  const resends = collect(erin, 'resend');
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push(await erin.sendText('frank', `m${i}`));
  assert.ok(resends.length > 0, 'the SDK resent at least once');
  await waitFor(() => atFrank.length >= 5, { what: 'frank receives five' });
  await settle(); // a duplicate would show up now
  assert.deepEqual(atFrank.map((m) => m.body.content), ['m0', 'm1', 'm2', 'm3', 'm4'], 'each once, in order');
  assert.deepEqual(atFrank.map((m) => m.messageId), sent.map((a) => a.messageId));
  // the same messageId from another device of erin: the original ack, no new message
  const erin2 = await connected('erin', { imei: 'e-2' });
  const again = await erin2.sendText('frank', 'm0 again', { messageId: sent[0].messageId });
  assert.equal(again.messageKey, sent[0].messageKey);
  assert.equal(again.messageSequence, sent[0].messageSequence);
  await settle();
  assert.equal(atFrank.length, 5, 'duplicate not delivered');
  // erin's first device sees the second device's sends as sync messages (none here: it was a duplicate)
});

test('messages from my other device arrive as p2pMessageSync, in the same stream', async () => {
  const a1 = await connected('alice', { imei: 'a-sync-1' });
  const a2 = await connected('alice', { imei: 'a-sync-2' });
  const syncs = collect(a1, 'p2pMessageSync');
  const all = collect(a1);
  const ack = await a2.sendText('carol', 'from my phone');
  await waitFor(() => syncs.length === 1, { what: '1108 at the other device' });
  assert.equal(syncs[0].messageKey, ack.messageKey);
  assert.equal(syncs[0].isSelf, true);
  assert.equal(syncs[0].conversationId, '0_alice_carol');
  assert.equal(all.length, 1);
});

test('kicked by another login of the same device: distinct event, no reconnect', async () => {
  const first = await connected('dave', { imei: 'same-device', reconnect: { baseMs: 50, maxMs: 100 } });
  const reconnecting = collect(first, 'reconnecting');
  const kicked = nextEvent(first, 'onMutualLogin'); // seed alias of 'kicked'
  const second = await connected('dave', { imei: 'same-device' });
  const k = await kicked;
  assert.equal(k.reason, 'another device logged in');
  assert.equal(k.imei, 'same-device');
  assert.equal(first.state, 'kicked');
  await settle(600);
  assert.equal(reconnecting.length, 0, 'no reconnect after a kick');
  assert.equal(first.state, 'kicked');
  await assert.rejects(first.sendText('alice', 'x'), (e) => e.code === 'CLOSED');
  // the new device works
  const ack = await second.sendText('alice', 'still here');
  assert.ok(ack.messageSequence > 0);
  const st = await srv.rest('admin').queryUserOnlineStatus(['dave']);
  assert.equal(st.dave.session.filter((s) => s.imei === 'same-device').length, 1);
});

test('a gap in a conversation is filled from the server, in order, once', async () => {
  const rest = srv.rest('admin');
  await srv.ensureUsers(['gina', 'hank']);
  for (let i = 1; i <= 4; i++) {
    await rest.sendMessage({ fromId: 'hank', toId: 'gina', messageId: `g${i}`, messageBody: { type: 1, content: `g${i}` } });
  }
  // a state that has delivered only up to sequence 1 of this conversation,
  // but whose message cursor is already at the end: the next push shows a gap
  const seqs = await srv.rest('gina').getUserSequence();
  const top = await srv.rest('gina').syncOfflineMessage(0, 1);
  const gina = await srv.client('gina', { imei: 'g-1', gapWaitMs: 50, resyncWindowMs: 0, syncState: {
    initialized: true, msgCursor: top.maxSequence, conversationSeq: seqs.conversationSeq,
    friendshipSeq: seqs.friendshipSeq, friendshipRequestSeq: seqs.friendshipRequestSeq,
    friendshipGroupSeq: seqs.friendshipGroupSeq, conv: { '0_gina_hank': 1 } } });
  clients.push(gina);
  const got = collect(gina);
  await gina.connect();
  assert.equal(got.length, 0, 'nothing after the cursor yet');
  await rest.sendMessage({ fromId: 'hank', toId: 'gina', messageId: 'g5', messageBody: { type: 1, content: 'g5' } });
  await waitFor(() => got.length === 4, { what: 'gap filled' });
  await settle(200);
  assert.deepEqual(got.map((m) => m.messageSequence), [2, 3, 4, 5]);
  assert.deepEqual(got.map((m) => m.body.content), ['g2', 'g3', 'g4', 'g5']);
  assert.deepEqual(got.map((m) => m.source), ['gap', 'gap', 'gap', 'push']);
  assert.equal(gina.getSyncState().conv['0_gina_hank'], 5);
});

test("initialSync 'all' delivers the stored history once, in order; 'latest' delivers none", async () => {
  // its own users: independent of what the other tests sent
  await srv.ensureUsers(['ivy', 'jon']);
  const rest = srv.rest('jon');
  for (let i = 0; i < 5; i++) await rest.sendMessage({ toId: 'ivy', messageId: `iv${i}`, messageBody: { type: 1, content: `m${i}` } });
  const latest = await connected('ivy', { imei: 'i-latest' });
  const none = collect(latest);
  const c = await srv.client('ivy', { imei: 'i-all', initialSync: 'all' });
  clients.push(c);
  const got = collect(c);
  const batches = collect(c, 'onOfflineMessage');
  await c.connect();
  assert.deepEqual(got.map((m) => m.body.content), ['m0', 'm1', 'm2', 'm3', 'm4']);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].length, 5);
  await settle(100);
  assert.equal(none.length, 0);
});

test('login refused: bad, expired and foreign tokens reject connect() and never retry', async () => {
  const cases = [
    [srv.token('alice').slice(0, -8) + 'AAAAAAAA', 60003],
    [srv.token('alice', { ttl: 1, issued: Math.floor(Date.now() / 1000) - 100 }), 60004],
    [srv.token('bob'), 60005],
    // issue 14, item 16: issued 30 years ahead, or living 30 years
    [srv.token('alice', { ttl: 3600, issued: Math.floor(Date.now() / 1000) + 30 * 365 * 86400 }), 62100],
    [srv.token('alice', { ttl: 30 * 365 * 86400 }), 62101],
  ];
  for (const [sign, code] of cases) {
    const c = new PetrelClient({ baseUrl: srv.baseUrl, appId: 10000, userId: 'alice', userSign: sign,
      reconnect: { baseMs: 10, maxMs: 20 } });
    const retries = collect(c, 'reconnecting');
    await assert.rejects(c.connect(), (e) => e.code === code, `code ${code}`);
    await settle(100);
    assert.equal(retries.length, 0);
    assert.equal(c.state, 'closed');
  }
  // a user that does not exist
  const ghost = new PetrelClient({ baseUrl: srv.baseUrl, appId: 10000, userId: 'ghost', userSign: srv.token('ghost') });
  await assert.rejects(ghost.connect(), (e) => e.code === 20001);
});

test('logout ends the session on the server and stops the client', async () => {
  const c = await connected('carol', { imei: 'c-logout' });
  const admin = srv.rest('admin');
  let st = await admin.queryUserOnlineStatus(['carol']);
  assert.ok(st.carol.session.some((s) => s.imei === 'c-logout'));
  await c.logout();
  assert.equal(c.state, 'closed');
  await waitFor(async () => {
    st = await admin.queryUserOnlineStatus(['carol']);
    return !st.carol.session.some((s) => s.imei === 'c-logout');
  }, { what: 'session gone' });
  await assert.rejects(c.sendText('dave', 'x'), (e) => e.code === 'CLOSED');
});
