// Plays a clip.mp4 in headless Chromium's <video> (driven by
// server/events_media_test.go): the clip carries event boxes (emsg) after
// its media, and a browser must still load it, play it, seek near its end
// (reading the last bytes by HTTP Range) and play it to the end.
//
// Env: EDDY_URL (http://127.0.0.1:PORT), EDDY_CLIP (the clip's path and
// query under EDDY_URL), EDDY_CLIP_SECONDS (its expected duration),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOT (path written on failure).
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const clip = process.env.EDDY_CLIP;
const seconds = Number(process.env.EDDY_CLIP_SECONDS);
const shot = process.env.SCREENSHOT || '/tmp/eddy-clip-play.png';
if (!base || !clip || !seconds) throw new Error('EDDY_URL, EDDY_CLIP and EDDY_CLIP_SECONDS must be set');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
});
const page = await browser.newPage();
page.on('console', (m) => { if (m.type() === 'error') log('console.error:', m.text()); });
let failed = false;
try {
  await page.goto(base + '/');
  const res = await page.evaluate(async ({ src, seconds }) => {
    const v = document.createElement('video');
    v.muted = true;
    document.body.appendChild(v);
    const on = (ev, ms) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${ev} within ${ms} ms (error ${v.error && v.error.message})`)), ms);
      v.addEventListener(ev, () => { clearTimeout(t); resolve(); }, { once: true });
      v.addEventListener('error', () => { clearTimeout(t); reject(new Error(`media error ${v.error.code}: ${v.error.message}`)); }, { once: true });
    });
    v.src = src;
    await on('loadedmetadata', 10000);
    const out = { duration: v.duration, width: v.videoWidth, height: v.videoHeight };
    await v.play();
    while (v.currentTime < 1) await new Promise((r) => setTimeout(r, 50));
    out.played = v.currentTime;
    const seeked = on('seeked', 10000);
    v.currentTime = Math.max(seconds - 1, 0);
    await seeked;
    await on('ended', 10000);
    out.ended = v.currentTime;
    out.frames = v.getVideoPlaybackQuality().totalVideoFrames;
    return out;
  }, { src: clip, seconds });
  log('clip', JSON.stringify(res));
  if (Math.abs(res.duration - seconds) > 0.3 || res.width !== 320 || res.height !== 240 || res.ended < seconds - 0.3 || res.frames === 0) {
    throw new Error(`clip played as ${JSON.stringify(res)}; want ${seconds} s of 320x240 played to the end`);
  }
} catch (e) {
  failed = true;
  log('FAIL', e.message);
  await page.screenshot({ path: shot }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
