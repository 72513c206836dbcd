// End-to-end browser test of the stream view (driven by
// server/web_review_test.go, which records 40 s on EDDY_STREAM and stops,
// writes three events into it, records a few seconds of H.265 on
// EDDY_H265 and creates EDDY_EMPTY without publishing to it). At a phone
// size (390x844) and at a desktop size (1280x800):
//   - the offline stream opens at #/stream/NAME on its archive: its last
//     frame as the poster, "Offline — last recorded TIME", playing from
//     its last minute (frames counted), no error;
//   - the never-published stream says so and shows how to publish to it;
//   - the selection buttons are hidden without a selection and shown
//     with one, with its length;
//   - the H.265 stream, in a browser that cannot decode H.265 (as
//     MediaSource.isTypeSupported and RTCRtpReceiver.getCapabilities say),
//     gets a sentence saying so, and no player error.
// At the desktop size, besides: thumbnails and event markers; speed 2×
// and 8× (currentTime advances that much faster than at 1×); previous and
// next event (buttons and the [ and ] keys) move the playhead to the
// events; the day picker shows a day's window; keyboard scrubbing (arrows,
// Shift, Home, End) and dragging the playhead; the offline stream going
// live (ffmpeg publishes EDDY_CLIP to it) offers Watch live to a user
// reviewing the archive, and switches the view to live otherwise; and the
// never-published stream's view plays its first publication.
//
// Env: EDDY_URL, EDDY_STREAM, EDDY_EMPTY, EDDY_H265 ('' to skip, with
// EDDY_H265_SKIP the reason), EDDY_EVENTS (JSON, as written), EDDY_RTSP
// (rtsp://host:port), EDDY_CLIP, CHROMIUM; screenshots on failure go to
// EDDY_ARTIFACTS if set, else beside SCREENSHOT.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const empty = process.env.EDDY_EMPTY || 'empty';
const h265 = process.env.EDDY_H265 || '';
const events = JSON.parse(process.env.EDDY_EVENTS || '[]').map((e) => ({ ...e, t: Date.parse(e.time) }));
const rtsp = process.env.EDDY_RTSP;
const clip = process.env.EDDY_CLIP;
if (!base || !rtsp || !clip || events.length < 3) throw new Error('set EDDY_URL, EDDY_RTSP, EDDY_CLIP and EDDY_EVENTS');
// shotPath is where the failure screenshot of a size goes.
const shotPath = (size) => (process.env.EDDY_ARTIFACTS
  ? join(process.env.EDDY_ARTIFACTS, `web-review-${size}.png`)
  : (process.env.SCREENSHOT || join(tmpdir(), 'web-review.png')).replace(/\.png$/, `-${size}.png`));

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const iso = (t) => new Date(t).toISOString();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
    '--autoplay-policy=no-user-gesture-required'],
});

// The stream list as the server gives it.
async function streams() {
  const r = await fetch(base + '/api/v1/streams');
  if (!r.ok) throw new Error(`GET /api/v1/streams: ${r.status}`);
  return r.json();
}
const rows = await streams();
// recorded is an offline stream's last recording: shown, by the server's
// clock (lastActivity: the banner's time), and last, by the producer's
// (lastFragment: what its poster, coverage and archive go by).
function recorded(name) {
  const row = rows.find((s) => s.name === name);
  const r = { shown: Date.parse(row?.lastActivity ?? ''), last: Date.parse(row?.lastFragment ?? '') };
  if (!row || row.live || !r.shown || !r.last) throw new Error(`${name}: ${JSON.stringify(row)}: want an offline stream with a recording`);
  return r;
}
const { last } = recorded(stream);
// old: a stream whose producer clock is hours behind the server's.
const old = process.env.EDDY_OLD;
if (!old) throw new Error('set EDDY_OLD');
const oldRec = recorded(old);
if (oldRec.shown - oldRec.last < 3600_000) throw new Error(`${old}: producer clock ${iso(oldRec.last)}, server ${iso(oldRec.shown)}: want hours apart`);
const endpoints = await fetch(base + '/api/v1/ui/endpoints').then((r) => (r.ok ? r.json() : null));

let page;
let ffmpeg = null;
let loads = 0;

