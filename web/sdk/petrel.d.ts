// Types for web/sdk/petrel.js (the module itself carries the same as JSDoc).
// messageKey values are decimal strings: they exceed Number.MAX_SAFE_INTEGER.

export declare const CMD: Readonly<Record<string, number>>;
export declare const EVENT_ALIASES: Readonly<Record<string, string>>;

export type ErrorCode = number | 'TIMEOUT' | 'CLOSED' | 'NETWORK' | 'LOGIN_TIMEOUT' | 'KICKED';

export declare class PetrelError extends Error {
  constructor(code: ErrorCode, msg: string, extra?: object);
  code: ErrorCode;
  msg: string;
  status?: number;
  path?: string;
  command?: number;
  /** the refused send's messageId (ERROR 9998 and refused acks name it) */
  messageId?: string;
}

export declare function parseJSON(text: string): any;
export declare function stringifyJSON(value: any): string;
export declare function encodeUplink(command: number, body?: object | string,
  h?: { appId?: number; clientType?: number; imei?: string; version?: number }): Uint8Array;
export declare function decodeDownlink(data: ArrayBuffer | Uint8Array): { command: number; data: any }[];
export declare function conversationId(type: 0 | 1, owner: string, peer: string): string;

export declare class Emitter {
  on(name: string, fn: (data: any) => void): this;
  off(name: string, fn: (data: any) => void): this;
  once(name: string, fn: (data: any) => void): this;
  emit(name: string, data?: any): void;
}

export interface SyncPage<T = any> { maxSequence: number; completed: boolean; dataList: T[]; lastSequence?: number | string }

export interface Message {
  appId: number; fromId: string; toId?: string; groupId?: string; messageId: string;
  messageKey: string; messageSequence: number; messageBody?: string; messageTime: number;
  messageRandom?: number; serverTime?: number; delFlag?: number; extra?: string;
  conversationType: 0 | 1; conversationId: string; peerId: string; isSelf: boolean;
  body: any; source: 'push' | 'sync' | 'gap';
}

/** A conversation row (syncConversationList, the `conversations` event, 5001 pushes). */
export interface Conversation {
  conversationId: string; conversationType: 0 | 1; fromId: string; toId: string;
  isTop: number; isMute: number; readedSequence: number; lastSequence: number; unreadCount: number;
  sequence: number; deleted?: boolean | number; updateTime: number;
  /** 1:1 only: how far the peer has read this conversation (the peer's
   * readedSequence); my messages with messageSequence ≤ it are read. Current
   * when the row is read; a change of it alone does not bump `sequence`. */
  peerReadSequence?: number;
}

export interface Ack {
  messageId: string; messageKey: string; messageSequence: number; messageTime?: number;
  toId?: string; groupId?: string; serverTime?: number;
}

export interface SyncState {
  initialized: boolean | 'all'; msgCursor: string; conversationSeq: number; friendshipSeq: number;
  friendshipRequestSeq: number; friendshipGroupSeq: number; groupSeq: number; conv: Record<string, number>;
  /** messageKeys whose recall was already told (the latest 500) */
  recalled?: string[];
}

export interface RestOptions {
  baseUrl?: string; appId: number; userId: string; userSign: string;
  fetch?: typeof fetch; timeoutMs?: number;
}

