// End-to-end browser test of the archive timeline's thumbnails (driven by
// server/web_thumbnails_test.go, which records two publications with a gap
// between them):
//   - the strip under the timeline shows thumbnails that load (decoded
//     JPEGs) across the window, only where the archive holds recording:
//     none in the gap; re-laid with another grid after a zoom; a fast
//     run of zooms keeps at most 3 thumbnail requests in flight (the
//     dropped layouts' loads are stopped); a thumbnail answered 503 is
//     asked again after its Retry-After and shows;
//   - hovering the timeline shows a preview of the frame at that time with
//     its timestamp; a sweep of the pointer asks for few images (the
//     preview waits for the pointer to rest); over the gap it says "not
//     recorded" and asks for none;
//   - in a window over 48 h (coverage in buckets) the strip and the
//     preview show the first frames recorded in their spans;
//   - clicking a thumbnail plays the archive from its time.
//
// Env: EDDY_URL, EDDY_STREAM, EDDY_GAP_FROM and EDDY_GAP_TO (epoch ms of
// the gap), EDDY_REC_FROM and EDDY_REC_TO (the recording's first and last
// instant), CHROMIUM, SCREENSHOT (written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const gapFrom = Number(process.env.EDDY_GAP_FROM);
const gapTo = Number(process.env.EDDY_GAP_TO);
const recFrom = Number(process.env.EDDY_REC_FROM);
const recTo = Number(process.env.EDDY_REC_TO);
const shot = process.env.SCREENSHOT || '/tmp/eddy-web-thumbnails.png';
if (!base || !gapFrom || !gapTo || !recFrom || !recTo) throw new Error('set EDDY_URL, EDDY_GAP_FROM/TO and EDDY_REC_FROM/TO');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const iso = (t) => new Date(t).toISOString();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));
page.on('response', (r) => { if (r.status() >= 400) log(`HTTP ${r.status()}: ${r.request().method()} ${r.url().slice(base.length)}`); });
const started = Date.now();
// The thumbnail requests, by width.
const asked = [];
// The tile loads in flight (the strip's: narrower than the preview's) and
// the most at once since tilePeak() was reset, counted where the page asks
// for them: a fetch is in flight from its call until its body is read, it
// fails, or the page aborts it. (Counting the browser's network events
// instead races: an aborted request's failure can be reported after the
// request started in its place.)
await page.addInitScript(() => {
  const isTile = (u) => { const m = /\/thumbnail\?time=[^&]+&width=(\d+)/.exec(u); return !!m && Number(m[1]) < 320; };
  const fetch0 = window.fetch.bind(window);
  const t = { inFlight: 0, peak: 0 };
  window.__tileLoads = t;
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!isTile(url)) return fetch0(input, init);
    let open = true;
    const done = () => { if (open) { open = false; t.inFlight--; } };
    t.peak = Math.max(t.peak, ++t.inFlight);
    init?.signal?.addEventListener('abort', done);
    return fetch0(input, init).then((r) => {
      if (!r.ok) { done(); return r; }
      const blob = r.blob.bind(r);
      r.blob = () => blob().finally(done);
      return r;
    }, (e) => { done(); throw e; });
  };
});
const tilePeak = (reset = false) => page.evaluate((r) => { const t = window.__tileLoads; const p = t.peak; if (r) t.peak = t.inFlight; return p; }, reset);
page.on('request', (r) => {
  const m = /\/api\/v1\/streams\/[^/]+\/thumbnail\?time=([^&]+)&width=(\d+)/.exec(r.url());
  if (m) asked.push({ time: Date.parse(decodeURIComponent(m[1])), width: Number(m[2]), url: r.url() });
});

