// Test harness: one real petreld per test file, on free loopback ports with a
// temporary data dir (the browser-test twin of tests/integration/conftest.py).
// It serves the repository's web/ folder, can be stopped and started again on
// the same ports and data (the restart scenario), and can sign admin tokens
// with the `petrel sign` CLI for the few admin calls a test needs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, readFileSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..', '..');
export const BUILD = process.env.PETREL_BUILD || join(REPO, 'build');
const PETRELD = join(BUILD, 'petreld');
const PETREL = join(BUILD, 'petrel');

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function accepts(port) {
  return new Promise((res) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => { c.destroy(); res(true); });
    c.once('error', () => res(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Petreld {
  constructor(opts = {}) {
    this.flags = opts.flags || [];
    this.dir = mkdtempSync(join(tmpdir(), 'petrel-browser-'));
    this.secret = randomBytes(24).toString('hex');
    this.proc = null;
    this.httpPort = 0;
    this.tcpPort = 0;
    this.log = join(this.dir, 'petreld.stderr');
  }

  get url() { return `http://127.0.0.1:${this.httpPort}`; }

  async start() {
    if (!existsSync(PETRELD)) throw new Error(`petreld not found at ${PETRELD} (make build)`);
    if (!this.httpPort) {
      this.httpPort = await freePort();
      do { this.tcpPort = await freePort(); } while (this.tcpPort === this.httpPort);
    }
    const err = openSync(this.log, 'a');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PETREL_')));
    this.proc = spawn(PETRELD, [
      `--data-dir=${join(this.dir, 'data')}`,
      `--tcp-listen=127.0.0.1:${this.tcpPort}`,
      `--http-listen=127.0.0.1:${this.httpPort}`,
      `--web-root=${join(REPO, 'web')}`,
      `--app-secret=${this.secret}`,
      '--presence-debounce-ms=300',
      ...this.flags,
    ], { stdio: ['ignore', err, err], env });
    const exited = new Promise((r) => this.proc.once('exit', (code) => r(code)));
    this.exited = exited;
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) break;
      if (await accepts(this.httpPort) && await accepts(this.tcpPort)) return this;
      await sleep(30);
    }
    throw new Error(`petreld did not start: ${this.tail()}`);
  }

  tail() {
    try { return readFileSync(this.log, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }

  async destroy() {
    await this.stop();
    if (!process.env.PETREL_KEEP_DATA) rmSync(this.dir, { recursive: true, force: true });
  }

  sign(user) {
    return execFileSync(PETREL, ['sign', '--secret', this.secret, '--user', user, '--ttl', '3600'],
      { encoding: 'utf8' }).trim();
  }

  // An admin REST call (settings no user may change, and the fixtures below).
  async admin(path, body) {
    const q = `appId=10000&identifier=admin&userSign=${encodeURIComponent(this.sign('admin'))}`;
    const r = await fetch(`${this.url}/v1/${path}?${q}`, { method: 'POST', body: JSON.stringify(body || {}) });
    return r.json();
  }

  // Fixtures, so that a test sets up what it needs itself instead of relying
  // on what an earlier test left behind: an app-server account (password
  // 'pass-' + name, as the UI helpers use) ...
  async user(name) {
    const r = await fetch(`${this.url}/app/v1/register`, { method: 'POST',
      body: JSON.stringify({ userName: name, password: 'pass-' + name }) });
    const d = await r.json();
    if (d.code !== 200) throw new Error(`register ${name}: ${JSON.stringify(d)}`);
    return name;
  }

  // ... a friendship both ways ...
  async friends(a, b) {
    for (const [x, y] of [[a, b], [b, a]]) {
      const r = await this.admin('friendship/importFriendShip', { fromId: x, friendItem: [{ toId: y }] });
      if (r.code !== 200 || !r.data.successId.includes(y)) throw new Error(`friends ${x}→${y}: ${JSON.stringify(r)}`);
    }
  }

  // ... and a message sent by the server on someone's behalf.
  async message(fromId, toId, content, messageId = `${fromId}-${toId}-${Math.random().toString(36).slice(2)}`) {
    const r = await this.admin('message/send', { fromId, toId, messageId, messageBody: { type: 1, content } });
    if (r.code !== 200) throw new Error(`message/send: ${JSON.stringify(r)}`);
    return r.data;
  }
}
