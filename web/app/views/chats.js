// Conversation list and chat window. The list shows pinned conversations
// first, unread badges (grey when muted), a mute icon and a context menu
// (pin, mute, remove). The chat window renders the messages of one
// conversation with day separators, timestamps, my messages' status
// (sending, sent, delivered, read / read by N), recall of my recent messages,
// and loads older pages when scrolled to the top.
import { h, replace, avatar, icon, fmtTime, fmtShort, toast, modal, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import { S } from '../store.js';

export function chatListView(el, { go }) {
  const search = h('input', { type: 'search', placeholder: t('searchChats'), 'aria-label': t('searchChats'), oninput: () => draw() });
  const body = h('div', { class: 'pane-body' });
  el.append(
    h('header', { class: 'pane-head' }, h('h1', null, t('chats')),
      h('a', { class: 'icon-btn', href: '#/new-group', title: t('newGroup'), 'aria-label': t('newGroup') }, icon('plus'))),
    h('div', { style: 'padding:10px 12px 4px' }, search),
    body);

  function draw() {
    const q = search.value.trim().toLowerCase();
    const list = store.conversationList().filter((c) => !q || store.convTitle(c).toLowerCase().includes(q) || c.peer.toLowerCase().includes(q));
    if (!list.length) { replace(body, h('p', { class: 'empty' }, t('noChats'))); return; }
    replace(body, h('ul', { class: 'items', 'aria-label': t('chats') }, list.map(row)));
  }

  function row(c) {
    const n = store.unread(c);
    const title = store.convTitle(c);
    const p = c.conversationType === 0 ? S.presence.get(c.peer) : null;
    const last = c.last;
    let preview = '';
    if (last) {
      const txt = store.textOf(last);
      preview = txt === null ? (last.fromId === S.auth.userId ? t('youRecalled') : t('recalled')) : txt;
      if (c.conversationType === 1 && last.fromId && txt !== null) preview = (last.fromId === S.auth.userId ? t('you') : store.displayName(last.fromId)) + ': ' + preview;
    }
    const time = last ? (last.serverTime || last.messageTime) : c.updateTime;
    const current = S.openConv === c.conversationId;
    const label = [title, c.isTop ? t('pinned') : '', c.isMute ? t('muted') : '', n ? t('unread', { n }) : ''].filter(Boolean).join(', ');
    return h('li', null, h('a', {
      class: 'item' + (c.isTop ? ' pinned' : ''), href: '#/chat/' + encodeURIComponent(c.conversationId),
      'data-key': c.conversationId, 'data-testid': 'conv', 'data-peer': c.peer, 'aria-label': label,
      'aria-current': current ? 'true' : null,
      oncontextmenu: (e) => { e.preventDefault(); menu(c); },
      onkeydown: (e) => { if (e.key === 'ContextMenu' || (e.shiftKey && e.key === 'F10')) { e.preventDefault(); menu(c); } },
    },
    avatar(title, c.peer, { group: c.conversationType === 1, online: p ? !!p.online : undefined }),
    h('div', { class: 'body' },
      h('div', { class: 'top' },
        h('span', { class: 'name' }, title),
        c.isTop ? h('span', { class: 'flag', title: t('pinned') }, icon('pin')) : null,
        h('span', { class: 'time' }, fmtShort(time))),
      h('div', { class: 'bottom' },
        h('span', { class: 'preview' }, preview),
        c.isMute ? h('span', { class: 'flag', title: t('muted'), 'data-testid': 'muted' }, icon('mute')) : null,
        n ? h('span', { class: 'badge' + (c.isMute ? ' muted-badge' : ''), 'data-testid': 'unread' }, n > 99 ? '99+' : String(n)) : null))));
  }

  function menu(c) {
    const m = modal(store.convTitle(c), h('div', { class: 'actions', style: 'flex-direction:column;align-items:stretch' },
      h('button', { type: 'button', class: 'btn', onclick: () => act(() => store.setConvFlag(c.conversationId, 'isTop', !c.isTop)) }, c.isTop ? t('unpin') : t('pin')),
      h('button', { type: 'button', class: 'btn', onclick: () => act(() => store.setConvFlag(c.conversationId, 'isMute', !c.isMute)) }, c.isMute ? t('unmute') : t('mute')),
      // a group conversation cannot be removed (its row does not come back
      // with the next message; the server refuses it): mute it or leave
      c.conversationType === 1 ? null : h('button', { type: 'button', class: 'btn danger', onclick: () => act(async () => { await store.removeConversation(c.conversationId); if (S.openConv === c.conversationId) go('/chats'); }) }, t('deleteChat'))),
    [{ label: t('close') }]);
    async function act(f) {
      m.close();
      try { await f(); } catch (e) { toast(t('error', { msg: e.msg || e.message }), 'error'); }
    }
  }

  draw();
  const offs = ['convs', 'users', 'groups', 'presence', 'messages'].map((tp) => store.on(tp, draw));
  return () => offs.forEach((f) => f());
}

export function chatView(el, { go, arg }) {
  const conv = arg;
  const { type, peer } = store.parseConvId(conv);
  store.openConversation(conv);
  const title = h('h2', { id: 'chat-title' });
  const sub = h('div', { class: 'sub', 'data-testid': 'chat-sub' });
  const list = h('div', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'chat-title', tabindex: '0', 'data-testid': 'messages' });
  const input = h('textarea', { rows: 1, placeholder: t('typeMessage'), 'aria-label': t('typeMessage'), id: 'composer-input', maxlength: 8000 });
  const sendBtn = h('button', { type: 'submit', class: 'btn primary', 'aria-label': t('send') }, icon('send'), h('span', { class: 'label' }, t('send')));
  const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); send(); } }, input, sendBtn);
  const note = h('div', { class: 'composer-note', hidden: true });
  const infoLink = type === 1
    ? h('a', { class: 'icon-btn', href: '#/group/' + encodeURIComponent(peer), 'aria-label': t('groupInfo'), title: t('groupInfo') }, icon('info'))
    : h('a', { class: 'icon-btn', href: '#/friend/' + encodeURIComponent(peer), 'aria-label': t('details'), title: t('details') }, icon('info'));
  const pinBtn = h('button', { type: 'button', class: 'icon-btn toggle', 'data-testid': 'pin', onclick: () => flag('isTop') }, icon('pin'));
  const muteBtn = h('button', { type: 'button', class: 'icon-btn toggle', 'data-testid': 'mute', onclick: () => flag('isMute') }, icon('mute'));
  // removing the chat from the list: a visible control (the list's context
  // menu needs a right click or the menu key, which a phone does not have).
  // 1:1 only: the server refuses to delete a group conversation (50000).
  const removeBtn = type === 1 ? null : h('button', {
    type: 'button', class: 'icon-btn', 'data-testid': 'delete-chat', 'aria-label': t('deleteChat'), title: t('deleteChat'),
    onclick: async () => {
      const c = S.convs.get(conv);
      if (!await confirmDialog(t('confirmDeleteChat', { name: c ? store.convTitle(c) : peer }), t('deleteChat'), true)) return;
      try { await store.removeConversation(conv); go('/chats'); } catch (e) { toast(t('error', { msg: e.msg || e.message }), 'error'); }
    },
  }, icon('trash'));
  async function flag(field) {
    const c = S.convs.get(conv);
    try { await store.setConvFlag(conv, field, !(c && c[field])); } catch (e) { toast(t('error', { msg: e.msg || e.message }), 'error'); }
  }
  function flags() {
    const c = S.convs.get(conv) || {};
    for (const [b, on, yes, no] of [[pinBtn, c.isTop, t('unpin'), t('pin')], [muteBtn, c.isMute, t('unmute'), t('mute')]]) {
      b.setAttribute('aria-pressed', String(!!on));
      b.setAttribute('aria-label', on ? yes : no);
      b.title = on ? yes : no;
    }
  }
  el.append(
    h('header', { class: 'pane-head chat-head' },
      h('a', { class: 'icon-btn only-phone', href: '#/chats', 'aria-label': t('back') }, icon('back')),
      h('div', { class: 'grow' }, title, sub), pinBtn, muteBtn, removeBtn, infoLink),
    list, note, composer);

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  input.addEventListener('input', grow);
  function grow() { input.style.height = 'auto'; input.style.height = Math.min(160, input.scrollHeight + 2) + 'px'; }

  function send() {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    grow();
    stick = true;
    store.sendText(conv, text);
    input.focus();
  }

  let stick = true;        // keep the view at the bottom while the user is there
  list.addEventListener('scroll', () => {
    stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (list.scrollTop < 60) more();
  });
  function more() {
    const b = S.msgs.get(conv);
    if (b && b.loaded && b.hasMore && !b.loading) store.loadHistory(conv);
  }

  function head() {
    if (type === 1) {
      const g = S.groups.get(peer);
      title.textContent = store.groupName(peer);
      const n = g && g.memberList ? g.memberList.filter((m) => m.role !== 3).length : (g && g.memberCount) || 0;
      sub.textContent = n ? t('members_n', { n }) : '';
      const me = g && g.memberList && g.memberList.find((m) => m.memberId === S.auth.userId);
      const gone = g && (g.gone || g.left);
      const mutedAll = g && g.mute === 1 && me && me.role === 0;
      const mutedMe = me && me.speakDate && me.speakDate > Date.now();
      note.hidden = !(gone || mutedAll || mutedMe);
      composer.hidden = !note.hidden;
      note.textContent = gone ? t('groupGone') : mutedAll ? t('groupMuted') : mutedMe ? t('mutedUntil', { t: fmtTime(me.speakDate) }) : '';
      if (g && !g.memberList && !g.loadingInfo) { g.loadingInfo = true; store.reloadGroup(peer); }
      if (!g && S.groupsSupported) { S.groups.set(peer, { groupId: peer, loadingInfo: true }); store.reloadGroup(peer); }
    } else {
      title.textContent = store.displayName(peer);
      const p = S.presence.get(peer);
      const parts = [];
      if (p) parts.push(p.online ? t('online') : t('offline'));
      if (p && p.customText) parts.push(p.customText);
      sub.textContent = parts.join(' · ');
      store.wantUsers([peer]);
    }
  }

  function draw() {
    const b = S.msgs.get(conv);
    const items = b ? b.items : [];
    const prevH = list.scrollHeight, prevTop = list.scrollTop;
    const kids = [];
    if (b && b.loading) kids.push(h('div', { class: 'history-note' }, t('loadingHistory')));
    else if (b && b.loaded && !b.hasMore) kids.push(h('div', { class: 'history-note' }, b.error ? t('error', { msg: b.error }) : t('noMoreHistory')));
    let lastDay = '';
    const when = (m) => Number(m.serverTime || m.messageTime || m.localTime || 0);
    const same = (x, y) => x && y && x.fromId === y.fromId && store.textOf(x) !== null && store.textOf(y) !== null
      && Math.abs(when(y) - when(x)) < 180000 && new Date(when(x)).toDateString() === new Date(when(y)).toDateString();
    items.forEach((m, i) => {
      const ms = when(m);
      const day = new Date(ms).toDateString();
      if (day !== lastDay) { kids.push(h('div', { class: 'day-sep' }, dayLabel(ms))); lastDay = day; }
      kids.push(message(m, same(items[i - 1], m), same(m, items[i + 1])));
    });
    replace(list, ...kids);
    if (stick) list.scrollTop = list.scrollHeight;
    else if (prevTop < 80) list.scrollTop = list.scrollHeight - prevH + prevTop;   // history was prepended
    else list.scrollTop = prevTop;
    if (list.scrollHeight <= list.clientHeight + 10) more();
  }

  function dayLabel(ms) {
    const d = new Date(ms), now = new Date();
    if (d.toDateString() === now.toDateString()) return t('today');
    const y = new Date(now); y.setDate(now.getDate() - 1);
    if (d.toDateString() === y.toDateString()) return t('yesterday');
    return d.toLocaleDateString();
  }

  function message(m, cont, more) {
    const mine = m.fromId === S.auth.userId;
    const text = store.textOf(m);
    const key = m.messageKey ? 'k' + m.messageKey : 'i' + m.messageId;
    if (text === null) {
      return h('div', { class: 'notice', 'data-testid': 'recalled', 'data-key': key }, mine ? t('youRecalled') : t('recalled'));
    }
    const time = m.serverTime || m.messageTime || m.localTime;
    const meta = h('div', { class: 'meta' }, more ? null : h('time', { datetime: new Date(Number(time)).toISOString() }, fmtTime(time)));
    if (mine) {
      const age = Date.now() - Number(m.serverTime || m.messageTime || 0);
      if (m.messageKey && age < 115000) {
        meta.prepend(h('button', {
          type: 'button', class: 'recall-btn', 'data-testid': 'recall',
          onclick: async () => {
            try { await store.recall(conv, m); } catch (e) { toast(t('recallFailed', { msg: e.msg || e.message || e.code }), 'error'); }
          },
        }, t('recall')));
      }
      if (m.status === 'failed') {
        meta.append(h('button', { type: 'button', class: 'status failed', 'data-testid': 'status', 'data-status': 'failed', title: m.error || '', onclick: () => store.retry(conv, m) }, t('statusFailed')));
      } else {
        // live 2054 receipts, or the history row's readCount after a reload
        const readers = Math.max(m.readers ? m.readers.size : 0, m.readCount || 0);
        const label = type === 1
          ? (readers ? t('readBy', { n: readers }) : m.status === 'sending' ? t('statusSending') : t('statusSent'))
          : ({ sending: t('statusSending'), sent: t('statusSent'), delivered: t('statusDelivered'), read: t('statusRead') })[m.status] || '';
        const tick = type === 1 ? '' : ({ sending: '○ ', sent: '✓ ', delivered: '✓✓ ', read: '✓✓ ' })[m.status] || '';
        meta.append(h('span', { class: 'status ' + (m.status || ''), 'data-testid': 'status', 'data-status': m.status }, tick + label));
      }
    }
    const showSender = type === 1 && !mine && !cont;
    return h('div', { class: 'msg' + (mine ? ' mine' : ''), 'data-testid': 'msg', 'data-key': key, 'data-from': m.fromId, 'data-seq': m.messageSequence || '' },
      !mine ? (more ? h('span', { class: 'avatar small', style: 'visibility:hidden' }) : avatar(store.displayName(m.fromId), m.fromId, { size: 'small' })) : null,
      h('div', { class: 'col' },
        showSender ? h('div', { class: 'sender' }, store.displayName(m.fromId)) : null,
        h('div', { class: 'bubble', 'data-testid': 'bubble', title: fmtTime(time) }, text),
        meta.childNodes.length ? meta : null));
  }

  head(); draw(); flags();
  const offs = [
    store.on('convs', flags),
    store.on('messages', draw), store.on('users', () => { head(); draw(); }),
    store.on('groups', () => { head(); draw(); }), store.on('presence', head), store.on('friends', head),
  ];
  const timer = setInterval(draw, 30000); // recall buttons expire, "today" changes
  setTimeout(() => input.focus(), 0);
  return () => { offs.forEach((f) => f()); clearInterval(timer); store.closeConversation(); };
}
