// One-to-one chat in the browser against a real petreld: two users register,
// befriend through a request (bob requires approval), chat both ways with
// status ticks, the read receipt appears, a message is recalled, a second tab
// of the same user stays in sync, and the page recovers from a server
// restart without losing or duplicating messages.
// The first test goes through the UI from nothing; every later test makes
// its own users, friendships and messages with the server fixtures, so none
// depends on what another left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Petreld } from './lib/server.mjs';
import {
  launch, person, openPage, register, login, signedIn, befriend, openChatWith, inChat, send, texts, shot, bubbles, PHONE, T, SLOW,
} from './lib/browser.mjs';

let srv, browser, alice, bob;

const cleanErrors = (p) => p.errors.filter((e) => !/Failed to load resource/.test(e));

before(async () => {
  srv = await new Petreld().start();
  browser = await launch();
  alice = await person(browser, srv.url);
  bob = await person(browser, srv.url);
});

after(async () => {
  await browser?.close();
  await srv?.destroy();
});

test('register, befriend through a request, chat both ways with status ticks and read receipt', async () => {
  const a = alice.page, b = bob.page;
  await shot(a, 'login-desktop');
  await register(a, 'alice');
  await register(b, 'bob');

  // bob wants to approve friend requests
  await b.goto(srv.url + '/#/me');
  await b.getByLabel(/ask me before/i).check();
  await b.getByRole('button', { name: 'Save' }).click();
  await b.locator('[data-testid=saved][data-form=profile]').waitFor();

  await befriend(a, b, 'bob');
  await shot(b, 'requests-accepted');
  await a.goto(srv.url + '/#/contacts');
  await a.locator('[data-testid=friend][data-user=bob]').waitFor();
  // bob is online: a green dot on alice's contact list
  await a.locator('[data-testid=friend][data-user=bob] .dot.on').waitFor();

  await b.goto(srv.url + '/#/chats');
  await openChatWith(a, 'bob');
  await send(a, 'hello bob');
  const mine = a.locator('[data-testid=msg]').filter({ hasText: 'hello bob' });
  await mine.locator('[data-testid=status][data-status=delivered]').waitFor();

  // bob sees an unread badge in his conversation list
  const conv = b.locator('[data-testid=conv][data-peer=alice]');
  await conv.locator('[data-testid=unread]').filter({ hasText: '1' }).waitFor();
  await shot(b, 'conversation-list-unread');

  // bob opens it: alice sees "Read"
  await conv.click();
  await b.locator('[data-testid=bubble]').filter({ hasText: 'hello bob' }).waitFor();
  await mine.locator('[data-testid=status][data-status=read]').waitFor();
  await conv.locator('[data-testid=unread]').waitFor({ state: 'detached' });

  await send(b, 'hi alice 你好 👋');
  await a.locator('[data-testid=bubble]').filter({ hasText: 'hi alice 你好 👋' }).waitFor();
  // alice has the chat open and visible: bob's message turns "Read" at once
  await b.locator('[data-testid=msg]').filter({ hasText: 'hi alice' }).locator('[data-status=read]').waitFor();
  assert.deepEqual(await texts(a), ['hello bob', 'hi alice 你好 👋']);
  assert.deepEqual(await texts(b), ['hello bob', 'hi alice 你好 👋']);
  await shot(a, 'chat-desktop-alice');
  await shot(b, 'chat-desktop-bob');
  assert.deepEqual(cleanErrors(a), []);
  assert.deepEqual(cleanErrors(b), []);
});

// Two signed-in people who are friends, each with the chat open.
async function pair(a, b, opts = {}) {
  await srv.user(a);
  await srv.user(b);
  await srv.friends(a, b);
  const pa = await signedIn(browser, srv.url, a, opts.a);
  const pb = await signedIn(browser, srv.url, b, opts.b);
  await inChat(pa.page, `0_${a}_${b}`);
  await inChat(pb.page, `0_${b}_${a}`);
  return [pa, pb];
}

test('after a reload my messages still say Read (peerReadSequence); my own sends are not unread', async () => {
  const [ra, sb] = await pair('rita', 'sam');
  const a = ra.page, b = sb.page;
  await send(a, 'read before the reload');
  const read = a.locator('[data-testid=msg]').filter({ hasText: 'read before the reload' });
  await read.locator('[data-status=read]').waitFor();
  // sam looks elsewhere: the next one is delivered, not read
  await b.goto(srv.url + '/#/contacts');
  await send(a, 'not read before the reload');
  const unread = a.locator('[data-testid=msg]').filter({ hasText: 'not read before the reload' });
  await unread.locator('[data-status=delivered]').waitFor();

  await a.reload();
  await unread.waitFor();
  await read.locator('[data-testid=status][data-status=read]').waitFor();
  assert.equal(await unread.locator('[data-testid=status]').getAttribute('data-status'), 'sent',
    'after a reload the peer has not read it: Sent');
  await shot(a, 'chat-after-reload');
  // nothing of mine counts as unread (the server moved my read pointer)
  await a.goto(srv.url + '/#/chats');
  const row = a.locator('[data-testid=conv][data-peer=sam]');
  await row.filter({ hasText: 'not read before the reload' }).waitFor();
  assert.equal(await row.locator('[data-testid=unread]').count(), 0);
  // sam reads it now: rita's tick turns Read live
  await inChat(a, '0_rita_sam');
  await inChat(b, '0_sam_rita');
  await unread.locator('[data-status=read]').waitFor();
  await ra.ctx.close();
  await sb.ctx.close();
});

