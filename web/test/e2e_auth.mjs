// End-to-end browser test of the web UI with credentials (driven by
// server/web_auth_test.go): the login page refuses a wrong secret; a
// viewer logs in and sees only the streams it may watch, watches one live
// over WebRTC (with a token the page gets with its session) and over
// LL-HLS, plays the archive from the timeline, downloads a clip, is
// refused a stream it may not see, and logs out (the API then answers
// 401). A second identity, allowed to publish, publishes Chromium's fake
// camera over WHIP from the publish page and logs out.
//
// Env: EDDY_URL, EDDY_STREAM (live, published over RTSP, the viewer may
// watch it), EDDY_HIDDEN (a stream the viewer may not see), EDDY_VIEWER and
// EDDY_PUBLISHER (ACCESS_KEY_ID:SECRET), EDDY_PUBLISH_STREAM (a name the
// publisher may publish), CHROMIUM, SCREENSHOT.
import { chromium } from 'playwright-core';
import { statSync } from 'node:fs';
import { coverageBox } from './timeline.mjs';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM;
const hidden = process.env.EDDY_HIDDEN;
const pubStream = process.env.EDDY_PUBLISH_STREAM;
const [viewKey, viewSecret] = (process.env.EDDY_VIEWER || '').split(':');
const [pubKey, pubSecret] = (process.env.EDDY_PUBLISHER || '').split(':');
const shot = process.env.SCREENSHOT || '/tmp/eddy-web-e2e-auth.png';
if (!base || !stream || !hidden || !viewSecret || !pubSecret || !pubStream) throw new Error('set EDDY_URL, EDDY_STREAM, EDDY_HIDDEN, EDDY_VIEWER, EDDY_PUBLISHER, EDDY_PUBLISH_STREAM');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required',
    '--allow-loopback-in-peer-connection', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
const started = Date.now();
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));

const status = () => page.locator('#player-status').textContent();
const currentTime = () => page.evaluate(() => document.querySelector('#video').currentTime);

async function advance(want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let t0 = null;
  while (Date.now() < deadline) {
    const t = await currentTime();
    const f = await page.evaluate(() => window.eddy.state.fatalErrors.slice());
    if (f.length) throw new Error('fatal hls.js error: ' + f.join('; '));
    if (t0 === null && t > 0) t0 = t;
    if (t0 !== null && t - t0 >= want) { log('advanced', (t - t0).toFixed(2), 's'); return; }
    await sleep(250);
  }
  throw new Error(`playback did not advance ${want} s (status: ${await status()})`);
}

async function login(key, secret) {
  await page.locator('#page-login').waitFor({ timeout: 10000 });
  await page.locator('#login-key').fill(key);
  await page.locator('#login-secret').fill(secret);
  await page.locator('#login-submit').click();
}

async function logout(who) {
  await page.locator('#btn-logout').click();
  await page.locator('#page-login').waitFor({ timeout: 5000 });
  const msg = await page.locator('#login-status').textContent();
  const api = await page.request.get(base + '/api/v1/streams');
  log(`${who} logged out: "${msg}"; GET /api/v1/streams ${api.status()}`);
  if (api.status() !== 401) throw new Error('the API still answers after logout: ' + api.status());
  if (await page.locator('#page-streams').isVisible()) throw new Error('the stream page is still shown');
}

