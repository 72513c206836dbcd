// Browser test of the console (driven by server/web_console_test.go): the
// camera wall, the list view, stream management, the status page, the
// phone layout, dark mode and an accessibility pass (axe-core), in
// headless Chromium at desktop (1280×800) and phone (390×844) sizes.
//
// Open mode (no credentials; EDDY_AUTH unset), at each size:
//   - the wall shows a tile for every stream of GET /api/v1/streams with
//     its state; the live tile plays over WebRTC (frames counted with
//     requestVideoFrameCallback); the offline tile shows a thumbnail (a
//     decoded image); a long name is ellipsized with the full name in its
//     title; each tile's codecs, retention and events today are the API's
//     (EDDY_EVENTS events were written to the live stream);
//   - on the desktop, the keyboard focus survives the wall's refreshes (a
//     tile's Manage link, a list row's link, a sort button);
//   - on the phone: one column, nothing wider than the screen, tap
//     targets of at least 24×24 px;
//   - the list view: sort by a column, filter by state, search by name
//     (a search that matches nothing is quoted as typed), and the choice of
//     view remembered after a reload;
//   - axe finds nothing serious or critical on the wall, the list, a
//     stream's view, the new-stream page, a management page and the status
//     page, in light and dark mode.
// Then, once (desktop): the theme picker; creating a stream (name,
// retention, size cap) and a refused second create (the API's sentence);
// the publish URLs and their copy button; a retention and a size cap
// change (each button keeps the focus); deleting a stream with the typed
// confirmation (the wall then says so, focused); the status page's disk,
// sessions, sources and errors, updated in place (the focus stays). server/web_console_test.go checks the outcome with
// the SDK.
//
// Auth mode (EDDY_AUTH=viewer-key:secret,admin-key:secret): the login
// page passes axe; the viewer sees no "New stream" button and no Status
// link, a sentence on #/status and the 403 of a management page; the admin
// sees the status page, and a never-published stream's view shows the
// management page's publish panel, credentials sentence included.
//
// Env: EDDY_URL; EDDY_LIVE, EDDY_OFFLINE, EDDY_EMPTY (stream names in those
// states), EDDY_CREATE (a name to create), EDDY_DELETE (a stream to delete),
// EDDY_SOURCE (a stream fed by a pull source that cannot connect),
// EDDY_EVENTS (how many events today the live stream has);
// CHROMIUM; ARTIFACTS (directory for screenshots and console logs on
// failure).
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const base = process.env.EDDY_URL;
if (!base) throw new Error('EDDY_URL is not set');
const env = (k) => process.env[k] || '';
const artifacts = env('ARTIFACTS') || '/tmp/eddy-console-artifacts';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const log = (...a) => console.log(new Date().toISOString().slice(11, 23), ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const check = (ok, msg) => { if (!ok) throw new Error(msg); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'],
});

const pages = []; // [label, page, console lines]
async function newPage(label, viewport, colorScheme = 'light') {
  const context = await browser.newContext({ viewport, colorScheme, permissions: ['clipboard-read', 'clipboard-write'] });
  const p = await context.newPage();
  const lines = [];
  p.on('console', (m) => {
    lines.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error' || m.type() === 'warning') log(`[${label}] console.${m.type()}:`, m.text());
  });
  p.on('pageerror', (e) => { lines.push('pageerror: ' + e.message); log(`[${label}] pageerror:`, e.message); });
  pages.push([label, p, lines]);
  return p;
}

// axe runs axe-core on the page as it is and fails on serious or
// critical violations.
async function axe(p, what) {
  // Evaluated, not added as a <script>: the page's CSP allows no inline script.
  if (!(await p.evaluate(() => 'axe' in window))) await p.evaluate(axeSource);
  const res = await p.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of res) log(`axe ${what}: ${v.impact} ${v.id}: ${v.help}${v.impact === 'serious' || v.impact === 'critical' ? '\n  ' + v.nodes.join('\n  ') : ''}`);
  check(bad.length === 0, `axe (${what}): ${bad.map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.join('; ')}`).join(' | ')}`);
  log(`axe ${what}: no serious or critical violations (${res.length} lesser)`);
}

// go opens a route and waits for its page.
async function go(p, hash, pageId) {
  await p.evaluate((h) => { location.hash = h; }, hash);
  await p.locator('#' + pageId).waitFor({ state: 'visible', timeout: 10000 });
}

async function setScheme(p, scheme) {
  await p.emulateMedia({ colorScheme: scheme });
}

// noOverflow checks nothing is wider than the viewport.
async function noOverflow(p, what) {
  const r = await p.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const wide = [];
    for (const e of document.querySelectorAll('body *')) {
      const b = e.getBoundingClientRect();
      if (b.width === 0 || b.height === 0) continue;
      if (b.right > w + 1) wide.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className} right=${Math.round(b.right)}`);
    }
    return { scroll: document.documentElement.scrollWidth, w, wide: wide.slice(0, 8) };
  });
  check(r.scroll <= r.w && r.wide.length === 0, `${what}: wider than the ${r.w}px screen (scrollWidth ${r.scroll}): ${r.wide.join(', ')}`);
}

