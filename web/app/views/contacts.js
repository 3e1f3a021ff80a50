// Contacts: the list pane (friends with online dots and custom status, friend
// lists, groups, links to requests / add friend / new group) and the main
// pages for friend requests, adding a friend by searching users, a friend's
// detail (remark, lists, blacklist, delete, send message) and creating a
// group from friends.
import { h, replace, avatar, icon, toast, modal, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import { S } from '../store.js';

const err = (e) => toast(t('error', { msg: (e && (e.msg || e.message)) || String(e) }) + (e && e.code ? ` (${e.code})` : ''), 'error');

export function contactsView(el) {
  let tab = sessionStorage.getItem('petrel.contactsTab') || 'friends';
  const body = h('div', { class: 'pane-body' });
  const tabs = h('div', { class: 'tabs', role: 'tablist', style: 'margin:10px 12px 4px' });
  el.append(
    h('header', { class: 'pane-head' }, h('h1', null, t('contacts')),
      h('a', { class: 'icon-btn', href: '#/add', title: t('addFriend'), 'aria-label': t('addFriend') }, icon('plus'))),
    tabs, body);

  function draw() {
    const keys = ['friends', 'lists', 'groups'];
    const select = (k) => { tab = k; sessionStorage.setItem('petrel.contactsTab', k); draw(); };
    replace(tabs, keys.map((k, i) => h('button', {
      type: 'button', role: 'tab', 'aria-selected': String(tab === k), 'data-key': 'tab-' + k, tabindex: tab === k ? '0' : '-1',
      onclick: () => select(k),
      onkeydown: (e) => {
        if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
        e.preventDefault();
        const next = keys[(i + (e.key === 'ArrowRight' ? 1 : keys.length - 1)) % keys.length];
        select(next);
        tabs.querySelector(`[data-key="tab-${next}"]`).focus();
      },
    }, t(k === 'friends' ? 'friends' : k === 'lists' ? 'friendLists' : 'groups'))));
    const pending = store.pendingRequests();
    const top = h('ul', { class: 'items' },
      h('li', null, h('a', { class: 'item', href: '#/requests', 'data-key': 'requests', 'data-testid': 'requests-link' },
        h('span', { class: 'avatar', style: 'background:#f29e4c' }, icon('bell')),
        h('div', { class: 'body' }, h('div', { class: 'top' }, h('span', { class: 'name' }, t('requests')),
          pending ? h('span', { class: 'badge', 'data-testid': 'requests-badge' }, String(pending)) : null)))),
      h('li', null, h('a', { class: 'item', href: '#/new-group', 'data-key': 'newgroup' },
        h('span', { class: 'avatar group', style: 'background:#3bb08f' }, icon('people')),
        h('div', { class: 'body' }, h('span', { class: 'name' }, t('newGroup'))))));
    let content;
    if (tab === 'friends') content = friendsList([...S.friends.keys()]);
    else if (tab === 'lists') content = listsPane();
    else content = groupsList();
    replace(body, top, content);
  }

  function friendsList(ids, label) {
    if (!ids.length) return h('p', { class: 'muted', style: 'padding:8px 16px' }, t('noFriends'));
    ids.sort((a, b) => store.displayName(a).localeCompare(store.displayName(b)));
    return h('ul', { class: 'items', 'aria-label': label || t('friends') }, ids.map((id) => {
      const p = S.presence.get(id);
      const name = store.displayName(id);
      return h('li', null, h('a', {
        class: 'item', href: '#/friend/' + encodeURIComponent(id), 'data-key': 'f-' + (label || '') + id, 'data-testid': 'friend', 'data-user': id,
        'aria-label': `${name}, ${p && p.online ? t('online') : t('offline')}${p && p.customText ? ', ' + p.customText : ''}`,
      },
      avatar(name, id, { online: !!(p && p.online) }),
      h('div', { class: 'body' }, h('div', { class: 'name' }, name),
        p && p.customText ? h('div', { class: 'custom-status', 'data-testid': 'custom-status' }, p.customText) : null)));
    }));
  }

  function listsPane() {
    const box = h('div');
    box.append(h('div', { class: 'section-title' }, h('span', { class: 'grow' }, t('friendLists')),
      h('button', { type: 'button', class: 'btn small', onclick: newList }, t('newList'))));
    if (!S.lists.size) box.append(h('p', { class: 'muted', style: 'padding:8px 16px' }, t('noLists')));
    for (const l of [...S.lists.values()].sort((a, b) => a.groupName.localeCompare(b.groupName))) {
      box.append(h('div', { class: 'section-title list-name' }, h('span', { class: 'grow' }, `${l.groupName} (${l.toIds.length})`),
        h('button', {
          type: 'button', class: 'btn small danger', 'aria-label': t('deleteList') + ' ' + l.groupName,
          onclick: async () => { if (await confirmDialog(t('deleteList') + ': ' + l.groupName + '?', t('deleteList'), true)) S.im.rest.deleteFriendGroup([l.groupName]).catch(err); },
        }, t('deleteList'))));
      box.append(friendsList(l.toIds.filter((id) => S.friends.has(id)), l.groupName));
    }
    return box;
  }

  function newList() {
    const name = h('input', { type: 'text', id: 'new-list-name', maxlength: 100 });
    const picks = pickFriends('nl');
    modal(t('newList'), h('div', null, h('div', { class: 'field' }, h('label', { for: 'new-list-name' }, t('listName')), name), picks.el), [
      { label: t('cancel') },
      {
        label: t('create'), kind: 'primary', run: async () => {
          if (!name.value.trim()) { name.focus(); return false; }
          try { await S.im.rest.addFriendGroup(name.value.trim(), picks.value()); } catch (e) { err(e); return false; }
          return true;
        },
      },
    ]);
  }

  function groupsList() {
    const gs = [...S.groups.values()].filter((g) => g.groupName && !g.gone && !g.left);
    if (!gs.length) return h('p', { class: 'muted', style: 'padding:8px 16px' }, S.groupsSupported ? t('noGroups') : t('noGroups'));
    return h('ul', { class: 'items', 'aria-label': t('groups') }, gs.sort((a, b) => a.groupName.localeCompare(b.groupName)).map((g) =>
      h('li', null, h('a', { class: 'item', href: '#/chat/' + encodeURIComponent(store.convIdFor(1, g.groupId)), 'data-key': 'g-' + g.groupId, 'data-testid': 'group', 'data-group': g.groupId },
        avatar(g.groupName, g.groupId, { group: true }),
        h('div', { class: 'body' }, h('div', { class: 'name' }, g.groupName))))));
  }

  draw();
  const offs = ['friends', 'presence', 'users', 'lists', 'groups', 'requests'].map((tp) => store.on(tp, draw));
  return () => offs.forEach((f) => f());
}

// A checkbox list of friends; value() gives the chosen ids.
export function pickFriends(prefix, exclude = new Set(), checked = []) {
  const ids = [...S.friends.keys()].filter((id) => !exclude.has(id))
    .sort((a, b) => store.displayName(a).localeCompare(store.displayName(b)));
  const boxes = ids.map((id) => h('input', { type: 'checkbox', value: id, id: `${prefix}-${id}`, checked: checked.includes(id) }));
  const el = h('fieldset', { class: 'pick-list', style: 'margin:0' }, h('legend', { class: 'sr-only' }, t('pickMembers')),
    ids.length ? ids.map((id, i) => h('label', { for: `${prefix}-${id}`, 'data-testid': 'pick', 'data-user': id }, boxes[i],
      avatar(store.displayName(id), id, { size: 'small' }), store.displayName(id))) : h('p', { class: 'muted' }, t('noFriends')));
  return { el, value: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

function pageHead(title) {
  return h('header', { class: 'pane-head' },
    h('a', { class: 'icon-btn only-phone', href: '#/contacts', 'aria-label': t('back') }, icon('back')),
    h('h2', null, title));
}

export function requestsView(el) {
  const body = h('div', { class: 'card' });
  el.append(pageHead(t('requests')), h('div', { class: 'page' }, body));
  store.markRequestsRead();
  function draw() {
    if (!S.requests.length) { replace(body, h('p', { class: 'muted' }, t('noRequests'))); return; }
    replace(body, S.requests.map((r) => {
      const name = store.displayName(r.fromId);
      const state = r.approveStatus === 1 ? t('approved') : r.approveStatus === 2 ? t('rejected') : null;
      return h('div', { class: 'req-row', 'data-testid': 'request', 'data-from': r.fromId },
        avatar(name, r.fromId),
        h('div', { class: 'grow' }, h('div', { style: 'font-weight:600' }, name, name !== r.fromId ? h('span', { class: 'muted' }, ' @' + r.fromId) : null),
          r.addWording ? h('div', { class: 'muted' }, r.addWording) : null),
        state ? h('span', { class: 'muted' }, state) : h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn small', 'data-key': 'rej-' + r.id, onclick: () => store.approve(r.id, 2).catch(err) }, t('reject')),
          h('button', { type: 'button', class: 'btn small primary', 'data-key': 'ok-' + r.id, onclick: () => store.approve(r.id, 1).catch(err) }, t('approve'))));
    }));
  }
  draw();
  const offs = ['requests', 'users'].map((tp) => store.on(tp, draw));
  return () => offs.forEach((f) => f());
}

export function addFriendView(el) {
  const q = h('input', { type: 'search', id: 'user-search', placeholder: t('searchUsers'), autocomplete: 'off' });
  const results = h('div', { 'aria-live': 'polite' });
  let page = 1, last = '', shown = null;
  const outcome = new Map(); // userId -> 'requested' | 'friend': stays on the row after the toast is gone
  const form = h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); page = 1; outcome.clear(); run(); } },
    h('label', { for: 'user-search', class: 'sr-only' }, t('searchUsers')), q,
    h('button', { type: 'submit', class: 'btn primary' }, t('search')));
  el.append(pageHead(t('addFriend')), h('div', { class: 'page' }, h('div', { class: 'card' }, form, h('div', { style: 'margin-top:12px' }, results))));
  setTimeout(() => q.focus(), 0);

  async function run() {
    last = q.value.trim();
    if (!last) return;
    try {
      const [byName, byId] = await Promise.all([
        S.im.rest.queryImUserPage({ nickName: last, currentPage: page, pageSize: 20 }),
        page === 1 ? S.im.rest.getUserInfo([last]).catch(() => null) : null,
      ]);
      const seen = new Set();
      const rows = [];
      for (const u of [...((byId && byId.userDataItem) || []), ...(byName.records || [])]) {
        if (seen.has(u.userId) || u.userId === S.auth.userId) continue;
        seen.add(u.userId); rows.push(u); S.users.set(u.userId, { ...(S.users.get(u.userId) || {}), ...u });
      }
      show(rows, byName);
    } catch (e) { err(e); }
  }

  function show(rows, pg) {
    shown = [rows, pg];
    if (!rows.length) { replace(results, h('p', { class: 'muted' }, t('noResults'))); return; }
    replace(results, rows.map((u) => {
      const isFriend = S.friends.has(u.userId);
      const done = outcome.get(u.userId);
      return h('div', { class: 'req-row', 'data-testid': 'search-result', 'data-user': u.userId },
        avatar(u.nickName || u.userId, u.userId),
        h('div', { class: 'grow' }, h('div', { style: 'font-weight:600' }, u.nickName || u.userId), h('div', { class: 'muted' }, '@' + u.userId)),
        done ? h('span', { class: 'muted', 'data-testid': 'add-result', 'data-added': done, role: 'status' }, done === 'friend' ? t('addedFriend') : t('requestPending'))
          : isFriend ? h('span', { class: 'muted' }, t('alreadyFriend'))
          : h('button', { type: 'button', class: 'btn small primary', onclick: () => ask(u) }, t('sendRequest')));
    }), pg && pg.pages > 1 ? h('div', { class: 'actions', style: 'margin-top:10px' },
      h('button', { type: 'button', class: 'btn small', disabled: page <= 1, onclick: () => { page--; run(); } }, '‹'),
      h('span', { class: 'muted' }, `${pg.current} / ${pg.pages}`),
      h('button', { type: 'button', class: 'btn small', disabled: page >= pg.pages, onclick: () => { page++; run(); } }, '›')) : null);
  }

  function ask(u) {
    const wording = h('input', { type: 'text', id: 'add-wording', maxlength: 255, value: '' });
    const remark = h('input', { type: 'text', id: 'add-remark', maxlength: 100 });
    modal(t('addFriend') + ': ' + (u.nickName || u.userId), h('div', null,
      h('div', { class: 'field' }, h('label', { for: 'add-wording' }, t('verification')), wording),
      h('div', { class: 'field' }, h('label', { for: 'add-remark' }, t('remark')), remark)), [
      { label: t('cancel') },
      {
        label: t('sendRequest'), kind: 'primary', run: async () => {
          try {
            const r = await S.im.rest.addFriend({ toId: u.userId, addWording: wording.value, remark: remark.value, addSource: 'search' });
            toast(r.added ? t('friendAdded', { name: u.nickName || u.userId }) : t('requestSent', { name: u.nickName || u.userId }));
            outcome.set(u.userId, r.added ? 'friend' : 'requested');
            if (shown) show(...shown);
          } catch (e) { err(e); return false; }
          return true;
        },
      },
    ]);
    setTimeout(() => wording.focus(), 0);
  }
  return null;
}

