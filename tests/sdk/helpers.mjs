// Test helpers for the SDK tests: start a real petreld (mirrors
// tests/integration/conftest.py: free loopback ports, a temporary data dir, a
// known app secret), make userSign tokens (docs/PROTOCOL.md), and small async
// waiting utilities. Node 20 needs --experimental-websocket for WebSocket.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync, openSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

import { PetrelClient, createRest } from '../../web/sdk/petrel.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../..');
const BUILD = path.resolve(ROOT, process.env.PETREL_BUILD || 'build');
export const PETRELD = path.join(BUILD, 'petreld');
export const APP_ID = 10000;

if (typeof globalThis.WebSocket !== 'function') {
  throw new Error('no global WebSocket: run the SDK tests with node --experimental-websocket --test tests/sdk/');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One time budget for every wait, scaled by PETREL_SLOW (a factor, default
// 1) on a slow or loaded machine. Waits for a condition use T; the few
// fixed pauses (checking that nothing more arrives) use settle().
export const SLOW = Math.max(1, Number(process.env.PETREL_SLOW) || 1);
export const T = 10000 * SLOW;
export const settle = (ms = 300) => sleep(ms * SLOW);

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    const done = (ok) => { c.destroy(); resolve(ok); };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(500, () => done(false));
  });
}

/** A userSign token (zlib + base64 with +/= → *-_). */
export function makeToken(secret, user, { appId = APP_ID, ttl = 3600, issued } = {}) {
  const iss = issued ?? Math.floor(Date.now() / 1000);
  const msg = `TLS.identifier:${user}\nTLS.appId:${appId}\nTLS.expireTime:${iss}\nTLS.expire:${ttl}\n`;
  const sig = createHmac('sha256', Buffer.from(secret, 'utf8')).update(msg, 'utf8').digest('base64');
  const doc = JSON.stringify({ 'TLS.identifier': user, 'TLS.appId': appId, 'TLS.expire': ttl,
    'TLS.expireTime': iss, 'TLS.sig': sig });
  return deflateSync(Buffer.from(doc, 'utf8')).toString('base64')
    .replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

/** One petreld process; restartable on the same ports and data dir. */
export class Server {
  constructor({ secret, dataDir, flags = [] } = {}) {
    this.secret = secret || 'sdk-secret-' + randomBytes(8).toString('hex');
    this.ownDir = !dataDir;
    this.dataDir = dataDir || mkdtempSync(path.join(os.tmpdir(), 'petrel-sdk-'));
    this.flags = flags;
    this.proc = null;
    this.imported = new Set();
  }

  get baseUrl() { return `http://127.0.0.1:${this.httpPort}`; }

  async start({ httpPort, tcpPort } = {}) {
    if (!existsSync(PETRELD)) throw new Error(`petreld not found at ${PETRELD} (make build, or set PETREL_BUILD)`);
    this.httpPort = httpPort || this.httpPort || await freePort();
    this.tcpPort = tcpPort || this.tcpPort || await freePort();
    while (this.tcpPort === this.httpPort) this.tcpPort = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PETREL_')));
    const argv = [`--data-dir=${this.dataDir}`, `--tcp-listen=127.0.0.1:${this.tcpPort}`,
      `--http-listen=127.0.0.1:${this.httpPort}`, `--app-secret=${this.secret}`,
      `--web-root=${path.join(ROOT, 'web')}`, ...this.flags];
    const err = openSync(path.join(this.dataDir, 'petreld.stderr'), 'a');
    this.proc = spawn(PETRELD, argv, { env, stdio: ['ignore', 'ignore', err] });
    const proc = this.proc;
    let exited = null;
    proc.once('exit', (code) => { exited = code; });
    const deadline = Date.now() + 2 * T;
    while (Date.now() < deadline) {
      if (exited !== null) throw new Error(`petreld exited during start-up with ${exited}`);
      if (await portAccepts(this.httpPort) && await portAccepts(this.tcpPort)) return this;
      await sleep(20);
    }
    proc.kill('SIGKILL');
    throw new Error(`petreld did not start within ${2 * T} ms`);
  }

  /** SIGTERM and wait; returns the exit code. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode) { this.proc = null; return p ? p.exitCode : null; }
    const done = new Promise((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    const code = await done;
    clearTimeout(t);
    this.proc = null;
    return code;
  }

  async dispose() {
    await this.stop();
    if (this.ownDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  token(user, opts) { return makeToken(this.secret, user, opts); }

  rest(user = 'admin') {
    return createRest({ baseUrl: this.baseUrl, appId: APP_ID, userId: user, userSign: this.token(user) });
  }

  async ensureUsers(users) {
    const todo = users.filter((u) => !this.imported.has(u));
    if (!todo.length) return;
    const r = await this.rest('admin').importUser(todo.map((u) => ({ userId: u, nickName: u })));
    for (const u of r.successId) this.imported.add(u);
    for (const u of todo) this.imported.add(u); // errorId: already there
  }

  /** A PetrelClient for user (imported first), not yet connected. */
  async client(user, opts = {}) {
    await this.ensureUsers([user]);
    return new PetrelClient({ baseUrl: this.baseUrl, appId: APP_ID, userId: user,
      userSign: this.token(user), ...opts });
  }
}

/** Resolve with the next `name` event matching pred, or reject after ms. */
export function nextEvent(em, name, { pred = () => true, ms = T } = {}) {
  return new Promise((resolve, reject) => {
    const fn = (d) => {
      if (!pred(d)) return;
      clearTimeout(t);
      em.off(name, fn);
      resolve(d);
    };
    const t = setTimeout(() => { em.off(name, fn); reject(new Error(`timeout waiting for ${name}`)); }, ms);
    em.on(name, fn);
  });
}

/** Poll cond() until true, or throw after ms. */
export async function waitFor(cond, { ms = T, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(20);
  }
  throw new Error(`timeout waiting for ${what}`);
}

/** Record every `message` event of a client. */
export function collect(client, name = 'message') {
  const list = [];
  client.on(name, (m) => list.push(m));
  return list;
}

/** A TCP listener that accepts and never answers (for timeout tests). */
export async function blackHole() {
  const socks = new Set();
  const srv = net.createServer((s) => { socks.add(s); s.on('error', () => {}); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    close: () => new Promise((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
  };
}
