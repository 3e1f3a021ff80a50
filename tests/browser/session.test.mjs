// Sessions in the browser against a real petreld: a session kicked by a login
// on another device sees a clear notice (the app runs with login policy 1,
// one device per user); sign-out ends the socket session on the server; the
// UI follows the browser's language and can be switched; friends see each
// other's online dot and custom status; the token is never a password and
// lives in sessionStorage only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Petreld } from './lib/server.mjs';
import { launch, person, register, login, befriend, shot, unlabelled, until, PHONE, SLOW } from './lib/browser.mjs';

let srv, browser;

before(async () => {
  srv = await new Petreld().start();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.destroy();
});

async function online(user) {
  const r = await srv.admin('user/queryUserOnlineStatus', { userIdList: [user] });
  assert.equal(r.code, 200, JSON.stringify(r));
  return r.data[user].session.length;
}

test('a session kicked by another device sees the notice', async () => {
  const r = await srv.admin('app/updateSetting', { loginPolicy: 1 });
  assert.equal(r.code, 200, JSON.stringify(r));
  try {
    const first = await person(browser, srv.url);
    await register(first.page, 'kim');
    const second = await person(browser, srv.url, { viewport: PHONE, mobile: true });
    await login(second.page, 'kim');
    const notice = first.page.getByRole('alertdialog');
    await notice.waitFor();
    assert.match(await notice.textContent(), /signed in on another device/);
    await shot(first.page, 'kicked-desktop');
    // the kicked tab stays signed out: no reconnect takes the session back
    await first.page.waitForTimeout(1500 * SLOW); // an absence: nothing to wait for
    assert.equal(await online('kim'), 1);
    assert.ok(await second.page.locator('.rail').isVisible());
    assert.equal(await second.page.getByRole('alertdialog').count(), 0);
    await notice.getByRole('button', { name: 'Sign in again' }).click();
    await first.page.locator('#auth-submit').waitFor();
    assert.equal(await first.page.evaluate(() => sessionStorage.getItem('petrel.session')), null);
    await first.ctx.close();
    await second.ctx.close();
  } finally {
    await srv.admin('app/updateSetting', { loginPolicy: 3 });
  }
});

test('sign-out ends the socket session and keeps no password', async () => {
  const p = await person(browser, srv.url);
  await register(p.page, 'lou');
  assert.equal(await online('lou'), 1);
  const stored = await p.page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes('pass-lou'), 'the password is not stored');
  assert.ok(stored.includes('userSign'), 'the token is in sessionStorage');
  // a reload resumes the session from sessionStorage without the password
  await p.page.reload();
  await p.page.locator('.rail').waitFor();
  await p.page.goto(srv.url + '/#/me');
  await p.page.locator('[data-testid=logout]').click();
  await p.page.locator('#auth-submit').waitFor();
  await until(async () => await online('lou') === 0, 'the session to end on the server');
  assert.equal(await p.page.evaluate(() => sessionStorage.getItem('petrel.session')), null);
  await p.ctx.close();
});

test('the language follows the browser and can be switched', async () => {
  const zh = await person(browser, srv.url, { locale: 'zh-CN' });
  await zh.page.getByRole('tab', { name: '注册' }).waitFor();
  await shot(zh.page, 'login-zh');
  await register(zh.page, 'mei');
  await zh.page.goto(srv.url + '/#/me');
  await zh.page.getByRole('button', { name: '退出登录' }).waitFor();
  await shot(zh.page, 'me-zh');
  await zh.page.getByLabel('语言').selectOption('en');
  await zh.page.getByRole('button', { name: 'Sign out' }).waitFor();
  await zh.page.goto(srv.url + '/#/chats');
  await zh.page.getByRole('heading', { name: 'Chats' }).waitFor();
  await zh.ctx.close();
});

test('friends see online dots and custom status', async () => {
  const a = await person(browser, srv.url);
  const b = await person(browser, srv.url);
  await register(a.page, 'nia');
  await register(b.page, 'oto');
  await befriend(a.page, b.page, 'oto', { approval: false });
  await a.page.goto(srv.url + '/#/contacts');
  const row = a.page.locator('[data-testid=friend][data-user=oto]');
  await row.locator('.dot.on').waitFor();
  await b.page.goto(srv.url + '/#/me');
  await b.page.getByLabel('Custom status').fill('in a meeting');
  await b.page.getByRole('button', { name: 'Set status' }).click();
  await row.locator('[data-testid=custom-status]').filter({ hasText: 'in a meeting' }).waitFor();
  await shot(a.page, 'contacts-presence');
  await b.page.goto(srv.url + '/#/me');
  await b.page.locator('[data-testid=logout]').click();
  await row.locator('.dot.off').waitFor();
  await a.ctx.close();
  await b.ctx.close();
});

test('keyboard only: sign in, reach a chat and send; every control is labelled', async () => {
  const reg = await fetch(srv.url + '/app/v1/register', { method: 'POST', body: JSON.stringify({ userName: 'lux', password: 'pass-lux' }) });
  assert.equal((await reg.json()).code, 200);
  const p = await person(browser, srv.url);
  const page = p.page;
  assert.deepEqual(await unlabelled(page), []);
  await register(page, 'kai');
  await page.goto(srv.url + '/#/me');
  await page.locator('[data-testid=logout]').click();
  await page.locator('#auth-submit').waitFor();
  // Tab order of the sign-in form: tabs, user name, password, submit
  await page.locator('#tab-login').focus();
  await page.keyboard.press('Tab');
  await page.keyboard.type('kai');
  await page.keyboard.press('Tab');
  await page.keyboard.type('pass-kai');
  await page.keyboard.press('Enter');
  await page.locator('.rail').waitFor();
  for (const route of ['#/chats', '#/contacts', '#/me', '#/add', '#/new-group', '#/requests', '#/chat/0_kai_lux']) {
    await page.goto(srv.url + '/' + route);
    await page.locator('.list-pane .pane-head').waitFor();
    // views fill in as answers arrive: wait until the page settles labelled
    let bad = [];
    await until(async () => { bad = await unlabelled(page); return bad.length === 0; }, `${route} labelled: ${JSON.stringify(bad)}`).catch(() => {});
    assert.deepEqual(bad, [], route);
  }
  // the chat: the composer has focus, Enter sends
  await page.locator('#composer-input:focus').waitFor();
  await page.keyboard.type('typed, not clicked');
  await page.keyboard.press('Enter');
  // lux is offline: the server keeps it, the tick says "Sent"
  await page.locator('[data-testid=msg].mine').filter({ hasText: 'typed, not clicked' }).locator('[data-status=sent]').waitFor();
  await p.ctx.close();
});