// lengthText is how the page writes a selection's length.
function lengthText(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

// open loads the page at a stream's route and waits for its view.
async function open(name) {
  await page.goto(`${base}/?load=${++loads}#/stream/${encodeURIComponent(name)}`, { waitUntil: 'load' });
  await page.waitForFunction((n) => window.eddy?.state.current === n && !document.querySelector('#viewer').hidden, name, { timeout: 15000 });
}

// frames counts the frames the video element shows for ms.
function frames(ms) {
  return page.evaluate((ms) => new Promise((resolve) => {
    const v = document.querySelector('#video');
    let n = 0;
    const tick = () => { n++; v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
    setTimeout(() => resolve(n), ms);
  }), ms);
}

const visible = (sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  return !!el && getComputedStyle(el).display !== 'none' && el.getBoundingClientRect().height > 0;
}, sel);

// offline: the offline stream opens on its last recorded minute.
async function offline(size) {
  await open(stream);
  await offlinePlays(size, stream);
  // The wall's list shows no bitrate for the offline stream.
  await page.evaluate(() => { location.hash = '#/'; });
  await page.locator('#view-list').click();
  const bitrate = await listBitrate(stream);
  if (bitrate !== '—') throw new Error(`${size}: the list shows a bitrate of "${bitrate}" for offline ${stream}`);
  log(`${size}: the wall's list shows no bitrate for offline ${stream} ("${bitrate}")`);
}

// listBitrate is the Bitrate column (the 4th) of the wall's list row of a
// stream, once the row is there and the column matches want (a regular
// expression's source).
async function listBitrate(name, want = '') {
  const h = await page.waitForFunction(([n, w]) => {
    const th = document.querySelector('#wall-list thead th:nth-child(4)');
    const td = document.querySelector(`#wall-list tbody tr[data-stream="${n}"] td:nth-child(4)`);
    if (!th || !td || th.textContent.trim() !== 'Bitrate') return null;
    return new RegExp(w).test(td.textContent) ? td.textContent : null;
  }, [name, want], { timeout: 15000, polling: 200 });
  return h.jsonValue();
}

// offlinePlays checks the view of an offline stream just opened: the
// banner says when it last recorded (server time), its last frame is the
// poster and its last minute plays (producer time).
async function offlinePlays(size, name) {
  const { shown, last } = recorded(name);
  await page.waitForFunction((n) => window.eddy.state.current === n && window.eddy.state.mode === 'ON_DEMAND' && window.eddy.state.hls
    && document.querySelector('#video').readyState >= 2, name, { timeout: 30000, polling: 100 });
  const got = await page.evaluate(() => ({
    banner: document.querySelector('#stream-state').textContent,
    bannerShown: !document.querySelector('#stream-banner').hidden,
    poster: document.querySelector('#video').poster,
    status: document.querySelector('#player-status').textContent,
    error: document.querySelector('#player-status').classList.contains('error'),
    badge: document.querySelector('#mode').textContent,
    playStart: window.eddy.state.playStart,
  }));
  const want = await page.evaluate((t) => 'Offline — last recorded ' + new Date(t).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' }), shown);
  if (!got.bannerShown || got.banner !== want) throw new Error(`${size}: the banner says "${got.banner}" (shown ${got.bannerShown}), want "${want}"`);
  if (!(await page.locator('#btn-live').isDisabled())) throw new Error(`${size}: Watch live is enabled with the camera offline`);
  if (got.error || /no fragments/i.test(got.status) || got.badge === 'LIVE') throw new Error(`${size}: status "${got.status}" (error ${got.error}), badge ${got.badge}`);
  // The poster: the last frame recorded, a JPEG that loads.
  const posterURL = new URL(got.poster);
  const posterAt = Date.parse(posterURL.searchParams.get('time'));
  if (!posterURL.pathname.endsWith(`/streams/${name}/thumbnail`) || !(posterAt <= last && posterAt > last - 2000)) throw new Error(`${size}: poster ${got.poster}, last recorded ${iso(last)}`);
  const img = await page.evaluate((u) => new Promise((resolve) => {
    const i = new Image();
    i.onload = () => resolve(i.naturalWidth);
    i.onerror = () => resolve(0);
    i.src = u;
  }), got.poster);
  if (!(img > 0)) throw new Error(`${size}: the poster ${got.poster} does not load`);
  // It plays the last minute: from no earlier than a minute before the end.
  if (!(got.playStart >= last - 61_000 && got.playStart < last)) throw new Error(`${size}: plays from ${iso(got.playStart)}, last activity ${iso(last)}`);
  const n = await frames(2000);
  const at = await page.evaluate(() => window.eddy.playerTime());
  if (n < 10) throw new Error(`${size}: ${n} frames in 2 s of the archive`);
  if (!(at >= last - 63_000 && at <= last + 1000)) throw new Error(`${size}: the frame on screen is of ${at && iso(at)}, not of the last minute before ${iso(last)}`);
  // The stream view fits the screen's width: nothing in it reaches
  // past the page's right edge.
  const over = await page.evaluate(() => Array.from(document.querySelectorAll('#viewer, #viewer *'))
    .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.right > document.documentElement.clientWidth + 1; })
    .map((el) => `${el.id || el.className || el.tagName} (right ${el.getBoundingClientRect().right}, page ${document.documentElement.clientWidth})`));
  if (over.length) throw new Error(`${size}: wider than the screen: ${over.join(', ')}`);
  log(`${size}: offline ${name} opens on "${got.banner}", poster ${img} px wide, ${n} frames in 2 s from ${iso(got.playStart)}`);
}

