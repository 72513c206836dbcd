// End-to-end browser test of the web UI (driven by server/web_test.go):
// opens the UI in headless Chromium (never downloaded: the system one),
// waits for the stream, checks live playback over WebRTC (WHEP, with the
// notice that the AAC audio is left out) and over LL-HLS, then archive
// playback from a timeline click, and the clip link of a dragged
// selection; then publishes Chromium's fake camera over WHIP from the
// publish page, watches that stream live over WebRTC, checks a second
// publisher of the same name is refused (409), stops publishing and sees
// the viewer notice the end.
//
// Env: EDDY_URL (http://127.0.0.1:PORT), EDDY_STREAM (published over RTSP
// with H.264 and AAC), EDDY_PUBLISH_STREAM (a name nothing publishes yet),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT (path written on failure).
import { chromium } from 'playwright-core';
import { coverageBox } from './timeline.mjs';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const pubStream = process.env.EDDY_PUBLISH_STREAM || 'webcam';
const shot = process.env.SCREENSHOT || '/tmp/eddy-web-e2e.png';
if (!base) throw new Error('EDDY_URL is not set');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required',
    // WebRTC: the server's ICE candidates are on 127.0.0.1; the publish
    // page gets a fake camera and microphone without a permission prompt.
    '--allow-loopback-in-peer-connection', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const started = Date.now();
const pages = [];
async function newPage(label) {
  const p = await context.newPage();
  p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log(`[${label}] console.${m.type()}:`, m.text()); });
  p.on('pageerror', (e) => log(`[${label}] pageerror:`, e.message));
  pages.push([label, p]);
  return p;
}
const page = await newPage('viewer');

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

const liveState = (p = page) => p.evaluate(() => ({ ...window.eddy.live, status: document.querySelector('#player-status').textContent }));

// webrtcFrames waits until the live view plays over WebRTC (not the HLS
// fallback) and requestVideoFrameCallback fired n times, and returns the
// live state then.
async function webrtcFrames(p, n, timeoutMs) {
  const t0 = Date.now();
  try {
    await p.waitForFunction((k) => window.eddy.live.tech === 'webrtc' && window.eddy.live.frames >= k, n, { timeout: timeoutMs, polling: 100 });
  } catch (e) {
    throw new Error(`no ${n} WebRTC frames in ${timeoutMs} ms: ${JSON.stringify(await liveState(p))}`);
  }
  const st = await liveState(p);
  log(`WebRTC: ${st.frames} frames in ${Date.now() - t0} ms; status: ${st.status}`);
  if (st.fallback) throw new Error('the live view fell back: ' + st.fallback);
  return st;
}

// metric reads a Prometheus gauge of the server.
async function metric(name) {
  const res = await page.request.get(base + '/metrics');
  const m = (await res.text()).match(new RegExp('^' + name + ' (\\S+)$', 'm'));
  return m ? Number(m[1]) : NaN;
}
async function waitMetric(name, want, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let v;
  while ((v = await metric(name)) !== want) {
    if (Date.now() > deadline) throw new Error(`${name} is ${v}, want ${want}`);
    await sleep(200);
  }
}

