// The status page (#/status): the server's disk use and free space, its
// sessions per protocol, stream counts, pull sources and recent warnings
// and errors (GET /api/v1/ui/status, which needs eddy:admin when
// credentials are configured).
import { el, errorText, fmtAgo, fmtBytes, getJSON, RequestError } from './api';
import { session } from './session';

interface Status {
  version: string; startedAt: string; dataDir: string;
  disk: { usedBytes: number; freeBytes: number; totalBytes: number; minFreeBytes: number };
  sessions: Record<string, number>;
  streams: { video: number; live: number };
  sources: { stream: string; url: string; state: string; lastError?: string; lastErrorAt?: string }[];
  errors: { time: string; level: string; message: string; attrs?: Record<string, unknown> }[];
}

const PROTOCOLS: Record<string, string> = {
  rtsp_publish: 'RTSP publishers', rtsp_read: 'RTSP readers', webrtc_whep: 'WebRTC viewers (WHEP)',
  webrtc_whip: 'WebRTC publishers (WHIP)', hls: 'HLS sessions', getmedia: 'GetMedia readers', putmedia: 'PutMedia publishers',
};

let gen = 0;

export async function showStatus(root: HTMLElement): Promise<void> {
  const g = ++gen;
  const h = el('h2', { id: 'status-h', text: 'Server status' });
  if (session.auth && !session.admin) {
    root.replaceChildren(h, el('p', { id: 'status-denied', text: `The status page needs the eddy:admin permission, which ${session.identity} does not have.` }));
    return;
  }
  if (!root.querySelector('#status-body')) root.replaceChildren(h, el('p', { class: 'muted', role: 'status', text: 'Loading…' }));
  let st: Status;
  try {
    st = await getJSON<Status>('/api/v1/ui/status');
  } catch (e) {
    if (g !== gen) return;
    const denied = e instanceof RequestError && e.status === 403;
    root.replaceChildren(h, el('p', { id: denied ? 'status-denied' : undefined, class: denied ? '' : 'error',
      text: denied ? `The status page needs the eddy:admin permission: ${errorText(e)}` : 'Cannot get the status: ' + errorText(e) }));
    return;
  }
  if (g !== gen) return;

  const server = el('dl', { class: 'kv' },
    el('dt', { text: 'Version' }), el('dd', { text: st.version }),
    el('dt', { text: 'Started' }), el('dd', { title: new Date(st.startedAt).toLocaleString(), text: fmtAgo(Date.parse(st.startedAt)) }),
    el('dt', { text: 'Data directory' }), el('dd', { text: st.dataDir }),
    el('dt', { text: 'Streams' }), el('dd', { id: 'status-streams', text: `${st.streams.video} (${st.streams.live} live)` }));

  const d = st.disk;
  const pct = (n: number) => (d.totalBytes > 0 ? Math.max(0, Math.min(100, (n / d.totalBytes) * 100)) : 0);
  const other = Math.max(0, d.totalBytes - d.freeBytes - d.usedBytes);
  const bar = el('div', { class: 'disk-bar', 'aria-hidden': 'true' });
  const seg = (cls: string, n: number) => { const s = el('div', { class: cls }); s.style.width = pct(n) + '%'; return s; };
  bar.append(seg('eddy', d.usedBytes), seg('other', other));
  if (d.minFreeBytes > 0) {
    const m = el('div', { class: 'min-free', title: `Eddy keeps ${fmtBytes(d.minFreeBytes)} free` });
    m.style.left = `calc(${100 - pct(d.minFreeBytes)}% - 1px)`;
    bar.append(m);
  }
  const low = d.minFreeBytes > 0 && d.freeBytes < d.minFreeBytes;
  const disk = el('section', { class: 'panel', 'aria-labelledby': 'disk-h' },
    el('h3', { id: 'disk-h', text: 'Disk' }),
    el('p', { id: 'disk-text', text: `Eddy stores ${fmtBytes(d.usedBytes)}; ${fmtBytes(d.freeBytes)} free of ${fmtBytes(d.totalBytes)} (${Math.round(pct(d.freeBytes))}% free).` }),
    bar,
    el('p', { class: 'legend' },
      legend('var(--accent)', `Eddy ${fmtBytes(d.usedBytes)}`), legend('var(--muted)', `Other ${fmtBytes(other)}`),
      legend('var(--bg)', `Free ${fmtBytes(d.freeBytes)}`)),
    el('p', { class: low ? 'error' : 'muted', text: d.minFreeBytes > 0
      ? `${low ? 'Below the minimum: ' : ''}Eddy deletes the oldest recordings to keep ${fmtBytes(d.minFreeBytes)} free.` : 'No minimum free space is set.' }));

  const sessions = Object.entries(st.sessions ?? {});
  const sessTable = el('table', { id: 'status-sessions' },
    el('caption', { class: 'visually-hidden', text: 'Sessions per protocol' }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Protocol' }), el('th', { scope: 'col', text: 'Sessions' }))),
    el('tbody', {}, ...sessions.map(([k, n]) => el('tr', { 'data-protocol': k }, el('td', { text: PROTOCOLS[k] ?? k, title: k }), el('td', { class: 'num', text: String(n) })))));

  const sources = st.sources ?? [];
  const srcBody = sources.length === 0 ? el('p', { class: 'muted', text: 'No pull sources are configured.' })
    : el('div', { class: 'table-scroll' }, el('table', { id: 'status-sources', class: 'stack' },
      el('thead', {}, el('tr', {}, ...['Stream', 'URL', 'State', 'Last error'].map((c) => el('th', { scope: 'col', text: c })))),
      el('tbody', {}, ...sources.map((s) => el('tr', {},
        el('td', { 'data-label': 'Stream', text: s.stream }), el('td', { 'data-label': 'URL', class: 'attrs', text: s.url }), el('td', { 'data-label': 'State', text: s.state }),
        el('td', { 'data-label': 'Last error', class: s.lastError ? 'source-error' : '', text: s.lastError ? `${s.lastError}${s.lastErrorAt ? ` (${new Date(s.lastErrorAt).toLocaleString()})` : ''}` : '—' }))))));

  const errors = st.errors ?? [];
  const errBody = errors.length === 0 ? el('p', { class: 'muted', id: 'status-no-errors', text: 'No warnings or errors since the server started.' })
    : el('div', { class: 'table-scroll' }, el('table', { id: 'status-errors', class: 'stack' },
      el('thead', {}, el('tr', {}, ...['Time', 'Level', 'Message', 'Attributes'].map((c) => el('th', { scope: 'col', text: c })))),
      el('tbody', {}, ...errors.map((e) => el('tr', {},
        el('td', { 'data-label': 'Time', title: e.time, text: new Date(e.time).toLocaleString() }),
        el('td', { 'data-label': 'Level', class: `level-${e.level}`, text: e.level }),
        el('td', { 'data-label': 'Message', text: e.message }),
        el('td', { 'data-label': 'Attributes', class: 'attrs', text: Object.entries(e.attrs ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') }))))));

  root.replaceChildren(h, el('div', { id: 'status-body' },
    el('div', { class: 'stat-grid' },
      el('section', { class: 'panel', 'aria-labelledby': 'server-h' }, el('h3', { id: 'server-h', text: 'Server' }), server),
      el('section', { class: 'panel', 'aria-labelledby': 'sessions-h' }, el('h3', { id: 'sessions-h', text: 'Sessions' }),
        sessions.length ? sessTable : el('p', { class: 'muted', text: 'No sessions.' }))),
    disk,
    el('section', { class: 'panel', 'aria-labelledby': 'sources-h' }, el('h3', { id: 'sources-h', text: 'Pull sources' }), srcBody),
    el('section', { class: 'panel', 'aria-labelledby': 'errors-h' }, el('h3', { id: 'errors-h', text: 'Recent warnings and errors' }), errBody),
    el('p', { class: 'muted', text: `Updated ${new Date().toLocaleTimeString()}.` })));
}

function legend(color: string, text: string): HTMLElement {
  const s = el('span', { text });
  s.style.setProperty('--sw', color);
  return s;
}