// twoOffline: one offline stream opened from the wall, then (back on the
// wall) another: the second plays its own last minute (no coverage of the
// first is left over), even with its producer clock hours behind.
async function twoOffline(size) {
  await page.goto(`${base}/?load=${++loads}#/`, { waitUntil: 'load' });
  await page.locator('#view-list').click();
  await page.locator(`#wall-list a.cell-name[href="#/stream/${stream}"]`).click();
  await offlinePlays(size, stream);
  await page.goBack();
  await page.waitForFunction(() => !document.querySelector('#page-wall').hidden && window.eddy.state.current === '', null, { timeout: 10000 });
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== 'wall-h') throw new Error(`${size}: back on the wall, the focus is on #${focused}, want its heading`);
  await page.locator(`#wall-list a.cell-name[href="#/stream/${old}"]`).click();
  await offlinePlays(size, old);
  const got = await page.evaluate(() => ({ focused: document.activeElement?.id, span: window.eddy.state.span }));
  if (got.focused !== 'viewer-h') throw new Error(`${size}: the stream view opened with the focus on #${got.focused}, want its heading`);
  if (got.span !== 3600_000) throw new Error(`${size}: an offline stream opens at a ${got.span} ms zoom, want the hour`);
  log(`${size}: ${stream} then ${old} from the wall: each plays its last minute (${old}'s producer clock is ${((oldRec.shown - oldRec.last) / 3600_000).toFixed(1)} h behind)`);
}

// leaveWhileLoading: leaving the view while its archive session is asked
// for plays nothing once the answer comes.
async function leaveWhileLoading(size) {
  let release;
  const gate = new Promise((r) => { release = r; });
  let asked = false;
  await page.route('**/api/v1/ui/hls', async (route) => { asked = true; await gate; await route.continue(); });
  await open(stream);
  for (const deadline = Date.now() + 15000; !asked; await sleep(50)) if (Date.now() > deadline) throw new Error(`${size}: no archive session asked for`);
  await page.evaluate(() => { location.hash = '#/'; });
  release();
  await sleep(3000);
  await page.unroute('**/api/v1/ui/hls');
  const got = await page.evaluate(() => {
    const v = document.querySelector('#video');
    return { hls: !!window.eddy.state.hls, paused: v.paused, src: v.getAttribute('src') || (v.currentSrc ?? ''), mode: window.eddy.state.mode, wall: !document.querySelector('#page-wall').hidden };
  });
  if (got.hls || !got.paused || got.src || got.mode !== '' || !got.wall) throw new Error(`${size}: after leaving during the archive load: ${JSON.stringify(got)}`);
  log(`${size}: left during the archive load: nothing plays (${JSON.stringify(got)})`);
}

// neverPublished: the empty stream says so and how to publish to it.
async function neverPublished(size) {
  await open(empty);
  // The panel fills in once the server's addresses come.
  await page.waitForFunction(() => !document.querySelector('#publish-help').hidden && document.querySelector('#stream-copy-rtsp'), null, { timeout: 10000 });
  const got = await page.evaluate(() => ({
    banner: document.querySelector('#stream-state').textContent,
    lines: Array.from(document.querySelectorAll('#publish-help .copy-row input')).map((i) => i.value),
    mode: window.eddy.state.mode,
    width: document.querySelector('#publish-help').scrollWidth - document.querySelector('#publish-help').clientWidth,
  }));
  if (got.banner !== `Nothing has been published to ${empty} yet.`) throw new Error(`${size}: banner "${got.banner}"`);
  const rtspLine = got.lines.find((l) => l.startsWith('rtsp://'));
  if (!rtspLine || (endpoints && rtspLine !== `${rtsp}/${empty}`)) throw new Error(`${size}: RTSP line ${rtspLine}, want ${rtsp}/${empty} (endpoints ${JSON.stringify(endpoints)})`);
  if (!got.lines.some((l) => l.endsWith(`/webrtc/${empty}/whip`))) throw new Error(`${size}: no WHIP URL in ${JSON.stringify(got.lines)}`);
  if (!got.lines.some((l) => l.startsWith('ffmpeg ') && l.includes(`-f rtsp`) && l.endsWith(`/${empty}`))) throw new Error(`${size}: no ffmpeg command in ${JSON.stringify(got.lines)}`);
  if (got.mode !== '') throw new Error(`${size}: the player is in mode ${got.mode} for a stream never published`);
  if (got.width > 1) throw new Error(`${size}: the publish help overflows by ${got.width} px`);
  // Nothing else: no player, no archive.
  for (const sel of ['#video', '#timeline', '#btn-live']) if (await visible(sel)) throw new Error(`${size}: ${sel} shows for a stream never published`);
  // Copy without navigator.clipboard (a plain-HTTP LAN address has none):
  // the line is selected (and copied where the browser still can), and the
  // button says which.
  await page.evaluate(() => Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true }));
  await page.locator('#publish-help').getByRole('button', { name: 'Copy the RTSP URL' }).click();
  const copied = await page.evaluate(() => {
    const i = document.querySelector('#stream-copy-rtsp');
    return { selected: i.value.slice(i.selectionStart, i.selectionEnd), said: i.nextElementSibling.textContent };
  });
  if (copied.selected !== rtspLine || !/^(Copied|Selected: press (⌘|Ctrl\+)C)$/.test(copied.said)) throw new Error(`${size}: Copy without a clipboard: ${JSON.stringify(copied)}`);
  log(`${size}: Copy without navigator.clipboard: "${copied.said}", the line selected`);
  log(`${size}: ${empty}: "${got.banner}", ${got.lines.length} ways to publish (${rtspLine})`);
}

