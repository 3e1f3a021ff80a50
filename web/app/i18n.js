// UI strings in English and Chinese. t(key, params) looks a key up in the
// current language (falling back to English) and fills {name} placeholders.
// The language defaults to the browser's (navigator.languages) and a choice
// made in the app is remembered in localStorage (a preference, not a secret).
const en = {
  appName: 'petrel',
  tagline: 'Messages, friends and groups — in real time.',
  login: 'Sign in', register: 'Create account', logout: 'Sign out',
  userName: 'User name', password: 'Password', password2: 'Repeat password',
  userNameHint: '3–32 letters, digits, _ . -', passwordHint: 'At least 8 characters',
  haveAccount: 'Already have an account?', noAccount: 'New here?',
  passwordsDiffer: 'The passwords differ.',
  registered: 'Account created. Signing in…',
  chats: 'Chats', contacts: 'Contacts', me: 'Me',
  searchChats: 'Search chats', noChats: 'No conversations yet. Start one from Contacts.',
  pinned: 'Pinned', muted: 'Muted', pin: 'Pin', unpin: 'Unpin', mute: 'Mute', unmute: 'Unmute',
  deleteChat: 'Remove from list', unread: '{n} unread',
  confirmDeleteChat: 'Remove the chat with {name} from your list? It comes back with the next message.',
  typeMessage: 'Write a message…', send: 'Send', back: 'Back',
  loadingHistory: 'Loading earlier messages…', noMoreHistory: 'Beginning of the conversation',
  statusSending: 'Sending', statusSent: 'Sent', statusDelivered: 'Delivered', statusRead: 'Read',
  statusFailed: 'Not sent — tap to retry', readBy: 'Read by {n}',
  recall: 'Recall', recalled: 'Message recalled', youRecalled: 'You recalled a message',
  recallFailed: 'Could not recall: {msg}',
  sendFailed: 'Not sent: {msg}',
  today: 'Today', yesterday: 'Yesterday',
  friends: 'Friends', friendLists: 'Lists', groups: 'Groups', requests: 'Friend requests',
  addFriend: 'Add friend', newGroup: 'New group', noFriends: 'No friends yet.',
  noGroups: 'You are in no group yet.', noLists: 'No friend lists.',
  newList: 'New list', listName: 'List name', addToList: 'Add to list', removeFromList: 'Remove from list',
  deleteList: 'Delete list', members: 'Members', create: 'Create', cancel: 'Cancel', save: 'Save',
  noRequests: 'No friend requests.', approve: 'Accept', reject: 'Decline',
  approved: 'Accepted', rejected: 'Declined', pending: 'Pending',
  searchUsers: 'Search people by nickname or id', search: 'Search', noResults: 'Nobody found.',
  requestSent: 'Request sent to {name}.', friendAdded: '{name} is now your friend.',
  alreadyFriend: 'Already friends', addedFriend: 'Added', requestPending: 'Request sent', verification: 'Message to them', remark: 'Remark',
  sendRequest: 'Add', sendMessage: 'Send message',
  blacklist: 'Blacklist', unblacklist: 'Remove from blacklist', blacklisted: 'Blacklisted',
  deleteFriend: 'Delete friend', confirmDeleteFriend: 'Delete {name} from your friends?',
  userId: 'ID', nickName: 'Nickname', signature: 'Signature', online: 'Online', offline: 'Offline',
  customStatus: 'Custom status', setStatus: 'Set status', statusPlaceholder: 'What are you up to?',
  statusCleared: 'Status cleared', clear: 'Clear',
  needApproval: 'Ask me before people add me as a friend', language: 'Language', profile: 'Profile', saved: 'Saved.',
  groupName: 'Group name', groupType: 'Type', privateGroup: 'Private (members invite)',
  publicGroup: 'Public (owner and managers)', pickMembers: 'Choose friends',
  groupInfo: 'Group info', introduction: 'Introduction', notification: 'Notice',
  owner: 'Owner', manager: 'Manager', member: 'Member',
  makeManager: 'Make manager', unmakeManager: 'Remove manager', removeMember: 'Remove',
  transfer: 'Make owner', muteMember: 'Mute 1 hour', unmuteMember: 'Unmute',
  mutedUntil: 'Muted until {t}', muteAll: 'Mute everyone', unmuteAll: 'Unmute everyone',
  groupMuted: 'Only the owner and managers can speak now.',
  leaveGroup: 'Leave group', destroyGroup: 'Disband group', addMembers: 'Add members',
  confirmLeave: 'Leave {name}?', confirmDestroy: 'Disband {name} for everyone?',
  confirmTransfer: 'Make {name} the owner of this group?', confirmRemove: 'Remove {name}?',
  ownerMustTransfer: 'The owner must make someone else owner before leaving.',
  groupGone: 'This group no longer exists or you left it.',
  assistant: 'Assistant',
  connecting: 'Connecting…', reconnecting: 'Reconnecting…', connected: 'Connected', offlineBanner: 'Offline — messages will be sent when the connection is back.',
  kickedTitle: 'Signed out',
  kicked: 'Your account signed in on another device, so this session was ended.',
  signInAgain: 'Sign in again', sessionExpired: 'Your session has ended. Please sign in again.',
  error: 'Something went wrong: {msg}', close: 'Close', confirm: 'Confirm',
  members_n: '{n} members', you: 'You', details: 'Details',
};

