// Cluster harness for the browser tests (issue #17): one throw-away
// PostgreSQL (scripts/pg-test-server.sh) with a fresh database, one Redis
// (scripts/redis-test-server.sh) and n petreld nodes (node ids 1..n) sharing
// both and one app secret, each with its own ports and data dir, all on
// loopback. The JavaScript twin of tests/cluster/conftest.py (branch
// cl-tests). Every node is a Petreld (lib/server.mjs), so the fixtures
// srv.user / srv.friends / srv.message work on any of them: the accounts,
// friendships and messages live in the shared database.
//
// Everything lives under one /tmp/petrel-cluster-XXXX directory (mode 711:
// run as root, the script runs PostgreSQL as the postgres user, which must
// reach its data dir there); destroy() stops the processes and removes it
// (PETREL_KEEP_DATA keeps it, with the logs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, chmodSync, rmSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Petreld, REPO, BUILD, freePort } from './server.mjs';

const PG_SCRIPT = join(REPO, 'scripts', 'pg-test-server.sh');
const REDIS_SCRIPT = join(REPO, 'scripts', 'redis-test-server.sh');
// a node silent this long is declared dead (fast, as the cluster tests do)
const HEARTBEAT_MS = 200;
const TIMEOUT_MS = 1500;

function onPath(cmd) {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

function pgCtl() {
  try {
    return readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/pg_ctl`));
  } catch { return false; }
}

// Why the cluster cannot run here (a skip reason), or null when it can.
export function clusterMissing() {
  const miss = [];
  if (!pgCtl()) miss.push('pg_ctl (PostgreSQL server)');
  if (!onPath('psql')) miss.push('psql');
  if (!onPath('redis-server')) miss.push('redis-server');
  if (!onPath('redis-cli')) miss.push('redis-cli');
  if (miss.length) return `needs PostgreSQL and Redis (make deps-test); missing: ${miss.join(', ')}`;
  if (existsSync(join(BUILD, 'petreld'))) {
    const help = execFileSync(join(BUILD, 'petreld'), ['--help'], { encoding: 'utf8' });
    if (!/--redis\b/.test(help)) return `${BUILD}/petreld has no cluster mode (no --redis)`;
  }
  return null;
}

function run(args, what) {
  try {
    return execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 90000 });
  } catch (e) {
    throw new Error(`${what}: ${e.stderr || e.message}`);
  }
}

function tailOf(file, n = 20) {
  try { return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n'); } catch { return ''; }
}

export class Cluster {
  constructor() {
    this.dir = mkdtempSync('/tmp/petrel-cluster-');
    chmodSync(this.dir, 0o711);
    this.pgDir = join(this.dir, 'pg');
    this.redisDir = join(this.dir, 'redis');
    mkdirSync(this.redisDir);
    this.secret = randomBytes(24).toString('hex');
    this.nodes = [];
    this.pgUrl = null;
    this.redisUrl = null;
    this.db = null;
  }

  // PostgreSQL (a fresh database), Redis, then nodes 1..n: node 1 alone
  // first (it migrates the empty database and creates the default app),
  // the others together.
  async start(n = 3) {
    for (let i = 0; ; i++) {            // a free port may be taken meanwhile
      try {
        this.pgUrl = run([PG_SCRIPT, 'start', this.pgDir, String(await freePort())], 'PostgreSQL').trim().split('\n').pop();
        break;
      } catch (e) {
        if (i === 2) throw new Error(`${e.message}\n${tailOf(join(this.pgDir, 'log'))}`);
      }
    }
    const name = 'browser_' + randomBytes(4).toString('hex');
    execFileSync('psql', [`${this.pgUrl}/postgres`, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
    this.db = `${this.pgUrl}/${name}`;
    for (let i = 0; ; i++) {
      try {
        const port = await freePort();
        const url = run([REDIS_SCRIPT, 'start', this.redisDir, String(port)], 'Redis').trim().split('\n').pop();
        // the script's PING may have reached someone else's Redis that took
        // the port meanwhile (ours then failed to bind): ask it for its dir
        const dir = execFileSync('redis-cli', ['-p', String(port), 'config', 'get', 'dir'], { encoding: 'utf8' });
        if (!dir.split('\n').includes(this.redisDir)) {
          run([REDIS_SCRIPT, 'stop', this.redisDir], 'Redis stop');
          throw new Error(`port ${port}: not our redis-server (dir ${JSON.stringify(dir)})`);
        }
        this.redisUrl = url;
        break;
      } catch (e) {
        if (i === 2) throw new Error(`${e.message}\n${tailOf(join(this.redisDir, 'redis.log'))}`);
      }
    }
    for (let id = 1; id <= n; id++) this.nodes.push(await this.node(id));
    await this.nodes[0].start();
    await Promise.all(this.nodes.slice(1).map((x) => x.start()));
    return this;
  }

  async node(id) {
    const x = new Petreld();
    rmSync(x.dir, { recursive: true, force: true });     // lives under this.dir instead
    x.dir = join(this.dir, `node${id}`);
    mkdirSync(x.dir);
    x.log = join(x.dir, 'petreld.stderr');
    x.secret = this.secret;
    x.nodeId = id;
    x.httpPort = await freePort();
    do { x.tcpPort = await freePort(); } while (x.tcpPort === x.httpPort);
    x.flags = [
      `--node-id=${id}`, `--store=${this.db}`, `--redis=${this.redisUrl}`,
      `--node-heartbeat-ms=${HEARTBEAT_MS}`, `--node-timeout-ms=${TIMEOUT_MS}`,
      `--public-tcp=127.0.0.1:${x.tcpPort}`, `--public-ws=127.0.0.1:${x.httpPort}`,
    ];
    return x;
  }

  // Every node's /healthz: [{status, redis, nodesAlive, onlineDevices}]
  // (null: no answer).
  async health() {
    return Promise.all(this.nodes.map(async (x) => {
      try {
        const r = await fetch(`${x.url}/healthz`);
        const d = (await r.json()).data || {};
        return { status: r.status, redis: d.redis, nodesAlive: d.nodesAlive, onlineDevices: d.onlineDevices };
      } catch { return null; }
    }));
  }

  // Wait until every node says it is in a cluster of n live nodes.
  async healthy(n = this.nodes.length, ms = 15000) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
      last = await this.health();
      if (last.every((h) => h && h.status === 200 && h.redis === 'ok' && h.nodesAlive === n)) return;
      if (Date.now() > deadline) throw new Error(`nodes not in a cluster of ${n} after ${ms} ms: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // The tails of every node's log and Redis's (for a failed test).
  logs(n = 40) {
    return this.nodes.map((x) => `---- node ${x.nodeId} (${x.log}) ----\n${tailOf(x.log, n)}`)
      .concat(`---- redis ----\n${tailOf(join(this.redisDir, 'redis.log'), n)}`).join('\n');
  }

  // The problems a run leaves: a node that died on its own or did not exit
  // 0 on SIGTERM (each with the tail of its log).
  async stop() {
    const problems = [];
    for (const x of this.nodes) {
      if (!x.proc) continue;
      if (x.proc.exitCode !== null || x.proc.signalCode !== null) {
        problems.push(`node ${x.nodeId} died during the test (${x.proc.exitCode ?? x.proc.signalCode}):\n${x.tail()}`);
        continue;
      }
      await x.stop();
      if (x.proc.exitCode !== 0) problems.push(`node ${x.nodeId} exited with ${x.proc.exitCode ?? x.proc.signalCode} after SIGTERM:\n${x.tail()}`);
    }
    return problems;
  }

  async destroy() {
    let problems = [];
    try { problems = await this.stop(); } finally {
      if (this.redisUrl) run([REDIS_SCRIPT, 'stop', this.redisDir], 'Redis stop');
      if (this.pgUrl) run([PG_SCRIPT, 'stop', this.pgDir], 'PostgreSQL stop');
      if (!process.env.PETREL_KEEP_DATA) rmSync(this.dir, { recursive: true, force: true });
      else console.error(`# cluster data kept in ${this.dir}`);
    }
    return problems;
  }
}