export interface Rest {
  call(path: string, body?: object): Promise<any>;
  setUserSign(s: string): void;
  readonly auth: { appId: number; userId: string; userSign: string };
  // users
  importUser(userData: object[]): Promise<{ successId: string[]; errorId: string[] }>;
  deleteUser(userIds: string[]): Promise<{ successId: string[]; errorId: string[] }>;
  getGateway(clientType?: number): Promise<{ ip: string; port: number; url: string; transport: string }>;
  getUserSequence(userId?: string): Promise<{ friendshipSeq: number; friendshipRequestSeq: number;
    friendshipGroupSeq: number; conversationSeq: number; groupSeq: number }>;
  getUserInfo(userIds: string[]): Promise<{ userDataItem: any[]; failUser: string[] }>;
  getSingleUserInfo(userId?: string): Promise<any>;
  getSingleInfo(userId?: string): Promise<any>;
  modifyUserInfo(fields: object): Promise<any>;
  queryImUserPage(q?: { nickName?: string; currentPage?: number; pageSize?: number }): Promise<any>;
  subscribeUserOnlineStatus(subUserIds: string[], subTime: number): Promise<any>;
  setUserCustomerStatus(customText: string, customStatus: number): Promise<any>;
  queryFriendOnlineStatus(): Promise<Record<string, any>>;
  queryUserOnlineStatus(userIdList: string[]): Promise<Record<string, any>>;
  // messages
  sendMessage(m: object): Promise<any>;
  sendP2PMsgByInterface(m: object): Promise<any>;
  syncOfflineMessage(lastSequence?: string | number | bigint, maxLimit?: number): Promise<SyncPage>;
  queryP2pMessageHistory(q: object): Promise<{ dataList: any[]; hasMore: boolean }>;
  getP2pMessageRange(q: object): Promise<{ dataList: any[]; hasMore: boolean }>;
  queryGroupMessageHistory(q: object): Promise<any>;
  // conversations
  syncConversationList(lastSequence?: number, maxLimit?: number): Promise<SyncPage<Conversation>>;
  syncConversationSet(lastSequence?: number, maxLimit?: number): Promise<SyncPage>;
  updateConversation(u: { conversationId: string; isTop?: number; isMute?: number }): Promise<any>;
  deleteConversation(conversationId: string): Promise<any>;
  // friends
  importFriendShip(fromId: string, friendItem: object[]): Promise<any>;
  addFriend(toItem: { toId: string; remark?: string; addSource?: string; addWording?: string; extra?: any }): Promise<any>;
  updateFriend(toItem: { toId: string; remark?: string; addSource?: string; extra?: any }): Promise<any>;
  deleteFriend(toId: string): Promise<any>;
  deleteAllFriend(): Promise<any>;
  getAllFriendShip(): Promise<any[]>;
  getRelation(toId: string): Promise<any>;
  checkFriend(toIds: string[], checkType?: 1 | 2): Promise<{ fromId: string; toId: string; status: number }[]>;
  addBlack(toId: string): Promise<any>;
  deleteBlack(toId: string): Promise<any>;
  checkBlack(toIds: string[], checkType?: 1 | 2): Promise<{ fromId: string; toId: string; status: number }[]>;
  syncFriendshipList(lastSequence?: number, maxLimit?: number): Promise<SyncPage>;
  // friend requests
  getFriendRequest(): Promise<any[]>;
  approveFriendRequest(id: number, status: 1 | 2): Promise<any>;
  readFriendShipRequest(): Promise<any>;
  readFriendShipRequestReq(): Promise<any>;
  syncFriendshipRequest(lastSequence?: number, maxLimit?: number): Promise<SyncPage>;
  // friend lists
  addFriendGroup(groupName: string, toIds?: string[]): Promise<any>;
  deleteFriendGroup(groupNames: string | string[]): Promise<any>;
  addFriendGroupMember(groupName: string, toIds: string[]): Promise<any>;
  deleteFriendGroupMember(groupName: string, toIds: string[]): Promise<any>;
  syncFriendshipGroupList(lastSequence?: number, maxLimit?: number): Promise<SyncPage>;
  // groups (docs/API.md *Groups*)
  importGroup(g: object): Promise<any>;
  createGroup(g: { groupName: string; groupType?: number; member?: (string | { memberId: string; role?: number })[]; [k: string]: any }): Promise<any>;
  getGroupInfo(groupId: string): Promise<any>;
  getJoinedGroup(q?: object): Promise<any>;
  getCurUserJoinedGroup(q?: object): Promise<any>;
  updateGroupInfo(g: object): Promise<any>;
  destroyGroup(groupId: string): Promise<any>;
  transferGroup(groupId: string, ownerId: string): Promise<any>;
  forbidSendMessage(groupId: string, mute?: 0 | 1): Promise<any>;
  enableSendMsg(groupId: string): Promise<any>;
  sendGroupMsgByInterface(m: object): Promise<any>;
  syncJoinedGroup(lastSequence?: number, maxLimit?: number): Promise<SyncPage>;
  importGroupMember(groupId: string, members: object[]): Promise<any>;
  addGroupMember(groupId: string, members: (string | { memberId: string; role?: number })[]): Promise<any>;
  removeGroupMember(groupId: string, memberId: string): Promise<any>;
  exitGroup(groupId: string): Promise<any>;
  updateGroupMemberInfo(m: { groupId: string; memberId: string; alias?: string; role?: number; extra?: any }): Promise<any>;
  setGroupMemberSpeak(groupId: string, memberId: string, speakDate: number): Promise<any>;
  applyJoinGroup(groupId: string, wording?: string): Promise<{ groupId: string; joined: boolean; group?: any; request?: any }>;
  getJoinRequest(groupId: string, status?: number): Promise<{ groupId: string; dataList: any[] }>;
  approveJoinRequest(groupId: string, requestId: number, status: 1 | 2): Promise<{ request: any; joined: boolean }>;
  syncGroupMessage(groupId: string, lastSequence?: number, maxLimit?: number): Promise<SyncPage & { groupId: string }>;
  getGroupReadCount(groupId: string, messageSequence: number): Promise<any>;
  // app and operations
  getAppSetting(): Promise<any>;
  updateAppSetting(fields: object): Promise<any>;
  health(): Promise<{ status: string; store: string; onlineDevices: number }>;
}

