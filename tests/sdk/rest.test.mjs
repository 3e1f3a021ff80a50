// REST helpers against a real petreld: demo app server, users, friends and
// requests (with their pushes), friend lists, blacklist, conversations,
// online status, the sync events after login, and error envelopes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Server, nextEvent, waitFor, collect, sleep, APP_ID } from './helpers.mjs';
import { PetrelClient, createRest, appRegister, appLogin, PetrelError } from '../../web/sdk/petrel.js';

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
  assert.equal(await srv.stop(), 0);
  await srv.dispose();
});

test('demo app server: register, login, then the token works on the socket and REST', async () => {
  const reg = await appRegister({ baseUrl: srv.baseUrl, userName: 'Zoe_1', password: 'correct horse' });
  assert.equal(reg.userId, 'Zoe_1');
  await assert.rejects(appRegister({ baseUrl: srv.baseUrl, userName: 'zoe_1', password: 'correct horse' }),
    (e) => e instanceof PetrelError && e.code === 10003);
  await assert.rejects(appLogin({ baseUrl: srv.baseUrl, userName: 'Zoe_1', password: 'wrong password' }),
    (e) => e.code === 10001);
  await assert.rejects(appRegister({ baseUrl: srv.baseUrl, userName: 'zz', password: 'short' }),
    (e) => e.code === 90001 && e.status === 400);
  const auth = await appLogin({ baseUrl: srv.baseUrl, userName: 'Zoe_1', password: 'correct horse' });
  assert.equal(auth.userId, 'Zoe_1');
  assert.equal(auth.appId, APP_ID);
  assert.ok(auth.imUserSign.length > 20);
  const im = new PetrelClient({ baseUrl: srv.baseUrl, appId: auth.appId, userId: auth.userId, userSign: auth.imUserSign });
  clients.push(im);
  const login = nextEvent(im, 'onLogin');
  await im.connect();
  assert.equal((await login).userId, 'Zoe_1');
  const me = await im.rest.getSingleUserInfo();
  assert.equal(me.userId, 'Zoe_1');
});

test('users: import, info, modify (with 4000 push), search, delete, sequence, gateway', async () => {
  const admin = srv.rest('admin');
  const imp = await admin.importUser([{ userId: 'u1', nickName: 'Ursula' }, { userId: 'u2', nickName: 'Uma' }]);
  assert.deepEqual(imp.successId, ['u1', 'u2']);
  srv.imported.add('u1'); srv.imported.add('u2');
  const u1 = await connected('u1');
  const info = await u1.rest.getUserInfo(['u1', 'nobody']);
  assert.equal(info.userDataItem[0].nickName, 'Ursula');
  assert.deepEqual(info.failUser, ['nobody']);
  assert.equal((await u1.rest.getSingleInfo('u2')).nickName, 'Uma');
  const pushed = nextEvent(u1, 'userModify');
  const mod = await u1.rest.modifyUserInfo({ nickName: 'Ursula K', selfSignature: '你好' });
  assert.equal(mod.nickName, 'Ursula K');
  assert.equal((await pushed).selfSignature, '你好');
  const page = await u1.rest.queryImUserPage({ nickName: 'Um', currentPage: 1, pageSize: 10 });
  assert.deepEqual(page.records.map((r) => r.userId), ['u2']);
  const seq = await u1.rest.getUserSequence();
  assert.equal(typeof seq.friendshipSeq, 'number');
  const gw = await u1.rest.getGateway(1);
  assert.equal(gw.url, `ws://127.0.0.1:${srv.httpPort}/ws`);
  // a non-admin cannot act for others
  await assert.rejects(u1.rest.modifyUserInfo({ userId: 'u2', nickName: 'x' }), (e) => e.code === 60006 && e.status === 403);
  // delete (admin) disconnects the user's devices: the SDK stops (no reconnect)
  const err = nextEvent(u1, 'error', { pred: (e) => e.code === 61015 });
  const del = await admin.deleteUser(['u1']);
  assert.deepEqual(del.successId, ['u1']);
  await err;
  assert.equal(u1.state, 'closed');
  // health
  assert.equal((await admin.health()).status, 'up');
});