try {
  await page.goto(base + '/', { waitUntil: 'load' });
  const row = page.locator(`#wall-grid [data-stream="${stream}"]`);
  await row.locator('.state-live').waitFor({ timeout: 20000 });
  log('stream listed as live:', (await row.textContent()).replace(/\s+/g, ' '));

  // Live view: WebRTC by default. The stream's audio is AAC, which WebRTC
  // cannot carry: the answer says so, and the page shows it.
  await row.getByRole('link', { name: `Open ${stream}` }).click();
  let st = await webrtcFrames(page, 30, 15000);
  if (!/WebRTC/.test(st.status)) throw new Error('the status does not say WebRTC: ' + st.status);
  const notice = await page.locator('#player-notice').textContent();
  log('notice:', notice);
  if (!(await page.locator('#player-notice').isVisible()) || !/AAC/.test(notice) || !/video only/i.test(notice)) {
    throw new Error('the AAC notice is not shown: ' + JSON.stringify(notice));
  }
  const wlat = [];
  for (let i = 0; i < 4; i++) {
    await sleep(500);
    const l = await page.evaluate(() => window.eddy.liveLatency());
    if (l !== null) wlat.push(l.toFixed(2));
  }
  log('WebRTC behind the server (s):', wlat.join(' '), '| status:', await status());
  if ((await metric('eddy_webrtc_peer_connections')) !== 1) throw new Error('want 1 WebRTC peer connection (the viewer)');

  // The HLS toggle: LL-HLS, and the WHEP session is DELETEd.
  await page.locator('#tech-hls').click();
  await waitMetric('eddy_webrtc_peer_connections', 0, 5000);
  await advance(3, 30000, () => page.locator('#btn-live').click());
  if ((await page.evaluate(() => window.eddy.live.tech)) !== 'hls') throw new Error('the HLS toggle does not play HLS');
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

  // WebRTC refused (here by a stand-in 503): the view falls back to HLS
  // and says why.
  await page.route('**/whep', (r) => r.fulfill({ status: 503, contentType: 'text/plain', body: 'test: WHEP refused' }));
  await page.locator('#tech-webrtc').click();
  await page.waitForFunction(() => window.eddy.live.tech === 'hls' && window.eddy.live.frames >= 10 && /HLS/.test(document.querySelector('#player-status').textContent), null, { timeout: 15000 });
  const fb = await page.locator('#player-notice').textContent();
  log('fallback:', fb, '|', await status());
  if (!/503 test: WHEP refused/.test(fb) || !/HLS/.test(await status())) throw new Error('the fallback to HLS is not shown: ' + fb);
  await page.unroute('**/whep');

  // Archive: hour zoom, click the start of the widest recorded range.
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
  const box = await coverageBox(page);
  await page.mouse.click(box.x + 1, box.y + box.height / 2);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND', null, { timeout: 10000 });
  await advance(3, 25000);
  log('archive OK:', await status());

  // Drag a selection over the recording; its clip link serves MP4.
  // (The layout moved when the video got its size: measure again.)
  const b2 = await coverageBox(page);
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

  // Publish page: the fake camera over WHIP, H.264 first.
  const pub = await newPage('publisher');
  await pub.goto(base + '/#/publish', { waitUntil: 'load' });
  await pub.locator('#pub-name').fill(pubStream);
  await pub.locator('#pub-start').click();
  try {
    await pub.waitForFunction(() => window.eddy.publish.state === 'publishing' && window.eddy.publish.codecs.length > 0, null, { timeout: 15000 });
  } catch {
    throw new Error(`not publishing: ${await pub.locator('#pub-status').textContent()}`);
  }
  const ps = await pub.evaluate(() => { const p = window.eddy.publish; return { codecs: p.codecs, h264: p.h264, notice: p.notice, location: p.location }; });
  log('publishing:', JSON.stringify(ps), '|', await pub.locator('#pub-status').textContent());
  if (!ps.codecs.includes('video/H264')) throw new Error('the browser does not publish H.264: ' + ps.codecs.join(', '));
  if (!ps.codecs.some((c) => /opus/i.test(c))) throw new Error('no Opus audio published: ' + ps.codecs.join(', '));

  // A second publisher of the same name is refused (409), and says so.
  const pub2 = await newPage('publisher 2');
  await pub2.goto(base + '/#/publish', { waitUntil: 'load' });
  await pub2.locator('#pub-name').fill(pubStream);
  await pub2.locator('#pub-start').click();
  await pub2.locator('#pub-status.error').waitFor({ timeout: 10000 });
  const busy = await pub2.locator('#pub-status').textContent();
  log('second publisher:', busy);
  if (!/409/.test(busy)) throw new Error('the second publisher is not told the stream is busy: ' + busy);
  await pub2.locator('#pub-stop').click();
  await pub2.close();

  // Watch it live over WebRTC: video and Opus audio, no notice.
  await page.bringToFront();
  await page.evaluate(() => { location.hash = '#/'; }); // back to the camera wall
  const prow = page.locator(`#wall-grid [data-stream="${pubStream}"]`);
  await prow.locator('.state-live').waitFor({ timeout: 10000 });
  await prow.getByRole('link', { name: `Open ${pubStream}` }).click();
  await page.locator('#tech-webrtc').click();
  st = await webrtcFrames(page, 30, 15000);
  const audio = await page.evaluate(() => document.querySelector('#video').srcObject?.getAudioTracks().length ?? 0);
  if (st.notice || audio !== 1) throw new Error(`want Opus audio and no notice: audio tracks ${audio}, notice ${JSON.stringify(st.notice)}`);

  // Stop publishing: the session is DELETEd, the camera released, and
  // the viewer sees the stream end.
  await pub.evaluate(() => { window.publishedTracks = window.eddy.publish.media.getTracks(); });
  await pub.locator('#pub-stop').click();
  const after = await pub.evaluate(() => ({ state: window.eddy.publish.state, live: window.publishedTracks.filter((t) => t.readyState !== 'ended').length }));
  if (after.state !== 'idle' || after.live !== 0) throw new Error('stop did not release the camera: ' + JSON.stringify(after));
  await page.waitForFunction(() => window.eddy.live.ended !== '', null, { timeout: 10000 });
  log('viewer after stop:', await status());
  if (!/ended/i.test(await status())) throw new Error('the viewer does not say the stream ended: ' + (await status()));

  // Publishing again: the waiting viewer plays again.
  await pub.locator('#pub-start').click();
  await pub.waitForFunction(() => window.eddy.publish.state === 'publishing', null, { timeout: 15000 });
  await webrtcFrames(page, 10, 15000);

  // The server ends the publication (here a DELETE from elsewhere): the
  // publish page says so.
  const loc = await pub.evaluate(() => window.eddy.publish.location);
  const del = await page.request.delete(loc);
  if (del.status() !== 200) throw new Error(`DELETE ${loc}: ${del.status()}`);
  await pub.locator('#pub-status.error').waitFor({ timeout: 5000 });
  log('publisher after DELETE:', await pub.locator('#pub-status').textContent());

  // Leaving the pages ends the sessions (DELETE with keepalive on pagehide).
  await page.goto('about:blank');
  await pub.goto('about:blank');
  await waitMetric('eddy_webrtc_peer_connections', 0, 5000);
  const streams = await (await page.request.get(base + '/api/v1/streams')).json();
  const ws = streams.find((x) => x.name === pubStream);
  log('published stream:', JSON.stringify(ws));
  if (!ws || ws.live || !ws.codecs.includes('H264')) throw new Error('the published stream is not recorded as H.264: ' + JSON.stringify(ws));
  if (ws.playback && !ws.playback.hls) throw new Error('the published stream does not play over HLS: ' + JSON.stringify(ws.playback));
  log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  for (const [label, p] of pages) {
    if (p.isClosed()) continue;
    const path = label === 'viewer' ? shot : shot.replace(/\.png$/, '') + '-' + label.replace(/\W+/g, '-') + '.png';
    try { await p.screenshot({ path, fullPage: true }); log('screenshot:', path); } catch (se) { log('screenshot failed:', se.message); }
  }
  log('FAIL:', e.message);
  await browser.close();
  process.exit(1);
}
await browser.close();
