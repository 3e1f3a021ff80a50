// Client state and actions. One PetrelClient (the SDK) per signed-in tab; the
// SDK owns the socket, resends, gap detection and sync, this module turns its
// events into plain state the views render: conversations, messages per
// conversation (deduplicated by sender + messageId, so a resend, a sync and a
// history page never show one message twice), friends, requests, friend
// lists, groups, presence and user profiles. Views subscribe with on(topic).
// The token lives in sessionStorage (this tab only); no password is kept.
import { PetrelClient, appLogin, appRegister } from '/sdk/petrel.js';

const SESSION_KEY = 'petrel.session';
const topics = new Map();
let scheduled = new Set();
let flushQueued = false;

export function on(topic, fn) {
  if (!topics.has(topic)) topics.set(topic, new Set());
  topics.get(topic).add(fn);
  return () => topics.get(topic).delete(fn);
}
// Batch change notifications into one per animation frame and topic.
export function changed(...names) {
  for (const n of names) scheduled.add(n);
  if (flushQueued) return;
  flushQueued = true;
  queueMicrotask(() => {
    flushQueued = false;
    const now = scheduled;
    scheduled = new Set();
    for (const n of now) for (const f of topics.get(n) || []) {
      try { f(); } catch (e) { console.error(e); }
    }
  });
}

export const S = {
  auth: null,            // {userId, appId, userSign}
  im: null,              // PetrelClient
  conn: 'idle',          // SDK state
  kicked: null,
  me: null,              // profile
  users: new Map(),      // userId -> profile
  friends: new Map(),    // toId -> friendship row (status 1 = friend)
  blacklist: new Set(),
  lists: new Map(),      // groupName -> {groupName, toIds}
  requests: [],
  groups: new Map(),     // groupId -> group info (+ memberList when loaded)
  convs: new Map(),      // conversationId -> conversation
  msgs: new Map(),       // conversationId -> {items: [], ids: Map, hasMore, loading, loaded}
  presence: new Map(),   // userId -> {online, customText, customStatus}
  openConv: null,        // conversationId shown in the chat window
  groupsSupported: true, // false when the server answers group calls with "unknown path"
};

// ---------------------------------------------------------------- session
export function savedSession() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch { return null; }
}
function saveSession(a) {
  try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(a)); } catch { /* ignore */ }
}
function dropSession() {
  try { sessionStorage.removeItem(SESSION_KEY); } catch { /* ignore */ }
}

export async function register(userName, password) {
  return appRegister({ baseUrl: location.origin, userName, password });
}

export async function login(userName, password) {
  const a = await appLogin({ baseUrl: location.origin, userName, password });
  const auth = { userId: a.userId, appId: a.appId, userSign: a.imUserSign };
  await start(auth);
  saveSession(auth);
  return auth;
}

export async function resume() {
  const auth = savedSession();
  if (!auth) return false;
  try {
    await start(auth);
    return true;
  } catch (e) {
    dropSession();
    throw e;
  }
}

export async function logout() {
  const im = S.im;
  dropSession();
  reset();
  if (im) { try { await im.logout(); } catch { /* already closed */ } }
  changed('session');
}

function reset() {
  S.auth = null; S.im = null; S.conn = 'idle'; S.me = null; S.openConv = null;
  for (const k of ['users', 'friends', 'lists', 'groups', 'convs', 'msgs', 'presence']) S[k].clear();
  S.blacklist.clear();
  S.requests = [];
}

// ---------------------------------------------------------------- start
async function start(auth) {
  reset();
  S.kicked = null;
  const im = new PetrelClient({
    baseUrl: location.origin, appId: auth.appId, userId: auth.userId, userSign: auth.userSign,
    imei: 'web-' + Math.random().toString(36).slice(2, 10),
  });
  S.im = im;
  S.auth = auth;
  wire(im);
  try {
    await im.connect();
  } catch (e) {
    S.im = null; S.auth = null;
    try { im.close(); } catch { /* ignore */ }
    throw e;
  }
  S.conn = im.state;
  changed('session', 'conn');
  afterLogin().catch((e) => console.error('initial load', e));
}

