// Entry point and hash router of the petrel web client. Routes:
//   #/login                 sign in / register
//   #/chats, #/chat/<conv>  conversation list (+ chat window)
//   #/contacts, #/requests, #/add, #/friend/<id>, #/group/<id>, #/new-group
//   #/me                    profile, custom status, language, sign out
// The shell (rail, list pane, main pane) is built once per sign-in; each
// route mounts a list view and a main view that subscribe to the store and
// return a cleanup function. On a phone the list or the main pane is shown.
import { h, replace, icon, avatar, toast } from './dom.js';
import { t, onLangChange } from './i18n.js';
import * as store from './store.js';
import { S } from './store.js';
import { loginView } from './views/login.js';
import { chatListView, chatView } from './views/chats.js';
import { contactsView, requestsView, addFriendView, friendView, newGroupView } from './views/contacts.js';
import { groupView } from './views/group.js';
import { meView } from './views/me.js';

const root = document.getElementById('app');
let shell = null;
let mounted = { list: null, main: null, listKey: null, mainKey: null };

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  return { name: name || 'chats', arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

export function go(path) {
  if (location.hash !== '#' + path) location.hash = path;
  else render();
}

const listFor = { chats: 'chats', chat: 'chats', contacts: 'contacts', requests: 'contacts', add: 'contacts', friend: 'contacts', group: 'contacts', 'new-group': 'contacts', me: 'me' };

function render() {
  const r = parseRoute();
  if (!S.auth) {
    teardownShell();
    replace(root, loginView(async () => { go('/chats'); }));
    return;
  }
  if (r.name === 'login') { go('/chats'); return; }
  if (!shell) buildShell();
  const listKey = listFor[r.name] || 'chats';
  const mainKey = r.name + '/' + (r.arg || '');
  if (mounted.listKey !== listKey) {
    mounted.list?.();
    shell.list.replaceChildren();
    mounted.list = (listKey === 'chats' ? chatListView : listKey === 'contacts' ? contactsView : meView)(shell.list, { go });
    mounted.listKey = listKey;
  }
  if (mounted.mainKey !== mainKey) {
    mounted.main?.();
    shell.main.replaceChildren();
    const views = { chat: chatView, requests: requestsView, add: addFriendView, friend: friendView, group: groupView, 'new-group': newGroupView };
    const v = views[r.name];
    mounted.main = v ? v(shell.main, { go, arg: r.arg }) : emptyMain(shell.main, r.name);
    mounted.mainKey = mainKey;
  }
  shell.app.classList.toggle('detail', !!views_with_detail(r.name));
  for (const a of shell.rail.querySelectorAll('a[data-nav]')) {
    if (a.dataset.nav === listKey) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}
const views_with_detail = (n) => ['chat', 'requests', 'add', 'friend', 'group', 'new-group'].includes(n);

function emptyMain(el) {
  el.appendChild(h('div', { class: 'empty' }, h('div', null,
    h('div', { class: 'brand', style: 'justify-content:center' }, h('span', { class: 'brand-mark' }, icon('chat')), t('appName')),
    h('p', { class: 'muted' }, t('tagline')))));
  return null;
}

function buildShell() {
  const badgeChats = h('span', { class: 'badge', hidden: true });
  const badgeContacts = h('span', { class: 'badge', hidden: true });
  const meAv = h('span', { class: 'me-avatar' });
  const nav = (key, href, ic, label, badge) => h('a', { href, 'data-nav': key, 'aria-label': label, title: label }, icon(ic), h('span', { class: 'label' }, label), badge);
  const rail = h('nav', { class: 'rail', 'aria-label': 'Main' },
    meAv,
    nav('chats', '#/chats', 'chat', t('chats'), badgeChats),
    nav('contacts', '#/contacts', 'contacts', t('contacts'), badgeContacts),
    h('span', { class: 'spacer' }),
    nav('me', '#/me', 'me', t('me')));
  const banner = h('div', { class: 'conn-banner', role: 'status', 'aria-live': 'polite', hidden: true });
  const list = h('section', { class: 'list-pane' });
  const main = h('div', { class: 'main-inner' });
  const app = h('div', { class: 'app' }, rail, list, h('main', { class: 'main-pane' }, banner, main));
  replace(root, app);
  shell = { app, rail, list, main, banner };
  const updBadges = () => {
    const n = store.totalUnread();
    badgeChats.hidden = !n; badgeChats.textContent = n > 99 ? '99+' : String(n);
    badgeChats.setAttribute('aria-label', t('unread', { n }));
    const r = store.pendingRequests();
    badgeContacts.hidden = !r; badgeContacts.textContent = String(r);
    document.title = (n ? `(${n}) ` : '') + 'petrel';
  };
  const updMe = () => {
    replace(meAv, avatar(store.displayName(S.auth.userId), S.auth.userId, { online: S.conn === 'open' }));
  };
  const updConn = () => {
    const st = S.conn;
    banner.hidden = st === 'open' || st === 'idle' || st === 'closed' || st === 'kicked';
    banner.textContent = st === 'connecting' ? t('connecting') : t('offlineBanner');
    banner.dataset.state = st;
    updMe();
  };
  shell.off = [
    store.on('convs', updBadges), store.on('requests', updBadges),
    store.on('conn', updConn), store.on('users', updMe), store.on('me', updMe), store.on('presence', updMe),
  ];
  updBadges(); updConn();
}

function teardownShell() {
  if (!shell) return;
  mounted.list?.(); mounted.main?.();
  mounted = { list: null, main: null, listKey: null, mainKey: null };
  for (const f of shell.off) f();
  shell = null;
}

function showKicked() {
  if (!S.kicked) return;
  const info = S.kicked;
  const el = h('div', { class: 'kicked', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'kicked-title', 'aria-describedby': 'kicked-text' },
    h('div', { class: 'card' },
      h('h2', { id: 'kicked-title' }, t('kickedTitle')),
      h('p', { id: 'kicked-text' }, info.expired ? t('sessionExpired') : t('kicked')),
      h('button', {
        class: 'btn primary', type: 'button', 'data-testid': 'kicked-ok',
        onclick: async () => { el.remove(); S.kicked = null; await store.logout(); go('/login'); },
      }, t('signInAgain'))));
  document.body.appendChild(el);
  el.querySelector('button').focus();
}

store.on('kicked', showKicked);
store.on('session', () => render());
window.addEventListener('hashchange', render);
onLangChange(() => { teardownShell(); render(); });
window.addEventListener('unhandledrejection', (e) => {
  const err = e.reason;
  if (err && (err.code || err.msg)) { toast(t('error', { msg: err.msg || err.code }), 'error'); e.preventDefault(); }
});

(async () => {
  if (store.savedSession()) {
    replace(root, h('div', { class: 'empty' }, t('connecting')));
    try { await store.resume(); } catch (e) { console.warn('resume failed', e); }
  }
  render();
})();