export function friendView(el, { go, arg: id }) {
  const body = h('div', { class: 'page' });
  el.append(pageHead(t('details')), body);
  store.wantUsers([id]);
  S.im.rest.getSingleUserInfo(id).then((u) => { S.users.set(id, u); store.changed('users'); }).catch(() => {});

  function draw() {
    const u = S.users.get(id) || { userId: id };
    const f = S.friends.get(id);
    const p = S.presence.get(id);
    const black = S.blacklist.has(id);
    const name = store.displayName(id);
    const remark = h('input', { type: 'text', id: 'friend-remark', maxlength: 100, value: (f && f.remark) || '' });
    const lists = [...S.lists.values()];
    replace(body,
      h('div', { class: 'card' },
        h('div', { class: 'profile-head' }, avatar(name, id, { size: 'large', online: p ? !!p.online : undefined }),
          h('div', null, h('div', { class: 'name', 'data-testid': 'friend-name' }, name),
            h('div', { class: 'muted' }, '@' + id),
            h('div', { class: 'custom-status', 'data-testid': 'friend-presence' }, p ? (p.online ? t('online') : t('offline')) + (p.customText ? ' · ' + p.customText : '') : ''))),
        h('dl', { class: 'kv' },
          h('dt', null, t('nickName')), h('dd', null, u.nickName || '—'),
          h('dt', null, t('signature')), h('dd', null, u.selfSignature || '—'),
          black ? [h('dt', null, t('blacklist')), h('dd', { 'data-testid': 'blacklisted' }, t('blacklisted'))] : null),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn primary', 'data-testid': 'send-message', onclick: () => go('/chat/' + encodeURIComponent(store.convIdFor(0, id))) }, t('sendMessage')))),
      f ? h('div', { class: 'card' },
        h('form', { class: 'field', onsubmit: async (e) => { e.preventDefault(); try { await S.im.rest.updateFriend({ toId: id, remark: remark.value }); f.remark = remark.value; toast(t('saved')); store.changed('friends'); } catch (ex) { err(ex); } } },
          h('label', { for: 'friend-remark' }, t('remark')),
          h('div', { class: 'row' }, remark, h('button', { type: 'submit', class: 'btn' }, t('save')))),
        lists.length ? h('div', { class: 'field' }, h('span', { class: 'muted', style: 'font-size:13px' }, t('friendLists')),
          h('div', { class: 'actions' }, lists.map((l) => {
            const inIt = l.toIds.includes(id);
            return h('button', {
              type: 'button', class: 'btn small' + (inIt ? ' primary' : ''), 'aria-pressed': String(inIt),
              onclick: () => (inIt ? S.im.rest.deleteFriendGroupMember(l.groupName, [id]) : S.im.rest.addFriendGroupMember(l.groupName, [id])).catch(err),
            }, l.groupName);
          }))) : null) : null,
      h('div', { class: 'card' }, h('div', { class: 'actions' },
        black
          ? h('button', { type: 'button', class: 'btn', onclick: () => S.im.rest.deleteBlack(id).then(() => { S.blacklist.delete(id); store.changed('friends'); }).catch(err) }, t('unblacklist'))
          : h('button', { type: 'button', class: 'btn danger', onclick: () => S.im.rest.addBlack(id).then(() => { S.blacklist.add(id); store.changed('friends'); }).catch(err) }, t('blacklist')),
        f ? h('button', {
          type: 'button', class: 'btn danger', onclick: async () => {
            if (!await confirmDialog(t('confirmDeleteFriend', { name }), t('deleteFriend'), true)) return;
            try { await S.im.rest.deleteFriend(id); S.friends.delete(id); store.changed('friends'); go('/contacts'); } catch (e) { err(e); }
          },
        }, t('deleteFriend')) : null)));
  }
  draw();
  const offs = ['friends', 'users', 'presence', 'lists'].map((tp) => store.on(tp, () => { if (!body.contains(document.activeElement) || document.activeElement.tagName !== 'INPUT') draw(); }));
  return () => offs.forEach((f) => f());
}

export function newGroupView(el, { go }) {
  const name = h('input', { type: 'text', id: 'group-name', maxlength: 100, required: true });
  const type = h('select', { id: 'group-type' },
    h('option', { value: '1' }, t('privateGroup')), h('option', { value: '2' }, t('publicGroup')));
  let picks = pickFriends('ng');
  const submit = h('button', { type: 'submit', class: 'btn primary' }, t('create'));
  // friends may arrive after the page opened: rebuild the list, keeping the picks
  const off = store.on('friends', () => {
    const focused = document.activeElement && picks.el.contains(document.activeElement) ? document.activeElement.id : null;
    const again = pickFriends('ng', new Set(), picks.value());
    picks.el.replaceWith(again.el);
    picks = again;
    if (focused) document.getElementById(focused)?.focus();
  });
  el.append(pageHead(t('newGroup')), h('div', { class: 'page' }, h('form', {
    class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      if (!name.value.trim()) { name.focus(); return; }
      submit.disabled = true;
      try {
        const id = await store.createGroup({ groupName: name.value.trim(), groupType: Number(type.value), members: picks.value() });
        go('/chat/' + encodeURIComponent(store.convIdFor(1, id)));
      } catch (ex) { err(ex); } finally { submit.disabled = false; }
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'group-name' }, t('groupName')), name),
  h('div', { class: 'field' }, h('label', { for: 'group-type' }, t('groupType')), type),
  h('div', { class: 'field' }, h('span', { class: 'muted', style: 'font-size:13px' }, t('pickMembers')), picks.el),
  h('div', { class: 'actions' }, submit))));
  setTimeout(() => name.focus(), 0);
  return off;
}