test('friends: request, approve, pushes, sync events, relation, check, update, lists, blacklist, delete', async () => {
  await srv.ensureUsers(['fa', 'fb', 'fc']);
  await srv.rest('admin').modifyUserInfo({ userId: 'fb', friendAllowType: 2 });
  const fa = await connected('fa', { imei: 'fa-1' });
  const fb = await connected('fb', { imei: 'fb-1' });

  const reqPush = nextEvent(fb, 'onFriendRequest');
  const add = await fa.rest.addFriend({ toId: 'fb', remark: 'Bee', addWording: 'hi, it is fa' });
  assert.equal(add.added, false);
  const req = await reqPush;
  assert.equal(req.fromId, 'fa');
  const list = await fb.rest.getFriendRequest();
  assert.equal(list.length ?? list.dataList?.length, 1);
  const reqs = Array.isArray(list) ? list : list.dataList;
  assert.equal(reqs[0].addWording, 'hi, it is fa');
  const readPush = nextEvent(fb, 'onFriendRequestRead');
  await fb.rest.readFriendShipRequestReq();
  await readPush;
  const sreq = await fb.rest.syncFriendshipRequest(0, 100);
  assert.equal(sreq.dataList[0].readStatus, 1);

  const addedA = nextEvent(fa, 'onAddFriend');
  const addedB = nextEvent(fb, 'friendAdd');
  const approved = nextEvent(fb, 'onFriendRequestApprove');
  await fb.rest.approveFriendRequest(reqs[0].id, 1);
  await Promise.all([addedA, addedB, approved]);
  await assert.rejects(fb.rest.approveFriendRequest(reqs[0].id, 1), (e) => e.code === 30013);

  const all = await fa.rest.getAllFriendShip();
  assert.deepEqual(all.map((r) => r.toId), ['fb']);
  assert.equal(all[0].remark, 'Bee');
  assert.equal((await fa.rest.getRelation('fb')).status, 1);
  await assert.rejects(fa.rest.getRelation('fc'), (e) => e.code === 30008);
  const chk = await fa.rest.checkFriend(['fb', 'fc'], 2);
  assert.deepEqual(chk.map((r) => r.status), [1, 4]);
  const upd = nextEvent(fa, 'onUpdateFriendInfo');
  await fa.rest.updateFriend({ toId: 'fb', remark: 'B.' });
  assert.equal((await upd).remark, 'B.');

  // a new device of fa gets the friendships, requests and lists by sync after login
  const fa2 = await srv.client('fa', { imei: 'fa-2' });
  clients.push(fa2);
  const friendsSync = nextEvent(fa2, 'friends');
  const reqSync = nextEvent(fa2, 'friendRequests');
  const convSync = nextEvent(fa2, 'conversations');
  await fa2.connect();
  const fs = await friendsSync;
  assert.equal(fs.full, true);
  assert.deepEqual(fs.dataList.map((r) => r.toId), ['fb']);
  await reqSync;
  await convSync;

  // friend lists
  const lAdd = nextEvent(fa, 'friendListAdd');
  const g = await fa.rest.addFriendGroup('work', ['fb', 'fc']);
  assert.deepEqual(g.successId, ['fb']);
  assert.deepEqual(g.errorId, ['fc']);
  await lAdd;
  const mDel = nextEvent(fa, 'friendListMemberDelete');
  await fa.rest.deleteFriendGroupMember('work', ['fb']);
  await mDel;
  const mAdd = nextEvent(fa, 'friendListMemberAdd');
  await fa.rest.addFriendGroupMember('work', ['fb']);
  await mAdd;
  const lists = await fa.rest.syncFriendshipGroupList(0, 100);
  assert.deepEqual(lists.dataList.find((l) => l.groupName === 'work').toIds, ['fb']);
  const lDel = nextEvent(fa, 'friendListDelete');
  assert.deepEqual((await fa.rest.deleteFriendGroup(['work'])).successId, ['work']);
  await lDel;

  // blacklist
  const bAdd = nextEvent(fa, 'onFriendBlackAdd');
  await fa.rest.addBlack('fb');
  await bAdd;
  assert.deepEqual((await fa.rest.checkBlack(['fb'], 1)).map((r) => r.status), [0]);
  await assert.rejects(fa.rest.addBlack('fb'), (e) => e.code === 30006);
  const bDel = nextEvent(fa, 'onFriendBlackDel');
  await fa.rest.deleteBlack('fb');
  await bDel;

  // the re-sync after a reconnect brings only what changed
  const fs2 = nextEvent(fa2, 'friends', { ms: 8000 });
  const before = fa2.getSyncState().friendshipSeq;
  fa2.sync();
  const again = await fs2;
  assert.equal(again.full, false);
  assert.ok(again.dataList.every((r) => r.friendSequence > before));
  assert.ok(again.dataList.length >= 1);

  // delete
  const delB = nextEvent(fb, 'onDeleteFriend');
  await fa.rest.deleteFriend('fb');
  assert.equal((await delB).fromId, 'fa');
  await assert.rejects(fa.rest.deleteFriend('fb'), (e) => e.code === 30004);
  await fa.rest.addFriend({ toId: 'fc' });
  const delAll = nextEvent(fa, 'onDeleteAllFriend');
  const r = await fa.rest.deleteAllFriend();
  assert.deepEqual(r.toIds, ['fc']);
  await delAll;
});

