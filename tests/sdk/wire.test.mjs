// Wire format, JSON big integers and events without a server; the heartbeat
// timeout and the group commands against a real petreld.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Server, nextEvent, waitFor, collect, sleep, settle, SLOW } from './helpers.mjs';
import { encodeUplink, decodeDownlink, parseJSON, stringifyJSON, Emitter, CMD, conversationId } from '../../web/sdk/petrel.js';

test('uplink header: 7 big-endian int32, exact UTF-8 lengths for imei and body', () => {
  const body = { userId: 'é😀', n: 1 };
  const f = encodeUplink(CMD.LOGIN, body, { appId: 10000, clientType: 1, imei: 'pc-ü' });
  const dv = new DataView(f.buffer);
  const fields = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, false));
  const imei = Buffer.from('pc-ü', 'utf8');
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  assert.deepEqual(fields, [9000, 1, 1, 0, 10000, imei.length, json.length]);
  assert.equal(imei.length, 5);
  assert.equal(json.length, JSON.stringify(body).length + 1 + 2, 'é is 2 bytes, the emoji 4');
  assert.deepEqual(Buffer.from(f.subarray(28, 28 + imei.length)), imei);
  assert.deepEqual(Buffer.from(f.subarray(28 + imei.length)), json);
  assert.equal(f.length, 28 + imei.length + json.length);
});

test('downlink: command + length + JSON; several frames; truncation is an error', () => {
  const mk = (cmd, obj) => {
    const j = Buffer.from(obj === null ? '' : obj, 'utf8');
    const b = Buffer.alloc(8 + j.length);
    b.writeInt32BE(cmd, 0); b.writeInt32BE(j.length, 4); j.copy(b, 8);
    return b;
  };
  const two = Buffer.concat([mk(1103, '{"messageKey":172061795246080001,"t":"你好"}'), mk(9999, '{"serverTime":1}')]);
  const pk = decodeDownlink(new Uint8Array(two));
  assert.equal(pk.length, 2);
  assert.equal(pk[0].command, 1103);
  assert.equal(pk[0].data.messageKey, '172061795246080001');
  assert.equal(pk[0].data.t, '你好');
  assert.equal(pk[1].data.serverTime, 1);
  assert.equal(decodeDownlink(new Uint8Array(mk(9002, null)))[0].data, null);
  assert.throws(() => decodeDownlink(new Uint8Array(two.subarray(0, two.length - 1))));
});

test('JSON: big integers become strings and go back as integers; strings untouched', () => {
  const doc = parseJSON('{"a":"9007199254740993 in a \\"string\\"","k":-9223372036854775808,"s":9007199254740991,"f":12345678901234567.5,"l":[18446744073709551615]}');
  assert.equal(doc.a, '9007199254740993 in a "string"');
  assert.equal(doc.k, '-9223372036854775808');
  assert.equal(doc.s, 9007199254740991);
  assert.equal(typeof doc.f, 'number');
  assert.deepEqual(doc.l, ['18446744073709551615']);
  assert.equal(stringifyJSON({ k: BigInt(doc.k), s: 'x' }), '{"k":-9223372036854775808,"s":"x"}');
  assert.equal(conversationId(0, 'a', 'b'), '0_a_b');
});

test('events: on/off/once and seed aliases reach the same listeners', () => {
  const e = new Emitter();
  const got = [];
  const f = (d) => got.push(['f', d]);
  e.on('onP2PMessage', f);
  e.once('p2pMessage', (d) => got.push(['once', d]));
  e.emit('p2pMessage', 1);
  e.emit('p2pMessage', 2);
  e.off('p2pMessage', f); // off through the canonical name removes the alias listener
  e.emit('p2pMessage', 3);
  assert.deepEqual(got, [['f', 1], ['once', 1], ['f', 2]]);
  e.on('boom', () => { throw new Error('listener error'); });
  const orig = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  let caught = null;
  process.once('uncaughtException', (err) => { caught = err; });
  e.emit('boom'); // does not throw into the SDK
  return sleep(10).then(() => {
    for (const l of orig) process.on('uncaughtException', l);
    assert.equal(caught && caught.message, 'listener error');
  });
});

