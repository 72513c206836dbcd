// Browser test of the object-storage figures of the UI (driven by
// server/tiering_test.go): with storage.object configured and a stream
// partly in the bucket, the list view's Stored cell, the stream view and
// the management page say "On disk X · In bucket Y", and the status page
// shows the bucket, that it answers, what waits for upload and the read
// cache; axe finds nothing serious or critical on the status page.
//
// Env: EDDY_URL; EDDY_STREAM (a stream with cold segments); EDDY_BUCKET
// (the bucket's name); CHROMIUM; SCREENSHOT (path written on failure).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const bucket = process.env.EDDY_BUCKET || '';
const shot = process.env.SCREENSHOT || '/tmp/eddy-object-storage.png';
if (!base) throw new Error('EDDY_URL is not set');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const check = (ok, msg) => { if (!ok) throw new Error(msg); };
const storedRe = /^On disk \d[\d.]* [KMGTP]?B · In bucket \d[\d.]* [KMGTP]?B( · \d[\d.]* [KMGTP]?B waiting for upload)?$/;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const p = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
p.on('pageerror', (e) => log('pageerror:', e.message));

async function go(hash, pageId) {
  await p.evaluate((h) => { location.hash = h; }, hash);
  await p.locator('#' + pageId).waitFor({ state: 'visible', timeout: 10000 });
}

try {
  await p.goto(base + '/', { waitUntil: 'load' });
  const api = await p.evaluate(async () => (await fetch('/api/v1/streams')).json());
  const row = api.find((s) => s.name === stream);
  check(row && row.bucketBytes > 0 && row.localBytes !== undefined, `GET /api/v1/streams: ${JSON.stringify(row)}`);

  // The list view's Stored cell (the fifth after the name).
  await p.getByRole('button', { name: 'List' }).click();
  const tr = p.locator(`#wall-list tbody tr[data-stream="${stream}"]`);
  await tr.waitFor({ timeout: 10000 });
  const cells = await tr.locator('td').allTextContents();
  const stored = cells.find((c) => c.startsWith('On disk'));
  check(stored && storedRe.test(stored), `list view: no "On disk … · In bucket …" cell in ${JSON.stringify(cells)}`);
  log(`list view: ${stored}`);

  // The stream view.
  await go('#/stream/' + encodeURIComponent(stream), 'viewer');
  const line = p.locator('#stream-storage');
  await line.waitFor({ state: 'visible', timeout: 10000 });
  const text = (await line.textContent()) ?? '';
  check(storedRe.test(text), `stream view: ${JSON.stringify(text)}`);
  log(`stream view: ${text}`);

  // The management page's Stored fact.
  await go('#/manage/' + encodeURIComponent(stream), 'page-manage');
  const fact = p.locator('dt', { hasText: /^Stored$/ }).locator('xpath=following-sibling::dd[1]');
  await fact.waitFor({ timeout: 10000 });
  const factText = (await fact.textContent()) ?? '';
  check(storedRe.test(factText), `management page: Stored ${JSON.stringify(factText)}`);

  // The status page.
  await go('#/status', 'page-status');
  const panel = p.locator('#status-object');
  await panel.waitFor({ state: 'visible', timeout: 10000 });
  const fig = async (id) => ((await p.locator('#' + id).textContent()) ?? '').trim();
  const panelText = (await panel.textContent()) ?? '';
  check(bucket === '' || panelText.includes('bucket ' + bucket), `status: the panel does not name bucket ${bucket}: ${panelText}`);
  check(await fig('object-available') === 'yes', `status: available ${await fig('object-available')}`);
  check(/% of \d+ block read\(s\) from the cache$/.test(await fig('object-cache')), `status: cache ${await fig('object-cache')}`);
  check(await fig('object-lost') === 'nothing', `status: lost ${await fig('object-lost')}`);
  log(`status: ${panelText}`);

  await p.evaluate(axeSource);
  const res = await p.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((v) => `${v.impact} ${v.id}: ${v.help}`));
  const bad = res.filter((v) => v.startsWith('serious') || v.startsWith('critical'));
  check(bad.length === 0, `axe (status page): ${bad.join(' | ')}`);
  log(`axe status page: no serious or critical violations (${res.length} lesser)`);
} catch (e) {
  await p.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
