// Group info and members: name, introduction and notice (editable by the
// owner and managers), mute everyone, the member list with roles and per
// member actions (make / remove manager, mute for an hour / unmute, remove,
// make owner), add members from friends, leave (the owner must transfer
// first) and disband. Uses the seed paths of inventory §5.4 through the SDK.
import { h, replace, avatar, icon, toast, modal, confirmDialog, fmtTime } from '../dom.js';
import { t } from '../i18n.js';
import * as store from '../store.js';
import { S } from '../store.js';
import { pickFriends } from './contacts.js';

const OWNER = 2, MANAGER = 1, MEMBER = 0, LEFT = 3;
const err = (e) => toast(t('error', { msg: (e && (e.msg || e.message)) || String(e) }) + (e && e.code ? ` (${e.code})` : ''), 'error');

export function groupView(el, { go, arg: gid }) {
  const body = h('div', { class: 'page' });
  el.append(h('header', { class: 'pane-head' },
    h('a', { class: 'icon-btn', href: '#/chat/' + encodeURIComponent(store.convIdFor(1, gid)), 'aria-label': t('back') }, icon('back')),
    h('h2', null, t('groupInfo'))), body);
  store.reloadGroup(gid);

  const act = (f) => async () => { try { await f(); await store.reloadGroup(gid); } catch (e) { err(e); } };

  function draw() {
    const g = S.groups.get(gid);
    if (!g || !g.memberList) { replace(body, h('p', { class: 'empty' }, g && g.gone ? t('groupGone') : t('connecting'))); return; }
    if (g.gone || g.left) { replace(body, h('div', { class: 'card' }, h('p', null, t('groupGone')))); return; }
    const members = g.memberList.filter((m) => m.role !== LEFT);
    const me = members.find((m) => m.memberId === S.auth.userId) || { role: MEMBER };
    const isOwner = me.role === OWNER, isAdmin = me.role === OWNER || me.role === MANAGER;
    const canEdit = isAdmin || g.groupType === 1;
    const name = h('input', { type: 'text', id: 'g-name', maxlength: 100, value: g.groupName || '', disabled: !canEdit });
    const intro = h('textarea', { id: 'g-intro', rows: 2, maxlength: 255, disabled: !canEdit }, g.introduction || '');
    const notice = h('textarea', { id: 'g-notice', rows: 2, maxlength: 255, disabled: !canEdit }, g.notification || '');
    const roleName = (r) => (r === OWNER ? t('owner') : r === MANAGER ? t('manager') : t('member'));
    const order = (m) => (m.role === OWNER ? 0 : m.role === MANAGER ? 1 : 2);
    replace(body,
      h('div', { class: 'card' },
        h('div', { class: 'profile-head' }, avatar(g.groupName, gid, { group: true, size: 'large' }),
          h('div', null, h('div', { class: 'name', 'data-testid': 'group-name' }, g.groupName),
            h('div', { class: 'muted' }, t('members_n', { n: members.length }) + ' · ' + (g.groupType === 2 ? t('publicGroup') : t('privateGroup'))))),
        h('form', {
          onsubmit: (e) => { e.preventDefault(); act(() => S.im.rest.updateGroupInfo({ groupId: gid, groupName: name.value.trim(), introduction: intro.value, notification: notice.value }))().then(() => toast(t('saved'))); },
        },
        h('div', { class: 'field' }, h('label', { for: 'g-name' }, t('groupName')), name),
        h('div', { class: 'field' }, h('label', { for: 'g-intro' }, t('introduction')), intro),
        h('div', { class: 'field' }, h('label', { for: 'g-notice' }, t('notification')), notice),
        canEdit ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn' }, t('save'))) : null)),
      h('div', { class: 'card' },
        h('div', { class: 'row', style: 'margin-bottom:8px' }, h('h3', { class: 'grow', style: 'margin:0' }, t('members')),
          (isAdmin || g.groupType === 1) ? h('button', { type: 'button', class: 'btn small', onclick: () => addMembers(g, members) }, t('addMembers')) : null,
          isAdmin ? h('button', {
            type: 'button', class: 'btn small', 'aria-pressed': String(g.mute === 1),
            onclick: act(() => S.im.rest.forbidSendMessage(gid, g.mute === 1 ? 0 : 1)),
          }, g.mute === 1 ? t('unmuteAll') : t('muteAll')) : null),
        members.sort((a, b) => order(a) - order(b)).map((m) => {
          const mine = m.memberId === S.auth.userId;
          const muted = m.speakDate && m.speakDate > Date.now();
          const canManage = !mine && m.role !== OWNER && (isOwner || (me.role === MANAGER && m.role === MEMBER));
          return h('div', { class: 'member-row', 'data-testid': 'member', 'data-user': m.memberId },
            avatar(store.displayName(m.memberId), m.memberId, { size: 'small', online: S.presence.has(m.memberId) ? S.presence.get(m.memberId).online : undefined }),
            h('div', { class: 'who' }, store.displayName(m.memberId), mine ? h('span', { class: 'muted' }, ` (${t('you')})`) : null,
              h('span', { class: 'role' + (m.role === OWNER ? ' owner' : m.role === MANAGER ? ' manager' : '') }, roleName(m.role)),
              muted ? h('div', { class: 'custom-status' }, t('mutedUntil', { t: fmtTime(m.speakDate) })) : null),
            canManage ? h('div', { class: 'actions' },
              isOwner && g.groupType === 2 ? h('button', {
                type: 'button', class: 'btn small',
                onclick: act(() => S.im.rest.updateGroupMemberInfo({ groupId: gid, memberId: m.memberId, role: m.role === MANAGER ? MEMBER : MANAGER })),
              }, m.role === MANAGER ? t('unmakeManager') : t('makeManager')) : null,
              h('button', { type: 'button', class: 'btn small', onclick: act(() => S.im.rest.setGroupMemberSpeak(gid, m.memberId, muted ? 0 : 3600000)) }, muted ? t('unmuteMember') : t('muteMember')),
              isOwner ? h('button', {
                type: 'button', class: 'btn small',
                onclick: async () => { if (await confirmDialog(t('confirmTransfer', { name: store.displayName(m.memberId) }))) act(() => S.im.rest.transferGroup(gid, m.memberId))(); },
              }, t('transfer')) : null,
              h('button', {
                type: 'button', class: 'btn small danger',
                onclick: async () => { if (await confirmDialog(t('confirmRemove', { name: store.displayName(m.memberId) }), t('removeMember'), true)) act(() => S.im.rest.removeGroupMember(gid, m.memberId))(); },
              }, t('removeMember'))) : null);
        })),
      h('div', { class: 'card' }, h('div', { class: 'actions' },
        h('button', {
          type: 'button', class: 'btn danger', 'data-testid': 'leave-group',
          onclick: async () => {
            // a dialog, not a toast: the reason stays until it has been read
            if (isOwner && members.length > 1) { modal(t('leaveGroup'), h('p', { 'data-testid': 'owner-must-transfer' }, t('ownerMustTransfer')), [{ label: t('close'), kind: 'primary' }]); return; }
            if (!await confirmDialog(t('confirmLeave', { name: g.groupName }), t('leaveGroup'), true)) return;
            try { await S.im.rest.exitGroup(gid); g.left = true; store.changed('groups', 'convs'); go('/contacts'); } catch (e) { err(e); }
          },
        }, t('leaveGroup')),
        isOwner ? h('button', {
          type: 'button', class: 'btn danger',
          onclick: async () => {
            if (!await confirmDialog(t('confirmDestroy', { name: g.groupName }), t('destroyGroup'), true)) return;
            try { await S.im.rest.destroyGroup(gid); g.gone = true; store.changed('groups', 'convs'); go('/contacts'); } catch (e) { err(e); }
          },
        }, t('destroyGroup')) : null)));
  }

  function addMembers(g, members) {
    const picks = pickFriends('am', new Set(members.map((m) => m.memberId)));
    modal(t('addMembers'), picks.el, [
      { label: t('cancel') },
      {
        label: t('addMembers'), kind: 'primary', run: async () => {
          const ids = picks.value();
          if (!ids.length) return true;
          try { await S.im.rest.addGroupMember(gid, ids); await store.reloadGroup(gid); } catch (e) { err(e); return false; }
          return true;
        },
      },
    ]);
  }

  draw();
  const offs = ['groups', 'users', 'presence'].map((tp) => store.on(tp, () => {
    const a = document.activeElement;
    if (a && body.contains(a) && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) return;
    draw();
  }));
  return () => offs.forEach((f) => f());
}