// selection: the buttons show only with a selection, with its length.
async function selection(size) {
  await open(stream);
  await page.waitForFunction(() => window.eddy.state.coverageLoads > 0 && window.eddy.state.ranges.length > 0, null, { timeout: 15000 });
  for (const id of ['#selection-controls', '#btn-play-sel', '#btn-download']) {
    if (await visible(id)) throw new Error(`${size}: ${id} shows without a selection`);
  }
  // A selection with the keyboard: S at two cursor positions.
  const r = await page.evaluate(() => window.eddy.state.ranges[0]);
  await page.evaluate((t) => { window.eddy.state.cursor = t; }, r.start + 2000);
  await page.locator('#timeline').focus();
  await page.keyboard.press('s');
  await page.evaluate((t) => { window.eddy.state.cursor = t; }, r.start + 32000);
  await page.keyboard.press('s');
  for (const id of ['#selection-controls', '#btn-play-sel', '#btn-download']) {
    if (!(await visible(id))) throw new Error(`${size}: ${id} hidden with a selection`);
  }
  const text = await page.locator('#selection-text').textContent();
  if (!/ – .* · 30 s$/.test(text)) throw new Error(`${size}: the selection says "${text}", want its length, 30 s`);
  await page.locator('#btn-clear-sel').click();
  if (await visible('#selection-controls')) throw new Error(`${size}: the selection buttons show after Clear`);
  log(`${size}: selection buttons hidden without a selection, shown with one: "${text}"`);
}

// codec: the H.265 stream in this browser.
async function codec(size) {
  if (!h265) { log(`${size}: H.265 skipped: ${process.env.EDDY_H265_SKIP}`); return; }
  await open(h265);
  const says = await page.evaluate(() => ({
    mse: MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"'),
    hev1: MediaSource.isTypeSupported('video/mp4; codecs="hev1.1.6.L93.B0"'),
    webrtc: (RTCRtpReceiver.getCapabilities('video')?.codecs ?? []).some((c) => c.mimeType === 'video/H265'),
  }));
  log(`${size}: this Chromium says: MediaSource.isTypeSupported(hvc1) ${says.mse}, (hev1) ${says.hev1}, WebRTC H.265 ${says.webrtc}`);
  if (says.mse || says.webrtc) {
    await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
    if (await visible('#codec-problem')) throw new Error(`${size}: a codec sentence in a browser that decodes H.265`);
    log(`${size}: this browser decodes H.265: it plays, no codec sentence`);
    return;
  }
  await page.waitForFunction(() => !document.querySelector('#codec-problem').hidden, null, { timeout: 10000 });
  await sleep(1000);
  const got = await page.evaluate(() => ({
    text: document.querySelector('#codec-problem').textContent,
    status: document.querySelector('#player-status').textContent,
    fatal: window.eddy.state.fatalErrors,
    hls: !!window.eddy.state.hls,
  }));
  // The RTSP URL as the server tells the UI (older servers: port 8554).
  const rtspURL = `${endpoints ? endpoints.rtsp : `rtsp://${new URL(base).hostname}:8554`}/${h265}`;
  if (!got.text.startsWith('This browser cannot play H.265') || !got.text.includes(rtspURL)) {
    throw new Error(`${size}: codec sentence "${got.text}"`);
  }
  if (/manifestIncompatibleCodecsError/.test(got.status + got.fatal.join()) || got.hls) throw new Error(`${size}: status "${got.status}", errors ${got.fatal}, hls ${got.hls}`);
  log(`${size}: "${got.text}"`);
}