// tapTargets checks every visible control is at least 24×24 px.
async function tapTargets(p, what) {
  const small = await p.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll('button, a[href], input, select, [role="button"], [tabindex="0"]')) {
      const b = e.getBoundingClientRect();
      if (b.width === 0 || b.height === 0 || getComputedStyle(e).visibility === 'hidden') continue;
      if (b.width < 24 || b.height < 24) out.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${(e.textContent || e.getAttribute('aria-label') || '').trim().slice(0, 30)}" ${Math.round(b.width)}×${Math.round(b.height)}`);
    }
    return out;
  });
  check(small.length === 0, `${what}: tap targets under 24×24 px: ${small.join(', ')}`);
}

const streamsAPI = async (p, query = '') => (await p.request.get(base + '/api/v1/streams' + query)).json();

// refreshed waits until the text of sel changes: the page refreshed (the
// wall's status line and the status page's "Updated" line carry the time).
async function refreshed(p, sel, what) {
  const before = await p.locator(sel).textContent();
  try {
    await p.waitForFunction(([s, t]) => document.querySelector(s)?.textContent !== t, [sel, before], { timeout: 15000, polling: 200 });
  } catch {
    throw new Error(`${what}: ${sel} still says "${before}" after 15 s: no refresh`);
  }
}

// keepsFocus focuses the element of locator, waits for a refresh of the
// page (sel) and checks the same element still has the focus.
async function keepsFocus(p, locator, sel, what) {
  await locator.focus();
  await locator.evaluate((e) => { window.focusedBefore = e; });
  check(await p.evaluate(() => document.activeElement === window.focusedBefore), `${what}: not focused to begin with`);
  await refreshed(p, sel, what);
  const now = await p.evaluate(() => {
    const a = document.activeElement;
    return { same: a === window.focusedBefore && a.isConnected, now: a ? `${a.tagName.toLowerCase()}#${a.id}.${a.className} "${(a.textContent || a.getAttribute('aria-label') || '').trim().slice(0, 40)}"` : 'none' };
  });
  check(now.same, `${what}: the focus moved to ${now.now} on a refresh`);
  log(`${what}: the focus stays across a refresh`);
}

// tileFacts reads each tile's facts (term -> text) by stream name.
const tileFacts = (tiles) => tiles.evaluateAll((ls) => Object.fromEntries(ls.map((l) => [l.dataset.stream,
  Object.fromEntries([...l.querySelectorAll('.tile-facts dt')].filter((dt) => !dt.hidden).map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))])));

// ---- open mode: the wall, the list, management, status

