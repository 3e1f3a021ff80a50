// Sign-in and registration (the built-in demo app server, /app/v1/login and
// /app/v1/register). The password only travels in the request; the session
// keeps the returned token. Registration signs in right after.
import { h, icon } from '../dom.js';
import { t, languages, getLang, setLang } from '../i18n.js';
import * as store from '../store.js';

export function loginView(done) {
  let mode = 'login';
  const err = h('p', { class: 'error-text', role: 'alert', id: 'auth-error' });
  const user = h('input', { type: 'text', id: 'auth-user', name: 'username', autocomplete: 'username', required: true, 'aria-describedby': 'auth-user-hint', autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { type: 'password', id: 'auth-pass', name: 'password', autocomplete: 'current-password', required: true });
  const pass2 = h('input', { type: 'password', id: 'auth-pass2', name: 'password2', autocomplete: 'new-password' });
  const userHint = h('span', { class: 'hint', id: 'auth-user-hint' });
  const passHint = h('span', { class: 'hint' });
  const pass2Field = h('div', { class: 'field' }, h('label', { for: 'auth-pass2' }, t('password2')), pass2);
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'auth-submit' });
  const tabLogin = h('button', { type: 'button', role: 'tab', id: 'tab-login', onclick: () => setMode('login') }, t('login'));
  const tabReg = h('button', { type: 'button', role: 'tab', id: 'tab-register', onclick: () => setMode('register') }, t('register'));
  for (const [tab, other, m] of [[tabLogin, tabReg, 'register'], [tabReg, tabLogin, 'login']]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { e.preventDefault(); setMode(m); other.focus(); }
    });
  }

  function setMode(m) {
    mode = m;
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabReg.setAttribute('aria-selected', String(m === 'register'));
    // roving tabindex: Tab leaves the tab list, arrows move inside it
    tabLogin.tabIndex = m === 'login' ? 0 : -1;
    tabReg.tabIndex = m === 'register' ? 0 : -1;
    pass2Field.hidden = m === 'login';
    pass2.required = m === 'register';
    pass.autocomplete = m === 'login' ? 'current-password' : 'new-password';
    userHint.textContent = m === 'register' ? t('userNameHint') : '';
    passHint.textContent = m === 'register' ? t('passwordHint') : '';
    submit.textContent = m === 'login' ? t('login') : t('register');
    err.textContent = '';
  }

  const form = h('form', {
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      const name = user.value.trim();
      if (!name || !pass.value) { err.textContent = t('error', { msg: t('userName') + ' / ' + t('password') }); return; }
      if (mode === 'register' && pass.value !== pass2.value) { err.textContent = t('passwordsDiffer'); pass2.focus(); return; }
      submit.disabled = true;
      try {
        if (mode === 'register') {
          await store.register(name, pass.value);
          err.textContent = t('registered');
        }
        await store.login(name, pass.value);
        pass.value = ''; pass2.value = '';
        done();
      } catch (ex) {
        err.textContent = ex && ex.msg ? `${ex.msg} (${ex.code})` : String(ex && ex.message || ex);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'field' }, h('label', { for: 'auth-user' }, t('userName')), user, userHint),
  h('div', { class: 'field' }, h('label', { for: 'auth-pass' }, t('password')), pass, passHint),
  pass2Field, err, submit);

  const langs = h('div', { class: 'lang-switch', role: 'group', 'aria-label': t('language') },
    languages.map((l) => h('button', { type: 'button', 'aria-pressed': String(getLang() === l.code), lang: l.code, onclick: () => setLang(l.code) }, l.name)));

  setMode('login');
  return h('div', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('h1', { class: 'brand' }, h('span', { class: 'brand-mark' }, icon('chat')), t('appName')),
      h('p', { class: 'muted', style: 'margin:0' }, t('tagline')),
      h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('login') + ' / ' + t('register') }, tabLogin, tabReg),
      form, langs));
}
