// "Me": my profile (nickname, signature), my custom status (text shown to my
// friends next to the online dot), the language switch and sign-out, which
// sends LOGOUT on the socket before the token is dropped. The assistant entry
// is not shown: the server has no setting that says a bot is configured
// (see web/app/SDK-NEEDS.md).
import { h, replace, avatar, toast } from '../dom.js';
import { t, languages, getLang, setLang } from '../i18n.js';
import * as store from '../store.js';
import { S } from '../store.js';

export function meView(el, { go }) {
  const body = h('div', { class: 'pane-body', style: 'padding:12px' });
  el.append(h('header', { class: 'pane-head' }, h('h1', null, t('me'))), body);
  const err = (e) => toast(t('error', { msg: (e && (e.msg || e.message)) || String(e) }), 'error');

  // which form was saved last: its "Saved." note stays (a toast goes away)
  // until that form is edited again
  let savedIn = null;
  const savedNote = (form, text) => (savedIn === form
    ? h('span', { class: 'saved-note', role: 'status', 'data-testid': 'saved', 'data-form': form }, text) : null);
  const edited = (form) => () => { if (savedIn === form) { savedIn = null; const n = body.querySelector(`[data-testid=saved][data-form=${form}]`); if (n) n.remove(); } };
  let statusText = '';

  function draw() {
    const me = S.me || { userId: S.auth.userId };
    const p = S.presence.get(S.auth.userId) || {};
    const nick = h('input', { type: 'text', id: 'me-nick', maxlength: 100, value: me.nickName || '' });
    const sig = h('input', { type: 'text', id: 'me-sig', maxlength: 255, value: me.selfSignature || '' });
    const approval = h('input', { type: 'checkbox', id: 'me-approval', checked: me.friendAllowType === 2 });
    const status = h('input', { type: 'text', id: 'me-status', maxlength: 100, value: p.customText || '', placeholder: t('statusPlaceholder') });
    const lang = h('select', { id: 'me-lang', onchange: () => setLang(lang.value) },
      languages.map((l) => h('option', { value: l.code, selected: l.code === getLang() }, l.name)));
    replace(body,
      h('div', { class: 'profile-head', style: 'padding:4px 4px 12px' }, avatar(me.nickName || me.userId, me.userId, { size: 'large', online: S.conn === 'open' }),
        h('div', null, h('div', { class: 'name', 'data-testid': 'me-name' }, me.nickName || me.userId), h('div', { class: 'muted' }, '@' + me.userId),
          h('div', { class: 'custom-status', 'data-testid': 'me-status' }, (S.conn === 'open' ? t('online') : t('offline')) + (p.customText ? ' · ' + p.customText : '')))),
      h('form', {
        class: 'card', style: 'padding:16px', onsubmit: async (e) => {
          e.preventDefault();
          try {
            await S.im.rest.setUserCustomerStatus(status.value.trim(), status.value.trim() ? 1 : 0);
            S.presence.set(S.auth.userId, { ...p, customText: status.value.trim() });
            statusText = status.value.trim() ? t('saved') : t('statusCleared');
            toast(statusText);
            savedIn = 'status';
            store.changed('presence');
            draw();
          } catch (ex) { err(ex); }
        },
        oninput: edited('status'),
      }, h('div', { class: 'field' }, h('label', { for: 'me-status' }, t('customStatus')), status),
      h('div', { class: 'actions' }, savedNote('status', statusText), h('button', { type: 'submit', class: 'btn primary' }, t('setStatus')))),
      h('form', {
        class: 'card', style: 'padding:16px', onsubmit: async (e) => {
          e.preventDefault();
          try {
            const r = await S.im.rest.modifyUserInfo({ nickName: nick.value.trim(), selfSignature: sig.value, friendAllowType: approval.checked ? 2 : 1 });
            S.me = { ...me, ...r }; S.users.set(me.userId, S.me);
            toast(t('saved')); savedIn = 'profile';
            store.changed('me', 'users');
            draw();
          } catch (ex) { err(ex); }
        },
        oninput: edited('profile'), onchange: edited('profile'),
      }, h('h2', null, t('profile')),
      h('div', { class: 'field' }, h('label', { for: 'me-nick' }, t('nickName')), nick),
      h('div', { class: 'field' }, h('label', { for: 'me-sig' }, t('signature')), sig),
      h('div', { class: 'field' }, h('label', { class: 'row', for: 'me-approval', style: 'color:inherit;font-size:14px' }, approval, t('needApproval'))),
      h('div', { class: 'actions' }, savedNote('profile', t('saved')), h('button', { type: 'submit', class: 'btn' }, t('save')))),
      h('div', { class: 'card', style: 'padding:16px' },
        h('div', { class: 'field' }, h('label', { for: 'me-lang' }, t('language')), lang),
        h('button', { type: 'button', class: 'btn danger', 'data-testid': 'logout', style: 'width:100%', onclick: async () => { await store.logout(); go('/login'); } }, t('logout'))));
  }
  draw();
  const offs = ['me', 'presence', 'conn'].map((tp) => store.on(tp, () => {
    const a = document.activeElement;
    if (a && body.contains(a) && a.tagName === 'INPUT') return;
    draw();
  }));
  return () => offs.forEach((f) => f());
}