async function wallChecks(p, label, phone) {
  await p.goto(base + '/', { waitUntil: 'load' });
  await p.evaluate(() => { localStorage.removeItem('eddy.wallView'); localStorage.removeItem('eddy.theme'); });
  await p.reload({ waitUntil: 'load' });
  const tiles = p.locator('#wall-grid > li.tile');
  await p.locator(`#wall-grid [data-stream="${env('EDDY_LIVE')}"][data-state="live"]`).waitFor({ timeout: 20000 });
  const api = await streamsAPI(p);
  const shown = await tiles.evaluateAll((ls) => ls.map((l) => [l.dataset.stream, l.dataset.state]));
  check(shown.length === api.length, `${label}: ${shown.length} tiles for ${api.length} streams: ${JSON.stringify(shown)}`);
  for (const s of api) {
    const t = shown.find(([n]) => n === s.name);
    check(t && t[1] === s.state, `${label}: tile of ${s.name} is ${t?.[1]}, the API says ${s.state}`);
  }
  const want = { [env('EDDY_LIVE')]: 'live', [env('EDDY_OFFLINE')]: 'offline', [env('EDDY_EMPTY')]: 'empty' };
  for (const [n, st] of Object.entries(want)) {
    check(shown.some(([m, s]) => m === n && s === st), `${label}: no ${st} tile for ${n}: ${JSON.stringify(shown)}`);
  }
  log(`${label}: ${shown.length} tiles: ${shown.map(([n, s]) => `${n}=${s}`).join(' ')}`);

  // Each tile's codecs, retention and events today are the API's, asked
  // as the page asks: events since the browser's midnight.
  const midnight = await p.evaluate(() => { const n = new Date(); return new Date(n.getFullYear(), n.getMonth(), n.getDate()).toISOString(); });
  const today = await streamsAPI(p, '?eventsSince=' + encodeURIComponent(midnight));
  const facts = await tileFacts(tiles);
  for (const s of today) {
    const f = facts[s.name];
    const codecs = s.codecs.length ? s.codecs.join(', ') : '—';
    const h = s.retentionHours;
    const ret = h === 0 ? 'none' : h % 24 === 0 ? `${h / 24} d` : `${h} h`;
    check(f?.Codecs === codecs, `${label}: tile of ${s.name} says codecs "${f?.Codecs}", the API ${JSON.stringify(s.codecs)}`);
    check(s.maxBytes ? f.Retention.startsWith(ret + ' · cap ') : f.Retention === ret, `${label}: tile of ${s.name} says retention "${f.Retention}", the API ${h} h, cap ${s.maxBytes}`);
    check(f['Events today'] === String(s.eventsToday), `${label}: tile of ${s.name} says ${f['Events today']} events today, the API ${s.eventsToday}`);
  }
  const liveRow = today.find((s) => s.name === env('EDDY_LIVE'));
  check(liveRow.codecs.length > 0, `${label}: the live stream has no codecs: ${JSON.stringify(liveRow)}`);
  check(liveRow.eventsToday === Number(env('EDDY_EVENTS')), `${label}: the API counts ${liveRow.eventsToday} events today on ${liveRow.name}, ${env('EDDY_EVENTS')} were written`);
  log(`${label}: tile facts match the API: ${env('EDDY_LIVE')} ${JSON.stringify(facts[env('EDDY_LIVE')])}`);

  // The live tile plays over WebRTC.
  const live = env('EDDY_LIVE');
  try {
    await p.waitForFunction((n) => window.eddy.wall.stats()[n]?.frames >= 20, live, { timeout: 20000, polling: 200 });
  } catch {
    throw new Error(`${label}: the live tile of ${live} shows no 20 frames: ${JSON.stringify(await p.evaluate(() => window.eddy.wall.stats()))}`);
  }
  // It keeps playing across the wall's refreshes (every 3 s).
  const f0 = (await p.evaluate(() => window.eddy.wall.stats()))[live].frames;
  await sleep(4000);
  const f1 = (await p.evaluate(() => window.eddy.wall.stats()))[live].frames;
  check(f1 - f0 >= 30, `${label}: the live tile showed ${f1 - f0} frames in 4 s`);
  const size = await p.locator(`[data-stream="${live}"] video`).evaluate((v) => [v.videoWidth, v.videoHeight]);
  check(size[0] > 0 && size[1] > 0, `${label}: live tile video size ${size}`);
  log(`${label}: live tile of ${live} plays ${size.join('×')}: ${JSON.stringify((await p.evaluate(() => window.eddy.wall.stats()))[live])}`);

  // The offline tile shows a decoded thumbnail; the empty one a sentence.
  const off = env('EDDY_OFFLINE');
  const img = p.locator(`[data-stream="${off}"] img`);
  await p.waitForFunction((n) => {
    const i = document.querySelector(`[data-stream="${n}"] img`);
    return i && i.complete && i.naturalWidth > 0;
  }, off, { timeout: 20000, polling: 200 });
  const nat = await img.evaluate((i) => [i.naturalWidth, i.naturalHeight, i.src]);
  check(nat[0] === 320 && /\/thumbnail\?/.test(nat[2]), `${label}: offline thumbnail ${nat}`);
  log(`${label}: offline tile of ${off} shows a ${nat[0]}×${nat[1]} thumbnail`);
  check(await p.locator(`[data-stream="${env('EDDY_EMPTY')}"] .tile-placeholder`).isVisible(), `${label}: the empty tile has no sentence`);

  // A long name is ellipsized, whole in its title.
  const long = await p.locator(`[data-stream="${off}"] .tile-name`).evaluate((e) => ({ title: e.title, cut: e.scrollWidth > e.clientWidth, overflow: getComputedStyle(e).textOverflow }));
  check(long.title === off && long.overflow === 'ellipsis', `${label}: long name ${JSON.stringify(long)}`);
  if (phone || off.length > 30) check(long.cut, `${label}: the long name ${off} is not cut: ${JSON.stringify(long)}`);

  if (phone) {
    const xs = await tiles.evaluateAll((ls) => ls.map((l) => Math.round(l.getBoundingClientRect().left)));
    check(new Set(xs).size === 1, `${label}: tiles not in one column: lefts ${xs}`);
    await noOverflow(p, `${label} wall`);
    await tapTargets(p, `${label} wall`);
  }
  await axe(p, `${label} wall light`);
  await setScheme(p, 'dark');
  await axe(p, `${label} wall dark`);
  await setScheme(p, 'light');
  // A refresh (every 3 s) leaves the keyboard focus where it was.
  if (!phone) await keepsFocus(p, p.getByRole('link', { name: `Manage ${live}` }), '#streams-status', `${label} wall: Manage ${live}`);

  // The stream view opens from a tile.
  await p.locator(`[data-stream="${live}"]`).getByRole('link', { name: `Open ${live}` }).click();
  await p.locator('#viewer').waitFor({ state: 'visible', timeout: 10000 });
  check((await p.locator('#viewer-h').textContent()) === live, `${label}: the stream view shows ${await p.locator('#viewer-h').textContent()}`);
  check(decodeURIComponent(new URL(p.url()).hash) === `#/stream/${live}`, `${label}: route ${p.url()}`);
  await sleep(1500);
  await axe(p, `${label} stream view light`);
  await setScheme(p, 'dark');
  await axe(p, `${label} stream view dark`);
  await setScheme(p, 'light');
  if (phone) await noOverflow(p, `${label} stream view`);
  await go(p, '#/', 'page-wall');

  // List view: sort, filter, search; the choice is remembered.
  await p.getByRole('button', { name: 'List' }).click();
  const rows = p.locator('#wall-list tbody tr');
  await p.locator('#wall-list').waitFor({ state: 'visible' });
  const names = () => rows.evaluateAll((rs) => rs.map((r) => r.dataset.stream));
  const all = await names();
  check(all.length === api.length, `${label} list: ${all.length} rows for ${api.length} streams`);
  check(JSON.stringify(all) === JSON.stringify([...all].sort()), `${label} list: not sorted by name: ${all}`);
  await p.locator('#wall-list th[data-key="name"] button').click();
  const desc = await names();
  check(JSON.stringify(desc) === JSON.stringify([...all].sort().reverse()), `${label} list: not sorted by name descending: ${desc}`);
  check(await p.locator('#wall-list th[data-key="name"]').getAttribute('aria-sort') === 'descending', `${label}: aria-sort`);
  await p.locator('#wall-list th[data-key="state"] button').click();
  const byState = await rows.evaluateAll((rs) => rs.map((r) => r.dataset.state));
  const order = { live: 0, offline: 1, empty: 2 };
  check(byState.every((s, i) => i === 0 || order[byState[i - 1]] <= order[s]), `${label} list: not sorted by state: ${byState}`);
  await p.getByLabel('Show streams in state').selectOption('offline');
  const offRows = await rows.evaluateAll((rs) => rs.map((r) => r.dataset.state));
  check(offRows.length === api.filter((s) => s.state === 'offline').length && offRows.every((s) => s === 'offline'), `${label} list: offline filter shows ${offRows}`);
  await p.getByLabel('Show streams in state').selectOption('');
  const term = off.slice(0, 6).toUpperCase();
  await p.getByLabel('Search streams by name').fill(term);
  const found = await names();
  const wantFound = api.filter((s) => s.name.toLowerCase().includes(term.toLowerCase())).map((s) => s.name).sort();
  check(JSON.stringify([...found].sort()) === JSON.stringify(wantFound) && found.includes(off), `${label} list: search ${term} shows ${found}, want ${wantFound}`);
  await p.getByLabel('Search streams by name').fill('No-Such-Stream ');
  const none = await p.locator('#wall-none').textContent();
  check(none === 'No stream matches “No-Such-Stream”.' && await p.locator('#wall-list').isHidden(), `${label}: a search that matches nothing: ${none}`);
  await p.getByLabel('Search streams by name').fill('');
  log(`${label}: list view sorts, filters and searches (${all.length} rows)`);
  if (!phone) {
    await keepsFocus(p, p.locator(`#wall-list tbody tr[data-stream="${live}"] a.cell-name`), '#streams-status', `${label} list: the link of ${live}`);
    // A sort chosen with the keyboard: its button keeps the focus.
    const sortBy = p.locator('#wall-list th[data-key="events"] button');
    await sortBy.focus();
    await p.keyboard.press('Enter');
    check(await p.locator('#wall-list th[data-key="events"]').getAttribute('aria-sort') === 'descending', `${label}: Enter on "Events today" does not sort by it`);
    await keepsFocus(p, sortBy, '#streams-status', `${label} list: the "Events today" sort button`);
    await p.locator('#wall-list th[data-key="name"] button').click();
  }
  if (phone) { await noOverflow(p, `${label} list`); await tapTargets(p, `${label} list`); }
  await axe(p, `${label} list light`);
  await setScheme(p, 'dark');
  await axe(p, `${label} list dark`);
  await setScheme(p, 'light');
  await p.reload({ waitUntil: 'load' });
  await p.locator('#wall-list tbody tr').first().waitFor({ timeout: 10000 });
  check(await p.locator('#wall-grid').isHidden(), `${label}: the list view is not remembered`);
  check(await p.getByRole('button', { name: 'List' }).getAttribute('aria-pressed') === 'true', `${label}: List not pressed after reload`);
  await p.getByRole('button', { name: 'Grid' }).click();
  await p.locator('#wall-grid > li').first().waitFor();

  // The management pages and the status page pass axe too.
  for (const [hash, id, ready] of [
    ['#/streams/new', 'page-new', '#new-form'],
    ['#/manage/' + encodeURIComponent(live), 'page-manage', '#copy-rtsp'],
    ['#/status', 'page-status', '#status-body'],
  ]) {
    await go(p, hash, id);
    await p.locator(ready).waitFor({ timeout: 10000 });
    if (phone) { await noOverflow(p, `${label} ${hash}`); await tapTargets(p, `${label} ${hash}`); }
    await axe(p, `${label} ${hash} light`);
    await setScheme(p, 'dark');
    await axe(p, `${label} ${hash} dark`);
    await setScheme(p, 'light');
  }
  await go(p, '#/', 'page-wall');
}

