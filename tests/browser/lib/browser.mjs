// Browser side of the tests: launches Debian's chromium through
// playwright-core, opens pages on the test server, and drives the app the way
// a user does (labels, roles, visible text). Console errors and page errors
// are collected per page so a test can assert the app stayed clean.
// Screenshots go to tests/browser/artifacts/ (git-ignored).
import { afterEach } from 'node:test';
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = process.env.PETREL_ARTIFACTS || join(here, '..', 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

// One time budget for every wait: PETREL_SLOW (a factor, default 1) scales
// it for a loaded or slow machine. Tests derive their waits from T.
export const SLOW = Math.max(1, Number(process.env.PETREL_SLOW) || 1);
export const T = 15000 * SLOW;

// Poll fn() until it returns a truthy value (returned), or fail after ms.
export async function until(fn, what = 'condition', ms = T) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const DESKTOP = { width: 1200, height: 780 };
export const PHONE = { width: 390, height: 780 };

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

// A fresh browser context (its own sessionStorage: a separate "person").
export async function person(browser, baseUrl, opts = {}) {
  const ctx = await browser.newContext({
    viewport: opts.viewport || DESKTOP, locale: opts.locale || 'en-US',
    deviceScaleFactor: 1, isMobile: !!opts.mobile, hasTouch: !!opts.mobile,
  });
  ctx.setDefaultTimeout(opts.timeout || T);
  ctx.setDefaultNavigationTimeout(opts.timeout || T);
  return { ctx, page: await openPage(ctx, baseUrl) };
}

// Every open page, so that a failed test leaves a screenshot of each (and
// their URLs and console errors in the log) for whoever reads the failure.
const openPages = new Set();
afterEach(async (t) => {
  if (t.passed !== false) return;
  const slug = String(t.name).replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  let i = 0;
  for (const page of openPages) {
    if (page.isClosed()) { openPages.delete(page); continue; }
    i++;
    try {
      await page.screenshot({ path: join(ARTIFACTS, `FAILED-${slug}-${i}.png`), timeout: 5000 });
      console.error(`# failed "${t.name}": page ${i} at ${page.url()}, errors: ${JSON.stringify(page.errors)}`);
    } catch { /* the page may be gone */ }
  }
});

export async function openPage(ctx, baseUrl) {
  const page = await ctx.newPage();
  openPages.add(page);
  page.on('close', () => openPages.delete(page));
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.goto(baseUrl + '/');
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png') });
}

// A person already signed in as an existing user (made with srv.user()).
export async function signedIn(browser, baseUrl, name, opts) {
  const p = await person(browser, baseUrl, opts);
  await login(p.page, name);
  return p;
}

export async function register(page, name, password = 'pass-' + name) {
  await page.getByRole('tab', { name: /create account|注册/i }).click();
  await page.getByLabel(/^user name|^用户名/i).fill(name);
  await page.getByLabel(/^password$|^密码$/i).fill(password);
  await page.getByLabel(/repeat password|确认密码/i).fill(password);
  await page.locator('#auth-submit').click();
  await page.locator('.rail').waitFor();
}

export async function login(page, name, password = 'pass-' + name) {
  await page.getByRole('tab', { name: /sign in|登录/i }).click();
  await page.getByLabel(/^user name|^用户名/i).fill(name);
  await page.getByLabel(/^password$|^密码$/i).fill(password);
  await page.locator('#auth-submit').click();
  await page.locator('.rail').waitFor();
}

// a adds b through the UI. With approval (b asked for it on the Me page) b
// accepts the request; without, the friendship is made at once.
export async function befriend(a, b, bName, { approval = true } = {}) {
  await a.goto(a.url().split('#')[0] + '#/add');
  await a.getByLabel(/search people|搜索用户/i).fill(bName);
  await a.getByRole('button', { name: /^search$|^搜索$/i }).click();
  await a.locator(`[data-testid=search-result][data-user="${bName}"]`).getByRole('button', { name: /^add$|^添加$/i }).click();
  await a.getByRole('dialog').getByRole('button', { name: /^add$|^添加$/i }).click();
  // the result row keeps the outcome (a toast says it too, but goes away)
  const row = a.locator(`[data-testid=search-result][data-user="${bName}"]`);
  if (!approval) {
    await row.locator('[data-testid=add-result][data-added=friend]').waitFor();
    return;
  }
  await row.locator('[data-testid=add-result][data-added=requested]').waitFor();
  await b.goto(b.url().split('#')[0] + '#/requests');
  const req = b.locator('[data-testid=request]').first();
  await req.getByRole('button', { name: /accept|同意/i }).click();
  await req.getByText(/accepted|已同意/i).waitFor();
}

export async function openChatWith(page, peer) {
  await page.goto(page.url().split('#')[0] + '#/friend/' + encodeURIComponent(peer));
  await page.locator('[data-testid=send-message]').click();
  await page.locator('#composer-input').waitFor();
}

// Open a conversation by its id (each test starts from a known page).
export async function inChat(page, conv) {
  await page.goto(page.url().split('#')[0] + '#/chat/' + encodeURIComponent(conv));
  await page.locator('#composer-input').waitFor();
}

export async function send(page, text) {
  await page.locator('#composer-input').fill(text);
  await page.keyboard.press('Enter');
}

export function bubbles(page) {
  return page.locator('[data-testid=messages] [data-testid=bubble]');
}

export async function texts(page) {
  return bubbles(page).allTextContents();
}

// Form controls and buttons without an accessible name on the current page
// (a label, aria-label(ledby), or text): each one is a keyboard/screen-reader
// user's dead end.
export async function unlabelled(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href], [role=tab]')) {
      if (el.type === 'hidden' || el.closest('[hidden]') || !el.getClientRects().length) continue;
      const name = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby'))?.textContent.trim())
        || (el.labels && [...el.labels].map((l) => l.textContent.trim()).join(' ').trim())
        || (['BUTTON', 'A'].includes(el.tagName) || el.getAttribute('role') === 'tab' ? el.textContent.trim() : '')
        || (el.title || '').trim();
      if (!name) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
}
