// Browser tests of the dashboard: a real `trove serve` on 127.0.0.1 over a
// store built with the CLI, driven in Debian's Chromium (headless) through
// playwright-core. Each step is what an operator does: log in with the admin
// token; upload an offers CSV with one bad row (rejected with its line,
// the good rows imported); block an offer a user is recommended and see it
// leave /v1/recommendations; open the A/B results and see the charts drawn;
// roll back a model and see the serving version change. A screenshot of
// every page goes to $TROVE_BROWSER_OUT (the build dir's
// browser-screenshots/).
//
// Environment (set by tests/browser.cmake): TROVE_BIN, TROVE_SOURCE_DIR,
// TROVE_BROWSER_OUT; TROVE_CHROMIUM overrides /usr/bin/chromium. Exits 77
// (skipped) when Chromium is not installed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, chromium, makeStore, startServer } from './world.mjs';

const bin = process.env.TROVE_BIN;
const root = process.env.TROVE_SOURCE_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = process.env.TROVE_BROWSER_OUT ?? path.resolve('browser-screenshots');
const TOKEN = 'browser-test-token';

if (!existsSync(CHROMIUM)) {
  console.log(`skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);
  process.exit(77);
}
if (!bin) throw new Error('TROVE_BIN is not set');

let dir, server, browser, page;

async function api(method, p, body) {
  const res = await fetch(server.url + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

async function shot(name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/* Open a dashboard page and wait until it has rendered (or failed). */
async function open(p) {
  await page.goto(server.url + p);
  await page.waitForSelector('.page[data-ready]', { timeout: 15000 });
  const ready = await page.getAttribute('.page', 'data-ready');
  assert.equal(ready, '1', `page ${p} failed: ${await page.textContent('.page')}`);
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'trove-browser-'));
  const store = makeStore({ bin, root, dir, cycles: 3 });
  server = await startServer({ bin, root, store, token: TOKEN });
  const pw = await chromium(root);
  browser = await pw.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('serves the dashboard with cache headers and gzip', async () => {
  const index = await fetch(`${server.url}/`, { headers: { 'Accept-Encoding': 'identity' } });
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(js, 'index.html names its script');
  const asset = await fetch(server.url + js, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get('content-type'), /^text\/javascript/);
  assert.match(asset.headers.get('cache-control'), /immutable/);
  assert.equal(asset.headers.get('content-encoding'), 'gzip');
  const route = await fetch(`${server.url}/offers`);
  assert.equal(route.status, 200, 'client-side routes answer index.html');
  assert.equal((await fetch(`${server.url}/assets/missing.js`)).status, 404);
  assert.equal((await fetch(`${server.url}/assets/`)).status, 404);
});

test('logs in with the admin token', async () => {
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#login');
  await shot('login');
  await page.fill('#token', 'not-the-token');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#login .note.error');
  await page.fill('#token', TOKEN);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('.page[data-ready="1"] .market-card');
  assert.equal(await page.textContent('#role'), 'admin');
  const cards = await page.$$eval('.market-card', (els) => els.map((e) => e.dataset.market).sort());
  assert.deepEqual(cards, ['CH', 'DE']);
  await shot('overview');
});

test('uploads offers: the bad row is reported with its line, the good rows imported', async () => {
  await open('/offers');
  const csv = path.join(dir, 'new-offers.csv');
  writeFileSync(csv, [
    'id,title,active,pinned,blocked,start,end,category',
    'WEB-1,Browser test burger,1,0,0,,,burger',
    'WEB-2,Browser test coffee,1,0,0,,,coffee',
    ',An offer without an id,1,0,0,,,salad',
    'WEB-3,Browser test dessert,1,0,0,,,dessert',
  ].join('\n') + '\n');
  await page.setInputFiles('#csv-file', csv);
  await page.waitForSelector('#upload-result .upload-report[data-dry-run="1"]');
  assert.equal(await page.textContent('#accepted-count'), '3');
  assert.equal(await page.textContent('#rejected-count'), '1');
  const rejected = await page.$$eval('#rejected-table tbody tr', (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0][0], '4', 'the rejected row is line 4 of the file');
  let items = await api('GET', '/v1/items?q=WEB-');
  assert.equal(items.total, 0, 'the preview writes nothing');
  await shot('offers-upload-preview');
  await page.click('#import');
  await page.waitForSelector('#upload-result .upload-report[data-dry-run="0"]');
  items = await api('GET', '/v1/items?q=WEB-');
  assert.deepEqual(items.items.map((i) => i.id).sort(), ['WEB-1', 'WEB-2', 'WEB-3']);
  await shot('offers-upload-imported');
});

test('blocking an offer takes it out of /v1/recommendations', async () => {
  const user = 'DE-U000001';
  const recs = await api('GET', `/v1/recommendations?user=${user}&market=DE&n=5`);
  assert.ok(recs.items.length > 0, 'the user has recommendations');
  const top = recs.items[0].item;
  await open(`/offers?q=${encodeURIComponent(top)}`);
  const box = `input.flag-blocked[data-item="${top}"]`;
  await page.waitForSelector(box);
  assert.equal(await page.isChecked(box), false);
  await page.click(box);
  await page.waitForSelector('#offers-status .note.ok');
  const after1 = await api('GET', `/v1/recommendations?user=${user}&market=DE&n=5`);
  assert.ok(!after1.items.some((i) => i.item === top), `${top} is no longer recommended`);
  await shot('offers-blocked');
  await page.click(box);
  await page.waitForSelector('#offers-status .note.ok');
  const after2 = await api('GET', `/v1/recommendations?user=${user}&market=DE&n=5`);
  assert.ok(after2.items.some((i) => i.item === top), `${top} is recommended again`);
  const end = `input.end_ts[data-item="${top}"]`;
  await page.fill(end, '2031-01-01 08:30');
  await page.press(end, 'Enter');
  await page.waitForSelector('#offers-status .note.ok');
  let row = (await api('GET', `/v1/items?q=${encodeURIComponent(top)}`)).items.find((i) => i.id === top);
  assert.equal(row.end_ts, Date.UTC(2031, 0, 1, 8, 30) / 1000, 'the end date was saved');
  await page.fill(end, 'next tuesday');
  await page.press(end, 'Enter');
  await page.waitForSelector('#offers-status .note.error');
  await page.fill(end, '');
  await page.press(end, 'Enter');
  await page.waitForSelector('#offers-status .note.ok');
  row = (await api('GET', `/v1/items?q=${encodeURIComponent(top)}`)).items.find((i) => i.id === top);
  assert.ok(!row.end_ts, 'the end date was cleared');
  await open('/offers');
  await shot('offers');
});

test('sorts the offers table by a column, server-side, and reverses on a second click', async () => {
  await open('/offers');
  const titles = () => page.$$eval('#offers-table tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
  /* the server's order: ASCII case-insensitive, byte by byte */
  const cmp = (a, b) => { a = a.toLowerCase(); b = b.toLowerCase(); return a < b ? -1 : a > b ? 1 : 0; };
  const inOrder = (xs, dir) => xs.every((x, i) => i === 0 || dir * cmp(xs[i - 1], x) <= 0);
  await page.click('button[data-sort="title"]');
  await page.waitForSelector('th[aria-sort="ascending"] button[data-sort="title"]');
  const up = await titles();
  assert.ok(up.length > 1 && inOrder(up, 1), `ascending titles: ${up.slice(0, 5)}`);
  const first = (await api('GET', '/v1/items?sort=title&limit=1')).items[0];
  assert.equal(up[0], first.title, 'the first row is the first title of the whole catalog');
  await page.click('button[data-sort="title"]');
  await page.waitForSelector('th[aria-sort="descending"] button[data-sort="title"]');
  const down = await titles();
  assert.ok(inOrder(down, -1), `descending titles: ${down.slice(0, 5)}`);
  assert.match(page.url(), /sort=-title/);
  await shot('offers-sorted');
});

/* Chart.js draws into a canvas: count the pixels that are not transparent. */
async function inkedPixels(id) {
  await page.waitForFunction((i) => document.getElementById(i)?.dataset.points, id);
  return page.$eval(`#${id}`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
}

test('A/B results: rates, lift with intervals and the cumulative chart', async () => {
  await open('/ab?market=DE');
  const rows = await page.$$eval('#cycles-table tbody tr', (r) => r.length);
  assert.equal(rows, 3, 'one row per cycle');
  assert.ok(Number(await page.getAttribute('#lift-chart', 'data-points')) >= 3);
  assert.ok(await inkedPixels('lift-chart') > 1000, 'the lift chart is drawn');
  assert.ok(await inkedPixels('rates-chart') > 1000, 'the rates chart is drawn');
  await shot('ab');
  await open('/coverage?market=DE');
  assert.ok(await inkedPixels('coverage-chart') > 500, 'the coverage chart is drawn');
  await shot('coverage');
});

test('rolls back a model and the serving version changes', async () => {
  await open('/models?market=DE');
  const before1 = Number((await page.getAttribute('.serving', 'data-serving')));
  assert.ok(before1 >= 2, 'there is a version to go back to');
  await shot('models');
  await page.click('button.rollback[data-market="DE"]');
  await page.waitForSelector('#models-status .note.ok');
  const after1 = Number(await page.getAttribute('.serving', 'data-serving'));
  assert.ok(after1 < before1, `serving v${after1} after rolling back from v${before1}`);
  const models = await api('GET', '/v1/models');
  assert.equal(models.markets.find((m) => m.market === 'DE').serving_version, after1);
  const recs = await api('GET', '/v1/recommendations?user=DE-U000002&market=DE&n=3');
  assert.equal(recs.model_version, after1, 'recommendations come from the older model');
  await shot('models-rolled-back');
});

test('monitoring page renders what the server has', async () => {
  await open('/monitoring?market=DE');
  const text = await page.textContent('.page');
  assert.ok(/Monitoring/.test(text));
  await shot('monitoring');
});

test('read-only views without the token when the server runs with --public-read', async () => {
  const ro = await startServer({ bin, root, store: path.join(dir, 'store.db'), token: TOKEN,
    extra: ['--public-read'] });
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const p = await ctx.newPage();
  try {
    await p.goto(`${ro.url}/`);
    await p.waitForSelector('.page[data-ready="1"] .market-card');
    assert.equal(await p.textContent('#role'), 'read-only');
    await p.goto(`${ro.url}/offers`);
    await p.waitForSelector('.page[data-ready="1"] #offers-table');
    assert.equal(await p.$('#upload'), null, 'no upload without the token');
    assert.ok(await p.$eval('input.flag-blocked', (e) => e.disabled), 'switches are disabled');
    await p.goto(`${ro.url}/models`);
    await p.waitForSelector('.page[data-ready="1"]');
    assert.equal(await p.$('button.rollback'), null, 'no rollback without the token');
    await p.screenshot({ path: path.join(shots, 'models-read-only.png'), fullPage: true });
  } finally {
    await ctx.close();
    await ro.stop();
  }
});

test('the server stops cleanly (no sanitizer report in the ASan build)', async () => {
  await browser.close();
  browser = null;
  const code = await server.stop();
  const log = server.log();
  server = null;
  assert.equal(code, 0, `trove serve exited with ${code}: ${log.slice(-2000)}`);
});