async function themePicker(p) {
  await p.goto(base + '/', { waitUntil: 'load' });
  const bg = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await bg();
  await p.getByLabel('Color theme').selectOption('dark');
  const dark = await bg();
  check(light !== dark && (await p.evaluate(() => document.documentElement.dataset.theme)) === 'dark', `theme picker: background ${light} -> ${dark}`);
  await p.reload({ waitUntil: 'load' });
  check((await bg()) === dark, 'theme picker: dark not remembered');
  await p.getByLabel('Color theme').selectOption('');
  check((await bg()) === light, 'theme picker: back to the system theme');
  log(`theme picker: ${light} -> ${dark}, remembered`);
}

async function management(p) {
  const name = env('EDDY_CREATE');
  await p.goto(base + '/', { waitUntil: 'load' });
  await p.getByRole('link', { name: 'New stream' }).click();
  await p.locator('#new-form').waitFor();
  await p.getByLabel('Name', { exact: true }).fill(name);
  await p.getByLabel('Retention', { exact: true }).fill('2');
  await p.getByLabel('Retention unit').selectOption('d');
  await p.getByLabel('Size cap', { exact: true }).fill('1.5');
  await p.getByLabel('Size cap unit').selectOption('GB');
  await p.getByRole('button', { name: 'Create stream' }).click();
  await p.locator('#manage-h').waitFor({ timeout: 10000 });
  await p.locator('#manage-status.ok').waitFor();
  check((await p.locator('#manage-status').textContent()).includes(`Created ${name}`), 'no "Created" message');
  const facts = await p.locator('#page-manage dl.kv').first().textContent();
  check(/Retention\s*2 d/.test(facts) && /Size cap\s*1\.50 GB/.test(facts), `created stream facts: ${facts}`);
  log(`created ${name} from the UI: ${facts.replace(/\s+/g, ' ')}`);

  // Its publish URLs, from the server's listeners; the copy button copies.
  const rtsp = await p.locator('#copy-rtsp').inputValue();
  check(new RegExp(`^rtsp://127\\.0\\.0\\.1:\\d+/${name}$`).test(rtsp), `RTSP URL ${rtsp}`);
  const whip = await p.locator('#copy-whip').inputValue();
  check(whip === `${base}/webrtc/${name}/whip`, `WHIP URL ${whip}`);
  const ff = await p.locator('#copy-ffmpeg').inputValue();
  check(ff.startsWith('ffmpeg ') && ff.endsWith(' ' + rtsp), `ffmpeg command ${ff}`);
  const pm = await p.locator('#copy-putmedia').inputValue();
  check(pm === `eddy putmedia --endpoint ${base} FILE ${name}`, `PutMedia line ${pm}`);
  await p.getByRole('button', { name: 'Copy the RTSP URL' }).click();
  const copied = await p.evaluate(() => navigator.clipboard.readText());
  check(copied === rtsp, `copied ${copied}, want ${rtsp}`);
  log(`publish URLs: ${rtsp}, ${whip}; copy works`);

  // The new stream is on the wall, empty.
  await go(p, '#/', 'page-wall');
  await p.locator(`#wall-grid [data-stream="${name}"][data-state="empty"]`).waitFor({ timeout: 10000 });

  // A second create of the same name: the API's error, as its sentence.
  await go(p, '#/streams/new', 'page-new');
  await p.getByLabel('Name', { exact: true }).fill(name);
  await p.getByRole('button', { name: 'Create stream' }).click();
  await p.locator('#new-status.error').waitFor({ timeout: 10000 });
  const refused = await p.locator('#new-status').textContent();
  check(/ResourceInUseException: .+/.test(refused), `second create: ${refused}`);
  log('second create:', refused);

  // Retention: 2 days -> 5 hours (a decrease).
  await go(p, '#/manage/' + encodeURIComponent(name), 'page-manage');
  await p.locator('#ret-form').waitFor({ timeout: 10000 });
  await p.getByLabel('Keep recordings for').fill('5');
  await p.locator('#ret-unit').selectOption('h');
  const change = p.getByRole('button', { name: 'Change retention' });
  await change.evaluate((e) => { window.focusedBefore = e; });
  await change.click();
  await p.locator('#ret-status.ok').waitFor({ timeout: 10000 });
  const facts2 = await p.locator('#page-manage dl.kv').first().textContent();
  check(/Retention\s*5 h/.test(facts2), `after the retention change: ${facts2}`);
  check(await p.evaluate(() => document.activeElement === window.focusedBefore && window.focusedBefore.isConnected), 'the retention change lost the focus of its button');
  log('retention changed:', await p.locator('#ret-status').textContent());

  // Size cap: 1.5 GB -> 3 GB; the button keeps the focus.
  await p.getByRole('spinbutton', { name: 'Size cap' }).fill('3');
  await p.locator('#cap-unit').selectOption('GB');
  const capChange = p.getByRole('button', { name: 'Change size cap' });
  await capChange.evaluate((e) => { window.focusedBefore = e; });
  await capChange.click();
  await p.locator('#cap-status.ok').waitFor({ timeout: 10000 });
  check((await p.locator('#cap-status').textContent()) === 'Size cap is now 3.00 GB.', `size cap message: ${await p.locator('#cap-status').textContent()}`);
  const facts3 = await p.locator('#page-manage dl.kv').first().textContent();
  check(/Size cap\s*3\.00 GB/.test(facts3) && /Retention\s*5 h/.test(facts3), `after the size cap change: ${facts3}`);
  check(await p.evaluate(() => document.activeElement === window.focusedBefore && window.focusedBefore.isConnected), 'the size cap change lost the focus of its button');
  log('size cap changed:', await p.locator('#cap-status').textContent());

  // The stream fed by a failing pull source shows its state and error.
  const src = env('EDDY_SOURCE');
  if (src) {
    await go(p, '#/manage/' + encodeURIComponent(src), 'page-manage');
    await p.locator('#source-h').waitFor({ timeout: 10000 });
    const s = await p.locator('#source-h').locator('..').textContent();
    check(/State\s*(retrying|connecting)/.test(s) && /Last error/.test(s), `pull source panel: ${s}`);
    log('pull source:', s.replace(/\s+/g, ' '));
  }

  // Delete, with the name typed.
  const del = env('EDDY_DELETE');
  await go(p, '#/manage/' + encodeURIComponent(del), 'page-manage');
  await p.getByRole('button', { name: 'Delete stream…' }).click();
  const dlg = p.getByRole('dialog');
  await dlg.waitFor();
  const ok = dlg.getByRole('button', { name: 'Delete', exact: true });
  await dlg.getByLabel(/Type the stream's name/).fill(del + 'x');
  check(await ok.isDisabled(), 'Delete enabled with a wrong name');
  await axe(p, 'delete dialog');
  await dlg.getByLabel(/Type the stream's name/).fill(del);
  check(await ok.isEnabled(), 'Delete disabled with the name typed');
  await ok.click();
  await p.locator('#page-wall').waitFor({ state: 'visible', timeout: 10000 });
  await p.waitForFunction((n) => !document.querySelector(`#wall-grid [data-stream="${n}"]`), del, { timeout: 10000 });
  // The wall says so, and has the focus the dialog had.
  const notice = await p.evaluate(() => ({ text: document.getElementById('wall-notice')?.textContent, focused: document.activeElement?.id }));
  check(notice.text === `Deleted ${del}.` && notice.focused === 'wall-notice', `after the delete, the wall: ${JSON.stringify(notice)}`);
  log(`deleted ${del} from the UI: "${notice.text}"`);
}

async function statusPage(p) {
  await go(p, '#/status', 'page-status');
  await p.locator('#status-body').waitFor({ timeout: 10000 });
  const disk = await p.locator('#disk-text').textContent();
  check(/Eddy stores [\d.]+ [KMGT]?B; [\d.]+ [KMGT]?B free of [\d.]+ [KMGT]?B/.test(disk), `disk: ${disk}`);
  const bar = await p.locator('.disk-bar .eddy').evaluate((e) => e.style.width);
  check(/%$/.test(bar), `disk bar: ${bar}`);
  const pubs = await p.locator('#status-sessions tr[data-protocol="rtsp_publish"] td.num').textContent();
  check(Number(pubs) >= 1, `RTSP publishers: ${pubs}`);
  const st = await (await p.request.get(base + '/api/v1/ui/status')).json();
  check((await p.locator('#status-streams').textContent()) === `${st.streams.video} (${st.streams.live} live)`, 'stream counts');
  if (env('EDDY_SOURCE')) {
    const row = await p.locator('#status-sources tbody tr').filter({ hasText: env('EDDY_SOURCE') }).textContent();
    check(/retrying|connecting/.test(row), `sources row: ${row}`);
  }
  if (st.errors.length) {
    const n = await p.locator('#status-errors tbody tr').count();
    check(n === st.errors.length, `${n} error rows for ${st.errors.length} errors`);
    const first = await p.locator('#status-errors tbody tr').first().textContent();
    check(first.includes(st.errors[0].message) && first.includes(st.errors[0].level), `first error row: ${first}`);
    log(`status: ${n} recent errors; first: ${first}`);
  } else {
    check(await p.locator('#status-no-errors').isVisible(), 'no errors and no sentence saying so');
  }
  log(`status: ${disk}; ${pubs} RTSP publisher(s)`);
  // A refresh (every 5 s) updates the figures in place: the focus (on the
  // pull sources' table region) and the elements stay.
  await p.locator('#status-streams').evaluate((e) => { window.streamsBefore = e; });
  if (env('EDDY_SOURCE')) await keepsFocus(p, p.locator('#status-sources').locator('..'), '#status-updated', 'status page: the pull sources table');
  else await refreshed(p, '#status-updated', 'status page');
  check(await p.evaluate(() => document.getElementById('status-streams') === window.streamsBefore), 'status page: a refresh rebuilt the page');
}

// ---- auth mode

async function login(p, key, secret) {
  await p.goto(base + '/', { waitUntil: 'load' });
  await p.locator('#page-login').waitFor({ state: 'visible' });
  await p.getByLabel('Access key id').fill(key);
  await p.getByLabel('Secret access key').fill(secret);
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.locator('#page-wall').waitFor({ state: 'visible', timeout: 10000 });
}

async function authChecks() {
  const [viewer, admin] = env('EDDY_AUTH').split(',').map((s) => s.split(':'));
  for (const [label, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const p = await newPage(`auth-${label}`, viewport);
    await p.goto(base + '/', { waitUntil: 'load' });
    await p.locator('#page-login').waitFor({ state: 'visible' });
    if (label === 'phone') { await noOverflow(p, 'login'); await tapTargets(p, 'login'); }
    await axe(p, `${label} login light`);
    await setScheme(p, 'dark');
    await axe(p, `${label} login dark`);
    await setScheme(p, 'light');
    await p.context().close();
  }
  const p = await newPage('auth-viewer', { width: 1280, height: 800 });
  await login(p, ...viewer);
  await p.locator('#wall-grid > li').first().waitFor({ timeout: 10000 });
  check(await p.locator('#wall-new').isHidden(), 'the viewer sees "New stream"');
  check(await p.locator('#nav-status').isHidden(), 'the viewer sees the Status link');
  await go(p, '#/status', 'page-status');
  const denied = await p.locator('#status-denied').textContent();
  check(/eddy:admin/.test(denied), `viewer status page: ${denied}`);
  await go(p, '#/streams/new', 'page-new');
  check(/may not create streams/.test(await p.locator('#page-new').textContent()), 'viewer new-stream page');
  const name = await p.locator('#wall-grid > li').first().getAttribute('data-stream').catch(() => null)
    ?? (await streamsAPI(p))[0].name;
  await go(p, '#/manage/' + encodeURIComponent(name), 'page-manage');
  await p.locator('#manage-status.error').waitFor({ timeout: 10000 });
  const refused = await p.locator('#manage-status').textContent();
  check(/Not allowed for .+: AccessDenied/.test(refused), `viewer manage page: ${refused}`);
  log('viewer:', denied, '|', refused);
  await axe(p, 'viewer management page (refused)');

  const a = await newPage('auth-admin', { width: 1280, height: 800 });
  await login(a, ...admin);
  check(await a.locator('#nav-status').isVisible(), 'the admin has no Status link');
  check(await a.locator('#wall-new').isVisible(), 'the admin has no "New stream"');
  await go(a, '#/status', 'page-status');
  await a.locator('#status-body').waitFor({ timeout: 10000 });
  log('admin: status page shown');

  // A never-published stream's view shows its management page's publish
  // panel, which says how each protocol takes credentials; the two panels
  // can both be in the page (the management page stays drawn, hidden), so
  // their ids differ.
  const empty = (await streamsAPI(a)).find((s) => s.state === 'empty')?.name;
  check(empty, 'the auth server lists no never-published stream');
  await go(a, '#/manage/' + encodeURIComponent(empty), 'page-manage');
  await a.locator('#copy-rtsp').waitFor({ timeout: 10000 });
  await go(a, '#/stream/' + encodeURIComponent(empty), 'page-streams');
  await a.locator('#stream-copy-rtsp').waitFor({ timeout: 10000 });
  const ep = await (await a.request.get(base + '/api/v1/ui/endpoints')).json();
  check(await a.locator('#stream-copy-rtsp').inputValue() === `${ep.rtsp}/${empty}`, `stream view RTSP URL ${await a.locator('#stream-copy-rtsp').inputValue()}`);
  check(await a.locator('#copy-rtsp').inputValue() === `${ep.rtsp}/${empty}`, 'management page RTSP URL');
  const help = await a.locator('#publish-help').textContent();
  check(help.includes('RTSP takes them in the URL (rtsp://KEY:SECRET@…)'), `stream view publish panel: ${help}`);
  const dup = await a.evaluate(() => Array.from(document.querySelectorAll('[id]'), (e) => e.id).filter((id, i, all) => all.indexOf(id) !== i));
  check(dup.length === 0, `ids used twice: ${dup}`);
  await axe(a, 'admin: never-published stream view');
  log(`admin: ${empty}'s view shows the publish panel with the credentials sentence`);
}

let failed = false;
try {
  if (env('EDDY_AUTH')) {
    await authChecks();
  } else {
    for (const [label, viewport, phone] of [['desktop', { width: 1280, height: 800 }, false], ['phone', { width: 390, height: 844 }, true]]) {
      const p = await newPage(label, viewport);
      await wallChecks(p, label, phone);
      if (!phone) {
        await themePicker(p);
        await management(p);
        await statusPage(p);
      }
    }
  }
  log('console test: ok');
} catch (e) {
  failed = true;
  log('FAILED:', e.message);
  mkdirSync(artifacts, { recursive: true });
  for (const [label, p, lines] of pages) {
    if (p.isClosed()) continue;
    await p.screenshot({ path: join(artifacts, `${label}.png`), fullPage: true }).catch((err) => log('screenshot', label, err.message));
    writeFileSync(join(artifacts, `${label}-console.log`), lines.join('\n') + '\n');
  }
  log(`screenshots and console logs: ${artifacts}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
