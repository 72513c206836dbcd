// The status page (#/status): the server's disk use and free space, its
// object storage (when configured), its sessions per protocol, stream counts, pull sources and recent warnings
// and errors (GET /api/v1/ui/status, which needs eddy:admin when
// credentials are configured).
import { el, errorText, fmtAgo, fmtBytes, getJSON, RequestError } from './api';
import { setText } from './dom';
import { session } from './session';

interface Status {
  version: string; startedAt: string; dataDir: string;
  disk: { usedBytes: number; freeBytes: number; totalBytes: number; minFreeBytes: number };
  sessions: Record<string, number>;
  streams: { video: number; live: number };
  sources: { stream: string; url: string; state: string; lastError?: string; lastErrorAt?: string }[];
  errors: { time: string; level: string; message: string; attrs?: Record<string, unknown> }[];
  // objectStorage: absent without storage.object (and from older servers).
  objectStorage?: ObjectStorage;
}

interface ObjectStorage {
  bucket: string; available: boolean; hot: string;
  pendingBytes: number; pendingSegments: number; lagSeconds: number;
  uploadedBytes: number; uploadFailures: number; lostBytes: number;
  cacheHits: number; cacheMisses: number; cacheBytes: number;
}

const PROTOCOLS: Record<string, string> = {
  rtsp_publish: 'RTSP publishers', rtsp_read: 'RTSP readers', webrtc_whep: 'WebRTC viewers (WHEP)',
  webrtc_whip: 'WebRTC publishers (WHIP)', hls: 'HLS sessions', getmedia: 'GetMedia readers', putmedia: 'PutMedia publishers',
};

let gen = 0;

// The page's parts, built once per visit; each refresh (every 5 s) writes
// only the figures that changed, so focus and a screen reader's place
// stay where they are.
interface View {
  body: HTMLElement;
  version: HTMLElement; started: HTMLElement; dataDir: HTMLElement; streams: HTMLElement;
  diskText: HTMLElement; eddy: HTMLElement; other: HTMLElement; minFree: HTMLElement;
  object: HTMLElement; objBucket: HTMLElement; objAvailable: HTMLElement; objHot: HTMLElement; objPending: HTMLElement;
  objUploaded: HTMLElement; objLost: HTMLElement; objCache: HTMLElement;
  legendEddy: HTMLElement; legendOther: HTMLElement; legendFree: HTMLElement; minText: HTMLElement;
  sessions: HTMLTableElement; noSessions: HTMLElement;
  sources: HTMLElement; sourceRows: HTMLTableSectionElement; noSources: HTMLElement;
  errors: HTMLElement; errorRows: HTMLTableSectionElement; noErrors: HTMLElement;
  updated: HTMLElement;
}
let view: View | null = null;

export async function showStatus(root: HTMLElement): Promise<void> {
  const g = ++gen;
  const h = el('h2', { id: 'status-h', text: 'Server status' });
  if (session.auth && !session.admin) {
    view = null;
    root.replaceChildren(h, el('p', { id: 'status-denied', text: `The status page needs the eddy:admin permission, which ${session.identity} does not have.` }));
    return;
  }
  const shown = view && root.contains(view.body) ? view : null;
  if (!shown) root.replaceChildren(h, el('p', { class: 'muted', role: 'status', text: 'Loading…' }));
  let st: Status;
  try {
    st = await getJSON<Status>('/api/v1/ui/status');
  } catch (e) {
    if (g !== gen) return;
    const denied = e instanceof RequestError && e.status === 403;
    if (shown && !denied) {
      // Keep the last figures; say they are not current.
      shown.updated.className = 'error';
      setText(shown.updated, 'Cannot get the status: ' + errorText(e));
      return;
    }
    view = null;
    root.replaceChildren(h, el('p', { id: denied ? 'status-denied' : undefined, class: denied ? '' : 'error',
      text: denied ? `The status page needs the eddy:admin permission: ${errorText(e)}` : 'Cannot get the status: ' + errorText(e) }));
    return;
  }
  if (g !== gen) return;
  let v = shown;
  if (!v) {
    v = build();
    view = v;
    root.replaceChildren(h, v.body);
  }
  fill(v, st);
}

