// petrel JavaScript SDK — one dependency-free ES module for browsers and Node 20.
//
// Design:
//  * Wire: uplink = 28-byte big-endian header + imei + UTF-8 JSON body, downlink =
//    command + length + UTF-8 JSON (docs/PROTOCOL.md). Lengths are exact UTF-8 byte
//    counts (TextEncoder). JSON is parsed with integers beyond 2^53 kept as decimal
//    strings (messageKey is 64-bit) and BigInt values are written back as integers.
//  * PetrelClient owns one WebSocket at a time. A socket is "open" only after
//    LOGINACK. Unexpected closes reconnect with exponential backoff and full jitter;
//    logout, close(), a kick (9002) and refused logins never reconnect.
//  * Send queue: every chat message keeps its messageId until its ack (1046/2047)
//    and is re-sent with the same messageId on ack timeout and after reconnect; the
//    server deduplicates by messageId.
//  * Receive path: every message (push, sync or gap fill) goes through a
//    per-conversation sequence buffer: seen sequences are dropped, a hole waits
//    gapWaitMs and is then fetched over REST, so `message` fires once, in order.
//    After each login getUserSequence tells which collections changed; they are
//    synced incrementally, then messages with syncOfflineMessage from a cursor.
//    Live message pushes that arrive during a sync are held until it ends.
//  * Events: on/off/once with canonical names; the seeds' listener names
//    (onP2PMessage, onMutualLogin, ...) are accepted as aliases.

/* ------------------------------------------------------------------ commands */

/** Command codes (docs/PROTOCOL.md, include/petrel/proto.h). */
export const CMD = Object.freeze({
  LOGIN: 9000, LOGINACK: 9001, MUTUALLOGIN: 9002, LOGOUT: 9003, ERROR: 9998, PING: 9999,
  MSG_ACK: 1046, MSG_RECALL: 1050, MSG_RECALL_ACK: 1051, MSG_RECALL_NOTIFY: 1052,
  MSG_READED_NOTIFY: 1053, MSG_READED_RECEIPT: 1054, MSG_RECALL_SYNC: 1055,
  MSG_P2P: 1103, MSG_READED: 1106, MSG_RECEIVE_ACK: 1107, MSG_P2P_SYNC: 1108,
  JOIN_GROUP: 2000, ADDED_MEMBER: 2001, CREATED_GROUP: 2002, UPDATED_GROUP: 2003,
  EXIT_GROUP: 2004, UPDATED_MEMBER: 2005, DELETED_MEMBER: 2006, DESTROY_GROUP: 2007,
  TRANSFER_GROUP: 2008, MUTE_GROUP: 2009, SPEAK_GROUP_MEMBER: 2010, UNMUTE_GROUP: 2011,
  GROUP_MSG_ACK: 2047, MSG_GROUP_READED_NOTIFY: 2053, MSG_GROUP_READED_RECEIPT: 2054,
  MSG_GROUP: 2104, MSG_GROUP_SYNC: 2105, MSG_GROUP_READED: 2106,
  FRIEND_ADD: 3000, FRIEND_UPDATE: 3001, FRIEND_DELETE: 3002, FRIEND_REQUEST: 3003,
  FRIEND_REQUEST_READ: 3004, FRIEND_REQUEST_APPROVER: 3005, FRIEND_BLACK_ADD: 3010,
  FRIEND_BLACK_DELETE: 3011, FRIEND_GROUP_ADD: 3012, FRIEND_GROUP_DELETE: 3013,
  FRIEND_GROUP_MEMBER_ADD: 3014, FRIEND_GROUP_MEMBER_DELETE: 3015, FRIEND_ALL_DELETE: 3016,
  USER_MODIFY: 4000, USER_CUSTOM_STATUS_CHANGE_NOTIFY: 4003,
  USER_ONLINE_STATUS_CHANGE_NOTIFY: 4004, USER_ONLINE_STATUS_CHANGE_NOTIFY_SYNC: 4005,
  CONVERSATION_DELETE: 5000, CONVERSATION_UPDATE: 5001,
});

/** Push command → canonical event name (messages and acks are handled separately). */
const PUSH_EVENTS = {
  1107: 'receiveAck', 1053: 'readSync', 1054: 'readReceipt', 2053: 'groupReadSync',
  2054: 'groupReadReceipt', 1052: 'recallNotify', 1055: 'recallSync',
  5000: 'conversationDelete', 5001: 'conversationUpdate',
  2000: 'groupJoin', 2001: 'groupMemberAdded', 2002: 'groupCreated', 2003: 'groupUpdated',
  2004: 'groupExit', 2005: 'groupMemberUpdated', 2006: 'groupMemberRemoved',
  2007: 'groupDestroyed', 2008: 'groupTransferred', 2009: 'groupMuted',
  2010: 'groupMemberMuted', 2011: 'groupUnmuted',
  3000: 'friendAdd', 3001: 'friendUpdate', 3002: 'friendDelete', 3003: 'friendRequest',
  3004: 'friendRequestRead', 3005: 'friendRequestApprove', 3010: 'blackAdd',
  3011: 'blackDelete', 3012: 'friendListAdd', 3013: 'friendListDelete',
  3014: 'friendListMemberAdd', 3015: 'friendListMemberDelete', 3016: 'friendAllDelete',
  4000: 'userModify', 4003: 'customStatus', 4004: 'onlineStatus', 4005: 'onlineStatusSync',
};

/** Seed listener names (inventory §10.1) → canonical event names. */
export const EVENT_ALIASES = Object.freeze({
  onLogin: 'login', onSocketConnectEvent: 'login', onSocketErrorEvent: 'error',
  onSocketReConnectEvent: 'reconnecting', onSocketReConnectSuccessEvent: 'reconnected',
  onSocketCloseEvent: 'disconnected', onMutualLogin: 'kicked',
  onUserOnlineStatusChangeSync: 'onlineStatusSync', onUserOnlineStatusChangeNotify: 'onlineStatus',
  onUserCustomStatusChangeNotify: 'customStatus',
  onP2PMessage: 'p2pMessage', onGroupMessage: 'groupMessage',
  onP2PMessageAck: 'messageAck', onP2pMsgReciveMessage: 'messageAck',
  onGroupMessageAck: 'groupMessageAck', onP2PMessageSync: 'p2pMessageSync',
  onGroupMessageSync: 'groupMessageSync', onP2PMessageReceiveAck: 'receiveAck',
  onMessageRecalledAck: 'recallAck', onMessageRecalledNotify: 'recallNotify',
  onMessageRecalledSync: 'recallSync', onMessageReadSync: 'readSync',
  onGroupMessageReadSync: 'groupReadSync', onMessageReadReceipt: 'readReceipt',
  onGroupMessageReadNotify: 'groupReadReceipt', onConversationUpdate: 'conversationUpdate',
  onConversationDelete: 'conversationDelete', onCreateGroup: 'groupCreated',
  onGroupInfoUpdate: 'groupUpdated', onDestroyGroup: 'groupDestroyed',
  onTransferGroup: 'groupTransferred', onMuteGroup: 'groupMuted', onUnMuteGroup: 'groupUnmuted',
  onAddGroupMemberNotify: 'groupMemberAdded', onRemoveGroupMemberNotify: 'groupMemberRemoved',
  onGroupMemberInfoUpdate: 'groupMemberUpdated', onMuteGroupMember: 'groupMemberMuted',
  onAddFriend: 'friendAdd', onFriendRequest: 'friendRequest', onUpdateFriendInfo: 'friendUpdate',
  onDeleteFriend: 'friendDelete', onDeleteAllFriend: 'friendAllDelete',
  onFriendBlackAdd: 'blackAdd', onFriendBlackDel: 'blackDelete',
  onFriendRequestApprove: 'friendRequestApprove', onFriendRequestRead: 'friendRequestRead',
  onOfflineMessage: 'offlineMessages',
});