// Everything a fresh page needs beyond what the SDK's first sync emits.
async function afterLogin() {
  const im = S.im;
  const [me, reqs] = await Promise.all([
    im.rest.getSingleUserInfo().catch(() => null),
    im.rest.getFriendRequest().catch(() => []),
  ]);
  if (me) { S.me = me; S.users.set(me.userId, me); }
  setRequests(reqs);
  await Promise.all([refreshPresence(), refreshMyStatus(), loadGroupsIfMissing()]);
  changed('me', 'requests', 'presence');
}

async function loadGroupsIfMissing() {
  if (S.groups.size) return;
  try {
    const r = await S.im.rest.getJoinedGroup({});
    for (const g of r.groupList || []) putGroup(g);
    changed('groups', 'convs');
  } catch (e) {
    if (e.status === 404 || e.code === 404) S.groupsSupported = false;
  }
}

export async function refreshPresence() {
  if (!S.im) return;
  try {
    const m = await S.im.rest.queryFriendOnlineStatus();
    for (const [id, st] of Object.entries(m || {})) setPresence(id, st);
    changed('presence');
  } catch { /* best effort */ }
}

async function refreshMyStatus() {
  try {
    const m = await S.im.rest.queryUserOnlineStatus([S.auth.userId]);
    const st = m && m[S.auth.userId];
    if (st) setPresence(S.auth.userId, { ...st, onlineStatus: 1 });
  } catch { /* ignore */ }
}

function setPresence(id, st) {
  const old = S.presence.get(id) || {};
  S.presence.set(id, {
    online: st.onlineStatus !== undefined ? st.onlineStatus === 1 : (st.status !== undefined ? st.status === 1 : old.online),
    customText: st.customText !== undefined ? st.customText : old.customText || '',
    customStatus: st.customStatus !== undefined ? st.customStatus : old.customStatus || 0,
  });
}

