// The SDK's use of the server's client hints, against a real petreld: a
// refused send is matched by the messageId its ERROR 9998 repeats, a recall
// answer by its messageKey (several in flight, answered out of call order),
// conversation rows carry peerReadSequence, and REST message/send sends as
// the operator without a fromId.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Server, waitFor, collect, nextEvent, settle } from './helpers.mjs';

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
});
after(async () => {
  for (const c of clients) c.close();
  await srv.dispose();
});

test('a refused send is matched by the messageId of ERROR 9998, not by age', async () => {
  const a = await connected('h-alice', { imei: 'ha-1' });
  await srv.ensureUsers(['h-bob']);
  // fault injection: the packet of one send goes out under another fromId,
  // which the gateway refuses at once (61007) while the others are stored
  const raw = a._raw.bind(a);
  a._raw = (cmd, body) => raw(cmd, body && body.messageId === 'bad-1' ? { ...body, fromId: 'h-mallory' } : body);
  const errors = collect(a, 'error');
  const good = [];
  for (let i = 0; i < 6; i++) good.push(a.sendText('h-bob', `ok ${i}`, { messageId: `good-${i}` }));
  const bad = a.sendText('h-bob', 'not me', { messageId: 'bad-1' });
  const more = a.sendText('h-bob', 'ok after', { messageId: 'good-after' });
  await assert.rejects(bad, (e) => e.code === 61007 && e.messageId === 'bad-1');
  const acks = await Promise.all([...good, more]);
  assert.deepEqual(acks.map((x) => x.messageId), ['good-0', 'good-1', 'good-2', 'good-3', 'good-4', 'good-5', 'good-after']);
  assert.ok(errors.some((e) => e.code === 61007 && e.messageId === 'bad-1'));
  assert.equal(a.state, 'open');
  const h = await a.rest.queryP2pMessageHistory({ toId: 'h-bob', messageSequence: 0, limit: 20 });
  assert.equal(h.dataList.length, 7, 'the refused one was not stored');
});

test('recall answers are matched by messageKey when several are in flight', async () => {
  const c = await connected('h-carol', { imei: 'hc-1' });
  await srv.ensureUsers(['h-dave']);
  const k1 = (await c.sendText('h-dave', 'one')).messageKey;
  const k2 = (await c.sendText('h-dave', 'two')).messageKey;
  // fault injection: the first call's packet is held back until the others
  // are out, so the server answers in another order than the calls were made
  const raw = c._raw.bind(c);
  const held = [];
  c._raw = (cmd, body) => { if (held.length === 0 && String(body.messageKey) === '424242') { held.push([cmd, body]); return true; } return raw(cmd, body); };
  const unknown = c.recall('424242');
  const first = c.recall(k1);
  const second = c.recall(k2);
  const answered = [];
  c.on('recallAck', (d) => answered.push(d.code));
  await waitFor(() => answered.length === 2, { what: 'the first two answers' });
  raw(...held[0]);
  const r1 = await first;
  const r2 = await second;
  assert.equal(r1.messageKey, k1);
  assert.equal(r2.messageKey, k2);
  await assert.rejects(unknown, (e) => e.code === 50003);
  // a refused one among successful ones
  await assert.rejects(c.recall(k1), (e) => e.code === 50005);
});