export declare function createRest(o: RestOptions): Rest;

export declare function appRegister(o: { baseUrl?: string; userName: string; password: string; appId?: number;
  fetch?: typeof fetch; timeoutMs?: number }): Promise<{ userId: string; userName: string; appId: number }>;
export declare function appLogin(o: { baseUrl?: string; userName: string; password: string; appId?: number;
  fetch?: typeof fetch; timeoutMs?: number }): Promise<{ userId: string; appId: number; imUserSign: string; userSign: string; expire: number }>;

export interface ClientOptions {
  baseUrl?: string; wsUrl?: string; discover?: boolean;
  appId: number; userId: string; userSign: string;
  clientType?: number; imei?: string;
  WebSocket?: any; fetch?: typeof fetch;
  heartbeatMs?: number; loginTimeoutMs?: number; ackTimeoutMs?: number; sendTimeoutMs?: number;
  reconnect?: false | { baseMs?: number; maxMs?: number; minMs?: number };
  autoReceiveAck?: boolean; gapWaitMs?: number; resyncWindowMs?: number;
  initialSync?: 'latest' | 'all'; syncState?: Partial<SyncState>;
  listeners?: Record<string, (data: any) => void>;
}

export declare class PetrelClient extends Emitter {
  constructor(o: ClientOptions);
  readonly userId: string;
  readonly appId: number;
  readonly imei: string;
  readonly rest: Rest;
  state: 'idle' | 'connecting' | 'open' | 'reconnecting' | 'kicked' | 'closed';
  connect(): Promise<{ userId: string; serverTime: number }>;
  logout(): Promise<void>;
  close(): void;
  setUserSign(s: string): void;
  getSyncState(): SyncState;
  sync(): Promise<void>;
  sendP2P(toId: string, body: object | string, opt?: { messageId?: string; extra?: any; messageTime?: number }): Promise<Ack>;
  sendText(toId: string, text: string, opt?: { messageId?: string; extra?: any; messageTime?: number }): Promise<Ack>;
  sendGroup(groupId: string, body: object | string, opt?: { messageId?: string; extra?: any; messageTime?: number }): Promise<Ack>;
  sendGroupText(groupId: string, text: string, opt?: { messageId?: string; extra?: any; messageTime?: number }): Promise<Ack>;
  sendReceiveAck(m: { fromId: string; messageKey: string; messageSequence: number; messageId?: string }): boolean;
  markRead(peerId: string, messageSequence: number): boolean;
  markGroupRead(groupId: string, messageSequence: number, fromId?: string): boolean;
  /** 1:1: recall(key); a group message: recall(key, { groupId }) */
  recall(messageKey: string | bigint, opt?: { groupId?: string }): Promise<{ fromId: string; toId: string; messageKey: string; messageSequence: number; conversationType: number }>;
  on(name: 'message' | 'p2pMessage' | 'p2pMessageSync' | 'groupMessage' | 'groupMessageSync', fn: (m: Message) => void): this;
  on(name: 'offlineMessages', fn: (list: Message[]) => void): this;
  on(name: 'kicked', fn: (e: { reason: string; userId: string; clientType: number; imei: string; byClientType?: number; byImei?: string }) => void): this;
  on(name: 'error', fn: (e: PetrelError) => void): this;
  on(name: 'conversations', fn: (page: { dataList: Conversation[]; maxSequence: number; full: boolean }) => void): this;
  on(name: string, fn: (data: any) => void): this;
}

export default PetrelClient;