// ---------------------------------------------------------------- events
function wire(im) {
  im.on('state', ({ state }) => { S.conn = state; changed('conn'); });
  im.on('login', () => { if (S.im === im) { refreshPresence(); } });
  im.on('reconnected', () => { if (S.im === im) refreshPeerReads(); });
  im.on('kicked', (e) => {
    S.kicked = e || {};
    dropSession();
    changed('kicked');
  });
  im.on('error', (e) => {
    // a refused re-login (token expired, user deleted) ends the session
    if (e && [60003, 60004, 60005, 20001, 61015].includes(e.code) && im.state === 'closed') {
      S.kicked = { expired: true };
      dropSession();
      changed('kicked');
    }
  });
  im.on('message', (m) => onMessage(m));
  im.on('receiveAck', (a) => {
    if (a.serverSend) return;                       // receiver offline: not delivered yet
    const conv = convIdFor(0, a.fromId);
    markOwn(conv, (x) => sameKey(x.messageKey, a.messageKey) || (a.messageSequence && x.messageSequence === a.messageSequence),
      (x) => { if (x.status === 'sent') x.status = 'delivered'; });
  });
  im.on('readReceipt', (r) => {
    const conv = convIdFor(0, r.fromId);
    setPeerRead(ensureConv(conv), r.messageSequence || 0);
  });
  im.on('readSync', (r) => {
    const conv = convIdFor(r.conversationType || 0, r.conversationType === 1 ? r.groupId || r.toId : r.toId);
    const c = S.convs.get(conv);
    if (c) { c.readedSequence = Math.max(c.readedSequence || 0, r.messageSequence || 0); changed('convs'); }
  });
  im.on('groupReadSync', (r) => {
    const c = S.convs.get(convIdFor(1, r.groupId));
    if (c) { c.readedSequence = Math.max(c.readedSequence || 0, r.messageSequence || 0); changed('convs'); }
  });
  im.on('groupReadReceipt', (r) => {
    const conv = convIdFor(1, r.groupId);
    markOwn(conv, (x) => x.messageSequence && x.messageSequence <= (r.messageSequence || 0), (x) => {
      x.readers = x.readers || new Set();
      x.readers.add(r.fromId);
    });
  });
  const recalled = (r) => {
    const type = r.conversationType || 0;
    const me = S.auth && S.auth.userId;
    const peer = type === 1 ? (r.groupId || r.toId) : (r.fromId === me ? r.toId : r.fromId);
    applyRecall(convIdFor(type, peer), r.messageKey);
  };
  im.on('recallNotify', recalled);
  im.on('recallSync', recalled);
  im.on('conversations', (r) => { for (const c of r.dataList || []) putConv(c); loadPreviews(); changed('convs'); });
  im.on('conversationUpdate', (c) => { const x = S.convs.get(c.conversationId); if (x) { Object.assign(x, pick(c, ['isTop', 'isMute'])); changed('convs'); } });
  im.on('conversationDelete', (c) => { const x = S.convs.get(c.conversationId); if (x) { x.deleted = true; changed('convs'); } });
  im.on('friends', (r) => { for (const f of r.dataList || []) putFriend(f); changed('friends', 'presence'); });
  const refetchFriends = S.refetchFriends = debounce(async () => {
    try {
      const all = await im.rest.getAllFriendShip();
      S.friends.clear();
      for (const f of all || []) putFriend(f);
      changed('friends');
      refreshPresence();
    } catch { /* ignore */ }
  }, 100);
  for (const ev of ['friendAdd', 'friendUpdate', 'friendDelete', 'friendAllDelete']) im.on(ev, refetchFriends);
  im.on('blackAdd', (b) => { S.blacklist.add(b.toId); changed('friends'); });
  im.on('blackDelete', (b) => { S.blacklist.delete(b.toId); changed('friends'); });
  const refetchRequests = debounce(async () => {
    try { setRequests(await im.rest.getFriendRequest()); changed('requests'); } catch { /* ignore */ }
  }, 100);
  for (const ev of ['friendRequest', 'friendRequestRead', 'friendRequestApprove']) im.on(ev, refetchRequests);
  im.on('friendRequests', refetchRequests);
  im.on('friendLists', (r) => {
    for (const l of r.dataList || []) {
      if (l.delFlag) S.lists.delete(l.groupName); else S.lists.set(l.groupName, { groupName: l.groupName, toIds: l.toIds || [] });
    }
    changed('lists');
  });
  const refetchLists = debounce(async () => {
    try {
      const r = await im.rest.syncFriendshipGroupList(0, 100);
      S.lists.clear();
      for (const l of r.dataList || []) if (!l.delFlag) S.lists.set(l.groupName, { groupName: l.groupName, toIds: l.toIds || [] });
      changed('lists');
    } catch { /* ignore */ }
  }, 100);
  for (const ev of ['friendListAdd', 'friendListDelete', 'friendListMemberAdd', 'friendListMemberDelete']) im.on(ev, refetchLists);
  im.on('onlineStatus', (p) => { setPresence(p.userId, p); changed('presence'); });
  im.on('customStatus', (p) => { setPresence(p.userId, p); changed('presence', 'me'); });
  im.on('userModify', (u) => {
    const old = S.users.get(u.userId) || {};
    S.users.set(u.userId, { ...old, ...u });
    if (S.me && u.userId === S.me.userId) S.me = { ...S.me, ...u };
    changed('users', 'me');
  });
  im.on('groups', (r) => { for (const g of r.dataList || []) putGroup(g); changed('groups', 'convs'); });
  const refetchGroup = (e) => { if (e && e.groupId) reloadGroup(e.groupId); };
  for (const ev of ['groupCreated', 'groupUpdated', 'groupTransferred', 'groupMuted', 'groupUnmuted',
    'groupMemberAdded', 'groupMemberRemoved', 'groupMemberUpdated', 'groupMemberMuted', 'groupJoin', 'groupExit']) {
    im.on(ev, refetchGroup);
  }
  im.on('groupDestroyed', (e) => {
    const g = S.groups.get(e.groupId);
    if (g) { g.status = 2; g.gone = true; }
    changed('groups', 'convs');
  });
}

function debounce(fn, ms) {
  let tm;
  return () => { clearTimeout(tm); tm = setTimeout(fn, ms); };
}
function pick(o, keys) {
  const r = {};
  for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
  return r;
}
const sameKey = (a, b) => a !== undefined && a !== null && b !== undefined && b !== null && String(a) === String(b);

// ---------------------------------------------------------------- model helpers
export function convIdFor(type, peer) { return `${type}_${S.auth.userId}_${peer}`; }
export function parseConvId(id) {
  const type = Number(id[0]);
  const prefix = `${type}_${S.auth.userId}_`;
  return { type, peer: id.startsWith(prefix) ? id.slice(prefix.length) : id.split('_').slice(2).join('_') };
}