/** Send refusals that mean "resend later, same messageId": storage error,
 * server busy, rate limited (docs/PROTOCOL.md). */
const RESEND_LATER = new Set([90000, 62080, 62081]);

/** Login refusals that retrying cannot fix (docs/PROTOCOL.md, Errors). */
const FATAL_LOGIN_CODES = new Set([60000, 60003, 60004, 60005, 90001, 20001, 61010, 61011, 61015,
  62100, 62101]);

/* --------------------------------------------------------------------- errors */

/** An error with the server's (or the SDK's) code. */
export class PetrelError extends Error {
  /**
   * @param {number|string} code server code, or 'TIMEOUT' | 'CLOSED' | 'NETWORK' | 'LOGIN_TIMEOUT' | 'KICKED'
   * @param {string} msg
   * @param {object} [extra] e.g. {status, path, command}
   */
  constructor(code, msg, extra = {}) {
    super(`${code}: ${msg}`);
    this.name = 'PetrelError';
    /** @type {number|string} */ this.code = code;
    /** @type {string} */ this.msg = msg;
    Object.assign(this, extra);
  }
}

/* ----------------------------------------------------------------------- JSON */

/**
 * JSON.parse, but integers outside ±(2^53−1) become decimal strings
 * (messageKey is a 64-bit integer).
 * @param {string} text
 * @returns {any}
 */
export function parseJSON(text) {
  let out = null; // built lazily: most documents have no big integer
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // skip a string
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++; else if (d === 34) break;
      }
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + (c === 45 ? 1 : 0);
      while (j < n && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
      const digits = j - i - (c === 45 ? 1 : 0);
      const nc = j < n ? text.charCodeAt(j) : 0;
      const isInt = nc !== 46 && nc !== 101 && nc !== 69; // . e E
      if (isInt && digits >= 16) {
        const tok = text.slice(i, j);
        const big = BigInt(tok);
        if (big > 9007199254740991n || big < -9007199254740991n) {
          out = out || [];
          out.push(text.slice(last, i), '"', tok, '"');
          last = j;
        }
      }
      i = j - 1;
    }
  }
  return JSON.parse(out ? out.join('') + text.slice(last) : text);
}

/**
 * JSON.stringify where BigInt values are written as JSON integers.
 * @param {any} value
 * @returns {string}
 */
export function stringifyJSON(value) {
  let big = false;
  const s = JSON.stringify(value, (k, v) => {
    if (typeof v === 'bigint') { big = true; return `\u0000BIG${v}\u0000`; }
    return v;
  });
  return big ? s.replace(/"\\u0000BIG(-?\d+)\\u0000"/g, '$1') : s;
}

/** A messageKey (string, number or bigint) as a BigInt for the wire. */
function asKey(k) {
  if (typeof k === 'bigint') return k;
  if (typeof k === 'number') return BigInt(Math.trunc(k));
  if (typeof k === 'string' && /^-?\d+$/.test(k)) return BigInt(k);
  throw new PetrelError(90001, 'messageKey must be an integer (string)');
}

/* ---------------------------------------------------------------------- frames */

const te = new TextEncoder();
const td = new TextDecoder('utf-8');

/**
 * Encode an uplink frame.
 * @param {number} command
 * @param {object|string} [body]
 * @param {{appId?: number, clientType?: number, imei?: string, version?: number}} [h]
 * @returns {Uint8Array}
 */
export function encodeUplink(command, body = {}, h = {}) {
  const b = te.encode(typeof body === 'string' ? body : stringifyJSON(body));
  const im = te.encode(h.imei || '');
  const buf = new Uint8Array(28 + im.length + b.length);
  const dv = new DataView(buf.buffer);
  dv.setInt32(0, command, false);
  dv.setInt32(4, h.version ?? 1, false);
  dv.setInt32(8, h.clientType ?? 1, false);
  dv.setInt32(12, 0, false); // messageType 0 = JSON
  dv.setInt32(16, h.appId ?? 0, false);
  dv.setInt32(20, im.length, false);
  dv.setInt32(24, b.length, false);
  buf.set(im, 28);
  buf.set(b, 28 + im.length);
  return buf;
}

/**
 * Decode one or more downlink frames.
 * @param {ArrayBuffer|Uint8Array} data
 * @returns {{command: number, data: any}[]}
 */
export function decodeDownlink(data) {
  const u8 = data instanceof Uint8Array ? data : new Uint8Array(data);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const out = [];
  let off = 0;
  while (off + 8 <= u8.length) {
    const command = dv.getInt32(off, false);
    const len = dv.getInt32(off + 4, false);
    if (len < 0 || off + 8 + len > u8.length) throw new PetrelError(61000, 'truncated downlink frame');
    const text = td.decode(u8.subarray(off + 8, off + 8 + len));
    out.push({ command, data: text ? parseJSON(text) : null });
    off += 8 + len;
  }
  if (off !== u8.length) throw new PetrelError(61000, 'trailing bytes in downlink frame');
  return out;
}

/**
 * Conversation id as the server builds it: "{type}_{owner}_{peer}".
 * @param {0|1} type @param {string} owner @param {string} peer
 */
export function conversationId(type, owner, peer) {
  return `${type}_${owner}_${peer}`;
}

/* ---------------------------------------------------------------------- events */

/** Minimal EventTarget-like emitter with alias names. */
export class Emitter {
  constructor() { /** @type {Map<string, Set<Function>>} */ this._ls = new Map(); }
  static canonical(name) { return EVENT_ALIASES[name] || name; }
  /** @param {string} name @param {(data: any) => void} fn */
  on(name, fn) {
    const n = Emitter.canonical(name);
    if (!this._ls.has(n)) this._ls.set(n, new Set());
    this._ls.get(n).add(fn);
    return this;
  }
  /** @param {string} name @param {Function} fn */
  off(name, fn) {
    const s = this._ls.get(Emitter.canonical(name));
    if (s) { s.delete(fn); for (const f of s) if (f._orig === fn) s.delete(f); }
    return this;
  }
  /** @param {string} name @param {(data: any) => void} fn */
  once(name, fn) {
    const w = (d) => { this.off(name, w); fn(d); };
    w._orig = fn;
    return this.on(name, w);
  }
  /** @param {string} name @param {any} [data] */
  emit(name, data) {
    const s = this._ls.get(name);
    if (!s) return;
    for (const fn of [...s]) {
      try { fn(data); } catch (e) { setTimeout(() => { throw e; }); } // a listener error must not break the SDK
    }
  }
}

/* ------------------------------------------------------------------------ REST */

function defaultFetch() {
  if (typeof globalThis.fetch !== 'function') throw new PetrelError('NETWORK', 'no fetch available');
  return globalThis.fetch.bind(globalThis);
}

function trimBase(u) { return String(u || '').replace(/\/+$/, ''); }

async function postJSON(f, url, body, timeoutMs, path) {
  const ctl = typeof AbortController === 'function' ? new AbortController() : null;
  const t = ctl && timeoutMs ? setTimeout(() => ctl.abort(), timeoutMs) : null;
  let res, text;
  try {
    res = await f(url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: stringifyJSON(body ?? {}), signal: ctl ? ctl.signal : undefined });
    text = await res.text();
  } catch (e) {
    if (ctl && ctl.signal.aborted) throw new PetrelError('TIMEOUT', `${path}: no answer in ${timeoutMs} ms`, { path });
    throw new PetrelError('NETWORK', `${path}: ${e && e.message || e}`, { path });
  } finally {
    if (t) clearTimeout(t);
  }
  let env;
  try { env = parseJSON(text); } catch {
    throw new PetrelError(res.status, `${path}: HTTP ${res.status}, not JSON`, { status: res.status, path });
  }
  if (env && env.code === 200) return env.data;
  throw new PetrelError(env && env.code != null ? env.code : res.status,
    (env && (env.msg || env.message)) || `HTTP ${res.status}`, { status: res.status, path });
}

