// End-to-end browser test of the web UI (driven by server/web_test.go):
// opens the UI in headless Chromium (never downloaded: the system one),
// waits for the stream, checks live playback, then archive playback from a
// timeline click, and the clip link of a dragged selection.
//
// Env: EDDY_URL (http://127.0.0.1:PORT), EDDY_STREAM, CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT (path written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const shot = process.env.SCREENSHOT || '/tmp/eddy-web-e2e.png';
if (!base) throw new Error('EDDY_URL is not set');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));

const status = () => page.locator('#player-status').textContent();
const currentTime = () => page.evaluate(() => document.querySelector('video').currentTime);
const fatal = () => page.evaluate(() => window.eddy.state.fatalErrors.slice());

// advance waits until the video's currentTime moved by want seconds.
async function advance(want, timeoutMs, retry) {
  const deadline = Date.now() + timeoutMs;
  let t0 = null;
  let nextRetry = Date.now() + 3000;
  while (Date.now() < deadline) {
    const t = await currentTime();
    const f = await fatal();
    if (f.length) throw new Error('fatal hls.js error: ' + f.join('; '));
    if (t0 === null && t > 0) { t0 = t; log('playing at', t.toFixed(2)); }
    if (t0 !== null && t - t0 >= want) { log('advanced', (t - t0).toFixed(2), 's'); return; }
    if (t0 === null && retry && Date.now() > nextRetry && (await page.locator('#player-status.error').count()) > 0) {
      log('retrying after:', await status());
      await retry();
      nextRetry = Date.now() + 3000;
    }
    await sleep(250);
  }
  throw new Error(`playback did not advance ${want} s (currentTime ${await currentTime()}, status: ${await status()})`);
}

try {
  await page.goto(base + '/', { waitUntil: 'load' });
  const row = page.locator(`#streams tbody tr[data-stream="${stream}"]`);
  await row.locator('td.state-live').waitFor({ timeout: 20000 });
  log('stream listed as live:', (await row.textContent()).replace(/\s+/g, ' '));

  // Live view.
  await row.getByRole('button', { name: `Open ${stream}` }).click();
  await advance(3, 30000, () => page.locator('#btn-live').click());
  if ((await page.locator('#mode').textContent()) !== 'LIVE') throw new Error('not in LIVE mode');
  // Low-Latency HLS: hls.js loads parts and plays within 2 s of the camera
  // (the median of 8 samples over 4 s after it settled).
  const ll = await page.evaluate(() => {
    const h = window.eddy.state.hls;
    return { lowLatency: h.lowLatencyMode, parts: h.latestLevelDetails?.partList?.length ?? 0, partTarget: h.latestLevelDetails?.partTarget };
  });
  log('LL-HLS:', JSON.stringify(ll));
  if (!ll.lowLatency || ll.parts === 0) throw new Error('the live view does not play LL-HLS parts: ' + JSON.stringify(ll));
  const lat = [];
  for (let i = 0; i < 8; i++) {
    await sleep(500);
    const l = await page.evaluate(() => window.eddy.liveLatency());
    if (l !== null) lat.push(l);
  }
  lat.sort((a, b) => a - b);
  const median = lat[Math.floor(lat.length / 2)];
  log('behind the camera (s):', lat.map((l) => l.toFixed(2)).join(' '), 'median', median?.toFixed(2));
  if (!(median <= 2)) throw new Error(`live view plays ${median} s behind the camera, want <= 2`);
  log('live OK:', await status());

  // Archive: hour zoom, click the start of the first recorded range.
  const loads = await page.evaluate(() => window.eddy.state.coverageLoads);
  await page.locator('#zoom-hour').click();
  await page.waitForFunction((n) => window.eddy.state.coverageLoads > n, loads, { timeout: 10000 });
  // Wait until the archive holds a few fragments (reloading the coverage).
  for (let i = 0; ; i++) {
    const ms = await page.evaluate(() => window.eddy.state.ranges.reduce((a, r) => a + r.end - r.start, 0));
    if (ms >= 8000) break;
    if (i > 40) throw new Error(`the archive holds ${ms} ms after 20 s`);
    const n = await page.evaluate(() => window.eddy.state.coverageLoads);
    await page.locator('#tl-now').click();
    await page.waitForFunction((k) => window.eddy.state.coverageLoads > k, n, { timeout: 10000 });
    await sleep(500);
  }
  const block = page.locator('#tl-coverage > div').first();
  await block.waitFor({ timeout: 15000 });
  const box = await block.boundingBox();
  await page.mouse.click(box.x + 1, box.y + box.height / 2);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND', null, { timeout: 10000 });
  await advance(3, 25000);
  log('archive OK:', await status());

  // Drag a selection over the recording; its clip link serves MP4.
  // (The layout moved when the video got its size: measure again.)
  await page.locator('#timeline').scrollIntoViewIfNeeded();
  const b2 = await page.locator('#tl-coverage > div').first().boundingBox();
  const y = b2.y + b2.height / 2;
  await page.mouse.move(b2.x, y);
  await page.mouse.down();
  await page.mouse.move(b2.x + Math.max(b2.width, 12), y, { steps: 5 });
  await page.mouse.up();
  await page.locator('#btn-download').waitFor({ timeout: 5000 });
  const href = await page.locator('#btn-download').getAttribute('href');
  const res = await page.request.get(base + href);
  log('clip', href, res.status(), res.headers()['content-type'], (await res.body()).length, 'bytes');
  if (res.status() !== 200 || res.headers()['content-type'] !== 'video/mp4') throw new Error('clip download failed: ' + res.status() + ' ' + (await res.text()).slice(0, 300));
  log('PASS');
} catch (e) {
  try { await page.screenshot({ path: shot, fullPage: true }); log('screenshot:', shot); } catch (se) { log('screenshot failed:', se.message); }
  log('FAIL:', e.message);
  await browser.close();
  process.exit(1);
}
await browser.close();