function ensureConv(id) {
  let c = S.convs.get(id);
  if (!c) {
    const { type, peer } = parseConvId(id);
    c = { conversationId: id, conversationType: type, peer, isTop: 0, isMute: 0, readedSequence: 0, lastSequence: 0, updateTime: 0, last: null };
    S.convs.set(id, c);
  }
  return c;
}

function putConv(row) {
  const c = ensureConv(row.conversationId);
  Object.assign(c, pick(row, ['isTop', 'isMute', 'readedSequence', 'lastSequence', 'updateTime', 'deleted']));
  if (c.conversationType === 0) {
    wantUsers([c.peer]);
    setPeerRead(c, row.peerReadSequence);
  }
}

// How far the peer has read a 1:1 conversation (a conversation row's
// peerReadSequence, or a 1054 receipt): my messages up to it are "read".
function setPeerRead(c, seq) {
  if (!seq || seq <= (c.peerReadSeq || 0)) return;
  c.peerReadSeq = seq;
  markOwn(c.conversationId, (x) => x.messageSequence && x.messageSequence <= seq && x.status !== 'read', (x) => { x.status = 'read'; });
}

// After a reconnect: an incremental sync does not bring a peerReadSequence
// that changed while we were away (it does not bump the row's sequence), so
// read the rows once more for it.
async function refreshPeerReads() {
  try {
    let last = 0;
    for (let i = 0; i < 50; i++) {
      const r = await S.im.rest.syncConversationList(last, 100);
      let top = last;
      for (const row of r.dataList || []) {
        const c = S.convs.get(row.conversationId);
        if (c && c.conversationType === 0) setPeerRead(c, row.peerReadSequence);
        if (row.sequence > top) top = row.sequence;
      }
      if (r.completed || top <= last) break;
      last = top;
    }
  } catch { /* the next receipt brings it */ }
}

function putFriend(f) {
  if (f.status === 1) S.friends.set(f.toId, f); else S.friends.delete(f.toId);
  if (f.black === 2) S.blacklist.add(f.toId); else if (f.black === 1) S.blacklist.delete(f.toId);
  if (f.nickName !== undefined) {
    const u = S.users.get(f.toId) || { userId: f.toId };
    S.users.set(f.toId, { ...u, nickName: f.nickName });
  }
}

function setRequests(list) {
  S.requests = (list || []).slice().sort((a, b) => (b.updateTime || b.createTime || 0) - (a.updateTime || a.createTime || 0));
  wantUsers(S.requests.map((r) => r.fromId));
}

function putGroup(g) {
  const old = S.groups.get(g.groupId) || {};
  S.groups.set(g.groupId, { ...old, ...g });
}

// Loads of one group may overlap (a push arrives while the view's load is
// under way) and their answers may come in any order: only the answer of
// the latest load is applied, so an older one cannot undo a newer change.
const groupLoads = new Map();
export async function reloadGroup(groupId) {
  const gen = (groupLoads.get(groupId) || 0) + 1;
  groupLoads.set(groupId, gen);
  try {
    const g = await S.im.rest.getGroupInfo(groupId);
    if (groupLoads.get(groupId) !== gen) return;
    putGroup(g);
    const me = (g.memberList || []).find((m) => m.memberId === S.auth.userId);
    const x = S.groups.get(groupId);
    x.left = !me || me.role === 3;
    x.gone = g.status === 2;
    wantUsers((g.memberList || []).map((m) => m.memberId));
  } catch (e) {
    if (groupLoads.get(groupId) !== gen) return;
    const x = S.groups.get(groupId);
    if (x && (e.code === 40000 || e.code === 40006 || e.code === 40018)) x.gone = true;
  }
  changed('groups', 'convs');
}