/**
 * @typedef {object} RestOptions
 * @property {string} baseUrl  e.g. "http://127.0.0.1:8080"
 * @property {number} appId
 * @property {string} userId   the operator (`identifier`)
 * @property {string} userSign token for userId
 * @property {typeof fetch} [fetch]
 * @property {number} [timeoutMs] per request (default 15000)
 */

/**
 * A signed REST client with a helper for every endpoint of docs/API.md.
 * Helpers resolve with the envelope's `data`; errors reject with PetrelError.
 * @param {RestOptions} o
 */
export function createRest(o) {
  const base = trimBase(o.baseUrl ?? (typeof location !== 'undefined' ? location.origin : ''));
  const f = o.fetch || defaultFetch();
  const timeoutMs = o.timeoutMs ?? 15000;
  const auth = { appId: o.appId, userId: o.userId, userSign: o.userSign };
  const call = (path, body = {}) => {
    const q = `appId=${encodeURIComponent(auth.appId)}&identifier=${encodeURIComponent(auth.userId)}` +
      `&userSign=${encodeURIComponent(auth.userSign)}`;
    return postJSON(f, `${base}${path}?${q}`, body, timeoutMs, path);
  };
  const sync = (path) => (lastSequence = 0, maxLimit = 100, extra = {}) =>
    call(path, { ...extra, lastSequence, maxLimit });
  const keyOf = (v) => (v === undefined || v === null ? 0n : asKey(v));
  const r = {
    call,
    /** replace the token (e.g. after a refresh) */
    setUserSign(s) { auth.userSign = s; },
    get auth() { return { ...auth }; },
    // ---- users
    importUser: (userData) => call('/v1/user/importUser', { userData }),
    deleteUser: (userIds) => call('/v1/user/deleteUser', { userId: userIds }),
    getGateway: (clientType = 1) => call('/v1/user/login', { clientType }),
    getUserSequence: (userId) => call('/v1/user/getUserSequence', userId ? { userId } : {}),
    getUserInfo: (userIds) => call('/v1/user/data/getUserInfo', { userIds }),
    getSingleUserInfo: (userId) => call('/v1/user/data/getSingleUserInfo', userId ? { userId } : {}),
    modifyUserInfo: (fields) => call('/v1/user/data/modifyUserInfo', fields),
    queryImUserPage: (q = {}) => call('/v1/user/data/queryImUserPage', q),
    subscribeUserOnlineStatus: (subUserIds, subTime) =>
      call('/v1/user/subscribeUserOnlineStatus', { subUserIds, subTime }),
    setUserCustomerStatus: (customText, customStatus) =>
      call('/v1/user/setUserCustomerStatus', { customText, customStatus }),
    queryFriendOnlineStatus: () => call('/v1/user/queryFriendOnlineStatus', {}),
    queryUserOnlineStatus: (userIdList) => call('/v1/user/queryUserOnlineStatus', { userIdList }),
    // ---- messages
    sendMessage: (m) => call('/v1/message/send', m), // fromId: the server defaults it to the operator
    syncOfflineMessage: (lastSequence = 0, maxLimit = 100) =>
      call('/v1/message/syncOfflineMessage', { lastSequence: keyOf(lastSequence), maxLimit }),
    queryP2pMessageHistory: (q) => call('/v1/message/queryP2pMessageHistory', q),
    getP2pMessageRange: (q) => call('/v1/message/getP2pMessageRange', q),
    queryGroupMessageHistory: (q) => call('/v1/message/queryGroupMessageHistory', q),
    // ---- conversations
    syncConversationList: sync('/v1/conversation/syncConversationList'),
    updateConversation: (u) => call('/v1/conversation/updateConversation', u),
    deleteConversation: (conversationId) => call('/v1/conversation/deleteConversation', { conversationId }),
    // ---- friends
    importFriendShip: (fromId, friendItem) => call('/v1/friendship/importFriendShip', { fromId, friendItem }),
    addFriend: (toItem) => call('/v1/friendship/addFriend', { toItem }),
    updateFriend: (toItem) => call('/v1/friendship/updateFriend', { toItem }),
    deleteFriend: (toId) => call('/v1/friendship/deleteFriend', { toId }),
    deleteAllFriend: () => call('/v1/friendship/deleteAllFriend', {}),
    getAllFriendShip: () => call('/v1/friendship/getAllFriendShip', {}),
    getRelation: (toId) => call('/v1/friendship/getRelation', { toId }),
    checkFriend: (toIds, checkType = 1) => call('/v1/friendship/checkFriend', { toIds, checkType }),
    addBlack: (toId) => call('/v1/friendship/addBlack', { toId }),
    deleteBlack: (toId) => call('/v1/friendship/deleteBlack', { toId }),
    checkBlack: (toIds, checkType = 1) => call('/v1/friendship/checkBlack', { toIds, checkType }),
    syncFriendshipList: sync('/v1/friendship/syncFriendshipList'),
    // ---- friend requests
    getFriendRequest: () => call('/v1/friendshipRequest/getFriendRequest', {}),
    approveFriendRequest: (id, status) => call('/v1/friendshipRequest/approveFriendRequest', { id, status }),
    readFriendShipRequest: () => call('/v1/friendshipRequest/readFriendShipRequest', {}),
    syncFriendshipRequest: sync('/v1/friendshipRequest/syncFriendshipRequest'),
    // ---- friend lists
    addFriendGroup: (groupName, toIds) =>
      call('/v1/friendship/group/add', toIds ? { groupName, toIds } : { groupName }),
    deleteFriendGroup: (groupNames) => call('/v1/friendship/group/del', { groupName: groupNames }),
    addFriendGroupMember: (groupName, toIds) => call('/v1/friendship/group/member/add', { groupName, toIds }),
    deleteFriendGroupMember: (groupName, toIds) => call('/v1/friendship/group/member/del', { groupName, toIds }),
    syncFriendshipGroupList: sync('/v1/friendship/group/syncFriendshipGroupList'),
    // ---- groups (seed paths, inventory §5.4)
    importGroup: (g) => call('/v1/group/importGroup', g),
    createGroup: (g) => call('/v1/group/createGroup', {
      ...g, member: (g.member || []).map((m) => (typeof m === 'string' ? { memberId: m } : m)),
    }),
    getGroupInfo: (groupId) => call('/v1/group/getGroupInfo', { groupId }),
    getJoinedGroup: (q = {}) => call('/v1/group/getJoinedGroup', { memberId: auth.userId, ...q }),
    updateGroupInfo: (g) => call('/v1/group/update', g),
    destroyGroup: (groupId) => call('/v1/group/destroyGroup', { groupId }),
    transferGroup: (groupId, ownerId) => call('/v1/group/transferGroup', { groupId, ownerId }),
    forbidSendMessage: (groupId, mute = 1) => call('/v1/group/forbidSendMessage', { groupId, mute }),
    enableSendMsg: (groupId) => call('/v1/group/forbidSendMessage', { groupId, mute: 0 }),
    sendGroupMsgByInterface: (m) => call('/v1/group/sendMessage', { fromId: auth.userId, ...m }),
    syncJoinedGroup: sync('/v1/group/syncJoinedGroup'),
    importGroupMember: (groupId, members) => call('/v1/group/member/importGroupMember', { groupId, members }),
    addGroupMember: (groupId, members) => call('/v1/group/member/add', {
      groupId, members: members.map((m) => (typeof m === 'string' ? { memberId: m } : m)),
    }),
    removeGroupMember: (groupId, memberId) => call('/v1/group/member/remove', { groupId, memberId }),
    exitGroup: (groupId) => call('/v1/group/member/exitGroup', { groupId }),
    updateGroupMemberInfo: (m) => call('/v1/group/member/update', m),
    setGroupMemberSpeak: (groupId, memberId, speakDate) =>
      call('/v1/group/member/speak', { groupId, memberId, speakDate }),
    applyJoinGroup: (groupId, wording) => call('/v1/group/applyJoinGroup', { groupId, wording }),
    getJoinRequest: (groupId, status) => call('/v1/group/getJoinRequest', status === undefined ? { groupId } : { groupId, status }),
    approveJoinRequest: (groupId, requestId, status) => call('/v1/group/approveJoinRequest', { groupId, requestId, status }),
    syncGroupMessage: (groupId, lastSequence = 0, maxLimit = 100) =>
      call('/v1/group/message/syncGroupMessage', { groupId, lastSequence, maxLimit }),
    getGroupReadCount: (groupId, messageSequence) => call('/v1/group/message/getReadCount', { groupId, messageSequence }),
    // ---- app settings (admin) and operations
    getAppSetting: () => call('/v1/app/getSetting', {}),
    updateAppSetting: (fields) => call('/v1/app/updateSetting', fields),
    async health() {
      let res;
      try { res = await f(`${base}/healthz`); } catch (e) {
        throw new PetrelError('NETWORK', `/healthz: ${e && e.message || e}`, { path: '/healthz' });
      }
      const env = parseJSON(await res.text());
      if (env.code === 200) return env.data;
      throw new PetrelError(env.code, env.msg || 'unhealthy', { status: res.status, path: '/healthz' });
    },
  };
  // seed SDK names
  r.getSingleInfo = r.getSingleUserInfo;
  r.sendP2PMsgByInterface = r.sendMessage;
  r.syncConversationSet = r.syncConversationList;
  r.readFriendShipRequestReq = r.readFriendShipRequest;
  r.getCurUserJoinedGroup = r.getJoinedGroup;
  return r;
}