const zh = {
  appName: 'petrel',
  tagline: '消息、好友与群组，实时送达。',
  login: '登录', register: '注册', logout: '退出登录',
  userName: '用户名', password: '密码', password2: '确认密码',
  userNameHint: '3–32 位字母、数字、_ . -', passwordHint: '至少 8 个字符',
  haveAccount: '已有账号？', noAccount: '还没有账号？',
  passwordsDiffer: '两次输入的密码不一致。',
  registered: '注册成功，正在登录…',
  chats: '消息', contacts: '通讯录', me: '我',
  searchChats: '搜索会话', noChats: '还没有会话，去通讯录找人聊天吧。',
  pinned: '已置顶', muted: '免打扰', pin: '置顶', unpin: '取消置顶', mute: '免打扰', unmute: '取消免打扰',
  deleteChat: '从列表移除', unread: '{n} 条未读',
  confirmDeleteChat: '把与 {name} 的会话从列表移除？有新消息时会重新出现。',
  typeMessage: '输入消息…', send: '发送', back: '返回',
  loadingHistory: '正在加载更早的消息…', noMoreHistory: '已经到顶了',
  statusSending: '发送中', statusSent: '已发送', statusDelivered: '已送达', statusRead: '已读',
  statusFailed: '发送失败，点击重试', readBy: '{n} 人已读',
  recall: '撤回', recalled: '对方撤回了一条消息', youRecalled: '你撤回了一条消息',
  recallFailed: '撤回失败：{msg}',
  sendFailed: '发送失败：{msg}',
  today: '今天', yesterday: '昨天',
  friends: '好友', friendLists: '分组', groups: '群聊', requests: '好友申请',
  addFriend: '添加好友', newGroup: '发起群聊', noFriends: '还没有好友。',
  noGroups: '还没有加入任何群聊。', noLists: '还没有好友分组。',
  newList: '新建分组', listName: '分组名称', addToList: '加入分组', removeFromList: '移出分组',
  deleteList: '删除分组', members: '成员', create: '创建', cancel: '取消', save: '保存',
  noRequests: '没有好友申请。', approve: '同意', reject: '拒绝',
  approved: '已同意', rejected: '已拒绝', pending: '待处理',
  searchUsers: '按昵称或 ID 搜索用户', search: '搜索', noResults: '没有找到用户。',
  requestSent: '已向 {name} 发送好友申请。', friendAdded: '{name} 已成为你的好友。',
  alreadyFriend: '已是好友', addedFriend: '已添加', requestPending: '已发送申请', verification: '验证消息', remark: '备注',
  sendRequest: '添加', sendMessage: '发消息',
  blacklist: '加入黑名单', unblacklist: '移出黑名单', blacklisted: '已拉黑',
  deleteFriend: '删除好友', confirmDeleteFriend: '确定删除好友 {name}？',
  userId: 'ID', nickName: '昵称', signature: '个性签名', online: '在线', offline: '离线',
  customStatus: '自定义状态', setStatus: '设置状态', statusPlaceholder: '你在忙什么？',
  statusCleared: '状态已清除', clear: '清除',
  needApproval: '加我为好友时需要验证', language: '语言', profile: '个人资料', saved: '已保存。',
  groupName: '群名称', groupType: '类型', privateGroup: '私有群（成员可邀请）',
  publicGroup: '公开群（群主和管理员管理）', pickMembers: '选择好友',
  groupInfo: '群信息', introduction: '群介绍', notification: '群公告',
  owner: '群主', manager: '管理员', member: '成员',
  makeManager: '设为管理员', unmakeManager: '取消管理员', removeMember: '移出',
  transfer: '转让群主', muteMember: '禁言 1 小时', unmuteMember: '解除禁言',
  mutedUntil: '禁言至 {t}', muteAll: '全员禁言', unmuteAll: '解除全员禁言',
  groupMuted: '全员禁言中，仅群主和管理员可发言。',
  leaveGroup: '退出群聊', destroyGroup: '解散群聊', addMembers: '添加成员',
  confirmLeave: '确定退出 {name}？', confirmDestroy: '确定为所有人解散 {name}？',
  confirmTransfer: '确定将群主转让给 {name}？', confirmRemove: '确定移出 {name}？',
  ownerMustTransfer: '群主需先转让群主后才能退出。',
  groupGone: '该群已不存在或你已退出。',
  assistant: '智能助手',
  connecting: '连接中…', reconnecting: '正在重新连接…', connected: '已连接', offlineBanner: '网络已断开，恢复后会自动发送消息。',
  kickedTitle: '已下线',
  kicked: '你的账号在另一台设备上登录，本设备已下线。',
  signInAgain: '重新登录', sessionExpired: '登录已失效，请重新登录。',
  error: '出错了：{msg}', close: '关闭', confirm: '确定',
  members_n: '{n} 位成员', you: '你', details: '详情',
};

const dicts = { en, zh };
const KEY = 'petrel.lang';
let lang = pick();
const listeners = new Set();

function pick() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved && dicts[saved]) return saved;
  } catch { /* storage may be off */ }
  const prefs = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language || 'en'];
  for (const l of prefs) {
    const base = String(l).toLowerCase().split('-')[0];
    if (dicts[base]) return base;
  }
  return 'en';
}

export function t(key, params) {
  let s = (dicts[lang] && dicts[lang][key]) ?? en[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

export const languages = [{ code: 'en', name: 'English' }, { code: 'zh', name: '中文' }];
export function getLang() { return lang; }
export function setLang(code) {
  if (!dicts[code] || code === lang) return;
  lang = code;
  try { localStorage.setItem(KEY, code); } catch { /* ignore */ }
  document.documentElement.lang = code === 'zh' ? 'zh-CN' : 'en';
  for (const f of listeners) f(code);
}
export function onLangChange(f) { listeners.add(f); return () => listeners.delete(f); }
document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
