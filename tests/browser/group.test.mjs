// Group chat in the browser against a real petreld: three users, the owner
// creates a group from friends on the "New group" page, all three chat and
// see the same history in the same order (also after a reload), read
// receipts count readers, a message is recalled, the member page shows roles, the
// owner mutes a member (whose composer closes), a member leaves, and the
// owner hands the group over before she may leave.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Petreld } from './lib/server.mjs';
import { launch, person, register, signedIn, inChat, befriend, send, texts, shot, PHONE } from './lib/browser.mjs';

let srv, browser;
const users = {};

before(async () => {
  srv = await new Petreld().start();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.destroy();
});

test('three users chat in a group created from friends', async () => {
  for (const name of ['ann', 'ben', 'cat']) {
    users[name] = await person(browser, srv.url, name === 'cat' ? { viewport: PHONE, mobile: true } : {});
    await register(users[name].page, name);
  }
  const { ann, ben, cat } = users;
  await befriend(ann.page, ben.page, 'ben', { approval: false });
  await befriend(ann.page, cat.page, 'cat', { approval: false });

  await ann.page.goto(srv.url + '/#/new-group');
  await ann.page.getByLabel('Group name').fill('Weekend trip');
  await ann.page.locator('[data-testid=pick][data-user=ben] input').check();
  await ann.page.locator('[data-testid=pick][data-user=cat] input').check();
  await shot(ann.page, 'group-new');
  await ann.page.getByRole('button', { name: 'Create' }).click();
  await ann.page.locator('#composer-input').waitFor();
  await ann.page.getByRole('heading', { name: 'Weekend trip' }).waitFor();

  await send(ann.page, 'who is in?');
  for (const p of [ben.page, cat.page]) {
    await p.goto(srv.url + '/#/chats');
    const conv = p.locator('[data-testid=conv]').filter({ hasText: 'Weekend trip' });
    await conv.locator('[data-testid=unread]').waitFor();
    await conv.click();
    await p.locator('[data-testid=bubble]').filter({ hasText: 'who is in?' }).waitFor();
  }
  await send(ben.page, 'me!');
  await send(cat.page, 'me too');
  for (const p of [ann.page, ben.page, cat.page]) {
    await p.locator('[data-testid=bubble]').filter({ hasText: 'me too' }).waitFor();
    await p.locator('[data-testid=bubble]').filter({ hasText: 'me!' }).waitFor();
  }
  const a = await texts(ann.page);
  assert.deepEqual(await texts(ben.page), a);
  assert.deepEqual(await texts(cat.page), a);
  assert.equal(a.length, 3);
  // the sender name is shown on others' messages
  await ann.page.locator('[data-testid=msg][data-from=ben] .sender').filter({ hasText: 'ben' }).waitFor();
  // both others opened the chat: the owner's message is read by 2
  await ann.page.locator('[data-testid=msg].mine').filter({ hasText: 'who is in?' }).getByText('Read by 2').waitFor();
  await shot(ann.page, 'group-chat-desktop');
  await shot(cat.page, 'group-chat-phone');

  // recall in a group
  await send(ben.page, 'wrong group, sorry');
  await ann.page.locator('[data-testid=bubble]').filter({ hasText: 'wrong group, sorry' }).waitFor();
  const typo = ben.page.locator('[data-testid=msg].mine').filter({ hasText: 'wrong group, sorry' });
  await typo.hover();
  await typo.locator('[data-testid=recall]').click();
  for (const p of [ann.page, ben.page, cat.page]) {
    await p.locator('[data-testid=recalled]').waitFor();
    assert.equal(await p.locator('[data-testid=bubble]').filter({ hasText: 'wrong group, sorry' }).count(), 0);
  }

  // a reload shows the same history, from the server
  await ann.page.reload();
  await ann.page.locator('[data-testid=bubble]').filter({ hasText: 'me too' }).waitFor();
  assert.deepEqual(await texts(ann.page), a);
  await ann.page.locator('[data-testid=recalled]').waitFor();
  // "Read by 2" survives the reload (the history rows' readCount)
  await ann.page.locator('[data-testid=msg].mine').filter({ hasText: 'who is in?' }).getByText('Read by 2').waitFor();
  await shot(ann.page, 'group-chat-after-reload');

  // a group chat is pinned and muted like a 1:1 one, and stays so after a
  // reload; it cannot be removed from the list (the server refuses)
  await ann.page.locator('[data-testid=pin]').click();
  await ann.page.locator('[data-testid=pin][aria-pressed=true]').waitFor();
  await ann.page.locator('[data-testid=mute]').click();
  await ann.page.locator('[data-testid=mute][aria-pressed=true]').waitFor();
  assert.equal(await ann.page.locator('[data-testid=delete-chat]').count(), 0);
  await ann.page.reload();
  await ann.page.locator('[data-testid=pin][aria-pressed=true]').waitFor();
  await ann.page.locator('[data-testid=mute][aria-pressed=true]').waitFor();
  const row = ann.page.locator('[data-testid=conv]').filter({ hasText: 'Weekend trip' });
  await row.locator('[data-testid=muted]').waitFor();
  await shot(ann.page, 'group-chat-pinned-muted');
});

