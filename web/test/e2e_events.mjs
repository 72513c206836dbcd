// End-to-end browser test of the UI's events (driven by
// server/web_events_test.go, which writes the events with PutRecords):
//   - live view over WebRTC: the boxes of live events are drawn over the
//     frames whose producer time their span covers (the events channel's
//     clock maps each frame's RTP timestamp), not when they arrive: an event
//     written 1.5 s ahead of the camera's clock shows 1.5 s after it came;
//   - archive: a marker per written event on the timeline, in its label's
//     colour; a density strip at the day zoom; the label filter; clicking a
//     marker, or a row of the events list, plays the archive within one GOP
//     of the event, with its box drawn.
//
// Env: EDDY_URL, EDDY_STREAM (live over RTSP), EDDY_EVENTS (JSON: the
// archive events written, with their ids, times and labels), EDDY_MOTIONS
// (how many "motion" events were written hours before them), EDDY_GOP_MS,
// EDDY_PRODUCER_OFFSET_MS (producer clock minus the server's), CHROMIUM,
// SCREENSHOT (written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const written = JSON.parse(process.env.EDDY_EVENTS || '[]');
const motions = Number(process.env.EDDY_MOTIONS || 0);
const gop = Number(process.env.EDDY_GOP_MS || 2000);
const offset = Number(process.env.EDDY_PRODUCER_OFFSET_MS || 0);
const shot = process.env.SCREENSHOT || '/tmp/eddy-web-e2e-events.png';
if (!base || written.length < 3) throw new Error('set EDDY_URL and EDDY_EVENTS (3 events or more)');

const HOLD_MS = 500; // web/src/events.ts
const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// parseTime keeps the sub-millisecond digits of an RFC 3339 time.
function parseTime(s) {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) throw new Error('not an RFC 3339 time: ' + s);
  return Date.parse(m[1] + m[3]) + (m[2] ? Number('0' + m[2]) * 1000 : 0);
}
for (const ev of written) ev.t = parseTime(ev.time);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'],
});
const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));
const started = Date.now();
// The events reads, and those that follow a nextToken.
const reads = { all: 0, paged: 0 };
page.on('request', (r) => {
  if (!/\/api\/v1\/streams\/[^/]+\/events\?/.test(r.url())) return;
  reads.all++;
  if (/[?&]nextToken=/.test(r.url())) reads.paged++;
});

// loaded waits for the events load act starts: one of a window span ms
// wide with the label filter.
async function loaded(act, span, label = '') {
  await act();
  await page.waitForFunction(([s, l]) => {
    const v = window.eddy.events;
    return v.error || (v.loaded.end - v.loaded.start === s && v.loaded.label === l && window.eddy.state.span === s);
  }, [span, label], { timeout: 15000 });
  const err = await page.evaluate(() => window.eddy.events.error);
  if (err) throw new Error(err);
}
const MIN10 = 600_000;
const DAY = 86_400_000;

// playedAt waits until the archive plays (not seeking, frames decoded)
// and returns the producer time hls.js reports for the playhead (its
// EXT-X-PROGRAM-DATE-TIME mapping, not the page's).
async function playedAt() {
  await page.waitForFunction(() => {
    const v = document.querySelector('#video');
    const h = window.eddy.state.hls;
    return window.eddy.state.mode === 'ON_DEMAND' && h && !v.seeking && v.readyState >= 3 && h.playingDate;
  }, null, { timeout: 20000, polling: 50 });
  return page.evaluate(() => window.eddy.state.hls.playingDate.getTime());
}

// boxShown waits until the overlay drew the box of event id over a frame.
async function boxShown(id, timeoutMs) {
  await page.waitForFunction((i) => window.__ev.frames.some((f) => f.ids.includes(i)), id, { timeout: timeoutMs, polling: 100 });
}