// Profiles, fetched in batches as names appear on screen.
const wanted = new Set();
let wantTimer = null;
export function wantUsers(ids) {
  for (const id of ids) if (id && !S.users.has(id)) wanted.add(id);
  if (wanted.size && !wantTimer) {
    wantTimer = setTimeout(async () => {
      wantTimer = null;
      const ids2 = [...wanted].slice(0, 100);
      ids2.forEach((i) => wanted.delete(i));
      if (!S.im) return;
      try {
        const r = await S.im.rest.getUserInfo(ids2);
        for (const u of r.userDataItem || []) S.users.set(u.userId, u);
        for (const id of r.failUser || []) S.users.set(id, { userId: id, missing: true });
        changed('users');
      } catch { /* retried when needed again */ }
      if (wanted.size) wantUsers([]);
    }, 30);
  }
}

export function displayName(id) {
  if (!id) return '';
  const f = S.friends.get(id);
  if (f && f.remark) return f.remark;
  const u = S.users.get(id);
  return (u && u.nickName) || id;
}
export function groupName(id) {
  const g = S.groups.get(id);
  return (g && g.groupName) || id;
}
export function convTitle(c) { return c.conversationType === 1 ? groupName(c.peer) : displayName(c.peer); }
export function unread(c) {
  if (c.last && c.last.fromId === S.auth.userId && (c.last.messageSequence || 0) >= (c.lastSequence || 0)) return 0;
  return Math.max(0, (c.lastSequence || 0) - (c.readedSequence || 0));
}

export function textOf(m) {
  if (m.delFlag === 1 || m.recalled) return null;
  const b = m.body !== undefined ? m.body : safeParse(m.messageBody);
  if (b && typeof b === 'object') return b.content !== undefined ? String(b.content) : JSON.stringify(b);
  return b === undefined || b === null ? '' : String(b);
}
function safeParse(s) {
  if (typeof s !== 'string') return s;
  try { return JSON.parse(s); } catch { return s; }
}

// ---------------------------------------------------------------- messages
function box(conv) {
  let b = S.msgs.get(conv);
  if (!b) { b = { items: [], ids: new Map(), hasMore: true, loading: false, loaded: false }; S.msgs.set(conv, b); }
  return b;
}
const identity = (m) => `${m.fromId}|${m.messageId}`;

// Insert or merge one message; returns the stored object.
function upsert(conv, m) {
  const b = box(conv);
  const id = identity(m);
  let x = b.ids.get(id);
  if (x) {
    for (const k of ['messageKey', 'messageSequence', 'messageTime', 'serverTime', 'delFlag', 'readCount']) if (m[k] !== undefined) x[k] = m[k];
    if (m.delFlag === 1) x.recalled = true;
    if (x.status === 'sending' && x.messageKey) x.status = 'sent';
  } else {
    x = { ...m };
    if (x.delFlag === 1) x.recalled = true;
    if (x.fromId === S.auth.userId && !x.status) x.status = 'sent';
    b.ids.set(id, x);
    b.items.push(x);
  }
  b.items.sort(order);
  return x;
}
function order(a, b) {
  const sa = a.messageSequence || Infinity, sb = b.messageSequence || Infinity;
  if (sa !== sb) return sa - sb;
  return (a.localTime || a.messageTime || 0) - (b.localTime || b.messageTime || 0);
}

function markOwn(conv, test, fn) {
  const b = S.msgs.get(conv);
  if (b) {
    let any = false;
    for (const x of b.items) if (x.fromId === S.auth.userId && test(x)) { fn(x); any = true; }
    if (any) changed('messages');
  }
}

function applyRecall(conv, key) {
  const b = S.msgs.get(conv);
  if (b) for (const x of b.items) if (sameKey(x.messageKey, key)) { x.recalled = true; x.delFlag = 1; }
  const c = S.convs.get(conv);
  if (c && c.last && sameKey(c.last.messageKey, key)) c.last = { ...c.last, recalled: true, delFlag: 1 };
  changed('messages', 'convs');
}

function onMessage(m) {
  const conv = m.conversationId || convIdFor(m.conversationType || 0, m.peerId);
  const x = upsert(conv, m);
  const c = ensureConv(conv);
  c.deleted = false;
  if (m.messageSequence) c.lastSequence = Math.max(c.lastSequence || 0, m.messageSequence);
  if (!c.last || (m.messageSequence || 0) >= (c.last.messageSequence || 0)) c.last = x;
  c.updateTime = Math.max(c.updateTime || 0, m.serverTime || m.messageTime || Date.now());
  if (m.fromId === S.auth.userId) {
    c.readedSequence = Math.max(c.readedSequence || 0, m.messageSequence || 0);
  } else if (isVisible(conv)) {
    readUpTo(conv, m.messageSequence);
  }
  if (c.conversationType === 0) wantUsers([c.peer]); else wantUsers([m.fromId]);
  if (c.conversationType === 1 && !S.groups.has(c.peer)) reloadGroup(c.peer);
  changed('messages', 'convs');
}