/* --------------------------------------------------------- demo app server */

/**
 * Register an account on the demo app server (POST /app/v1/register).
 * @param {{baseUrl?: string, userName: string, password: string, appId?: number, fetch?: typeof fetch}} o
 * @returns {Promise<{userId: string, userName: string, appId: number}>}
 */
export function appRegister(o) {
  const base = trimBase(o.baseUrl ?? (typeof location !== 'undefined' ? location.origin : ''));
  const body = { userName: o.userName, password: o.password, registerType: 1 };
  if (o.appId != null) body.appId = o.appId;
  return postJSON(o.fetch || defaultFetch(), `${base}/app/v1/register`, body, o.timeoutMs ?? 15000, '/app/v1/register');
}

/**
 * Log in on the demo app server (POST /app/v1/login).
 * @param {{baseUrl?: string, userName: string, password: string, appId?: number, fetch?: typeof fetch}} o
 * @returns {Promise<{userId: string, appId: number, imUserSign: string, userSign: string, expire: number}>}
 */
export function appLogin(o) {
  const base = trimBase(o.baseUrl ?? (typeof location !== 'undefined' ? location.origin : ''));
  const body = { userName: o.userName, password: o.password, loginType: 1 };
  if (o.appId != null) body.appId = o.appId;
  return postJSON(o.fetch || defaultFetch(), `${base}/app/v1/login`, body, o.timeoutMs ?? 15000, '/app/v1/login');
}

/* ---------------------------------------------------------------------- client */

function randomId(prefix) {
  const r = Math.random().toString(36).slice(2, 10);
  return `${prefix}${Date.now().toString(36)}-${r}`;
}

function parseBody(mb) {
  if (typeof mb !== 'string') return mb;
  try { return JSON.parse(mb); } catch { return mb; }
}

/** Keys are time-ordered ((ms since 2024) << 22): a re-sync starts resyncWindowMs of key space back. */
const KEY_MS_SHIFT = 22n;

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl]
 * @property {string} [wsUrl]
 * @property {boolean} [discover]
 * @property {number} appId
 * @property {string} userId
 * @property {string} userSign
 * @property {number} [clientType]
 * @property {string} [imei]
 * @property {any} [WebSocket]
 * @property {typeof fetch} [fetch]
 * @property {number} [heartbeatMs]
 * @property {number} [loginTimeoutMs]
 * @property {number} [ackTimeoutMs]
 * @property {number} [sendTimeoutMs]
 * @property {false | {baseMs?: number, maxMs?: number, minMs?: number}} [reconnect]
 * @property {boolean} [autoReceiveAck]
 * @property {number} [gapWaitMs]
 * @property {number} [resyncWindowMs]
 * @property {'latest'|'all'} [initialSync]
 * @property {object} [syncState]
 * @property {Record<string, Function>} [listeners]
 */

/**
 * @typedef {object} Ack
 * @property {string} messageId
 * @property {string|number} messageKey
 * @property {number} messageSequence
 * @property {number} [messageTime]
 * @property {string} [toId]
 * @property {string} [groupId]
 * @property {number} [serverTime]
 */

/** The IM client: one logged-in device of one user. */
export class PetrelClient extends Emitter {
  /** @param {ClientOptions} o */
  constructor(o) {
    super();
    if (!o || o.appId == null || !o.userId || !o.userSign) throw new PetrelError(90001, 'appId, userId and userSign are required');
    this.opts = {
      clientType: 1, heartbeatMs: 10000, loginTimeoutMs: 10000, ackTimeoutMs: 5000,
      sendTimeoutMs: 60000, autoReceiveAck: true, gapWaitMs: 300, initialSync: 'latest',
      resyncWindowMs: 5000, ...o,
    };
    this.opts.reconnect = o.reconnect === false ? false : { baseMs: 500, maxMs: 30000, minMs: 0, ...(o.reconnect || {}) };
    this.baseUrl = trimBase(o.baseUrl ?? (typeof location !== 'undefined' ? location.origin : ''));
    this.userId = o.userId;
    this.appId = o.appId;
    this.imei = o.imei || randomId('web-');
    this.rest = createRest({ baseUrl: this.baseUrl, appId: o.appId, userId: o.userId, userSign: o.userSign, fetch: o.fetch });
    /** @type {'idle'|'connecting'|'open'|'reconnecting'|'kicked'|'closed'} */
    this.state = 'idle';
    this._ws = null;
    this._stopped = false;
    this._attempt = 0;
    this._everOpen = false;
    this._timers = { login: null, hb: null, retry: null };
    this._lastRx = 0;
    this._pending = new Map();       // messageId -> pending send
    this._recalls = [];              // FIFO of pending recalls
    this._sentIds = new Set();       // messageIds sent from this device (bounded)
    this._recalled = new Set();      // messageKeys whose recall was told (bounded)
    this._convs = new Map();         // conversationId -> ordering state
    this._held = null;               // message packets held while syncing
    this._syncing = null;
    this._connectWaiters = [];
    const s = o.syncState || {};
    this._st = {
      initialized: !!s.initialized, msgCursor: String(s.msgCursor ?? '0'),
      conversationSeq: s.conversationSeq || 0, friendshipSeq: s.friendshipSeq || 0,
      friendshipRequestSeq: s.friendshipRequestSeq || 0, friendshipGroupSeq: s.friendshipGroupSeq || 0,
      groupSeq: s.groupSeq || 0, conv: { ...(s.conv || {}) },
    };
    for (const k of s.recalled || []) this._recalled.add(String(k));
    if (o.listeners) for (const [k, fn] of Object.entries(o.listeners)) if (typeof fn === 'function') this.on(k, fn);
  }

  /** JSON-serialisable sync cursors; pass back as `syncState` to resume. */
  getSyncState() {
    // with the latest recalls already told, so a resumed client does not
    // tell them again when the sync hands the recalled messages out
    return { ...JSON.parse(JSON.stringify(this._st)), recalled: [...this._recalled].slice(-500) };
  }

  /** Replace the token (REST and future logins). */
  setUserSign(s) {
    this.opts.userSign = s;
    this.rest.setUserSign(s);
  }

  _setState(s) {
    if (s === this.state) return;
    const previous = this.state;
    this.state = s;
    this.emit('state', { state: s, previous });
  }

  /* ------------------------------------------------------------ connection */

