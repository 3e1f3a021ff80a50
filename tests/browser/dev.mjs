// Manual dev helper (not a test): start a petreld, sign up users and take
// screenshots of a flow under development. Run: node tests/browser/dev.mjs
import { Petreld } from './lib/server.mjs';
import { launch, person, register, shot } from './lib/browser.mjs';
const srv = await new Petreld().start();
const browser = await launch();
try {
  const a = await person(browser, srv.url);
  const b = await person(browser, srv.url);
  await register(a.page, 'alice');
  await register(b.page, 'bob');
  await a.page.goto(srv.url + '/#/add');
  await a.page.getByLabel(/search people/i).fill('bob');
  await a.page.getByRole('button', { name: /^search$/i }).click();
  await a.page.waitForTimeout(800);
  await shot(a.page, 'dev-search');
  console.log('errors', a.page.errors);
} catch (e) { console.error(e); } finally {
  await browser.close(); await srv.destroy();
}
