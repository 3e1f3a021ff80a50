// The web client on a three-node cluster (issue #17): three petreld on one
// PostgreSQL database and one Redis (lib/cluster.mjs), each serving the web
// client on its own port. alice signs in on node 1, bob on node 2, and a
// second device of alice (another browser context) on node 3. They chat;
// every push crosses nodes over the Redis bus: bob sees alice's message,
// alice sees bob's answer and the read receipt, and alice's node 3 page
// shows the whole conversation live (the sync copy of what she sent on
// node 1, bob's answer) without a reload. bob sees alice online, and
// offline once both her pages are closed. Before that, as every file's first
// test does, two people register (on nodes 1 and 2) and befriend by a
// request through the UI: the request and its acceptance cross nodes too.
// Skipped when PostgreSQL or Redis is not installed (make deps-test).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, clusterMissing } from './lib/cluster.mjs';
import { launch, person, register, befriend, signedIn, inChat, send, texts, shot, until, T, SLOW } from './lib/browser.mjs';

const cleanErrors = (p) => p.errors.filter((e) => !/Failed to load resource/.test(e));

describe('three nodes', { skip: clusterMissing() || false }, () => {
  let cl, browser, n1, n2, n3, failed = false;

  before(async () => {
    cl = new Cluster();
    await cl.start(3);
    [n1, n2, n3] = cl.nodes;
    // every node has joined and sees the other two
    await cl.healthy(3, T);
    browser = await launch();
  });

  afterEach((t) => { if (t.passed === false) failed = true; });

  after(async () => {
    await browser?.close();
    if (failed && cl) console.error(cl.logs());
    const problems = await cl?.destroy();
    assert.deepEqual(problems || [], [], 'every node ran to the end and stopped cleanly');
  });

  test('register on two nodes and befriend by request across them', async () => {
    const C = await person(browser, n1.url);
    const D = await person(browser, n2.url);
    const c = C.page, d = D.page;
    await register(c, 'carol');
    await register(d, 'dave');
    // dave approves requests; carol's request (node 1) reaches him on node 2
    await d.goto(n2.url + '/#/me');
    await d.getByLabel(/ask me before/i).check();
    await d.getByRole('button', { name: 'Save' }).click();
    await d.locator('[data-testid=saved][data-form=profile]').waitFor();
    await d.goto(n2.url + '/#/chats');
    await befriend(c, d, 'dave');
    // his acceptance reaches her on node 1: dave in her contacts, online
    await c.goto(n1.url + '/#/contacts');
    await c.locator('[data-testid=friend][data-user=dave] .dot.on').waitFor();
    await d.goto(n2.url + '/#/contacts');
    await d.locator('[data-testid=friend][data-user=carol] .dot.on').waitFor();
    await shot(c, 'cluster-node1-carol-contacts');
    assert.deepEqual(cleanErrors(c), []);
    assert.deepEqual(cleanErrors(d), []);
    await C.ctx.close();
    await D.ctx.close();
  });

  test('alice on node 1 and bob on node 2 chat; alice on node 3 sees the sync copies live', async () => {
    // accounts made on different nodes: the store is one database
    await n1.user('alice');
    await n2.user('bob');
    await n3.friends('alice', 'bob');

    const [A1, B, A3] = await Promise.all([
      signedIn(browser, n1.url, 'alice'), signedIn(browser, n2.url, 'bob'), signedIn(browser, n3.url, 'alice')]);
    // each page is connected to the node that served it: one device on each
    await until(async () => (await cl.health()).every((h) => h && h.onlineDevices === 1),
      'one online device on each node');
    const a1 = A1.page, b = B.page, a3 = A3.page;
    await inChat(a1, '0_alice_bob');
    await inChat(b, '0_bob_alice');
    await inChat(a3, '0_alice_bob');

    // presence across nodes: bob (node 2) sees alice (nodes 1 and 3) online
    // in the chat's header (and, once they have talked, by her row in his
    // conversation list)
    await b.locator('[data-testid=chat-sub]').filter({ hasText: /^Online/ }).waitFor();

    // alice (node 1) -> bob (node 2)
    await send(a1, 'hello bob, from node 1');
    const mine = a1.locator('[data-testid=msg]').filter({ hasText: 'hello bob, from node 1' });
    await b.locator('[data-testid=bubble]').filter({ hasText: 'hello bob, from node 1' }).waitFor();
    // bob has the chat open: his read receipt reaches node 1
    await mine.locator('[data-testid=status][data-status=read]').waitFor();

    // bob (node 2) -> alice (node 1)
    await send(b, 'hi alice, node 2 here 你好');
    await a1.locator('[data-testid=bubble]').filter({ hasText: 'hi alice, node 2 here 你好' }).waitFor();
    await b.locator('[data-testid=msg]').filter({ hasText: 'hi alice, node 2 here' })
      .locator('[data-testid=status][data-status=read]').waitFor();

    // alice's third device (node 3) got both, live: her own as the sync
    // copy (shown as hers), bob's as received, in order
    await a3.locator('[data-testid=msg].mine').filter({ hasText: 'hello bob, from node 1' }).waitFor();
    await a3.locator('[data-testid=msg]:not(.mine)').filter({ hasText: 'hi alice, node 2 here 你好' }).waitFor();

    const want = ['hello bob, from node 1', 'hi alice, node 2 here 你好'];
    assert.deepEqual(await texts(a1), want);
    assert.deepEqual(await texts(b), want);
    assert.deepEqual(await texts(a3), want);
    for (const p of [a1, b, a3]) {
      assert.ok(await p.locator('.conn-banner').isHidden(), `no connection banner on ${p.url()}`);
      assert.deepEqual(cleanErrors(p), [], `console errors on ${p.url()}`);
    }
    const row = b.locator('[data-testid=conv][data-peer=alice]');
    await row.locator('.dot.on').waitFor();
    await shot(a1, 'cluster-node1-alice');
    await shot(b, 'cluster-node2-bob');
    await shot(a3, 'cluster-node3-alice');

    // alice closes both pages: bob sees her offline
    await A1.ctx.close();
    // node 3 still has her: she stays online (an absence: a pause; alice's
    // first page going away is announced within the presence debounce, 300 ms)
    await b.waitForTimeout(1000 * SLOW);
    assert.match(await b.locator('[data-testid=chat-sub]').textContent(), /^Online/,
      'alice still has a device on node 3');
    await A3.ctx.close();
    await b.locator('[data-testid=chat-sub]').filter({ hasText: /^Offline/ }).waitFor();
    await row.locator('.dot.off').waitFor();
    await shot(b, 'cluster-node2-bob-alice-offline');
    assert.deepEqual(cleanErrors(b), []);
    await B.ctx.close();
  });
});