  /**
   * Connect, log in and sync. Resolves on the first successful login (after its
   * sync); rejects on a refused login, or when reconnect is off and it fails.
   * @returns {Promise<{userId: string, serverTime: number}>}
   */
  connect() {
    if (this.state === 'open') {
      const ok = () => ({ userId: this.userId, serverTime: Date.now() });
      return (this._syncing || Promise.resolve()).then(ok, ok);
    }
    const p = new Promise((resolve, reject) => this._connectWaiters.push({ resolve, reject }));
    if (this.state === 'idle' || this.state === 'closed' || this.state === 'kicked') {
      this._stopped = false;
      this._attempt = 0;
      this._open();
    }
    return p;
  }

  _settleConnect(err, val) {
    const ws = this._connectWaiters;
    this._connectWaiters = [];
    for (const w of ws) (err ? w.reject(err) : w.resolve(val));
  }

  async _wsUrl() {
    if (this.opts.wsUrl) return this.opts.wsUrl;
    if (this.opts.discover) {
      const g = await this.rest.getGateway(this.opts.clientType);
      if (g && g.url) return g.url;
    }
    return this.baseUrl.replace(/^http/, 'ws') + '/ws';
  }

  async _open() {
    clearTimeout(this._timers.retry);
    this._setState(this._everOpen || this._attempt > 0 ? 'reconnecting' : 'connecting');
    const WS = this.opts.WebSocket || globalThis.WebSocket;
    if (!WS) {
      this._fail(new PetrelError('NETWORK', 'no WebSocket constructor: pass options.WebSocket'), true);
      return;
    }
    let url;
    try { url = await this._wsUrl(); } catch (e) {
      if (this._stopped) return;
      this._connectionLost(null, 0, String(e && e.msg || e));
      return;
    }
    if (this._stopped) return;
    let ws;
    try { ws = new WS(url); } catch (e) {
      this._connectionLost(null, 0, String(e && e.message || e));
      return;
    }
    this._ws = ws;
    ws.binaryType = 'arraybuffer';
    this._loggedIn = false;
    this._timers.login = setTimeout(() => {
      if (this._ws !== ws) return;
      this.emit('error', new PetrelError('LOGIN_TIMEOUT', `no LOGINACK within ${this.opts.loginTimeoutMs} ms`));
      this._drop(ws, 4000, 'login timeout');
    }, this.opts.loginTimeoutMs);
    ws.onopen = () => {
      if (this._ws !== ws) return;
      this._lastRx = Date.now();
      this._raw(CMD.LOGIN, { userId: this.userId, userSign: this.opts.userSign });
    };
    ws.onmessage = (ev) => {
      if (this._ws !== ws) return;
      const d = ev.data;
      if (typeof d === 'string') { this.emit('error', new PetrelError(61012, 'text frame from server')); return; }
      if (d && typeof d.arrayBuffer === 'function' && !(d instanceof ArrayBuffer)) {
        // Blob (an environment without binaryType support): keep order with a chain
        this._blobChain = (this._blobChain || Promise.resolve()).then(() => d.arrayBuffer()).then((ab) => {
          if (this._ws === ws) this._onData(ab);
        });
        return;
      }
      this._onData(d);
    };
    ws.onerror = () => {
      // Browsers follow an error with a close event; Node 20's WebSocket does not
      // when the connection fails, so a failed or broken socket is dropped here.
      if (this._ws !== ws) return;
      if (ws.readyState !== 1) this._drop(ws, 1006, 'connection failed');
      else setTimeout(() => { if (this._ws === ws) this._drop(ws, 1006, 'socket error'); }, 1000);
    };
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._connectionLost(ws, ev && ev.code, ev && ev.reason);
    };
  }

  /** Close a socket now and treat it as lost (heartbeat/login timeout). */
  _drop(ws, code, reason) {
    if (!ws) return;
    if (this._ws === ws) this._connectionLost(ws, code, reason); // detaches the handlers first
    try { ws.close(); } catch { /* ignore */ }
  }

  _clearConnTimers() {
    clearTimeout(this._timers.login);
    clearInterval(this._timers.hb);
    this._timers.login = this._timers.hb = null;
  }

  _connectionLost(ws, code, reason) {
    const wasOpen = this._loggedIn;
    this._clearConnTimers();
    if (ws && this._ws === ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      this._ws = null;
    }
    this._loggedIn = false;
    this._held = null;
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.timer = null; }
    if (wasOpen) this.emit('disconnected', { code: code || 0, reason: reason || '' });
    if (this._stopped) return;
    if (this.opts.reconnect === false) {
      this._fail(new PetrelError('NETWORK', `connection closed (${code || 0} ${reason || ''})`.trim()), false);
      return;
    }
    const r = this.opts.reconnect;
    const cap = Math.min(r.maxMs, r.baseMs * 2 ** Math.min(this._attempt, 30));
    const delayMs = Math.round(r.minMs + Math.random() * cap);
    this._attempt++;
    this._setState('reconnecting');
    this.emit('reconnecting', { attempt: this._attempt, delayMs });
    this._timers.retry = setTimeout(() => { if (!this._stopped) this._open(); }, delayMs);
  }

  /** Stop for good: no reconnect; pending sends and connect() waiters rejected. */
  _fail(err, emitError) {
    this._stopped = true;
    clearTimeout(this._timers.retry);
    this._clearConnTimers();
    if (this._ws) {
      const ws = this._ws;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      this._ws = null;
      try { ws.close(); } catch { /* ignore */ }
    }
    this._loggedIn = false;
    if (emitError) this.emit('error', err);
    this._rejectAll(err);
    this._settleConnect(err);
    if (this.state !== 'kicked') this._setState('closed');
  }

  _rejectAll(err) {
    for (const p of this._pending.values()) { clearTimeout(p.timer); clearTimeout(p.deadline); p.reject(err); }
    this._pending.clear();
    for (const r of this._recalls) { clearTimeout(r.timer); r.reject(err); }
    this._recalls = [];
  }

  /** End the socket session (LOGOUT 9003) and stop reconnecting. */
  async logout() {
    const ws = this._ws;
    this._stopped = true;
    clearTimeout(this._timers.retry);
    if (ws && this._loggedIn) {
      const closed = new Promise((res) => {
        const t = setTimeout(res, 2000);
        ws.onclose = () => { clearTimeout(t); res(); };
        ws.onmessage = null;
      });
      this._raw(CMD.LOGOUT, {});
      await closed;
    }
    this._fail(new PetrelError('CLOSED', 'logged out'), false);
  }

  /** Close the socket without LOGOUT and stop reconnecting. */
  close() {
    this._fail(new PetrelError('CLOSED', 'client closed'), false);
  }

  _raw(command, body) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    const buf = encodeUplink(command, body, { appId: this.appId, clientType: this.opts.clientType, imei: this.imei });
    try { ws.send(buf); } catch { return false; }
    return true;
  }

  /* -------------------------------------------------------------- downlink */

  _onData(ab) {
    this._lastRx = Date.now();
    let pkts;
    try { pkts = decodeDownlink(ab); } catch (e) {
      this.emit('error', e);
      this._drop(this._ws, 4002, 'bad frame');
      return;
    }
    for (const p of pkts) {
      this.emit('packet', p);
      try { this._onPacket(p.command, p.data); } catch (e) { this.emit('error', e); }
    }
  }

  _onPacket(cmd, d) {
    switch (cmd) {
      case CMD.LOGINACK: return this._onLoginAck(d);
      case CMD.PING: return;
      case CMD.ERROR: return this._onError(d || {});
      case CMD.MUTUALLOGIN: return this._onKicked(d || {});
      case CMD.MSG_ACK: return this._onAck(d || {}, 'p2p');
      case CMD.GROUP_MSG_ACK: return this._onAck(d || {}, 'group');
      case CMD.MSG_RECALL_ACK: return this._onRecallAck(d || {});
      case CMD.MSG_RECALL_NOTIFY: case CMD.MSG_RECALL_SYNC:
        if (d && d.messageKey != null) this._rememberRecall(d.messageKey);
        return this.emit(PUSH_EVENTS[cmd], d);
      case CMD.MSG_P2P: case CMD.MSG_P2P_SYNC: case CMD.MSG_GROUP: case CMD.MSG_GROUP_SYNC:
        if (this._held) { this._held.push([cmd, d]); return; }
        return this._onLiveMessage(cmd, d);
      default: {
        const ev = PUSH_EVENTS[cmd];
        if (ev) this.emit(ev, d);
      }
    }
  }

  _onLoginAck(d) {
    clearTimeout(this._timers.login);
    this._timers.login = null;
    this._loggedIn = true;
    const reconnected = this._everOpen;
    this._everOpen = true;
    this._attempt = 0;
    this._setState('open');
    const hb = this.opts.heartbeatMs;
    const ws = this._ws;
    this._timers.hb = setInterval(() => {
      if (this._ws !== ws) return;
      if (Date.now() - this._lastRx > 3 * hb) { this._drop(ws, 4001, 'heartbeat timeout'); return; }
      this._raw(CMD.PING, {});
    }, hb);
    this.emit('login', d);
    if (reconnected) this.emit('reconnected', d);
    // re-send everything not acked yet, in order, with the same messageIds
    for (const p of this._pending.values()) this._transmit(p);
    this.sync().then(
      () => this._settleConnect(null, { userId: this.userId, serverTime: d && d.serverTime }),
      () => this._settleConnect(null, { userId: this.userId, serverTime: d && d.serverTime }),
    );
  }

  _onError(d) {
    const err = new PetrelError(d.code, d.msg || 'error', { command: d.command, messageId: d.messageId });
    this.emit('error', err);
    if (!this._loggedIn) {
      if (FATAL_LOGIN_CODES.has(d.code)) this._fail(err, false);
      return; // others (e.g. 61016 shutting down): the close follows and we retry
    }
    if (d.code === 61015) { this._fail(err, false); return; }
    // a refused send: the error names its messageId (docs/PROTOCOL.md *Errors*)
    const named = typeof d.messageId === 'string' ? this._pending.get(d.messageId) : null;
    if (named) { this._settleSend(named, err); return; }
    // an older server without it: fail the oldest in-flight request of that command
    if (d.command === CMD.MSG_P2P || d.command === CMD.MSG_GROUP) {
      const kind = d.command === CMD.MSG_P2P ? 'p2p' : 'group';
      for (const p of this._pending.values()) {
        if (p.kind === kind && p.attempts > 0) { this._settleSend(p, err); break; }
      }
    } else if (d.command === CMD.MSG_RECALL && this._recalls.length) {
      const r = this._recalls.shift();
      clearTimeout(r.timer);
      r.reject(err);
    }
  }

  _onKicked(d) {
    const e = { reason: 'another device logged in', ...d };
    this._setState('kicked');
    this._fail(new PetrelError('KICKED', 'logged in on another device'), false);
    this.emit('kicked', e);
  }

  /* ----------------------------------------------------------------- sends */

  /**
   * Send a one-to-one message (MSG_P2P 1103).
   * @param {string} toId
   * @param {object|string} body  object → sent as its JSON text
   * @param {{messageId?: string, extra?: any, messageTime?: number}} [opt]
   * @returns {Promise<Ack>}
   */
  sendP2P(toId, body, opt = {}) {
    return this._queue('p2p', CMD.MSG_P2P, { toId }, body, opt);
  }

  /** @param {string} toId @param {string} text @param {object} [opt] */
  sendText(toId, text, opt) {
    return this.sendP2P(toId, { type: 1, content: text }, opt);
  }

  /**
   * Send a group message (MSG_GROUP 2104, acked by 2047).
   * @param {string} groupId @param {object|string} body @param {object} [opt]
   * @returns {Promise<Ack>}
   */
  sendGroup(groupId, body, opt = {}) {
    return this._queue('group', CMD.MSG_GROUP, { groupId }, body, opt);
  }

  /** @param {string} groupId @param {string} text @param {object} [opt] */
  sendGroupText(groupId, text, opt) {
    return this.sendGroup(groupId, { type: 1, content: text }, opt);
  }

  _queue(kind, command, target, body, opt) {
    if (this._stopped && this.state !== 'idle') return Promise.reject(new PetrelError('CLOSED', 'client is closed'));
    const messageId = opt.messageId || randomId('m-');
    const existing = this._pending.get(messageId);
    if (existing) return existing.promise;
    const pkt = {
      messageId, fromId: this.userId, ...target,
      messageBody: typeof body === 'string' ? body : JSON.stringify(body),
      messageTime: opt.messageTime || Date.now(), messageRandom: Math.floor(Math.random() * 10000),
    };
    if (opt.extra !== undefined) pkt.extra = typeof opt.extra === 'string' ? opt.extra : JSON.stringify(opt.extra);
    const p = { kind, command, pkt, messageId, attempts: 0, timer: null, deadline: null };
    p.promise = new Promise((resolve, reject) => { p.resolve = resolve; p.reject = reject; });
    p.deadline = setTimeout(() => this._settleSend(p, new PetrelError('TIMEOUT',
      `no ack for ${messageId} within ${this.opts.sendTimeoutMs} ms`)), this.opts.sendTimeoutMs);
    this._pending.set(messageId, p);
    this._rememberSent(messageId);
    if (this._loggedIn) this._transmit(p);
    return p.promise;
  }

  _rememberRecall(key) {
    this._recalled.add(String(key));
    if (this._recalled.size > 5000) this._recalled.delete(this._recalled.values().next().value);
  }

  _rememberSent(id) {
    this._sentIds.add(id);
    if (this._sentIds.size > 5000) this._sentIds.delete(this._sentIds.values().next().value);
  }

  _transmit(p) {
    clearTimeout(p.timer);
    p.attempts++;
    if (p.attempts > 1) this.emit('resend', { messageId: p.messageId, attempt: p.attempts });
    this._raw(p.command, p.pkt);
    p.timer = setTimeout(() => {
      if (this._pending.get(p.messageId) === p && this._loggedIn) this._transmit(p);
    }, this.opts.ackTimeoutMs);
  }

  _settleSend(p, err, val) {
    if (this._pending.get(p.messageId) !== p) return;
    this._pending.delete(p.messageId);
    clearTimeout(p.timer);
    clearTimeout(p.deadline);
    if (err) p.reject(err); else p.resolve(val);
  }

  _onAck(d, kind) {
    this.emit(kind === 'p2p' ? 'messageAck' : 'groupMessageAck', d);
    const a = d.data || {};
    const p = a.messageId != null ? this._pending.get(a.messageId) : null;
    if (!p) return;
    if (d.code === 200) {
      const ack = { ...a, messageTime: p.pkt.messageTime };
      if (kind === 'p2p') ack.toId = ack.toId || p.pkt.toId; else ack.groupId = ack.groupId || p.pkt.groupId;
      this._settleSend(p, null, ack);
      // my own message takes its place in the conversation's sequence, silently
      const peer = kind === 'p2p' ? p.pkt.toId : p.pkt.groupId;
      const type = kind === 'p2p' ? 0 : 1;
      const args = [conversationId(type, this.userId, peer), type, peer, a.messageSequence, null];
      if (this._held) this._held.push(['feed', args]); else this._feed(...args);
    } else if (!RESEND_LATER.has(d.code)) { // busy or rate-limited: the timer resends
      this._settleSend(p, new PetrelError(d.code, d.msg || 'refused', { messageId: a.messageId }));
    }
  }

  /* -------------------------------------------------- receipts and recall */

  /** MSG_RECEIVE_ACK 1107 for a received 1:1 message. */
  sendReceiveAck(m) {
    return this._raw(CMD.MSG_RECEIVE_ACK, { fromId: this.userId, toId: m.fromId, messageKey: asKey(m.messageKey),
      messageSequence: m.messageSequence, messageId: m.messageId });
  }

  /** MSG_READED 1106: I have read the conversation with peerId up to messageSequence. */
  markRead(peerId, messageSequence) {
    return this._raw(CMD.MSG_READED, { fromId: this.userId, toId: peerId, conversationType: 0, messageSequence });
  }

  /** MSG_GROUP_READED 2106. */
  markGroupRead(groupId, messageSequence, fromId) {
    const b = { fromId: this.userId, groupId, conversationType: 1, messageSequence };
    if (fromId) b.toId = fromId;
    return this._raw(CMD.MSG_GROUP_READED, b);
  }

  /**
   * Recall a message I sent (MSG_RECALL 1050); resolves with the 1051 data.
   * A group message needs its group: `recall(key, { groupId })`.
   * @param {string|bigint|number} messageKey
   * @param {{groupId?: string}} [opt]
   */
  recall(messageKey, opt = {}) {
    if (!this._loggedIn) return Promise.reject(new PetrelError('CLOSED', 'not connected'));
    let body;
    try { body = { messageKey: asKey(messageKey) }; } catch (e) { return Promise.reject(e); }
    if (opt && opt.groupId != null) { body.groupId = String(opt.groupId); body.conversationType = 1; }
    return new Promise((resolve, reject) => {
      const r = { key: body.messageKey.toString(), resolve, reject, timer: null };
      r.timer = setTimeout(() => {
        const i = this._recalls.indexOf(r);
        if (i >= 0) this._recalls.splice(i, 1);
        reject(new PetrelError('TIMEOUT', 'no recall answer'));
      }, Math.max(this.opts.ackTimeoutMs * 2, 5000));
      this._recalls.push(r);
      this._raw(CMD.MSG_RECALL, body);
    });
  }

  _onRecallAck(d) {
    this.emit('recallAck', d);
    // the answer names its messageKey (refusals too); else the oldest
    const key = d.data && d.data.messageKey != null ? String(d.data.messageKey) : null;
    let i = key == null ? -1 : this._recalls.findIndex((x) => x.key === key);
    if (i < 0) i = 0;
    const r = this._recalls.splice(i, 1)[0];
    if (!r) return;
    clearTimeout(r.timer);
    if (d.code === 200) { if (key != null) this._rememberRecall(key); r.resolve(d.data); } else r.reject(new PetrelError(d.code, d.msg || 'recall refused'));
  }

  /* ------------------------------------------------- ordered message delivery */

  _onLiveMessage(cmd, d) {
    if (!d) return;
    const group = cmd === CMD.MSG_GROUP || cmd === CMD.MSG_GROUP_SYNC;
    this._ingest(d, group, cmd === CMD.MSG_P2P_SYNC || cmd === CMD.MSG_GROUP_SYNC, 'push');
    if (d.messageKey != null && !this._syncing) this._advanceCursor(d.messageKey);
  }

  _advanceCursor(k) {
    try {
      const b = BigInt(k);
      if (b > BigInt(this._st.msgCursor)) this._st.msgCursor = b.toString();
    } catch { /* not a key */ }
  }

  /** Normalise a message from a push, a sync or a range query and feed it. */
  _ingest(d, group, fromSync, source) {
    const me = this.userId;
    const isGroup = group || d.conversationType === 1 || (d.groupId != null && d.groupId !== '');
    const isSelf = d.fromId === me;
    const peer = isGroup ? d.groupId : (isSelf ? d.toId : d.fromId);
    if (peer == null || d.messageSequence == null) return;
    const type = isGroup ? 1 : 0;
    // a recall that happened while I was away: syncOfflineMessage hands a
    // recalled message out again after my cursor (delFlag 1, no body). One
    // already delivered becomes a recall event (recallNotify, or recallSync
    // for my own), once: not when the recall was heard live.
    if (source === 'sync' && d.delFlag === 1 && d.messageKey != null) {
      const cid = conversationId(type, me, peer);
      const c = this._convs.get(cid);
      const delivered = c && c.delivered != null ? c.delivered : this._st.conv[cid];
      if (delivered != null && d.messageSequence <= delivered) {
        if (!this._recalled.has(String(d.messageKey))) {
          this._rememberRecall(d.messageKey);
          const r = { fromId: d.fromId, toId: isGroup ? peer : d.toId, messageKey: d.messageKey,
            messageSequence: d.messageSequence, conversationType: type, conversationId: cid, source: 'sync' };
          if (isGroup) r.groupId = peer;
          this.emit(isSelf ? 'recallSync' : 'recallNotify', r);
        }
        return;
      }
    }
    // my own message from this device: it resolves its pending send, but is not emitted
    if (isSelf && d.messageId != null && this._sentIds.has(d.messageId)) {
      const p = this._pending.get(d.messageId);
      if (p) this._settleSend(p, null, { messageId: d.messageId, messageKey: d.messageKey,
        messageSequence: d.messageSequence, messageTime: d.messageTime, [isGroup ? 'groupId' : 'toId']: peer });
      this._feed(conversationId(type, me, peer), type, peer, d.messageSequence, null);
      return;
    }
    const m = { ...d, conversationType: type, conversationId: conversationId(type, me, peer),
      peerId: peer, isSelf: isSelf || !!fromSync, body: parseBody(d.messageBody), source };
    this._feed(m.conversationId, type, peer, d.messageSequence, m);
  }

  _conv(cid, type, peer) {
    let c = this._convs.get(cid);
    if (!c) {
      const known = this._st.conv[cid];
      c = { cid, type, peer, delivered: known ?? null, buf: new Map(), timer: null, filling: false };
      this._convs.set(cid, c);
    }
    return c;
  }

  /** Put message (or a silent own-sequence marker when m is null) into its conversation's order. */
  _feed(cid, type, peer, seq, m) {
    if (typeof seq !== 'number' || !(seq > 0)) { if (m) this._deliver(m); return; }
    const c = this._conv(cid, type, peer);
    if (c.delivered == null) {
      // unknown conversation: it began after our baseline (p2p), or a group we
      // have no position for yet (start at this message)
      const all = this._st.initialized === 'all' || (!this._st.initialized && this.opts.initialSync === 'all');
      c.delivered = type === 0 || all ? 0 : seq - 1;
    }
    if (seq <= c.delivered || c.buf.has(seq)) return; // seen
    c.buf.set(seq, m);
    this._flush(c);
  }

  _flush(c) {
    while (c.buf.has(c.delivered + 1)) {
      const m = c.buf.get(c.delivered + 1);
      c.buf.delete(c.delivered + 1);
      c.delivered++;
      if (m) this._deliver(m);
    }
    this._st.conv[c.cid] = c.delivered;
    if (c.buf.size && !c.timer && !c.filling) {
      c.timer = setTimeout(() => { c.timer = null; this._fill(c); }, this.opts.gapWaitMs);
    } else if (!c.buf.size && c.timer) {
      clearTimeout(c.timer);
      c.timer = null;
    }
  }

  async _fill(c) {
    if (!c.buf.size || c.filling) return;
    c.filling = true;
    const from = c.delivered + 1;
    const to = Math.min(...c.buf.keys()) - 1;
    try {
      let next = from;
      while (next <= to) {
        const res = c.type === 0
          ? await this.rest.getP2pMessageRange({ toId: c.peer, fromSequence: next, toSequence: to, limit: 200 })
          : await this.rest.queryGroupMessageHistory({ groupId: c.peer, messageSequence: next - 1, isGt: true, limit: 200 });
        const rows = (res && res.dataList) || [];
        for (const row of rows) if (row.messageSequence <= to) this._ingest(row, c.type === 1, false, 'gap');
        const top = rows.length ? Math.max(...rows.map((r) => r.messageSequence)) : to;
        if (!rows.length || !(res && res.hasMore) || top >= to) break;
        next = top + 1;
      }
      // anything still missing below `to` does not exist (or is not ours): skip it
      if (c.delivered < to) c.delivered = to;
    } catch (e) {
      this.emit('error', e);
      c.filling = false;
      if (this._loggedIn) c.timer = setTimeout(() => { c.timer = null; this._fill(c); }, 1000);
      return;
    }
    c.filling = false;
    this._flush(c);
  }

  _deliver(m) {
    if (this._syncBatch) this._syncBatch.push(m);
    this.emit('message', m);
    const group = m.conversationType === 1;
    const self = m.isSelf;
    this.emit(group ? (self ? 'groupMessageSync' : 'groupMessage') : (self ? 'p2pMessageSync' : 'p2pMessage'), m);
    if (!group && !self && this.opts.autoReceiveAck && this._loggedIn && m.messageKey != null) {
      try { this.sendReceiveAck(m); } catch { /* not a key */ }
    }
  }

  /* ------------------------------------------------------------------ sync */

  /**
   * Sync what changed since the last sync (runs by itself after each login).
   * @returns {Promise<void>}
   */
  sync() {
    if (this._syncing) return this._syncing;
    if (!this._held) this._held = [];
    this._syncing = this._doSync().then(
      () => { this._endSync(); },
      (e) => {
        this._endSync();
        this.emit('error', e);
        // try again while connected
        if (this._loggedIn && !this._stopped) {
          setTimeout(() => { if (this._loggedIn) this.sync().catch(() => {}); }, 2000);
        }
        throw e;
      },
    );
    return this._syncing;
  }

  _endSync() {
    this._syncing = null;
    const held = this._held || [];
    this._held = null;
    for (const [cmd, d] of held) {
      if (cmd === 'feed') this._feed(...d); else this._onLiveMessage(cmd, d);
    }
  }

  /**
   * Group messages missed while away: syncOfflineMessage carries the 1:1
   * ones only. Every group conversation whose lastSequence is past what was
   * delivered catches up with syncGroupMessage from there (in order, once:
   * the rows pass the same per-conversation sequence check).
   */
  async _syncGroupMessages(rows) {
    const rest = this.rest;
    if (!rows) {
      rows = [];
      let last = 0;
      for (let i = 0; i < 1000; i++) {
        const r = await rest.syncConversationList(last, 100);
        const list = (r && r.dataList) || [];
        rows.push(...list);
        const top = list.reduce((x, row) => Math.max(x, row.sequence || 0), last);
        if (r.completed || !list.length || top <= last) break;
        last = top;
      }
    }
    const prefix = `1_${this.userId}_`;
    for (const row of rows) {
      if (row.conversationType !== 1 || typeof row.conversationId !== 'string' || !row.conversationId.startsWith(prefix)) continue;
      const cid = row.conversationId;
      const groupId = cid.slice(prefix.length);
      const live = this._convs.get(cid);
      let from = live && live.delivered != null ? live.delivered : (this._st.conv[cid] ?? 0);
      if (!(row.lastSequence > from)) continue;
      for (let i = 0; i < 10000; i++) {
        let r;
        try {
          r = await rest.syncGroupMessage(groupId, from, 100);
        } catch (e) {
          if (e && (e.status === 404 || e.code === 40006 || e.code === 40000 || e.code === 40018)) break; // no groups here, or no longer mine
          throw e;
        }
        const list = (r && r.dataList) || [];
        for (const m of list) this._ingest({ ...m, groupId }, true, false, 'sync');
        const top = list.reduce((x, m) => Math.max(x, m.messageSequence || 0), from);
        if (r.completed || !list.length || top <= from) break;
        from = top;
      }
    }
  }

  async _pages(fn, from, event, full) {
    let last = from;
    const all = [];
    let max = from;
    for (let i = 0; i < 1000; i++) {
      const r = await fn(last, 100);
      const list = (r && r.dataList) || [];
      all.push(...list);
      max = Math.max(max, r.maxSequence || 0);
      let top = last;
      for (const row of list) {
        const s = row.sequence ?? row.friendSequence ?? row.friendshipSequence ?? 0;
        if (s > top) top = s;
      }
      if (r.completed || !list.length || top <= last) break;
      last = top;
    }
    this.emit(event, { dataList: all, maxSequence: max, full });
    return { all, max };
  }

  async _doSync() {
    const st = this._st;
    const full = !st.initialized;
    const rest = this.rest;
    const seqs = await rest.getUserSequence();
    const groupSeq = seqs.groupSeq ?? seqs.maxGroupSeq ?? 0;
    let convRows = null; // every conversation row, when this sync read them all
    if (full || seqs.conversationSeq > st.conversationSeq) {
      const { all, max } = await this._pages((a, b) => rest.syncConversationList(a, b), full ? 0 : st.conversationSeq, 'conversations', full);
      if (full) convRows = all;
      if (full && this.opts.initialSync !== 'all') {
        for (const c of all) {
          if (st.conv[c.conversationId] == null || st.conv[c.conversationId] < c.lastSequence) st.conv[c.conversationId] = c.lastSequence || 0;
          const live = this._convs.get(c.conversationId);
          if (live && (live.delivered == null || live.delivered < st.conv[c.conversationId])) live.delivered = st.conv[c.conversationId];
        }
      }
      st.conversationSeq = Math.max(max, seqs.conversationSeq || 0);
    }
    if (full || seqs.friendshipSeq > st.friendshipSeq) {
      const { max } = await this._pages((a, b) => rest.syncFriendshipList(a, b), full ? 0 : st.friendshipSeq, 'friends', full);
      st.friendshipSeq = Math.max(max, seqs.friendshipSeq || 0);
    }
    if (full || seqs.friendshipRequestSeq > st.friendshipRequestSeq) {
      const { max } = await this._pages((a, b) => rest.syncFriendshipRequest(a, b), full ? 0 : st.friendshipRequestSeq, 'friendRequests', full);
      st.friendshipRequestSeq = Math.max(max, seqs.friendshipRequestSeq || 0);
    }
    if (full || seqs.friendshipGroupSeq > st.friendshipGroupSeq) {
      const { max } = await this._pages((a, b) => rest.syncFriendshipGroupList(a, b), full ? 0 : st.friendshipGroupSeq, 'friendLists', full);
      st.friendshipGroupSeq = Math.max(max, seqs.friendshipGroupSeq || 0);
    }
    if (groupSeq > st.groupSeq) { // petreld reports 0 until groups exist
      const { max } = await this._pages((a, b) => rest.syncJoinedGroup(a, b), full ? 0 : st.groupSeq, 'groups', full);
      st.groupSeq = Math.max(max, groupSeq);
    }
    // messages
    let delivered = 0;
    if (full && this.opts.initialSync !== 'all') {
      const r = await rest.syncOfflineMessage(0, 1);
      st.msgCursor = String(r.maxSequence ?? 0);
    } else {
      let cursor = BigInt(st.msgCursor);
      const back = BigInt(Math.max(0, Math.floor(this.opts.resyncWindowMs))) << KEY_MS_SHIFT;
      if (!full) cursor = cursor > back ? cursor - back : 0n;
      this._syncBatch = [];
      try {
        for (let i = 0; i < 100000; i++) {
          const r = await rest.syncOfflineMessage(cursor, 200);
          const list = (r && r.dataList) || [];
          for (const row of list) this._ingest(row, row.conversationType === 1, false, 'sync');
          const next = BigInt(r.lastSequence ?? cursor);
          if (r.completed || !list.length || next <= cursor) { cursor = next > cursor ? next : cursor; break; }
          cursor = next;
        }
        const top = BigInt(st.msgCursor);
        st.msgCursor = (cursor > top ? cursor : top).toString();
        await this._syncGroupMessages(convRows);
      } finally {
        const batch = this._syncBatch;
        this._syncBatch = null;
        delivered = batch.length;
        if (batch.length) this.emit('offlineMessages', batch);
      }
    }
    st.initialized = full ? (this.opts.initialSync === 'all' ? 'all' : true) : st.initialized;
    this.emit('synced', { messages: delivered, full });
  }
}

export default PetrelClient;