try {
  // The login page, and a wrong secret refused.
  await page.goto(base + '/', { waitUntil: 'load' });
  await login(viewKey, 'not-the-secret');
  await page.locator('#login-status.error').waitFor({ timeout: 5000 });
  log('wrong secret:', await page.locator('#login-status').textContent());
  if (await page.locator('#page-wall').isVisible()) throw new Error('a wrong secret opened the UI');
  if ((await context.cookies()).length) throw new Error('a wrong secret set a cookie');

  // The viewer: only its streams.
  await login(viewKey, viewSecret);
  const row = page.locator(`#wall-grid [data-stream="${stream}"]`);
  await row.locator('.state-live').waitFor({ timeout: 20000 });
  const names = await page.locator('#wall-grid > li').evaluateAll((rs) => rs.map((r) => r.dataset.stream));
  const who = await page.locator('#whoami-name').textContent();
  const cookie = (await context.cookies())[0];
  log(`logged in: "${who}"; streams listed: ${names.join(', ')}; cookie ${cookie.name} httpOnly=${cookie.httpOnly} sameSite=${cookie.sameSite}`);
  if (names.includes(hidden) || !names.includes(stream)) throw new Error('the list is not filtered: ' + names.join(', '));
  if (!cookie.httpOnly || cookie.sameSite !== 'Strict') throw new Error('cookie ' + JSON.stringify(cookie));
  if (await page.evaluate(() => document.cookie) !== '') throw new Error('the page script sees the cookie');
  if (await page.locator('#nav-publish').isVisible()) throw new Error('the viewer may not publish, yet the page offers it');
  const denied = await page.request.get(`${base}/api/v1/streams/${hidden}/coverage`);
  log(`coverage of ${hidden}:`, denied.status());
  if (denied.status() !== 403) throw new Error('a stream the viewer may not see answered ' + denied.status());

  // Live over WebRTC (the default): the page gets a token for the WHEP POST.
  await row.getByRole('link', { name: `Open ${stream}` }).click();
  try {
    await page.waitForFunction(() => window.eddy.live.tech === 'webrtc' && window.eddy.live.frames >= 30, null, { timeout: 15000, polling: 100 });
  } catch {
    throw new Error('no WebRTC frames: ' + JSON.stringify(await page.evaluate(() => window.eddy.live)) + ' ' + (await status()));
  }
  log('WebRTC:', await status());

  // Live over LL-HLS, through the session's HLS endpoint.
  await page.locator('#tech-hls').click();
  await advance(3, 30000);
  if ((await page.evaluate(() => window.eddy.live.tech)) !== 'hls') throw new Error('not playing HLS');
  log('HLS:', await status());

  // The archive from the timeline.
  const loads = await page.evaluate(() => window.eddy.state.coverageLoads);
  await page.locator('#zoom-hour').click();
  await page.waitForFunction((n) => window.eddy.state.coverageLoads > n, loads, { timeout: 10000 });
  for (let i = 0; ; i++) {
    const ms = await page.evaluate(() => window.eddy.state.ranges.reduce((a, r) => a + r.end - r.start, 0));
    if (ms >= 12000) break; // a pixel of the hour view is 3.5 s
    if (i > 40) throw new Error(`the archive holds ${ms} ms`);
    const n = await page.evaluate(() => window.eddy.state.coverageLoads);
    await page.locator('#tl-now').click();
    await page.waitForFunction((k) => window.eddy.state.coverageLoads > k, n, { timeout: 10000 });
    await sleep(500);
  }
  // The review controls put the timeline below the fold of a 900 px
  // window: coverageBox scrolls it into view.
  const box = await coverageBox(page);
  await page.mouse.click(box.x + 1, box.y + box.height / 2);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND', null, { timeout: 10000 });
  await advance(2, 25000);
  log('archive:', await status());

  // A clip: drag a selection, click the download link (the browser sends
  // the cookie: same-site).
  const b2 = await coverageBox(page);
  const y = b2.y + b2.height / 2;
  await page.mouse.move(b2.x, y);
  await page.mouse.down();
  await page.mouse.move(b2.x + Math.max(b2.width, 12), y, { steps: 5 });
  await page.mouse.up();
  await page.locator('#btn-download').waitFor({ timeout: 5000 });
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.locator('#btn-download').click()]);
  const failure = await download.failure();
  const size = failure ? 0 : statSync(await download.path()).size;
  log('downloaded', download.suggestedFilename(), size, 'bytes');
  if (failure || size < 10000) throw new Error('the clip download failed: ' + failure);

  await logout(viewKey);
  if ((await page.evaluate(() => window.eddy.live.tech)) !== '') throw new Error('the player still plays after logout');

  // A publisher: the publish page, with a WHIP token.
  await login(pubKey, pubSecret);
  await page.locator('#nav-publish').waitFor({ timeout: 10000 });
  await page.locator('#nav-publish').click();
  await page.locator('#pub-name').fill(pubStream);
  await page.locator('#pub-start').click();
  try {
    await page.waitForFunction(() => window.eddy.publish.state === 'publishing', null, { timeout: 15000 });
  } catch {
    throw new Error('not publishing: ' + (await page.locator('#pub-status').textContent()));
  }
  log('publishing:', await page.locator('#pub-status').textContent());
  await page.locator('#pub-stop').click();
  await page.locator('#pub-name').fill('not-allowed');
  await page.locator('#pub-start').click();
  await page.locator('#pub-status.error').waitFor({ timeout: 10000 });
  log('publishing a stream not allowed:', await page.locator('#pub-status').textContent());
  await logout(pubKey);
  if ((await page.evaluate(() => window.eddy.publish.state)) !== 'idle') throw new Error('still publishing after logout');
  log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  try { await page.screenshot({ path: shot, fullPage: true }); log('screenshot:', shot); } catch (se) { log('screenshot failed:', se.message); }
  log('FAIL:', e.message);
  await browser.close();
  process.exit(1);
}
await browser.close();