test('recall removes the message on both sides', async () => {
  const [ta, ub] = await pair('tara', 'uli');
  const a = ta.page, b = ub.page;
  await send(a, 'oops wrong chat');
  const msg = a.locator('[data-testid=msg]').filter({ hasText: 'oops wrong chat' });
  await msg.locator('[data-status=read]').waitFor();
  await b.locator('[data-testid=bubble]').filter({ hasText: 'oops wrong chat' }).waitFor();
  await msg.hover();
  await msg.locator('[data-testid=recall]').click();
  await a.locator('[data-testid=recalled]').filter({ hasText: 'You recalled a message' }).waitFor();
  await b.locator('[data-testid=recalled]').waitFor();
  assert.equal(await b.locator('[data-testid=bubble]').filter({ hasText: 'oops wrong chat' }).count(), 0);
  assert.equal(await a.locator('[data-testid=bubble]').filter({ hasText: 'oops wrong chat' }).count(), 0);
  await shot(b, 'recalled-bob');
  await ta.ctx.close();
  await ub.ctx.close();
});

test('a second tab of the same user stays in sync', async () => {
  const [va, wb] = await pair('vera', 'walt');
  const a = va.page, b = wb.page;
  await send(b, 'hi vera');
  await a.locator('[data-testid=bubble]').filter({ hasText: 'hi vera' }).waitFor();
  const a2 = await openPage(va.ctx, srv.url);
  // a new tab has its own sessionStorage: sign in again
  await login(a2, 'vera');
  await inChat(a2, '0_vera_walt');
  await a2.locator('[data-testid=bubble]').filter({ hasText: 'hi vera' }).waitFor();

  await send(b, 'to both tabs');
  await a.locator('[data-testid=bubble]').filter({ hasText: 'to both tabs' }).waitFor();
  await a2.locator('[data-testid=bubble]').filter({ hasText: 'to both tabs' }).waitFor();

  await send(a2, 'sent from tab two');
  await a.locator('[data-testid=msg].mine').filter({ hasText: 'sent from tab two' }).waitFor();
  await b.locator('[data-testid=bubble]').filter({ hasText: 'sent from tab two' }).waitFor();
  const t1 = await texts(a), t2 = await texts(a2);
  assert.deepEqual(t1, t2);
  assert.deepEqual(t1, ['hi vera', 'to both tabs', 'sent from tab two']);
  await shot(a2, 'second-tab');
  await va.ctx.close();
  await wb.ctx.close();
});

test('the page recovers from a server restart without losing or duplicating messages', async () => {
  const [xa, yb] = await pair('xena', 'yuri');
  const a = xa.page, b = yb.page;
  await send(a, 'before the restart');
  await b.locator('[data-testid=bubble]').filter({ hasText: 'before the restart' }).waitFor();
  const before = await texts(a);
  await srv.stop();
  await a.locator('.conn-banner:not([hidden])').waitFor();
  await shot(a, 'offline-banner');
  // typed while the server is down: queued, shown as sending
  await send(a, 'written while offline');
  await a.locator('[data-testid=msg]').filter({ hasText: 'written while offline' }).locator('[data-status=sending]').waitFor();
  await srv.start();
  await a.locator('.conn-banner').waitFor({ state: 'hidden', timeout: 3 * T });
  await b.locator('.conn-banner').waitFor({ state: 'hidden', timeout: 3 * T });
  await b.locator('[data-testid=bubble]').filter({ hasText: 'written while offline' }).waitFor({ timeout: 2 * T });
  await send(b, 'after the restart');
  await a.locator('[data-testid=bubble]').filter({ hasText: 'after the restart' }).waitFor();
  await send(a, 'and back');
  await b.locator('[data-testid=bubble]').filter({ hasText: 'and back' }).waitFor();
  const want = [...before, 'written while offline', 'after the restart', 'and back'];
  // give any late duplicate a chance to show up (an absence has no event to wait for)
  await a.waitForTimeout(1000 * SLOW);
  assert.deepEqual(await texts(a), want);
  assert.deepEqual(await texts(b), want);
  await shot(a, 'after-restart');
  await xa.ctx.close();
  await yb.ctx.close();
});

