// Tiny DOM toolkit: h() builds elements from tag, attributes and children
// (text is always set as text, never parsed as HTML, so user data cannot
// inject markup), replaceChildren keeps keyboard focus on the element with
// the same data-key, and a few shared widgets (avatar, toast, dialogs).
import { t } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replace the children of el, keeping focus on the element with the same
// data-key (lists are rebuilt on every change).
export function replace(el, ...children) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.dataset.key : undefined;
  el.replaceChildren();
  append(el, children);
  if (key !== undefined) {
    const again = el.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

const palette = ['#5b8def', '#e0679a', '#f29e4c', '#3bb08f', '#9b6ef3', '#e5574f', '#2fa4c7', '#7c8b9a'];
export function colorFor(id) {
  let x = 0;
  for (const ch of String(id)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return palette[x % palette.length];
}

export function avatar(name, id, opts = {}) {
  const letter = [...String(name || id || '?').trim()][0] || '?';
  const el = h('span', { class: 'avatar' + (opts.group ? ' group' : '') + (opts.size ? ' ' + opts.size : ''), 'aria-hidden': 'true' },
    letter.toUpperCase());
  el.style.background = colorFor(id || name);
  if (opts.online !== undefined) {
    el.appendChild(h('span', { class: 'dot ' + (opts.online ? 'on' : 'off') }));
  }
  return el;
}

export function icon(name) {
  const paths = {
    chat: 'M4 4h16v12H7l-3 3z',
    contacts: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 8a7 7 0 0 1 14 0z',
    me: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 4a3 3 0 1 1 0 6 3 3 0 0 1 0-6zm0 14a8 8 0 0 1-6-3c1-2 4-3 6-3s5 1 6 3a8 8 0 0 1-6 3z',
    back: 'M15 5l-7 7 7 7',
    plus: 'M12 5v14M5 12h14',
    send: 'M3 20l18-8L3 4v6l12 2-12 2z',
    info: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 7v8m0-11v.5',
    bot: 'M7 8h10a3 3 0 0 1 3 3v6a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3v-6a3 3 0 0 1 3-3zm5-4v4M9 14h.01M15 14h.01',
    search: 'M11 4a7 7 0 1 0 0 14 7 7 0 0 0 0-14zm9 16l-4-4',
    bell: 'M6 16V11a6 6 0 1 1 12 0v5l2 2H4zM10 20h4',
    pin: 'M9 3h6l-1 6 4 4H6l4-4zM12 13v8',
    mute: 'M11 5L6 9H3v6h3l5 4zM16 9l5 6M21 9l-5 6',
    trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
    people: 'M9 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm7 0a3 3 0 1 0 0-6M3 20a6 6 0 0 1 12 0m2-5a5 5 0 0 1 4 5',
  };
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', paths[name] || '');
  svg.appendChild(p);
  return svg;
}

let toastBox;
export function toast(text, kind = 'info') {
  if (!toastBox) {
    toastBox = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(toastBox);
  }
  // the same text again: one toast, shown for longer (no stack of twins)
  const twin = [...toastBox.children].find((x) => x.textContent === text && x.className === 'toast ' + kind);
  const el = twin || h('div', { class: 'toast ' + kind }, text);
  if (twin) clearTimeout(twin.hideTimer); else toastBox.appendChild(el);
  while (toastBox.children.length > 2) toastBox.firstChild.remove();
  el.hideTimer = setTimeout(() => el.remove(), kind === 'error' ? 6000 : 2500);
}

// A modal dialog built on <dialog>: Escape closes it, focus is trapped by the
// browser, and the opener gets focus back.
export function modal(title, body, actions) {
  const opener = document.activeElement;
  const dlg = h('dialog', { class: 'modal', 'aria-label': title });
  const close = () => { dlg.close(); };
  dlg.addEventListener('close', () => { dlg.remove(); if (opener && opener.focus) opener.focus(); });
  const bar = h('div', { class: 'modal-actions' });
  for (const a of actions || []) {
    bar.appendChild(h('button', {
      type: 'button', class: 'btn ' + (a.kind || ''),
      onclick: async () => { if ((await a.run?.()) !== false) close(); },
    }, a.label));
  }
  dlg.append(h('h2', { class: 'modal-title' }, title), body, bar);
  document.body.appendChild(dlg);
  dlg.showModal();
  return { dlg, close };
}

export function confirmDialog(text, okLabel, danger) {
  return new Promise((resolve) => {
    let done = false;
    const m = modal(t('confirm'), h('p', null, text), [
      { label: t('cancel'), run: () => { done = true; resolve(false); } },
      { label: okLabel || t('confirm'), kind: danger ? 'danger' : 'primary', run: () => { done = true; resolve(true); } },
    ]);
    m.dlg.addEventListener('close', () => { if (!done) resolve(false); });
  });
}

export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const now = new Date();
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return hm;
  const y = new Date(now); y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return t('yesterday') + ' ' + hm;
  if (d.getFullYear() === now.getFullYear()) return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
  return d.toLocaleDateString() + ' ' + hm;
}

export function fmtShort(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'numeric', day: 'numeric' });
}
