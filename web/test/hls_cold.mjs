// hls.js in headless Chromium plays an ON_DEMAND session whose fragments
// are in object storage only (driven by server/web_hls_cold_test.go): at
// 1× from the start to the end, with the web UI's archive settings.
//
// It prints one line "RESULT {json}": the time from play() to the first
// frame shown (firstFrameMs), the waiting events and hls.js stall errors
// after playback started (stalls, with where they happened), whether the
// video ended and at what time, the frames decoded and dropped, and any
// fatal hls.js error. The test judges them.
//
// Env: EDDY_URL (the page is opened on Eddy's origin), HLS_URL (the
// session's master playlist), EXPECT_SECONDS (the session's duration),
// CHROMIUM, SCREENSHOT (written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const hlsURL = process.env.HLS_URL;
const expect = Number(process.env.EXPECT_SECONDS);
const shot = process.env.SCREENSHOT || '/tmp/eddy-hls-cold.png';
if (!base || !hlsURL || !expect) throw new Error('EDDY_URL, HLS_URL and EXPECT_SECONDS must be set');

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

try {
  await page.goto(base + '/api/v1/streams');
  await page.setContent('<!doctype html><video muted playsinline style="width:320px"></video>');
  await page.addScriptTag({ path: 'node_modules/hls.js/dist/hls.min.js' });
  log('hls.js', await page.evaluate(() => window.Hls.version));
  await page.evaluate(({ url }) => {
    const video = document.querySelector('video');
    const Hls = window.Hls;
    // The web UI's settings for the archive (web/src/main.ts, startHls).
    const hls = new Hls({
      lowLatencyMode: false, backBufferLength: 60, maxLiveSyncPlaybackRate: 1,
      maxBufferLength: 120, maxMaxBufferLength: 240,
    });
    const s = window.cold = {
      t0: 0, firstFrameMs: null, playing: false, stalls: [], fatal: [], ended: false, endedAt: null,
      fragsLoaded: 0, fragLoadMs: [],
    };
    const stall = (what) => {
      if (s.playing && !s.ended) s.stalls.push({ what, at: video.currentTime, buffered: bufferedAhead() });
    };
    const bufferedAhead = () => {
      const b = video.buffered;
      for (let i = 0; i < b.length; i++) {
        if (b.start(i) <= video.currentTime + 0.1 && video.currentTime < b.end(i)) return b.end(i) - video.currentTime;
      }
      return 0;
    };
    video.addEventListener('playing', () => { s.playing = true; });
    video.addEventListener('waiting', () => stall('waiting'));
    video.addEventListener('stalled', () => stall('stalled'));
    video.addEventListener('ended', () => { s.ended = true; s.endedAt = video.currentTime; });
    hls.on(Hls.Events.FRAG_LOADED, (_, d) => {
      s.fragsLoaded++;
      const st = d.frag.stats || d.stats;
      if (st && st.loading) s.fragLoadMs.push(Math.round(st.loading.end - st.loading.start));
    });
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (d.fatal) s.fatal.push(`${d.type}/${d.details}`);
      else if (/STALL|HOLE/.test(d.details)) stall(d.details);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    s.t0 = performance.now();
    // The first frame presented (not just decoded): what a viewer waits for.
    video.requestVideoFrameCallback((now) => { s.firstFrameMs = now - s.t0; });
    video.play().catch((e) => s.fatal.push('play(): ' + e.message));
  }, { url: hlsURL });

  // 1× playback of the whole session, with room for start-up.
  const deadline = Date.now() + (expect + 30) * 1000;
  let st;
  for (;;) {
    st = await page.evaluate(() => ({ ...window.cold, t: document.querySelector('video').currentTime }));
    if (st.fatal.length || st.ended || Date.now() > deadline) break;
    await sleep(250);
  }
  const q = await page.evaluate(() => {
    const v = document.querySelector('video');
    const p = v.getVideoPlaybackQuality();
    return { duration: v.duration, frames: p.totalVideoFrames, dropped: p.droppedVideoFrames, rate: v.playbackRate };
  });
  const res = {
    firstFrameMs: st.firstFrameMs, stalls: st.stalls, fatal: st.fatal, ended: st.ended, endedAt: st.endedAt,
    currentTime: st.t, fragsLoaded: st.fragsLoaded, fragLoadMs: st.fragLoadMs, ...q,
  };
  log('played', JSON.stringify(res));
  console.log('RESULT ' + JSON.stringify(res));
  if (!st.ended) await page.screenshot({ path: shot }).catch(() => {});
} catch (e) {
  log('FAIL:', e.message);
  await page.screenshot({ path: shot }).catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