function isVisible(conv) {
  return S.openConv === conv && document.visibilityState === 'visible';
}

// Move my read pointer and tell the server (1106 / 2106).
export function readUpTo(conv, seq) {
  const c = S.convs.get(conv);
  if (!c || !S.im || !seq) return;
  if ((c.readedSequence || 0) >= seq) return;
  c.readedSequence = seq;
  try {
    if (c.conversationType === 1) S.im.markGroupRead(c.peer, seq);
    else S.im.markRead(c.peer, seq);
  } catch { /* offline: the next open will read again */ }
  changed('convs');
}

export function openConversation(conv) {
  S.openConv = conv;
  const c = ensureConv(conv);
  if (c.deleted) c.deleted = false;
  const b = box(conv);
  if (!b.loaded) loadHistory(conv);
  else if (c.lastSequence) readUpTo(conv, c.lastSequence);
}
export function closeConversation() { S.openConv = null; }
document.addEventListener('visibilitychange', () => {
  if (S.openConv && document.visibilityState === 'visible') {
    const c = S.convs.get(S.openConv);
    if (c) readUpTo(S.openConv, c.lastSequence);
  }
});

// One page of older messages (newest first from the server).
export async function loadHistory(conv) {
  const b = box(conv);
  if (b.loading || (b.loaded && !b.hasMore)) return;
  b.loading = true;
  changed('messages');
  const { type, peer } = parseConvId(conv);
  const oldest = b.items.find((x) => x.messageSequence);
  const before = b.loaded && oldest ? oldest.messageSequence : 0;
  try {
    const args = { messageSequence: before, limit: 30 };
    const r = type === 1
      ? await S.im.rest.queryGroupMessageHistory({ groupId: peer, ...args })
      : await S.im.rest.queryP2pMessageHistory({ toId: peer, ...args });
    const rows = Array.isArray(r) ? r : (r.dataList || r.list || r.records || []);
    for (const m of rows) upsert(conv, { ...m, body: safeParse(m.messageBody) });
    b.hasMore = Array.isArray(r) ? rows.length >= 30 : (r.hasMore !== undefined ? !!r.hasMore : rows.length >= 30);
    const c = ensureConv(conv);
    const newest = b.items.filter((x) => x.messageSequence).pop();
    if (newest) {
      c.lastSequence = Math.max(c.lastSequence || 0, newest.messageSequence);
      if (!c.last || (newest.messageSequence >= (c.last.messageSequence || 0))) c.last = newest;
    }
    if (c.peerReadSeq) for (const x of b.items) if (x.fromId === S.auth.userId && x.messageSequence <= c.peerReadSeq) x.status = 'read';
  } catch (e) {
    b.error = e.msg || String(e);
    b.hasMore = false;
  } finally {
    b.loading = false;
    b.loaded = true;
  }
  if (isVisible(conv)) readUpTo(conv, ensureConv(conv).lastSequence);
  changed('messages', 'convs');
}

// The last message of each conversation for the list's preview line.
let previewsLoading = false;
async function loadPreviews() {
  if (previewsLoading || !S.im) return;
  previewsLoading = true;
  try {
    const todo = [...S.convs.values()].filter((c) => !c.last && !c.deleted && c.lastSequence > 0)
      .sort((a, b) => (b.updateTime || 0) - (a.updateTime || 0)).slice(0, 40);
    await Promise.all(todo.map(async (c) => {
      try {
        const r = c.conversationType === 1
          ? await S.im.rest.queryGroupMessageHistory({ groupId: c.peer, messageSequence: 0, limit: 1 })
          : await S.im.rest.queryP2pMessageHistory({ toId: c.peer, messageSequence: 0, limit: 1 });
        const rows = Array.isArray(r) ? r : (r.dataList || []);
        if (rows[0] && !c.last) c.last = { ...rows[0], body: safeParse(rows[0].messageBody) };
      } catch { /* leave it empty */ }
    }));
  } finally { previewsLoading = false; }
  changed('convs');
}