try {
  await page.goto(base + '/', { waitUntil: 'load' });
  // Record, for every frame shown, the producer time the overlay gave it
  // and the boxes on screen; and when each live event arrived.
  await page.evaluate(() => {
    const rec = { frames: [], arrivals: {} };
    window.__ev = rec;
    const view = window.eddy.events;
    const add = view.addLive.bind(view);
    view.addLive = (e) => { rec.arrivals[e.id] = { at: performance.now(), time: e.time, label: e.label }; add(e); };
    const v = document.querySelector('#video');
    const tick = () => {
      rec.frames.push({
        at: performance.now(), ft: window.eddy.overlay.frameTime, mode: window.eddy.state.mode,
        ids: Array.from(document.querySelectorAll('#overlay .ev-box')).map((b) => b.dataset.id),
      });
      if (rec.frames.length > 6000) rec.frames.splice(0, 1000);
      v.requestVideoFrameCallback(tick);
    };
    v.requestVideoFrameCallback(tick);
  });
  const row = page.locator(`#wall-grid [data-stream="${stream}"]`);
  await row.locator('.state-live').waitFor({ timeout: 20000 });
  await row.getByRole('link', { name: `Open ${stream}` }).click();

  // ---- live: boxes in step with the frames.
  try {
    await page.waitForFunction(() => window.eddy.live.tech === 'webrtc' && window.eddy.live.frames >= 30 && window.eddy.live.clocks > 0 && window.eddy.live.events > 0,
      null, { timeout: 20000, polling: 100 });
  } catch {
    throw new Error('no WebRTC frames, clock and events on the events channel: ' + JSON.stringify(await page.evaluate(() => window.eddy.live)));
  }
  // The frame on screen is at most 2 s behind the producer's clock.
  await page.waitForFunction(() => window.eddy.overlay.frameTime !== null, null, { timeout: 5000 });
  const behind = await page.evaluate((off) => Date.now() + off - window.eddy.overlay.frameTime, offset);
  log(`live: frame on screen ${behind.toFixed(0)} ms behind the producer clock`, JSON.stringify(await page.evaluate(() => window.eddy.live)));
  if (!(behind > -100 && behind < 2000)) throw new Error(`the frame time the page computes is ${behind} ms behind the producer's clock`);

  // Two "bicycle" events (1.5 s ahead when written) whose window has passed.
  await page.waitForFunction(() => {
    const r = window.__ev;
    const last = r.frames.length ? r.frames[r.frames.length - 1].ft : null;
    return Object.values(r.arrivals).filter((a) => a.label === 'bicycle' && last !== null && Date.parse(a.time) + 700 < last).length >= 2;
  }, null, { timeout: 20000, polling: 200 });
  const rec = await page.evaluate(() => window.__ev);
  const bikes = Object.entries(rec.arrivals).filter(([, a]) => a.label === 'bicycle');
  let checked = 0;
  for (const [id, a] of bikes) {
    const t = parseTime(a.time);
    const after = rec.frames.filter((f) => f.at > a.at && f.ft !== null && f.mode === 'LIVE');
    const last = after.length ? after[after.length - 1].ft : null;
    if (last === null || last < t + HOLD_MS + 100) continue; // not over yet
    // Drawn exactly over the frames of [t, t + HOLD_MS] (1 ms of rounding).
    for (const f of rec.frames) {
      const on = f.ids.includes(id);
      if (on && (f.ft < t - 1 || f.ft > t + HOLD_MS + 1)) throw new Error(`bicycle ${id} (at ${a.time}) drawn over the frame of ${new Date(f.ft).toISOString()}`);
    }
    const inside = after.filter((f) => f.ft >= t + 1 && f.ft <= t + HOLD_MS - 1);
    if (inside.length === 0) throw new Error(`no frame of bicycle ${id}'s span was shown`);
    const missing = inside.filter((f) => !f.ids.includes(id));
    if (missing.length) throw new Error(`bicycle ${id} not drawn over ${missing.length} of the ${inside.length} frames of its span`);
    const first = after.find((f) => f.ids.includes(id));
    const wait = first.at - a.at;
    log(`bicycle ${id} of ${a.time}: drawn ${wait.toFixed(0)} ms after it arrived, over the ${inside.length} frames of its span`);
    // Written 1.5 s ahead of the camera: drawn when its frame shows, not
    // when it arrived.
    if (wait < 1000) throw new Error(`bicycle ${id} was drawn ${wait.toFixed(0)} ms after it arrived: before its frame`);
    checked++;
  }
  if (checked === 0) throw new Error('no bicycle event was seen through its whole span: ' + JSON.stringify(bikes));
  const persons = new Set(rec.frames.flatMap((f) => f.ids).filter((id) => rec.arrivals[id]?.label === 'person'));
  if (persons.size === 0) throw new Error('no person box was drawn over the live video');
  log(`live OK: ${checked} bicycle event(s) drawn in step with their frames, ${persons.size} person boxes drawn`);

  // ---- archive: markers, density, filter, seek.
  await loaded(() => page.locator('#zoom-10min').click(), MIN10);
  const markers = await page.evaluate(() => Array.from(document.querySelectorAll('#tl-events .ev-marker')).map((m) => ({ id: m.dataset.id, label: m.dataset.label, colour: m.style.background })));
  log(`10 min: ${markers.length} markers (${await page.locator('#ev-status').textContent()})`);
  for (const ev of written) {
    const m = markers.find((x) => x.id === ev.id);
    if (!m) throw new Error(`no marker for ${ev.label} event ${ev.id}`);
    if (m.label !== ev.label) throw new Error(`marker ${ev.id} labelled ${m.label}, want ${ev.label}`);
    ev.colour = m.colour;
  }
  const cars = written.filter((e) => e.label === 'car');
  const other = written.find((e) => e.label !== 'car');
  if (cars.length < 2 || !other) throw new Error('want two car events and another');
  if (cars[0].colour !== cars[1].colour || cars[0].colour === other.colour) throw new Error('markers are not coloured by label: ' + JSON.stringify(written));
  // Every written event is in the list too.
  for (const ev of written) {
    if ((await page.locator(`#ev-list button[data-id="${ev.id}"]`).count()) !== 1) throw new Error(`event ${ev.id} is not in the events list`);
  }

  // Zoomed out: a density strip that counts every event of the window
  // (the motion events too: more than a page).
  const paged = reads.paged;
  await loaded(() => page.locator('#zoom-day').click(), DAY);
  const density = await page.evaluate(() => {
    const v = window.eddy.events;
    v.render(); // live events keep coming: count the strip and the events at once
    const bins = Array.from(document.querySelectorAll('#tl-events .ev-bin'));
    return { mode: v.mode, bins: bins.length, sum: bins.reduce((a, b) => a + Number(b.dataset.count), 0), markers: document.querySelectorAll('#tl-events .ev-marker').length, loaded: v.events.length };
  });
  log('day:', JSON.stringify(density), `(${reads.paged - paged} paged read(s))`);
  if (density.mode !== 'density' || density.bins < 2 || density.markers !== 0 || density.sum !== density.loaded || density.loaded < written.length + motions) {
    throw new Error('no density strip counting every event at the day zoom: ' + JSON.stringify(density));
  }
  if (motions > 1000 && reads.paged === paged) throw new Error(`${density.loaded} events read without a nextToken`);

  // Filter by label: only the cars, on the timeline and in the list.
  await loaded(() => page.locator('#zoom-10min').click(), MIN10);
  await loaded(() => page.selectOption('#ev-label', 'car'), MIN10, 'car');
  const filtered = await page.evaluate(() => ({
    markers: Array.from(document.querySelectorAll('#tl-events .ev-marker')).map((m) => [m.dataset.id, m.dataset.label]),
    rows: Array.from(document.querySelectorAll('#ev-list button')).map((b) => b.dataset.id),
  }));
  log('filtered by car:', JSON.stringify(filtered));
  if (filtered.markers.some(([, l]) => l !== 'car') || cars.some((c) => !filtered.markers.some(([id]) => id === c.id))) throw new Error('the car filter shows: ' + JSON.stringify(filtered.markers));
  if (filtered.rows.length !== filtered.markers.length || filtered.rows.includes(other.id)) throw new Error('the filtered list: ' + JSON.stringify(filtered.rows));

  // Click a marker: the archive plays from the event (within one GOP),
  // and its box is drawn.
  await page.locator(`#tl-events .ev-marker[data-id="${cars[0].id}"]`).click();
  let at = await playedAt();
  log(`marker of ${cars[0].time}: playing at ${new Date(at).toISOString()} (${(at - cars[0].t).toFixed(0)} ms)`);
  if (Math.abs(at - cars[0].t) > gop) throw new Error(`clicking the marker plays at ${new Date(at).toISOString()}, ${(at - cars[0].t).toFixed(0)} ms from the event (GOP ${gop} ms)`);
  await boxShown(cars[0].id, 5000);

  // A row of the list: a seek within the archive session playing.
  await page.locator(`#ev-list button[data-id="${cars[1].id}"]`).click();
  await page.waitForFunction((t) => Math.abs(window.eddy.playerTime() - t) < 1000, cars[1].t, { timeout: 10000, polling: 50 });
  at = await playedAt();
  log(`list row of ${cars[1].time}: playing at ${new Date(at).toISOString()} (${(at - cars[1].t).toFixed(0)} ms)`);
  if (Math.abs(at - cars[1].t) > gop) throw new Error(`clicking the list row plays at ${(at - cars[1].t).toFixed(0)} ms from the event (GOP ${gop} ms)`);
  await boxShown(cars[1].id, 5000);
  log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  try { await page.screenshot({ path: shot, fullPage: true }); log('screenshot:', shot); } catch (se) { log('screenshot failed:', se.message); }
  log('FAIL:', e.message);
  await browser.close();
  process.exit(1);
}
await browser.close();
