// Drives examples/whep-viewer/index.html in headless Chromium (run by
// main_test.go, with NODE_PATH naming web/node_modules for playwright-core):
// the page served over HTTP and the same page opened from disk each play
// the stream and stop it; a stream that does not exist shows the server's
// answer. Prints one line, RESULT {json}.
//
// Env: EDDY_URL, EDDY_STREAM, VIEWER_URL (the served page), PAGE_FILE
// (index.html on disk), CHROMIUM, SCREENSHOT (written on failure).
const { chromium } = require('playwright-core');

const eddy = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => console.log('console.' + m.type() + ':', m.text()));
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  const result = {};
  try {
    const query = '?endpoint=' + encodeURIComponent(eddy) + '&stream=';
    const pages = { served: process.env.VIEWER_URL + '/', file: 'file://' + process.env.PAGE_FILE };
    for (const [how, base] of Object.entries(pages)) {
      await page.goto(base + query + encodeURIComponent(stream));
      // Playing: frames decoded and the clock moving.
      await page.waitForFunction(() => {
        const v = document.getElementById('video');
        return v.videoWidth > 0 && v.currentTime > 1;
      }, null, { timeout: 20000 });
      const playing = await page.evaluate(() => {
        const v = document.getElementById('video');
        return { width: v.videoWidth, height: v.videoHeight, status: document.getElementById('status').textContent };
      });
      await page.click('#stop');
      await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Stopped'), null, { timeout: 10000 });
      playing.afterStop = await page.textContent('#status');
      result[how] = playing;
    }
    await page.goto(pages.served + query + 'no-such-stream');
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('WHEP POST'), null, { timeout: 10000 });
    result.missing = await page.textContent('#status');
    console.log('RESULT ' + JSON.stringify(result));
  } catch (err) {
    console.log('partial result: ' + JSON.stringify(result));
    await page.screenshot({ path: process.env.SCREENSHOT }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