// Send a text; the message shows at once as "sending" and follows its ack.
export function sendText(conv, text) {
  const { type, peer } = parseConvId(conv);
  const messageId = 'w' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  const local = {
    messageId, fromId: S.auth.userId, toId: peer, body: { type: 1, content: text },
    messageTime: Date.now(), localTime: Date.now(), status: 'sending', conversationType: type,
  };
  if (type === 1) local.groupId = peer;
  const x = upsert(conv, local);
  const c = ensureConv(conv);
  c.deleted = false;
  c.last = x;
  c.updateTime = Date.now();
  changed('messages', 'convs');
  deliver(conv, x);
  return x;
}

export function retry(conv, x) {
  x.status = 'sending';
  x.error = null;
  changed('messages');
  deliver(conv, x);
}

async function deliver(conv, x) {
  const { type, peer } = parseConvId(conv);
  try {
    const ack = type === 1
      ? await S.im.sendGroupText(peer, x.body.content, { messageId: x.messageId })
      : await S.im.sendText(peer, x.body.content, { messageId: x.messageId });
    x.messageKey = ack.messageKey;
    x.messageSequence = ack.messageSequence;
    if (ack.serverTime) x.serverTime = ack.serverTime;
    if (x.status === 'sending') x.status = 'sent';
    const c = ensureConv(conv);
    if (c.peerReadSeq && x.messageSequence <= c.peerReadSeq) x.status = 'read';
    box(conv).items.sort(order);
    c.lastSequence = Math.max(c.lastSequence || 0, x.messageSequence || 0);
    // the server moved my read pointer to my own message (no 1106 needed)
    c.readedSequence = Math.max(c.readedSequence || 0, x.messageSequence || 0);
  } catch (e) {
    x.status = 'failed';
    x.error = (e && (e.msg || e.message)) || String(e);
    x.errorCode = e && e.code;
  }
  changed('messages', 'convs');
}

export async function recall(conv, x) {
  const { type, peer } = parseConvId(conv);
  await S.im.recall(x.messageKey, type === 1 ? { groupId: peer } : undefined);
  applyRecall(conv, x.messageKey);
}

// ---------------------------------------------------------------- conversations
export function conversationList() {
  return [...S.convs.values()]
    .filter((c) => !c.deleted && (c.last || c.lastSequence > 0 || c.conversationId === S.openConv))
    .sort((a, b) => (b.isTop ? 1 : 0) - (a.isTop ? 1 : 0)
      || ((b.last && (b.last.serverTime || b.last.messageTime)) || b.updateTime || 0) - ((a.last && (a.last.serverTime || a.last.messageTime)) || a.updateTime || 0));
}

export async function setConvFlag(conv, field, value) {
  const c = ensureConv(conv);
  await S.im.rest.updateConversation({ conversationId: conv, [field]: value ? 1 : 0 });
  c[field] = value ? 1 : 0;
  changed('convs');
}

export async function removeConversation(conv) {
  await S.im.rest.deleteConversation(conv);
  const c = S.convs.get(conv);
  if (c) c.deleted = true;
  changed('convs');
}

export function totalUnread() {
  let n = 0;
  for (const c of S.convs.values()) if (!c.deleted && !c.isMute) n += unread(c);
  return n;
}
export function pendingRequests() {
  return S.requests.filter((r) => r.approveStatus === 0).length;
}

// ---------------------------------------------------------------- friends & groups
export async function approve(id, status) {
  await S.im.rest.approveFriendRequest(id, status);
  const r = S.requests.find((x) => x.id === id);
  if (r) r.approveStatus = status;
  if (status === 1 && S.refetchFriends) S.refetchFriends();
  changed('requests');
}

export async function markRequestsRead() {
  if (S.requests.some((r) => r.readStatus === 0)) {
    try { await S.im.rest.readFriendShipRequest(); } catch { /* ignore */ }
  }
}

export async function createGroup({ groupName, groupType, members }) {
  const g = await S.im.rest.createGroup({
    groupName, groupType, member: members.map((id) => ({ memberId: id, role: 0 })),
  });
  const id = g.groupId || g;
  await reloadGroup(id);
  return id;
}
