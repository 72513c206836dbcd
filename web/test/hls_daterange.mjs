// hls.js in headless Chromium reads the EXT-X-DATERANGE tags of an Eddy
// HLS session (driven by server/hls_daterange_test.go).
//
// MODE=vod: plays the session (HLS_URL, an ON_DEMAND master playlist)
// until it advanced 2 s and prints the date ranges hls.js exposes
// (LevelDetails.dateRanges) as one line "RESULT {json}".
// MODE=live: plays the session (a LIVE one, hls.js in low-latency mode);
// once it plays, asks the test to write an event (GET WRITE_URL answers
// {"id": ...} after PutRecords acknowledged it), then waits for hls.js to
// report a date range with that id, and prints "RESULT {json}" with the
// time it took and whether playback kept going.
//
// Env: EDDY_URL (the page is opened on Eddy's origin), HLS_URL, MODE,
// WRITE_URL (live), CHROMIUM, SCREENSHOT (written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const hlsURL = process.env.HLS_URL;
const mode = process.env.MODE || 'vod';
const shot = process.env.SCREENSHOT || '/tmp/eddy-hls-daterange.png';
if (!base || !hlsURL) throw new Error('EDDY_URL and HLS_URL must be set');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const page = await browser.newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));

// The ranges hls.js reports, by id, as a page would read them.
const ranges = () => page.evaluate(() => Object.values(window.dr.ranges));
const state = () => page.evaluate(() => ({ t: document.querySelector('video').currentTime, fatal: window.dr.fatal.slice() }));

async function waitPlaying(advance, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let t0 = null;
  while (Date.now() < deadline) {
    const s = await state();
    if (s.fatal.length) throw new Error('fatal hls.js error: ' + s.fatal.join('; '));
    if (t0 === null && s.t > 0) t0 = s.t;
    if (t0 !== null && s.t - t0 >= advance) return s.t;
    await sleep(100);
  }
  throw new Error(`playback did not advance ${advance} s (currentTime ${(await state()).t})`);
}

try {
  // A page of Eddy's own origin (the session answers CORS anyway).
  await page.goto(base + '/api/v1/streams');
  await page.setContent('<!doctype html><video muted playsinline style="width:320px"></video>');
  await page.addScriptTag({ path: 'node_modules/hls.js/dist/hls.min.js' });
  log('hls.js', await page.evaluate(() => window.Hls.version));
  await page.evaluate(({ url, live }) => {
    const video = document.querySelector('video');
    const hls = new window.Hls({ lowLatencyMode: live, debug: false });
    window.dr = { ranges: {}, fatal: [], updates: 0 };
    const take = (_, data) => {
      window.dr.updates++;
      for (const r of Object.values(data.details.dateRanges)) {
        if (!r || window.dr.ranges[r.id]) continue;
        window.dr.ranges[r.id] = {
          id: r.id, class: r.class, startDate: r.startDate.toISOString(), duration: r.duration,
          startTime: r.startTime, label: r.attr['X-LABEL'] ?? null, type: r.attr['X-TYPE'] ?? null,
          score: r.attr['X-SCORE'] ?? null, box: r.attr['X-BOX'] ?? null, seenAt: Date.now(),
        };
      }
    };
    hls.on(window.Hls.Events.LEVEL_LOADED, take);
    hls.on(window.Hls.Events.LEVEL_UPDATED, take);
    hls.on(window.Hls.Events.ERROR, (_, d) => { if (d.fatal) window.dr.fatal.push(`${d.type}/${d.details}`); });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
  }, { url: hlsURL, live: mode === 'live' });

  if (mode === 'vod') {
    const t = await waitPlaying(2, 30000);
    const rs = await ranges();
    log('played to', t.toFixed(2), 's;', rs.length, 'date ranges');
    console.log('RESULT ' + JSON.stringify({ currentTime: t, ranges: rs }));
  } else {
    await waitPlaying(1, 30000);
    const resp = await fetch(process.env.WRITE_URL);
    if (!resp.ok) throw new Error('writing the event: ' + resp.status + ' ' + (await resp.text()));
    const { id } = await resp.json();
    const acked = Date.now();
    log('event', id, 'acknowledged');
    const deadline = acked + 10000;
    let got = null;
    while (Date.now() < deadline && !got) {
      got = (await ranges()).find((r) => r.id === id) || null;
      if (!got) await sleep(20);
    }
    if (!got) throw new Error(`hls.js reported no date range ${id} within 10 s (ranges: ${JSON.stringify(await ranges())})`);
    const before = (await state()).t;
    const after = await waitPlaying(1, 10000);
    log('date range seen', got.seenAt - acked, 'ms after the acknowledgement; playing at', after.toFixed(2));
    console.log('RESULT ' + JSON.stringify({ range: got, seenAfterMs: got.seenAt - acked, playedOn: after - before }));
  }
} catch (e) {
  log('FAIL:', e.message);
  await page.screenshot({ path: shot }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