// The review controls, at the desktop size.
async function review() {
  await open(stream);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
  // Thumbnails and markers at the 10-minute zoom (the recording is within
  // the last few minutes).
  await page.locator('#zoom-10min').click();
  await page.waitForFunction((n) => {
    const imgs = Array.from(document.querySelectorAll('#tl-thumbs img'));
    return window.eddy.events.mode === 'markers' && document.querySelectorAll('#tl-events .ev-marker').length === n
      && imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, events.length, { timeout: 30000, polling: 200 });
  log(`thumbnails: ${await page.locator('#tl-thumbs img').count()} loaded; ${events.length} event markers`);

  // Speed: media time against wall time at 1×, 2× and 8×, from the start.
  const rec = await page.evaluate(() => window.eddy.state.ranges[0]);
  await page.evaluate((t) => window.eddy.playAt(t), rec.start);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && document.querySelector('#video').readyState >= 3, null, { timeout: 30000 });
  const rate = async (r) => {
    await page.selectOption('#speed', String(r));
    await sleep(300);
    const a = await page.evaluate(() => ({ m: document.querySelector('#video').currentTime, w: performance.now(), r: document.querySelector('#video').playbackRate }));
    await sleep(1500);
    const b = await page.evaluate(() => ({ m: document.querySelector('#video').currentTime, w: performance.now() }));
    return { rate: a.r, speed: (b.m - a.m) / ((b.w - a.w) / 1000) };
  };
  const x1 = await rate(1);
  const x2 = await rate(2);
  const x8 = await rate(8);
  log(`speed: 1× ${x1.speed.toFixed(2)}, 2× ${x2.speed.toFixed(2)}, 8× ${x8.speed.toFixed(2)} media s per s`);
  if (x2.rate !== 2 || x8.rate !== 8) throw new Error(`playbackRate ${x2.rate}, ${x8.rate}`);
  if (!(x1.speed > 0.6 && x2.speed > 1.5 * x1.speed && x8.speed > 5 * x1.speed)) throw new Error('the archive does not play faster at 2× and 8×');
  // A new archive session keeps the speed.
  await page.evaluate((t) => window.eddy.playAt(t), rec.start + 1000);
  await page.waitForFunction(() => document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
  if (await page.evaluate(() => document.querySelector('#video').playbackRate) !== 8) throw new Error('a new archive session lost the speed');
  await page.selectOption('#speed', '1');

  // Previous and next event: from the start of the recording, ] goes to
  // the first event, the button to the second, [ back to the first.
  await page.evaluate((t) => window.eddy.playAt(t), rec.start);
  await page.waitForFunction(() => document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
  await page.evaluate(() => document.querySelector('#video').pause());
  const landed = async (ev, how) => {
    await page.waitForFunction((t) => {
      const p = window.eddy.playerTime();
      return window.eddy.state.cursor === t && p !== null && Math.abs(p - t) < 600;
    }, ev.t, { timeout: 20000, polling: 100 });
    // The playhead shows the event (within 0.5% of the window: 3 s).
    const at = () => page.evaluate((t) => {
      const s = window.eddy.state;
      return { ph: parseFloat(document.querySelector('#tl-playhead').style.left), want: ((t - (s.end || Date.now()) + s.span) / s.span) * 100 };
    }, ev.t);
    await page.waitForFunction((t) => {
      const s = window.eddy.state;
      const ph = document.querySelector('#tl-playhead');
      return !ph.hidden && Math.abs(parseFloat(ph.style.left) - ((t - (s.end || Date.now()) + s.span) / s.span) * 100) < 0.5;
    }, ev.t, { timeout: 5000, polling: 50 }).catch(async () => {
      const a = await at();
      throw new Error(`${how}: the playhead at ${a.ph}%, the event at ${a.want}%`);
    });
    log(`${how}: at the ${ev.label} of ${iso(ev.t)}`);
  };
  await page.locator('#timeline').focus();
  await page.keyboard.press(']');
  await landed(events[0], ']');
  await page.locator('#ev-next').click();
  await landed(events[1], 'next button');
  await page.keyboard.press('[');
  await landed(events[0], '[');
  await page.locator('#ev-next').click();
  await landed(events[1], 'next button');
  await page.locator('#ev-prev').click();
  await landed(events[0], 'previous button');

  // Dragging the playhead scrubs: the frame on screen follows.
  await page.evaluate(() => document.querySelector('#video').pause());
  const box = await page.locator('#timeline').boundingBox();
  const ph = await page.locator('#tl-playhead').boundingBox();
  const target = events[0].t + 6000;
  const win = await page.evaluate(() => ({ end: window.eddy.state.end || Date.now(), span: window.eddy.state.span }));
  const tx = box.x + ((target - (win.end - win.span)) / win.span) * box.width;
  // By its handle at the top of the timeline.
  await page.mouse.move(ph.x + ph.width / 2, box.y + 6);
  await page.mouse.down();
  await page.mouse.move(tx, box.y + 6, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction((t) => { const p = window.eddy.playerTime(); return p !== null && Math.abs(p - t) < 1500; }, target, { timeout: 20000, polling: 100 });
  if (await page.evaluate(() => window.eddy.state.selection !== null)) throw new Error('dragging the playhead made a selection');
  log(`dragging the playhead to ${iso(target)}: the archive shows ${iso(await page.evaluate(() => window.eddy.playerTime()))}`);
  // A drag the browser cancels (a touch turned into a scroll) leaves
  // nothing scrubbing, and its release plays nothing new.
  const ph2 = await page.locator('#tl-playhead').boundingBox();
  await page.mouse.move(ph2.x + ph2.width / 2, box.y + 6);
  await page.mouse.down();
  const scrubbing = await page.evaluate(() => window.eddy.state.scrubbing);
  await page.evaluate(() => document.querySelector('#timeline').dispatchEvent(new PointerEvent('pointercancel', { bubbles: true, pointerId: 1 })));
  const after = await page.evaluate(() => ({ scrubbing: window.eddy.state.scrubbing, hls: window.eddy.state.hls }));
  await page.mouse.move(ph2.x + ph2.width / 2 + 40, box.y + 6, { steps: 3 });
  await page.mouse.up();
  const still = await page.evaluate(() => window.eddy.state.selection === null && !window.eddy.state.scrubbing);
  if (!scrubbing || after.scrubbing || !still) throw new Error(`a cancelled drag: scrubbing ${scrubbing} then ${after.scrubbing}, clean after ${still}`);
  log('a cancelled playhead drag ends the scrub');

  // Keyboard scrubbing: arrows by 1/100 of the window, Shift by 1/10,
  // Home and End to the first and last recording.
  await page.locator('#timeline').focus();
  const cur = () => page.evaluate(() => window.eddy.state.cursor);
  const span = await page.evaluate(() => window.eddy.state.span);
  let c0 = await cur();
  await page.keyboard.press('ArrowRight');
  let c1 = await cur();
  if (Math.abs(c1 - c0 - span / 100) > 1) throw new Error(`ArrowRight moved the cursor ${c1 - c0} ms, want ${span / 100}`);
  c0 = c1;
  await page.keyboard.press('Shift+ArrowLeft');
  c1 = await cur();
  if (Math.abs(c0 - c1 - span / 10) > 1) throw new Error(`Shift+ArrowLeft moved the cursor ${c1 - c0} ms, want -${span / 10}`);
  const ranges = await page.evaluate(() => window.eddy.state.ranges);
  await page.keyboard.press('Home');
  if (await cur() !== ranges[0].start) throw new Error(`Home: cursor ${iso(await cur())}, the recording starts ${iso(ranges[0].start)}`);
  await page.keyboard.press('End');
  if (await cur() !== ranges[ranges.length - 1].end - 1000) throw new Error(`End: cursor ${iso(await cur())}, the recording ends ${iso(ranges[ranges.length - 1].end)}`);
  const cursorX = await page.evaluate(() => parseFloat(document.querySelector('#tl-cursor').style.left));
  if (!(cursorX > 0 && cursorX <= 100)) throw new Error(`the cursor is drawn at ${cursorX}%`);
  log('keyboard scrubbing: arrows, Shift, Home, End move the cursor');

  // The day picker: yesterday's window (nothing recorded), then today's.
  const day = async (offset) => {
    const loads = await page.evaluate(() => window.eddy.state.coverageLoads);
    const v = await page.evaluate((o) => {
      const d = new Date();
      d.setDate(d.getDate() + o);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
    }, offset);
    await page.locator('#tl-day').fill(v);
    await page.waitForFunction((n) => window.eddy.state.coverageLoads > n, loads, { timeout: 10000 });
    return page.evaluate((v) => {
      const [y, m, d] = v.split('-').map(Number);
      const s = window.eddy.state;
      return { ok: s.end === new Date(y, m - 1, d + 1).getTime() && s.end - s.span === new Date(y, m - 1, d).getTime(), ranges: s.ranges.length,
        pressed: document.querySelector('#zoom-day').getAttribute('aria-pressed'), window: document.querySelector('#tl-window').textContent, value: document.querySelector('#tl-day').value, v };
    }, v);
  };
  const yesterday = await day(-1);
  if (!yesterday.ok || yesterday.ranges !== 0 || yesterday.pressed !== 'true' || yesterday.value !== yesterday.v) throw new Error(`yesterday: ${JSON.stringify(yesterday)}`);
  const today = await day(0);
  if (!today.ok || today.ranges === 0) throw new Error(`today: ${JSON.stringify(today)}`);
  log(`day picker: ${yesterday.v} shows ${yesterday.window} (nothing recorded), ${today.v} shows ${today.ranges} recorded range(s)`);
  // What is being typed in the day picker survives the refresh.
  await page.locator('#tl-day').focus();
  await page.evaluate(() => { document.querySelector('#tl-day').value = '2020-01-02'; });
  await page.evaluate(() => window.eddy.loadCoverage());
  const typed = await page.locator('#tl-day').inputValue();
  await page.locator('#tl-day').blur();
  if (typed !== '2020-01-02') throw new Error(`the refresh overwrote the day being typed: ${typed}`);

  // Mouse selection: a drag away from the playhead.
  await page.evaluate(() => { window.eddy.stopPlayer(); window.eddy.state.mode = ''; });
  await page.locator('#zoom-10min').click();
  await page.waitForFunction(() => window.eddy.state.span === 600_000 && window.eddy.state.ranges.length > 0, null, { timeout: 10000 });
  const b2 = await page.locator('#timeline').boundingBox();
  await page.mouse.move(b2.x + b2.width * 0.2, b2.y + 10);
  await page.mouse.down();
  await page.mouse.move(b2.x + b2.width * 0.5, b2.y + 10, { steps: 5 });
  await page.mouse.up();
  const sel = await page.evaluate(() => ({ s: window.eddy.state.selection, text: document.querySelector('#selection-text').textContent }));
  const len = lengthText(sel.s.end - sel.s.start);
  if (!(await visible('#btn-download')) || !sel.text.endsWith(` · ${len}`) || !/min/.test(len)) throw new Error(`a 3-minute selection: "${sel.text}", want its length ${len}`);
  log(`mouse selection: "${sel.text}"`);
}

// camera starts ffmpeg publishing the test clip to the stream, looped.
function camera(name = stream) {
  ffmpeg = spawn('ffmpeg', ['-v', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', `${rtsp}/${name}`], { stdio: ['ignore', 'inherit', 'inherit'] });
}

// cameraOff stops ffmpeg and waits for the stream list to say offline.
async function cameraOff() {
  const p = ffmpeg;
  ffmpeg = null;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  await exited;
  for (const deadline = Date.now() + 20000; ; await sleep(250)) {
    const s = (await streams()).find((x) => x.name === stream);
    if (s && !s.live && (s.state ?? 'offline') === 'offline') return;
    if (Date.now() > deadline) throw new Error(`${stream} still live 20 s after its camera stopped: ${JSON.stringify(s)}`);
  }
}

// goesLive: the offline stream's view goes live when its camera does; if
// the user reviews the archive by then, it offers to.
async function goesLive() {
  // Reviewing: an offer, then live on the click.
  await open(stream);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && window.eddy.state.autoArchive, null, { timeout: 30000 });
  const rec = await page.evaluate(() => window.eddy.state.ranges[0]);
  await page.evaluate((t) => window.eddy.playAt(t), rec.start + 3000);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && !window.eddy.state.autoArchive && document.querySelector('#video').readyState >= 2, null, { timeout: 30000 });
  camera();
  await page.waitForFunction(() => !document.querySelector('#btn-go-live').hidden, null, { timeout: 30000, polling: 200 });
  const offer = await page.evaluate(() => ({ text: document.querySelector('#stream-state').textContent, mode: window.eddy.state.mode }));
  if (offer.text !== `${await page.evaluate(() => window.eddy.state.current)} is live now.` || offer.mode !== 'ON_DEMAND') throw new Error(`the offer: ${JSON.stringify(offer)}`);
  await page.locator('#btn-go-live').click();
  await page.waitForFunction(() => window.eddy.state.mode === 'LIVE' && window.eddy.live.frames > 10, null, { timeout: 30000, polling: 200 });
  log(`reviewing when the camera came back: "${offer.text}", live on Watch live`);
  await cameraOff();

  // Watching its last minute: live by itself.
  await open(stream);
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && window.eddy.state.autoArchive, null, { timeout: 30000 });
  camera();
  const t = Date.now();
  await page.waitForFunction(() => window.eddy.state.mode === 'LIVE' && window.eddy.live.frames > 10, null, { timeout: 30000, polling: 200 });
  const got = await page.evaluate(() => ({ badge: document.querySelector('#mode').textContent, banner: document.querySelector('#stream-banner').hidden, poster: document.querySelector('#video').getAttribute('poster'), tech: window.eddy.live.tech }));
  if (got.badge !== 'LIVE' || !got.banner || got.poster) throw new Error(`live: ${JSON.stringify(got)}`);
  if (!(await page.locator('#speed').isDisabled())) throw new Error('the speed is enabled while live');
  log(`the camera came back: live over ${got.tech} ${((Date.now() - t) / 1000).toFixed(1)} s after ffmpeg started`);

  // The wall's list shows the live stream's bitrate.
  await page.evaluate(() => { location.hash = '#/'; });
  await page.locator('#view-list').click();
  const bitrate = await listBitrate(stream, '\\d.*bit/s');
  log(`the wall's list shows live ${stream} at ${bitrate}`);

  // The camera stops while watched live: the view says offline (the
  // server's time of the last recording) and offers the last minute.
  await page.goBack();
  await page.waitForFunction(() => window.eddy.state.mode === 'LIVE' && window.eddy.live.frames > 10, null, { timeout: 30000, polling: 200 });
  await cameraOff();
  await page.waitForFunction(() => !document.querySelector('#stream-banner').hidden && !document.querySelector('#btn-last-minute').hidden,
    null, { timeout: 15000, polling: 200 });
  const now = (await streams()).find((x) => x.name === stream);
  const off = await page.evaluate(() => ({ banner: document.querySelector('#stream-state').textContent, badge: document.querySelector('#mode').textContent, mode: window.eddy.state.mode, hls: !!window.eddy.state.hls, whep: !!window.eddy.state.whep }));
  const want = await page.evaluate((t) => 'Offline — last recorded ' + new Date(t).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' }), Date.parse(now.lastActivity));
  if (off.banner !== want || off.badge !== 'OFFLINE' || off.mode !== '' || off.hls || off.whep) throw new Error(`the camera stopped while watched live: ${JSON.stringify(off)}, want "${want}"`);
  await page.locator('#btn-last-minute').click();
  await page.waitForFunction(() => window.eddy.state.mode === 'ON_DEMAND' && document.querySelector('#video').readyState >= 2, null, { timeout: 30000, polling: 200 });
  const lastNow = Date.parse(now.lastFragment);
  const from = await page.evaluate(() => window.eddy.state.playStart);
  if (!(from >= lastNow - 61_000 && from < lastNow)) throw new Error(`Play last minute plays from ${iso(from)}, the recording ends ${iso(lastNow)}`);
  if (await page.locator('#speed').isDisabled()) throw new Error('the speed is disabled in the archive');
  log(`the camera stopped while watched live: "${off.banner}", Play last minute plays from ${iso(from)}`);
  // The camera comes back: live again.
  camera();
  await page.waitForFunction(() => window.eddy.state.mode === 'LIVE' && window.eddy.live.frames > 10 && document.querySelector('#stream-banner').hidden,
    null, { timeout: 30000, polling: 200 });
  log('the camera came back: live again');
  await cameraOff();
}

// emptyGoesLive: the never-published stream's view plays as soon as a
// camera publishes to it.
async function emptyGoesLive() {
  await open(empty);
  await page.waitForFunction(() => !document.querySelector('#publish-help').hidden, null, { timeout: 10000 });
  camera(empty);
  await page.waitForFunction(() => window.eddy.state.mode === 'LIVE' && window.eddy.live.frames > 10 && document.querySelector('#publish-help').hidden,
    null, { timeout: 30000, polling: 200 });
  for (const sel of ['#video', '#timeline']) if (!(await visible(sel))) throw new Error(`${empty} is live: ${sel} is not shown`);
  log(`${empty}: the first publication plays live, the publish help gone`);
}

const started = Date.now();
let size = '';
try {
  for (const [name, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 800 }]]) {
    size = name;
    const ctx = await browser.newContext({ viewport });
    page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console.' + m.type() + ':', m.text()); });
    page.on('pageerror', (e) => log('pageerror:', e.message));
    await offline(name);
    await twoOffline(name);
    await leaveWhileLoading(name);
    await neverPublished(name);
    await selection(name);
    await codec(name);
    if (name === 'desktop') {
      await review();
      await goesLive();
      await emptyGoesLive();
    }
    await ctx.close();
  }
  log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  const shot = shotPath(size || 'start');
  try { await page?.screenshot({ path: shot, fullPage: true }); log('screenshot:', shot); } catch (se) { log('screenshot failed:', se.message); }
  log('FAIL:', e.message);
  ffmpeg?.kill();
  await browser.close();
  process.exit(1);
}
ffmpeg?.kill();
await browser.close();