test('heartbeat: a frozen server is detected within 3 intervals and the client reconnects', async () => {
  const srv = new Server();
  await srv.start();
  const c = await srv.client('alice', { heartbeatMs: 200, reconnect: { baseMs: 50, maxMs: 100 } });
  try {
    await c.connect();
    const pongs = collect(c, 'packet');
    await waitFor(() => pongs.some((p) => p.command === CMD.PING), { what: 'the server answers PING' });
    const lost = nextEvent(c, 'disconnected');
    const t0 = Date.now();
    srv.proc.kill('SIGSTOP');
    const d = await lost;
    srv.proc.kill('SIGCONT');
    assert.equal(d.reason, 'heartbeat timeout');
    // about 3 intervals (600-800 ms); the bound leaves room for a loaded
    // machine and is still far below anything but the client's own check
    // (the stopped server cannot close the socket)
    assert.ok(Date.now() - t0 < 5000 * SLOW, `detected in about 3 intervals, took ${Date.now() - t0} ms`);
    await waitFor(() => c.state === 'open', { what: 're-login' });
  } finally {
    c.close();
    await srv.dispose();
  }
});

test('groups: create, send 2104/ack 2047, receive, read 2106, recall, catch up after being away', async () => {
  const srv = new Server();
  await srv.start();
  const clients = [];
  try {
    await srv.ensureUsers(['ga', 'gb', 'gc']);
    const ga = await srv.client('ga'); const gb = await srv.client('gb'); const gc = await srv.client('gc');
    clients.push(ga, gb, gc);
    await Promise.all([ga.connect(), gb.connect(), gc.connect()]);
    // a refused group send rejects (40000 no such group) and keeps the connection
    await assert.rejects(ga.sendGroupText('nogroup', 'x'), (e) => e.code === 40000);
    assert.equal(ga.state, 'open');
    const created = nextEvent(gb, 'onCreateGroup');
    const g = await ga.rest.createGroup({ groupName: 'trio', groupType: 1, member: ['gb', 'gc'] });
    const groupId = g.groupId;
    assert.ok(groupId);
    await created;
    const info = await gb.rest.getGroupInfo(groupId);
    assert.equal(info.memberList.length, 3);
    const atB = collect(gb, 'onGroupMessage');
    const atC = collect(gc, 'groupMessage');
    const a1 = await ga.sendGroupText(groupId, 'hi all');
    const a2 = await ga.sendGroupText(groupId, 'second');
    assert.ok(a2.messageSequence > a1.messageSequence);
    await waitFor(() => atB.length === 2 && atC.length === 2, { what: 'group delivery' });
    assert.deepEqual(atB.map((m) => m.body.content), ['hi all', 'second']);
    assert.equal(atB[0].conversationId, `1_gb_${groupId}`);
    const receipt = nextEvent(ga, 'groupReadReceipt');
    gb.markGroupRead(groupId, a2.messageSequence, 'ga');
    assert.equal((await receipt).messageSequence, a2.messageSequence);

    // group recall: recall(key, {groupId}); answers matched by key
    const notified = nextEvent(gc, 'recallNotify', { pred: (d) => d.messageKey === a1.messageKey });
    const rc = await ga.recall(a1.messageKey, { groupId });
    assert.equal(rc.messageKey, a1.messageKey);
    const n = await notified;
    assert.equal(n.groupId, groupId);
    assert.equal(n.conversationType, 1);
    await assert.rejects(gb.recall(a2.messageKey, { groupId }), (e) => e.code === 60006, 'only the sender');
    await assert.rejects(ga.recall(a1.messageKey, { groupId }), (e) => e.code === 50005, 'already recalled');
    const h = await gc.rest.queryGroupMessageHistory({ groupId, messageSequence: 0, limit: 10 });
    const row = h.dataList.find((m) => m.messageKey === a1.messageKey);
    assert.equal(row.delFlag, 1);

    // away and back: the group messages sent meanwhile come by the sync
    // (syncGroupMessage), once and in order, resuming from a saved state
    const state = gc.getSyncState();
    gc.close();
    const away = [];
    for (let i = 0; i < 3; i++) away.push(await ga.sendGroupText(groupId, `while away ${i}`));
    const gc2 = await srv.client('gc', { syncState: state });
    clients.push(gc2);
    const back = collect(gc2, 'groupMessage');
    await gc2.connect();
    await waitFor(() => back.length >= 3, { what: 'the missed group messages' });
    const live = await ga.sendGroupText(groupId, 'after the return');
    await waitFor(() => back.length >= 4, { what: 'the live one' });
    await settle();
    assert.deepEqual(back.map((m) => m.body.content), ['while away 0', 'while away 1', 'while away 2', 'after the return']);
    assert.deepEqual(back.map((m) => m.messageSequence), [...away, live].map((a) => a.messageSequence));
    assert.deepEqual(back.map((m) => m.source), ['sync', 'sync', 'sync', 'push']);
  } finally {
    for (const c of clients) c.close();
    await srv.dispose();
  }
});