test('group members: roles, mute, leave', async () => {
  // its own group, made by the server: amy owns it, boris and cyra are members
  for (const n of ['amy', 'boris', 'cyra']) await srv.user(n);
  const r = await srv.admin('group/createGroup', { ownerId: 'amy', groupName: 'Book club', groupType: 1, member: ['boris', 'cyra'] });
  assert.equal(r.code, 200, JSON.stringify(r));
  const gid = r.data.groupId;
  const ann = await signedIn(browser, srv.url, 'amy');
  const ben = await signedIn(browser, srv.url, 'boris');
  const cat = await signedIn(browser, srv.url, 'cyra', { viewport: PHONE, mobile: true });
  await inChat(cat.page, `1_cyra_${gid}`);
  await ann.page.goto(srv.url + '/#/group/' + encodeURIComponent(gid));
  const owner = ann.page.locator('[data-testid=member][data-user=amy]');
  await owner.getByText('Owner').waitFor();
  await ann.page.locator('[data-testid=member][data-user=boris]').getByText('Member').waitFor();
  await shot(ann.page, 'group-info');
  // mute cat for an hour: cat's composer gives way to a notice
  await ann.page.locator('[data-testid=member][data-user=cyra]').getByRole('button', { name: 'Mute 1 hour' }).click();
  await cat.page.getByText(/Muted until/).waitFor();
  assert.equal(await cat.page.locator('#composer-input').isVisible(), false);
  await shot(cat.page, 'group-muted-phone');
  // ben leaves: his chat says so, ann's member list loses him
  await inChat(ben.page, `1_boris_${gid}`);
  await ben.page.getByRole('link', { name: 'Group info' }).click();
  await ben.page.locator('[data-testid=leave-group]').click();
  await ben.page.getByRole('dialog').getByRole('button', { name: 'Leave group' }).click();
  await ann.page.locator('[data-testid=member][data-user=boris]').waitFor({ state: 'detached' });
  // back in the chat, ben can no longer write to it
  await ben.page.goto(srv.url + '/#/chat/' + encodeURIComponent('1_boris_' + gid));
  await ben.page.getByText('This group no longer exists or you left it.').waitFor();
  assert.equal(await ben.page.locator('#composer-input').isVisible(), false);

  // the owner cannot just leave; after making cat the owner she can
  await ann.page.locator('[data-testid=leave-group]').click();
  const why = ann.page.getByRole('dialog').filter({ hasText: 'The owner must make someone else owner before leaving.' });
  await why.waitFor();
  await why.getByRole('button', { name: 'Close' }).click();
  await why.waitFor({ state: 'detached' });
  await ann.page.locator('[data-testid=member][data-user=cyra]').getByRole('button', { name: 'Make owner' }).click();
  await ann.page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await ann.page.locator('[data-testid=member][data-user=cyra]').getByText('Owner').waitFor();
  await ann.page.locator('[data-testid=member][data-user=amy]').getByText('Member').waitFor();
  await cat.page.getByRole('link', { name: 'Group info' }).click();
  await cat.page.locator('[data-testid=member][data-user=cyra]').getByText('Owner').waitFor();
  await shot(cat.page, 'group-info-phone');
});