function build(): View {
  const dd = (id?: string) => el('dd', { id });
  const version = dd(); const started = dd(); const dataDir = dd(); const streams = dd('status-streams');
  const server = el('dl', { class: 'kv' },
    el('dt', { text: 'Version' }), version, el('dt', { text: 'Started' }), started,
    el('dt', { text: 'Data directory' }), dataDir, el('dt', { text: 'Streams' }), streams);
  const eddy = el('div', { class: 'eddy' });
  const other = el('div', { class: 'other' });
  const minFree = el('div', { class: 'min-free' });
  const legendEddy = legend('var(--accent)');
  const legendOther = legend('var(--muted)');
  const legendFree = legend('var(--bg)');
  const diskText = el('p', { id: 'disk-text' });
  const minText = el('p');
  const disk = el('section', { class: 'panel', 'aria-labelledby': 'disk-h' },
    el('h3', { id: 'disk-h', text: 'Disk' }), diskText,
    el('div', { class: 'disk-bar', 'aria-hidden': 'true' }, eddy, other, minFree),
    el('p', { class: 'legend' }, legendEddy, legendOther, legendFree), minText);

  const objBucket = dd(); const objAvailable = dd('object-available'); const objHot = dd(); const objPending = dd('object-pending');
  const objUploaded = dd(); const objLost = dd('object-lost'); const objCache = dd('object-cache');
  const object = el('section', { class: 'panel', id: 'status-object', 'aria-labelledby': 'object-h', hidden: true },
    el('h3', { id: 'object-h', text: 'Object storage' }),
    el('dl', { class: 'kv' },
      el('dt', { text: 'Bucket' }), objBucket, el('dt', { text: 'Available' }), objAvailable,
      el('dt', { text: 'Kept on disk after upload' }), objHot, el('dt', { text: 'Waiting for upload' }), objPending,
      el('dt', { text: 'Uploaded' }), objUploaded, el('dt', { text: 'Lost before upload' }), objLost,
      el('dt', { text: 'Read cache' }), objCache));

  const sessions = el('table', { id: 'status-sessions' },
    el('caption', { class: 'visually-hidden', text: 'Sessions per protocol' }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Protocol' }), el('th', { scope: 'col', text: 'Sessions' }))),
    el('tbody'));
  const noSessions = el('p', { class: 'muted', text: 'No sessions.' });

  // A wide table scrolls sideways in a region the keyboard can reach.
  const table = (id: string, label: string, cols: string[]) => {
    const rows = el('tbody');
    const box = el('div', { class: 'table-scroll', role: 'region', tabindex: '0', 'aria-label': label },
      el('table', { id, class: 'stack' }, el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', text: c })))), rows));
    return { box, rows };
  };
  const src = table('status-sources', 'Pull sources table', ['Stream', 'URL', 'State', 'Last error']);
  const noSources = el('p', { class: 'muted', text: 'No pull sources are configured.' });
  const errs = table('status-errors', 'Warnings and errors table', ['Time', 'Level', 'Message', 'Attributes']);
  const noErrors = el('p', { class: 'muted', id: 'status-no-errors', text: 'No warnings or errors since the server started.' });
  const updated = el('p', { id: 'status-updated', class: 'muted' });

  const body = el('div', { id: 'status-body' },
    el('div', { class: 'stat-grid' },
      el('section', { class: 'panel', 'aria-labelledby': 'server-h' }, el('h3', { id: 'server-h', text: 'Server' }), server),
      el('section', { class: 'panel', 'aria-labelledby': 'sessions-h' }, el('h3', { id: 'sessions-h', text: 'Sessions' }), sessions, noSessions)),
    disk,
    object,
    el('section', { class: 'panel', 'aria-labelledby': 'sources-h' }, el('h3', { id: 'sources-h', text: 'Pull sources' }), src.box, noSources),
    el('section', { class: 'panel', 'aria-labelledby': 'errors-h' }, el('h3', { id: 'errors-h', text: 'Recent warnings and errors' }), errs.box, noErrors),
    updated);
  return {
    body, version, started, dataDir, streams, diskText, eddy, other, minFree,
    object, objBucket, objAvailable, objHot, objPending, objUploaded, objLost, objCache, legendEddy, legendOther, legendFree, minText,
    sessions, noSessions, sources: src.box, sourceRows: src.rows, noSources, errors: errs.box, errorRows: errs.rows, noErrors, updated,
  };
}

function fill(v: View, st: Status): void {
  setText(v.version, st.version);
  setText(v.started, fmtAgo(Date.parse(st.startedAt)), new Date(st.startedAt).toLocaleString());
  setText(v.dataDir, st.dataDir);
  setText(v.streams, `${st.streams.video} (${st.streams.live} live)`);

  const d = st.disk;
  const pct = (n: number) => (d.totalBytes > 0 ? Math.max(0, Math.min(100, (n / d.totalBytes) * 100)) : 0);
  const other = Math.max(0, d.totalBytes - d.freeBytes - d.usedBytes);
  setText(v.diskText, `Eddy stores ${fmtBytes(d.usedBytes)}; ${fmtBytes(d.freeBytes)} free of ${fmtBytes(d.totalBytes)} (${Math.round(pct(d.freeBytes))}% free).`);
  v.eddy.style.width = pct(d.usedBytes) + '%';
  v.other.style.width = pct(other) + '%';
  v.minFree.hidden = !(d.minFreeBytes > 0);
  if (d.minFreeBytes > 0) {
    v.minFree.title = `Eddy keeps ${fmtBytes(d.minFreeBytes)} free`;
    v.minFree.style.left = `calc(${100 - pct(d.minFreeBytes)}% - 1px)`;
  }
  setText(v.legendEddy, `Eddy ${fmtBytes(d.usedBytes)}`);
  setText(v.legendOther, `Other ${fmtBytes(other)}`);
  setText(v.legendFree, `Free ${fmtBytes(d.freeBytes)}`);
  const low = d.minFreeBytes > 0 && d.freeBytes < d.minFreeBytes;
  v.minText.className = low ? 'error' : 'muted';
  setText(v.minText, d.minFreeBytes > 0
    ? `${low ? 'Below the minimum: ' : ''}Eddy deletes the oldest recordings to keep ${fmtBytes(d.minFreeBytes)} free.` : 'No minimum free space is set.');

  fillObject(v, st.objectStorage);

  const sessions = Object.entries(st.sessions ?? {});
  v.sessions.hidden = sessions.length === 0;
  v.noSessions.hidden = sessions.length > 0;
  syncRows(v.sessions.tBodies[0], sessions.map(([k, n]) => ({
    key: k, attrs: { 'data-protocol': k },
    cells: [{ text: PROTOCOLS[k] ?? k, title: k }, { text: String(n), cls: 'num' }],
  })));

  const sources = st.sources ?? [];
  v.sources.hidden = sources.length === 0;
  v.noSources.hidden = sources.length > 0;
  syncRows(v.sourceRows, sources.map((s) => ({
    key: s.stream,
    cells: [{ label: 'Stream', text: s.stream }, { label: 'URL', cls: 'attrs', text: s.url }, { label: 'State', text: s.state },
      { label: 'Last error', cls: s.lastError ? 'source-error' : '', text: s.lastError ? `${s.lastError}${s.lastErrorAt ? ` (${new Date(s.lastErrorAt).toLocaleString()})` : ''}` : '—' }],
  })));

  const errors = st.errors ?? [];
  v.errors.hidden = errors.length === 0;
  v.noErrors.hidden = errors.length > 0;
  const seen = new Map<string, number>();
  syncRows(v.errorRows, errors.map((e) => {
    // The same record twice at the same time keeps two rows.
    const k = `${e.time} ${e.level} ${e.message}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    return {
      key: `${k} #${n}`,
      cells: [{ label: 'Time', title: e.time, text: new Date(e.time).toLocaleString() }, { label: 'Level', cls: `level-${e.level}`, text: e.level },
        { label: 'Message', text: e.message },
        { label: 'Attributes', cls: 'attrs', text: Object.entries(e.attrs ?? {}).map(([ak, av]) => `${ak}=${typeof av === 'string' ? av : JSON.stringify(av)}`).join(' ') }],
    };
  }));

  v.updated.className = 'muted';
  setText(v.updated, `Updated ${new Date().toLocaleTimeString()}.`);
}

// fillObject shows the object-storage tier: the bucket, whether it
// answers, what waits for upload and for how long, and the read cache.
function fillObject(v: View, o: ObjectStorage | undefined): void {
  v.object.hidden = !o;
  if (!o) return;
  setText(v.objBucket, o.bucket);
  setText(v.objAvailable, o.available ? 'yes' : 'no: uploads wait on disk and cold reads fail until it answers');
  v.objAvailable.className = o.available ? '' : 'error';
  setText(v.objHot, o.hot);
  setText(v.objPending, o.pendingSegments > 0
    ? `${fmtBytes(o.pendingBytes)} in ${o.pendingSegments} segment(s); the oldest waits for ${fmtSeconds(o.lagSeconds)}`
    : 'nothing');
  setText(v.objUploaded, `${fmtBytes(o.uploadedBytes)}${o.uploadFailures > 0 ? ` (${o.uploadFailures} failed attempt(s), retried)` : ''}`);
  setText(v.objLost, o.lostBytes > 0 ? `${fmtBytes(o.lostBytes)} (the upload queue was full)` : 'nothing');
  v.objLost.className = o.lostBytes > 0 ? 'error' : '';
  const reads = o.cacheHits + o.cacheMisses;
  setText(v.objCache, `${fmtBytes(o.cacheBytes)} held; ` + (reads > 0
    ? `${Math.round((o.cacheHits / reads) * 100)}% of ${reads} block read(s) from the cache`
    : 'no cold reads yet'));
}

// fmtSeconds writes an age: 45 s, 12 min, 3.5 h.
function fmtSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

interface Cell { text: string; title?: string; cls?: string; label?: string }
interface Row { key: string; cells: Cell[]; attrs?: Record<string, string> }

// syncRows makes tbody's rows those of rows, in order: a row whose key was
// there keeps its element and has only its changed cells written.
function syncRows(tbody: HTMLTableSectionElement, rows: Row[]): void {
  const old = new Map<string, HTMLTableRowElement>();
  for (const tr of Array.from(tbody.rows)) old.set(tr.dataset.key ?? '', tr);
  const trs = rows.map((r) => {
    let tr = old.get(r.key);
    if (!tr) {
      tr = el('tr', { 'data-key': r.key, ...r.attrs }, ...r.cells.map((c) => el('td', { 'data-label': c.label })));
    }
    r.cells.forEach((c, i) => {
      const td = tr!.cells[i];
      setText(td, c.text, c.title);
      if (td.className !== (c.cls ?? '')) td.className = c.cls ?? '';
    });
    return tr;
  });
  const same = trs.length === tbody.rows.length && trs.every((tr, i) => tbody.rows[i] === tr);
  if (!same) tbody.replaceChildren(...trs);
}

function legend(color: string): HTMLElement {
  const s = el('span');
  s.style.setProperty('--sw', color);
  return s;
}
