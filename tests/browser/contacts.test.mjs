// Contacts in the browser against a real petreld: a request is declined,
// then accepted; the friend detail page sets a remark (shown everywhere the
// name is), puts the friend on a friend list, blacklists and un-blacklists,
// and deletes the friend; the search finds users by nickname.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Petreld } from './lib/server.mjs';
import { launch, person, register, signedIn, shot, PHONE } from './lib/browser.mjs';

let srv, browser, pia, quin;

before(async () => {
  srv = await new Petreld().start();
  browser = await launch();
  pia = await person(browser, srv.url);
  quin = await person(browser, srv.url, { viewport: PHONE, mobile: true });
});
after(async () => {
  await browser?.close();
  await srv?.destroy();
});

async function request(from, to, wording) {
  await from.goto(srv.url + '/#/add');
  await from.getByLabel(/search people/i).fill(to);
  await from.getByRole('button', { name: 'Search' }).click();
  await from.locator(`[data-testid=search-result][data-user="${to}"]`).getByRole('button', { name: 'Add' }).click();
  await from.getByLabel('Message to them').fill(wording);
  await from.getByRole('dialog').getByRole('button', { name: 'Add' }).click();
  // the row keeps the outcome; the toast that says it too goes away by itself
  await from.locator(`[data-testid=search-result][data-user="${to}"] [data-testid=add-result][data-added=requested]`).waitFor();
  await shot(from, 'add-request-sent');
}

test('decline then accept a friend request; the badge counts pending ones', async () => {
  await register(pia.page, 'pia');
  await register(quin.page, 'quin');
  await quin.page.goto(srv.url + '/#/me');
  await quin.page.getByLabel(/ask me before/i).check();
  await quin.page.getByRole('button', { name: 'Save' }).click();
  await quin.page.locator('[data-testid=saved][data-form=profile]').waitFor();
  await shot(quin.page, 'me-saved-phone');

  await request(pia.page, 'quin', 'hello from pia');
  await quin.page.goto(srv.url + '/#/contacts');
  await quin.page.locator('[data-testid=requests-badge]').filter({ hasText: '1' }).waitFor();
  await shot(quin.page, 'contacts-request-badge-phone');
  await quin.page.locator('[data-testid=requests-link]').click();
  const req = quin.page.locator('[data-testid=request][data-from=pia]');
  await req.getByText('hello from pia').waitFor();
  await shot(quin.page, 'requests-phone');
  await req.getByRole('button', { name: 'Decline' }).click();
  await req.getByText('Declined').waitFor();

  await request(pia.page, 'quin', 'second try');
  const again = quin.page.locator('[data-testid=request]').filter({ hasText: 'second try' });
  await again.getByRole('button', { name: 'Accept' }).click();
  await again.getByText('Accepted').waitFor();
  await pia.page.goto(srv.url + '/#/contacts');
  await pia.page.locator('[data-testid=friend][data-user=quin]').waitFor();
});

test('friend detail: remark, friend list, blacklist, delete', async () => {
  // its own pair of friends, made by the server
  await srv.user('ria');
  await srv.user('quin2');
  await srv.friends('ria', 'quin2');
  const ria = await signedIn(browser, srv.url, 'ria');
  const q2 = await signedIn(browser, srv.url, 'quin2', { viewport: PHONE, mobile: true });
  const p = ria.page;
  await p.goto(srv.url + '/#/contacts');
  await p.locator('[data-testid=friend][data-user=quin2]').click();
  await p.getByLabel('Remark').fill('Quin from work');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.locator('[data-testid=friend-name]').filter({ hasText: 'Quin from work' }).waitFor();
  await p.locator('[data-testid=friend][data-user=quin2]').filter({ hasText: 'Quin from work' }).waitFor();

  // a friend list with quin in it
  await p.getByRole('tab', { name: 'Lists' }).click();
  await p.getByRole('button', { name: 'New list' }).click();
  await p.getByLabel('List name').fill('work');
  await p.getByRole('dialog').locator('[data-testid=pick][data-user=quin2] input').check();
  await p.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
  await p.locator('[data-testid=friend][data-user=quin2]').waitFor();
  await p.getByText('work (1)').waitFor();
  await shot(p, 'friend-detail');

  await p.getByRole('button', { name: 'Blacklist', exact: true }).click();
  await p.locator('[data-testid=blacklisted]').waitFor();
  await p.getByRole('button', { name: 'Remove from blacklist' }).click();
  await p.locator('[data-testid=blacklisted]').waitFor({ state: 'detached' });

  await p.getByRole('button', { name: 'Delete friend' }).click();
  await p.getByRole('dialog').getByRole('button', { name: 'Delete friend' }).click();
  await p.getByRole('tab', { name: 'Friends' }).click();
  await p.getByText('No friends yet.').waitFor();
  await q2.page.goto(srv.url + '/#/contacts');
  await q2.page.getByText('No friends yet.').waitFor();
  assert.equal(await q2.page.locator('[data-testid=friend]').count(), 0);
  await ria.ctx.close();
  await q2.ctx.close();
});

test('search finds users by nickname', async () => {
  await srv.user('quill');
  await srv.user('seeker');
  const quill = await signedIn(browser, srv.url, 'quill', { viewport: PHONE, mobile: true });
  const seeker = await signedIn(browser, srv.url, 'seeker');
  const q = quill.page;
  await q.goto(srv.url + '/#/me');
  await q.getByLabel('Nickname').fill('Quintessa');
  await q.getByRole('button', { name: 'Save' }).click();
  await q.locator('[data-testid=saved][data-form=profile]').waitFor();
  await seeker.page.goto(srv.url + '/#/add');
  await seeker.page.getByLabel(/search people/i).fill('essa');
  await seeker.page.getByRole('button', { name: 'Search' }).click();
  await seeker.page.locator('[data-testid=search-result][data-user=quill]').getByText('Quintessa').waitFor();
  await shot(seeker.page, 'search-by-nickname');
  await quill.ctx.close();
  await seeker.ctx.close();
});