test('phone-sized screen: list and chat are usable', async () => {
  await srv.user('zoe');
  await srv.user('abe');
  await srv.friends('zoe', 'abe');
  await srv.message('abe', 'zoe', 'hello zoe');
  await srv.message('zoe', 'abe', 'and back');
  const p = await person(browser, srv.url, { viewport: PHONE, mobile: true });
  await shot(p.page, 'login-phone');
  await login(p.page, 'zoe');
  await p.page.locator('[data-testid=conv][data-peer=abe]').waitFor();
  await shot(p.page, 'chats-phone');
  await p.page.locator('[data-testid=conv][data-peer=abe]').click();
  await bubbles(p.page).filter({ hasText: 'and back' }).waitFor();
  await shot(p.page, 'chat-phone');
  assert.ok(await p.page.locator('#composer-input').isVisible());
  await p.page.getByRole('link', { name: 'Back' }).click();
  await p.page.locator('[data-testid=conv][data-peer=abe]').waitFor();
  await p.page.goto(srv.url + '/#/contacts');
  await p.page.locator('[data-testid=friend][data-user=abe]').waitFor();
  await shot(p.page, 'contacts-phone');
  await p.page.goto(srv.url + '/#/me');
  await shot(p.page, 'me-phone');
  await p.ctx.close();
});

test('history loads on scroll; pinned conversations come first, muted ones are marked', async () => {
  await srv.user('hana');
  await srv.user('dave');
  await srv.user('ivan');
  await srv.message('ivan', 'hana', 'an older chat');
  for (let i = 1; i <= 45; i++) await srv.message('dave', 'hana', 'old message ' + i, 'hist-' + i);
  // a fresh page knows only what the server tells it: one page of history
  const p = await signedIn(browser, srv.url, 'hana');
  const a = p.page;
  const dave = a.locator('[data-testid=conv][data-peer=dave]');
  await dave.locator('[data-testid=unread]').filter({ hasText: '45' }).waitFor();
  await a.locator('[data-testid=conv][data-peer=ivan]').waitFor();
  // the newest conversation is on top until ivan's is pinned
  assert.equal(await a.locator('[data-testid=conv]').first().getAttribute('data-peer'), 'dave');
  await dave.click();
  await a.locator('[data-testid=bubble]').filter({ hasText: /^old message 45$/ }).waitFor();
  const first = await bubbles(a).count();
  assert.ok(first >= 20 && first < 45, `one page first, got ${first}`);
  await a.locator('[data-testid=messages]').evaluate((el) => { el.scrollTop = 0; });
  await a.locator('[data-testid=bubble]').filter({ hasText: /^old message 1$/ }).waitFor();
  const all = await texts(a);
  assert.deepEqual(all, Array.from({ length: 45 }, (_, i) => 'old message ' + (i + 1)));
  await a.getByText('Beginning of the conversation').waitFor();
  await shot(a, 'history-top');

  await a.locator('[data-testid=mute]').click();
  await a.locator('[data-testid=mute][aria-pressed=true]').waitFor();
  await inChat(a, '0_hana_ivan');
  await a.locator('[data-testid=pin]').click();
  await a.locator('[data-testid=pin][aria-pressed=true]').waitFor();
  await a.goto(srv.url + '/#/chats');
  await a.locator('[data-testid=conv]').first().and(a.locator('[data-peer=ivan]')).waitFor();
  await dave.locator('[data-testid=muted]').waitFor();
  await shot(a, 'conversations-pinned-muted');
  // the state is the server's: a reload shows the same order and marks
  await a.reload();
  await a.locator('[data-testid=conv]').first().and(a.locator('[data-peer=ivan]')).waitFor();
  await a.locator('[data-testid=conv][data-peer=dave] [data-testid=muted]').waitFor();
  await p.ctx.close();
});

test('phone: a chat is removed from the list with a visible control, by keyboard, and comes back with a new message', async () => {
  await srv.user('eve');
  await srv.user('finn');
  await srv.user('gus');
  await srv.message('gus', 'finn', 'a chat that stays');
  await srv.message('eve', 'finn', 'hi from eve');
  const p = await signedIn(browser, srv.url, 'finn', { viewport: PHONE, mobile: true });
  const page = p.page;
  const eve = page.locator('[data-testid=conv][data-peer=eve]');
  await eve.click();
  await bubbles(page).filter({ hasText: 'hi from eve' }).waitFor();
  const del = page.locator('[data-testid=delete-chat]');
  assert.ok(await del.isVisible(), 'the control is on screen on a phone');
  assert.equal(await del.getAttribute('aria-label'), 'Remove from list');
  await shot(page, 'chat-phone-remove-control');
  await del.focus();
  await page.keyboard.press('Enter');
  const dlg = page.getByRole('dialog');
  await dlg.getByText('Remove the chat with eve from your list?').waitFor();
  await shot(page, 'chat-phone-remove-confirm');
  await dlg.getByRole('button', { name: 'Remove from list' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/chats$/);
  await page.locator('[data-testid=conv][data-peer=gus]').waitFor();
  await eve.waitFor({ state: 'detached' });
  // the server keeps it removed: a reload does not bring it back
  await page.reload();
  await page.locator('[data-testid=conv][data-peer=gus]').waitFor();
  assert.equal(await eve.count(), 0);
  await shot(page, 'chats-phone-after-remove');
  // a new message does
  await srv.message('eve', 'finn', 'me again');
  await eve.filter({ hasText: 'me again' }).waitFor();
  await p.ctx.close();
});
