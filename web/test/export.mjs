// Exports a 30-minute range through the UI in headless Chromium (driven by
// server/clip_export_test.go): opens the stream, shows the last hour,
// drags a selection of 30 minutes over the recording, clicks the download
// link and saves what the browser downloads; then checks the file with
// ffprobe: its size is the Content-Length, it lasts the selection's
// length (within a 2 s fragment at each edge and the clip's seams), its frames are all there (25 fps), and
// the browser's file name is the server's (the stream's name and the
// real start and end of the media); then plays the same link in a
// <video>, seeking to a minute before its end.
//
// Env: EDDY_URL (http://127.0.0.1:PORT), EDDY_STREAM (a stream whose
// archive covers 70 to 24 minutes ago), EDDY_DOWNLOADS (a directory for
// the download), CHROMIUM (default /usr/bin/chromium), SCREENSHOT (path
// written on failure).
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM;
const downloads = process.env.EDDY_DOWNLOADS;
const shot = process.env.SCREENSHOT || '/tmp/eddy-export.png';
if (!base || !stream || !downloads) throw new Error('EDDY_URL, EDDY_STREAM and EDDY_DOWNLOADS must be set');
mkdirSync(downloads, { recursive: true });

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
    '--autoplay-policy=no-user-gesture-required'],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
const page = await context.newPage();
page.on('console', (m) => { if (m.type() === 'error') log('console.error:', m.text()); });
page.on('pageerror', (e) => log('pageerror:', e.message));
let failed = false;
try {
  await page.goto(base + '/');
  // The camera wall: the stream's tile opens its view by a link.
  await page.locator(`#wall-grid [data-stream="${stream}"]`).getByRole('link', { name: `Open ${stream}` }).click({ timeout: 15000 });
  await page.locator('#zoom-hour').click();
  await page.locator('#tl-coverage > div').first().waitFor({ timeout: 15000 });

  // Drag from 60 to 30 minutes ago on the hour-wide timeline. The layout
  // moves when the player gets its size: measure again and drag again
  // until the selection's download link shows (the selection's buttons
  // show only while there is a selection).
  const link = page.locator('#btn-download');
  for (let i = 0; ; i++) {
    await page.locator('#timeline').scrollIntoViewIfNeeded();
    const tl = await page.locator('#timeline').boundingBox();
    const y = tl.y + tl.height / 2;
    await page.mouse.move(tl.x + 2, y);
    await page.mouse.down();
    await page.mouse.move(tl.x + tl.width * 0.5, y, { steps: 10 });
    await page.mouse.up();
    try {
      await link.waitFor({ state: 'visible', timeout: 2000 });
      break;
    } catch (e) {
      if (i === 5) throw e;
    }
  }
  const href = await link.getAttribute('href');
  const q = new URL(href, base).searchParams;
  const selected = (Date.parse(q.get('end')) - Date.parse(q.get('start'))) / 1000;
  log('selection', q.get('start'), '–', q.get('end'), `(${selected.toFixed(1)} s)`);
  if (Math.abs(selected - 1800) > 120) throw new Error(`selected ${selected} s, want about 30 minutes`);

  // What the server answers for the link: its first byte tells the
  // whole length and the file name.
  const head = await page.request.get(base + href, { headers: { Range: 'bytes=0-0' } });
  const length = Number((head.headers()['content-range'] || '').split('/')[1]);
  const disposition = head.headers()['content-disposition'] || '';
  const serverName = (disposition.match(/filename="([^"]+)"/) || [])[1];
  log('first byte:', head.status(), length, 'bytes in all,', disposition);
  if (head.status() !== 206 || !length || !serverName) throw new Error(`GET ${href} bytes=0-0: ${head.status()} ${JSON.stringify(head.headers())}`);

  // The browser's download, by clicking the link.
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), link.click()]);
  const file = join(downloads, 'export.mp4');
  await dl.saveAs(file);
  if (await dl.failure()) throw new Error('download failed: ' + (await dl.failure()));
  const size = statSync(file).size;
  log('downloaded', dl.suggestedFilename(), size, 'bytes');
  if (size !== length) throw new Error(`downloaded ${size} bytes, Content-Length ${length}`);
  const m = serverName.match(/^(.*)-(\d{8}T\d{6}Z)-(\d{8}T\d{6}Z)\.mp4$/);
  if (!m || m[1] !== stream) throw new Error(`file name ${serverName}`);
  const stamp = (s) => Date.parse(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
  const span = (stamp(m[3]) - stamp(m[2])) / 1000;

  // ffprobe: the duration and the frames of the download.
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_packets', '-select_streams', 'v',
    '-show_entries', 'format=duration:stream=nb_read_packets', '-of', 'json', file]).toString());
  const duration = Number(probe.format.duration);
  const frames = Number(probe.streams[0].nb_read_packets);
  log('ffprobe', duration, 's,', frames, 'frames; file name span', span, 's');
  // The export holds the whole 2 s fragments that start inside the
  // selection, so each edge moves by up to one; and the looped test clip
  // (ffmpeg -stream_loop: its audio lasts 20.04 s, its video 20 s) leaves
  // about 16 ms between two fragments at each seam, 1.4 s in 30 minutes,
  // which the export's timeline does not have. Hence up to 3.5 s short
  // (4 allowed) or 2 s long.
  if (duration < selected - 4 || duration > selected + 2) throw new Error(`the export lasts ${duration} s, the selection ${selected} s`);
  if (Math.abs(duration - span) > 3) throw new Error(`the export lasts ${duration} s, its file name says ${span} s`);
  if (Math.abs(frames - duration * 25) > 2) throw new Error(`${frames} frames in ${duration} s at 25 fps`);
  if (dl.suggestedFilename() !== serverName) throw new Error(`the browser named the file ${dl.suggestedFilename()}, the server ${serverName}`);

  // The same link plays in a <video>: its length, and a seek near its
  // end plays from there (the sidx leads the browser to the fragment).
  const played = await page.evaluate(async (src) => {
    const v = document.createElement('video');
    v.muted = true;
    document.body.appendChild(v);
    const on = (ev, ms) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${ev} within ${ms} ms`)), ms);
      v.addEventListener(ev, () => { clearTimeout(t); resolve(); }, { once: true });
      v.addEventListener('error', () => { clearTimeout(t); reject(new Error(`media error ${v.error.code}: ${v.error.message}`)); }, { once: true });
    });
    v.src = src;
    await on('loadedmetadata', 15000);
    const out = { duration: v.duration };
    const seeked = on('seeked', 15000);
    v.currentTime = v.duration - 60;
    await seeked;
    out.seekedTo = v.currentTime;
    await v.play();
    const t0 = v.currentTime;
    // Bounded: a player stalled after the seek fails here, not at the
    // test's own timeout.
    const until = Date.now() + 15000;
    while (v.currentTime < t0 + 1) {
      if (Date.now() > until) throw new Error(`<video> stalled at ${v.currentTime} s (from ${t0} s) for 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    out.playedTo = v.currentTime;
    v.remove();
    return out;
  }, href);
  log('<video>', JSON.stringify(played));
  if (Math.abs(played.duration - duration) > 0.5 || Math.abs(played.seekedTo - (played.duration - 60)) > 2.5) {
    throw new Error(`<video> of the export: ${JSON.stringify(played)}; want ${duration} s and a seek to 60 s before the end`);
  }
} catch (e) {
  failed = true;
  log('FAIL', e.message);
  await page.screenshot({ path: shot }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