test('conversations: sync, update (5001 push), delete (5000 push)', async () => {
  await srv.ensureUsers(['ca', 'cb']);
  const ca = await connected('ca', { imei: 'ca-1' });
  const ca2 = await connected('ca', { imei: 'ca-2' });
  await ca.sendText('cb', 'hello');
  const s = await ca.rest.syncConversationSet(0, 100);
  const conv = s.dataList.find((c) => c.conversationId === '0_ca_cb');
  assert.equal(conv.lastSequence, 1);
  const upd = nextEvent(ca2, 'onConversationUpdate');
  await ca.rest.updateConversation({ conversationId: '0_ca_cb', isTop: 1 });
  const u = await upd;
  assert.equal(u.isTop, 1);
  await assert.rejects(ca.rest.updateConversation({ conversationId: '0_ca_cb' }), (e) => e.code === 50000);
  const del = nextEvent(ca2, 'onConversationDelete');
  await ca.rest.deleteConversation('0_ca_cb');
  assert.equal((await del).conversationId, '0_ca_cb');
  const s2 = await ca.rest.syncConversationList(conv.sequence, 100);
  assert.equal(s2.dataList.find((c) => c.conversationId === '0_ca_cb').deleted, true);
  await assert.rejects(ca.rest.deleteConversation('0_ca_nobody'), (e) => e.code === 50000);
  // another user's conversation: forbidden
  await assert.rejects(srv.rest('cb').deleteConversation('0_ca_cb'), (e) => e.code === 60006);
});

test('online status: friends see each other, custom status, subscriptions, 4004/4003 pushes', async () => {
  await srv.ensureUsers(['sa', 'sb', 'sc']);
  const admin = srv.rest('admin');
  await admin.modifyUserInfo({ userId: 'sb', friendAllowType: 1 });
  await srv.rest('sa').addFriend({ toId: 'sb' });
  const sa = await connected('sa', { imei: 'sa-1' });
  const online = nextEvent(sa, 'onUserOnlineStatusChangeNotify', { pred: (d) => d.userId === 'sb' && d.status === 1 });
  const sb = await connected('sb', { imei: 'sb-1' });
  await online;
  const st = await sa.rest.queryFriendOnlineStatus();
  assert.equal(st.sb.onlineStatus, 1);
  const custom = nextEvent(sa, 'onUserCustomStatusChangeNotify');
  const set = await sb.rest.setUserCustomerStatus('in a meeting', 2);
  assert.equal(set.customText, 'in a meeting');
  assert.equal((await custom).customStatus, 2);
  // sc is no friend: subscribes to sb
  const sc = await connected('sc', { imei: 'sc-1' });
  const sub = await sc.rest.subscribeUserOnlineStatus(['sb'], 60000);
  assert.deepEqual(sub.subUserIds, ['sb']);
  await assert.rejects(sc.rest.subscribeUserOnlineStatus(['sb'], 0), (e) => e.code === 20004);
  const offline = nextEvent(sc, 'onlineStatus', { pred: (d) => d.userId === 'sb' && d.status === 2, ms: 8000 });
  const q = await sc.rest.queryUserOnlineStatus(['sb', 'nobody']);
  assert.equal(q.sb.onlineStatus, 1);
  assert.equal(q.nobody.onlineStatus, 0);
  await sb.logout();
  await offline; // after the server's debounce
});

test('REST errors: bad token, missing fields, unknown path, any path via call()', async () => {
  await srv.ensureUsers(['ea']);
  const bad = createRest({ baseUrl: srv.baseUrl, appId: APP_ID, userId: 'ea', userSign: 'garbage' });
  await assert.rejects(bad.getUserSequence(), (e) => e.code === 60003 && e.status === 401);
  const wrong = createRest({ baseUrl: srv.baseUrl, appId: APP_ID, userId: 'ea', userSign: srv.token('admin') });
  await assert.rejects(wrong.getUserSequence(), (e) => e.code === 60005);
  const ea = srv.rest('ea');
  await assert.rejects(ea.getRelation(undefined), (e) => e.code === 90001 && e.status === 400);
  await assert.rejects(ea.call('/v1/no/such/path', {}), (e) => e.status === 404);
  const seq = await ea.call('/v1/user/getUserSequence', {});
  assert.equal(seq.friendshipSeq, 0);
  // messages over REST, synced with a big-integer cursor
  await srv.ensureUsers(['eb']);
  const sent = await ea.sendP2PMsgByInterface({ toId: 'eb', messageId: 'r1', messageBody: { type: 1, content: 'x' } });
  assert.equal(typeof sent.messageKey, 'string');
  const page = await srv.rest('eb').syncOfflineMessage(0, 10);
  assert.equal(page.dataList[0].messageKey, sent.messageKey);
  const next = await srv.rest('eb').syncOfflineMessage(page.lastSequence, 10);
  assert.equal(next.dataList.length, 0, 'the cursor is exact (a rounded key would repeat the message)');
  assert.equal(next.completed, true);
  const range = await srv.rest('eb').getP2pMessageRange({ toId: 'ea', fromSequence: 1 });
  assert.equal(range.dataList.length, 1);
  await sleep(10);
});