test('conversation rows carry peerReadSequence; own sends are not unread', async () => {
  const e = await connected('h-erin', { imei: 'he-1' });
  const f = await connected('h-frank', { imei: 'hf-1' });
  for (let i = 1; i <= 3; i++) await e.sendText('h-frank', `m${i}`);
  const row = async (who, conv) => (await who.rest.syncConversationList(0, 100)).dataList.find((x) => x.conversationId === conv);
  let mine = await row(e, '0_h-erin_h-frank');
  assert.equal(mine.readedSequence, 3, 'sending moved my own read pointer');
  assert.equal(mine.unreadCount, 0);
  assert.equal(mine.peerReadSequence, 0, 'frank has read nothing yet');
  const receipt = nextEvent(e, 'readReceipt');
  f.markRead('h-erin', 2);
  assert.equal((await receipt).messageSequence, 2);
  mine = await row(e, '0_h-erin_h-frank');
  assert.equal(mine.peerReadSequence, 2);
  const theirs = await row(f, '0_h-frank_h-erin');
  assert.equal(theirs.readedSequence, 2);
  assert.equal(theirs.peerReadSequence, 3, "erin has read her own messages");
  // a fresh client (a reload) sees it in the conversations of its first sync
  const e2 = await srv.client('h-erin', { imei: 'he-2' });
  clients.push(e2);
  const pages = collect(e2, 'conversations');
  await e2.connect();
  const seen = pages.flatMap((p) => p.dataList).find((x) => x.conversationId === '0_h-erin_h-frank');
  assert.equal(seen.peerReadSequence, 2);
});

test('REST message/send without fromId sends as the operator', async () => {
  const g = await connected('h-gina', { imei: 'hg-1' });
  await srv.ensureUsers(['h-hank']);
  const got = collect(g);
  const hank = srv.rest('h-hank');
  const r = await hank.sendMessage({ toId: 'h-gina', messageId: 'rest-1', messageBody: { type: 1, content: 'by REST' } });
  assert.ok(r.messageSequence >= 1);
  await waitFor(() => got.length === 1, { what: 'gina receives' });
  assert.equal(got[0].fromId, 'h-hank');
  assert.equal(got[0].body.content, 'by REST');
  // the admin may still send in someone's name
  await srv.rest('admin').sendMessage({ fromId: 'h-hank', toId: 'h-gina', messageId: 'rest-2', messageBody: 'x' });
  await waitFor(() => got.length === 2, { what: 'the admin send' });
  assert.equal(got[1].fromId, 'h-hank');
});

test('a recall made while I was away comes as one recallNotify from the sync', async () => {
  const amy = await connected('h-amy', { imei: 'hm-1' });
  const ben = await connected('h-ben', { imei: 'hb-1' });
  const got = collect(ben);
  const k1 = (await amy.sendText('h-ben', 'first')).messageKey;
  const k2 = (await amy.sendText('h-ben', 'second')).messageKey;
  await waitFor(() => got.length === 2, { what: 'ben receives both' });
  // ben goes away; amy recalls the first
  const state = ben.getSyncState();
  ben.close();
  await amy.recall(k1);
  const ben2 = await srv.client('h-ben', { imei: 'hb-1', syncState: state });
  clients.push(ben2);
  const notes = collect(ben2, 'recallNotify');
  const msgs = collect(ben2);
  await ben2.connect();
  await waitFor(() => notes.length === 1, { what: 'the recall from the sync' });
  assert.equal(notes[0].messageKey, k1);
  assert.equal(notes[0].fromId, 'h-amy');
  assert.equal(notes[0].conversationId, '0_h-ben_h-amy');
  assert.equal(notes[0].source, 'sync');
  assert.equal(msgs.length, 0, 'the recalled message is not delivered again');
  // a live recall is told once: not again by the next sync of this client,
  // nor by a client resumed from its saved state
  const live = nextEvent(ben2, 'recallNotify', { pred: (d) => d.messageKey === k2 });
  await amy.recall(k2);
  await live;
  const again = ben2.getSyncState(); // its cursor is before the recall's new sync key
  await ben2.sync(); // hands the recalled k2 out again
  await settle();
  assert.equal(notes.length, 2, 'k1 from the sync, k2 live, nothing twice');
  ben2.close();
  const ben3 = await srv.client('h-ben', { imei: 'hb-1', syncState: again });
  clients.push(ben3);
  const notes3 = collect(ben3, 'recallNotify');
  await ben3.connect();
  await settle();
  assert.equal(notes.length, 2, 'k1 from the sync, k2 live, nothing twice');
  assert.deepEqual(notes3, []);
});