// strip waits until the strip shows the window [end - span, end] with all
// its images loaded, and returns its tiles and the images' sizes.
async function strip(span, end) {
  await page.locator('#tl-thumbs').scrollIntoViewIfNeeded();
  await page.evaluate(([s, e]) => { window.eddy.state.span = s; window.eddy.state.end = e; return window.eddy.loadCoverage(); }, [span, end]);
  await page.waitForFunction(([s, e]) => {
    const th = window.eddy.thumbs;
    const imgs = Array.from(document.querySelectorAll('#tl-thumbs img'));
    return th.laid.start === e - s && th.laid.end === e && th.tiles.length > 0 && imgs.length === th.tiles.length && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, [span, end], { timeout: 30000, polling: 100 });
  return page.evaluate(() => ({
    step: window.eddy.thumbs.step,
    tiles: window.eddy.thumbs.tiles,
    ranges: window.eddy.state.ranges,
    images: Array.from(document.querySelectorAll('#tl-thumbs img')).map((i) => ({ w: i.naturalWidth, h: i.naturalHeight })),
  }));
}

// hoverAt moves the pointer over the timeline at time t of the window.
async function hoverAt(t, span, end, steps = 1) {
  await page.locator('#timeline').scrollIntoViewIfNeeded();
  const box = await page.locator('#timeline').boundingBox();
  const x = box.x + ((t - (end - span)) / span) * box.width;
  await page.mouse.move(x, box.y + box.height / 2, { steps });
}

try {
  await page.goto(base + '/', { waitUntil: 'load' });
  const row = page.locator(`#wall-grid [data-stream="${stream}"]`);
  await row.waitFor({ timeout: 20000 });
  await row.getByRole('link', { name: `Open ${stream}` }).click();

  // ---- the strip at the 1-minute zoom, around the recording.
  const MIN = 60_000;
  const end = Math.ceil((recTo + 10_000) / 1000) * 1000;
  let s = await strip(MIN, end);
  log(`1 min: step ${s.step} ms, ${s.tiles.length} tiles, ranges ${JSON.stringify(s.ranges.map((r) => [iso(r.start), iso(r.end)]))}`);
  const bad = s.images.filter((i) => !(i.w > 0 && i.h > 0));
  if (bad.length) throw new Error(`${bad.length} thumbnails of ${s.images.length} did not load: ${JSON.stringify(bad.slice(0, 3))}`);
  if (s.tiles.length < 3) throw new Error(`only ${s.tiles.length} thumbnails for ${(recTo - recFrom) / 1000} s of recording`);
  for (const t of s.tiles) {
    if (!s.ranges.some((r) => t.time >= r.start && t.time < r.end)) throw new Error(`a thumbnail at ${iso(t.time)}, outside the recorded ranges`);
    if (t.time > gapFrom + 150 && t.time < gapTo - 150) throw new Error(`a thumbnail at ${iso(t.time)}, in the gap ${iso(gapFrom)} – ${iso(gapTo)}`);
  }
  // Grid cells wholly inside the gap, or before or after the recording,
  // have no tile: the strip shows the gap.
  const holes = [];
  for (let c = Math.floor((end - MIN) / s.step) * s.step; c < end; c += s.step) {
    const empty = (c >= gapFrom && c + s.step <= gapTo) || c + s.step <= recFrom || c >= recTo;
    if (empty) holes.push(c);
    if (empty && s.tiles.some((t) => t.start >= c && t.start < c + s.step)) throw new Error(`a tile in the empty cell ${iso(c)}`);
  }
  const gapHoles = holes.filter((c) => c >= gapFrom && c + s.step <= gapTo).length;
  if (gapHoles === 0) throw new Error(`the gap (${(gapTo - gapFrom) / 1000} s) holds no whole cell of ${s.step} ms`);
  // Tile images fill their tiles: widths from the list, at the tile's size.
  const tilePx = await page.evaluate(() => Math.max(...Array.from(document.querySelectorAll('#tl-thumbs .tl-thumb')).map((t) => t.getBoundingClientRect().width)));
  if (s.images.some((i) => i.w < tilePx * 0.9)) throw new Error(`thumbnails ${s.images.map((i) => i.w)} px wide for tiles up to ${tilePx} px`);
  log(`strip OK: ${s.tiles.length} images (${s.images[0].w}x${s.images[0].h}) in tiles up to ${tilePx.toFixed(0)} px, ${gapHoles} empty cell(s) in the gap`);

  // A zoom lays the strip out again on a coarser grid.
  const s10 = await strip(10 * MIN, end);
  if (!(s10.step > s.step) || s10.images.some((i) => !(i.w > 0))) throw new Error(`10 min: step ${s10.step}, images ${JSON.stringify(s10.images)}`);
  log(`10 min: step ${s10.step} ms, ${s10.tiles.length} tiles, all loaded`);
  s = await strip(MIN, end);

  // A fast run of zooms (each layout replacing the last before its images
  // load): at most 3 tile requests in flight at any time, and the last
  // layout's images all load.
  await tilePeak(true);
  const zooms = [20_000, 30_000, 45_000, 90_000, 2 * MIN, 3 * MIN, 40_000, 75_000];
  for (const z of zooms) {
    await page.evaluate(([sp, e]) => { window.eddy.state.span = sp; window.eddy.state.end = e; return window.eddy.loadCoverage(); }, [z, end]);
    await sleep(30);
  }
  const fast = await strip(75_000, end);
  const peak = await tilePeak();
  if (peak < 1) throw new Error(`a fast run of ${zooms.length} zooms fetched no thumbnail (the wrapper counts none)`);
  if (peak > 3) throw new Error(`a fast run of ${zooms.length} zooms had ${peak} thumbnail requests in flight at once`);
  log(`${zooms.length} fast zooms: at most ${peak} thumbnail request(s) in flight; the last layout's ${fast.tiles.length} images loaded`);

  // A thumbnail the server answers 503 (busy) is asked again after its
  // Retry-After, and shows.
  const busy = new Set();
  await page.route('**/thumbnail?*', (route) => {
    const u = route.request().url();
    if (busy.size < 2 && !busy.has(u)) {
      busy.add(u);
      return route.fulfill({ status: 503, headers: { 'Retry-After': '1', 'Cache-Control': 'no-store' }, contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'too many thumbnails are being decoded; retry in a second' } }) });
    }
    return route.continue();
  });
  const busyAt = Date.now();
  const sb = await strip(15_000, end);
  await page.unroute('**/thumbnail?*');
  const again = [...busy].map((u) => asked.filter((a) => a.url === u).length);
  if (busy.size === 0 || again.some((n) => n < 2)) throw new Error(`503 answers to ${busy.size} tiles, asked ${again} times`);
  log(`${busy.size} tile(s) answered 503: asked again, all ${sb.tiles.length} loaded after ${Date.now() - busyAt} ms`);
  s = await strip(MIN, end);

  // ---- a window over 48 h (coverage in hourly buckets, no ranges): the
  // strip shows the first frame recorded in each tile with recording, and
  // the preview the first recorded near the pointer.
  const LONG = 72 * 3600_000;
  const longEnd = Math.ceil((recTo + 36 * 3600_000) / 1000) * 1000;
  const sl = await strip(LONG, longEnd);
  const mode = await page.evaluate(() => ({ ranges: window.eddy.state.ranges.length, buckets: window.eddy.state.bucketRanges.length }));
  if (mode.ranges !== 0 || mode.buckets === 0) throw new Error(`72 h window: ${JSON.stringify(mode)}, want buckets`);
  const found = sl.tiles.filter((t) => t.time <= recTo);
  if (found.length === 0) throw new Error(`72 h window: tiles ${JSON.stringify(sl.tiles)}, none before the recording's end`);
  await hoverAt(recFrom + 10_000, LONG, longEnd);
  await page.waitForFunction(() => {
    const b = document.querySelector('#tl-preview');
    const i = document.querySelector('#tl-preview-img');
    return !b.hidden && b.dataset.time && !b.classList.contains('failed') && i.complete && i.naturalWidth > 0 && i.dataset.src.includes('within=');
  }, null, { timeout: 15000, polling: 50 });
  const lp = await page.evaluate(() => Number(document.querySelector('#tl-preview').dataset.time));
  if (!(lp >= recFrom - 1000 && lp <= recTo)) throw new Error(`72 h window: the preview shows ${iso(lp)}, outside the recording ${iso(recFrom)} – ${iso(recTo)}`);
  log(`72 h window: ${sl.tiles.length} tile(s) with images (step ${sl.step / 3600_000} h), preview of ${iso(lp)}`);
  await page.mouse.move(5, 5);
  s = await strip(MIN, end);

  // ---- hover: the preview of the frame at a time, with its time.
  const target = recFrom + 1700;
  const before = asked.length;
  await hoverAt(target, MIN, end);
  await page.waitForFunction(() => {
    const b = document.querySelector('#tl-preview');
    const i = document.querySelector('#tl-preview-img');
    return !b.hidden && b.dataset.time && i.complete && i.naturalWidth > 0;
  }, null, { timeout: 15000, polling: 50 });
  const pv = await page.evaluate(() => {
    const b = document.querySelector('#tl-preview');
    const i = document.querySelector('#tl-preview-img');
    return { time: Number(b.dataset.time), text: document.querySelector('#tl-preview-time').textContent, w: i.naturalWidth, src: i.dataset.src, left: b.style.left };
  });
  const want = await page.evaluate((t) => new Date(t).toLocaleString([], {
    year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 1,
  }), pv.time);
  log(`hover at ${iso(target)}: preview of ${iso(pv.time)} (${pv.w} px, "${pv.text}"), ${asked.length - before} request(s)`);
  if (Math.abs(pv.time - target) > 300) throw new Error(`hovering ${iso(target)} previews ${iso(pv.time)}`);
  const askedAt = Date.parse(new URL(pv.src, base).searchParams.get('time'));
  if (!(pv.time <= askedAt && askedAt - pv.time < 100)) throw new Error(`the preview's image ${pv.src} is not of ${iso(pv.time)}`);
  if (pv.text !== want) throw new Error(`the preview says "${pv.text}", want "${want}"`);

  // A sweep across the recording: the preview asks only once the pointer
  // rests, not for every position it passed.
  await sleep(300);
  const sweep = asked.length;
  await hoverAt(recFrom + 200, MIN, end);
  await hoverAt(recTo - 200, MIN, end, 60);
  await page.waitForFunction(() => document.querySelector('#tl-preview-img').complete, null, { timeout: 5000 });
  await sleep(500);
  const sweepAsked = asked.slice(sweep).filter((a) => a.width >= 320);
  log(`sweep over ${(recTo - recFrom) / 1000} s in 60 moves: ${sweepAsked.length} preview request(s)`);
  if (sweepAsked.length > 3) throw new Error(`a sweep asked for ${sweepAsked.length} previews: ${JSON.stringify(sweepAsked.map((a) => iso(a.time)))}`);

  // Over the gap: "not recorded", no request.
  const gapAsked = asked.length;
  await hoverAt((gapFrom + gapTo) / 2, MIN, end);
  await page.waitForFunction(() => document.querySelector('#tl-preview').classList.contains('empty'), null, { timeout: 5000 });
  await sleep(400);
  const gapText = await page.locator('#tl-preview-time').textContent();
  if (!gapText.includes('not recorded') || asked.length !== gapAsked) throw new Error(`over the gap: "${gapText}", ${asked.length - gapAsked} request(s)`);
  // Leaving the timeline hides the preview.
  await page.mouse.move(5, 5);
  await page.waitForFunction(() => document.querySelector('#tl-preview').hidden, null, { timeout: 5000 });
  // Clicking a thumbnail plays the archive from its time.
  const tile = await page.evaluate(() => window.eddy.thumbs.tiles[1]);
  await page.locator('#tl-thumbs .tl-thumb').nth(1).click();
  await page.waitForFunction((t) => window.eddy.state.cursor === t && window.eddy.state.mode === 'ON_DEMAND', tile.time, { timeout: 15000, polling: 100 });
  log(`clicking the thumbnail of ${iso(tile.time)}: archive playback from there`);
  log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  try { await page.screenshot({ path: shot, fullPage: true }); log('screenshot:', shot); } catch (se) { log('screenshot failed:', se.message); }
  log('FAIL:', e.message);
  await browser.close();
  process.exit(1);
}
await browser.close();
