// Helpers shared by the browser tests that use the archive timeline.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// coverageBox returns the viewport box of the widest recorded range on the
// timeline (#tl-coverage > div), for page.mouse. The timeline redraws its
// blocks on every coverage load (every 10 s, and on a click), and a range
// may be narrower than a pixel, so a locator's first block can be detached
// or have no box by the time it is measured; this measures every block in
// one pass in the page and tries again for up to 5 s.
export async function coverageBox(page) {
  await page.locator('#timeline').scrollIntoViewIfNeeded(); // a mouse click lands only inside the viewport
  for (let i = 0; i < 50; i++) {
    const box = await page.evaluate(() => {
      let best = null;
      for (const d of document.querySelectorAll('#tl-coverage > div')) {
        const r = d.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && (!best || r.width > best.width)) best = { x: r.x, y: r.y, width: r.width, height: r.height };
      }
      return best;
    });
    if (box) return box;
    await sleep(100);
  }
  throw new Error('no recorded range is drawn on the timeline');
}
