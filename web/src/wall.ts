// The camera wall (#/): a tile per stream, in a responsive grid, or a
// sortable list for hundreds of streams; both filtered by state and by a
// search on the name. Tiles on screen of live streams play over WebRTC
// (WHEP), at most maxLive at once; the others show a recent thumbnail.
// Tiles are kept between refreshes (keyed by name), so a refresh never
// restarts a playing tile.
import { WhepPlayer } from './whep_player';
import { session, webrtcToken } from './session';
import { el, fmtAgo, fmtBytes, fmtRetention, type StoredBytes, storedText } from './api';
import { setAttr, setText } from './dom';
import { lastActivityOf, lastRecordedOf, type StreamState, streamStateOf } from './review';

export interface PullSource { url: string; state: string; lastError?: string; lastErrorAt?: string }

// WallStream is a row of GET /api/v1/streams as the wall reads it.
export interface WallStream extends StoredBytes {
  name: string; live: boolean; codecs: string[]; bitrateBps: number; retentionHours: number; storedBytes: number;
  lastFragment?: string;
  state?: StreamState; lastActivity?: string; eventsToday?: number; maxBytes?: number; source?: PullSource;
  playback?: { webrtc: boolean; hls: boolean; reason?: string };
  access?: { webrtc: boolean; hls: boolean };
}

function fmtBitrate(bps: number): string {
  if (!bps) return '—';
  if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mbit/s';
  return Math.round(bps / 1e3) + ' kbit/s';
}

function codecsText(s: WallStream): string { return s.codecs.length ? s.codecs.join(', ') : '—'; }
function retentionText(s: WallStream): string { return fmtRetention(s.retentionHours) + (s.maxBytes ? ` · cap ${fmtBytes(s.maxBytes)}` : ''); }
function eventsText(s: WallStream): string { return s.eventsToday === undefined ? '—' : String(s.eventsToday); }

export interface WallOptions {
  // href is the link that opens a stream's view.
  href: (name: string) => string;
  // manageHref is the link to a stream's management page.
  manageHref: (name: string) => string;
  maxLive?: number;
}

type View = 'grid' | 'list';
type SortKey = 'name' | 'state' | 'codecs' | 'bitrate' | 'retention' | 'stored' | 'activity' | 'events';
const COLUMNS: { key: SortKey; label: string; wide?: boolean }[] = [
  { key: 'name', label: 'Stream' }, { key: 'state', label: 'State' }, { key: 'codecs', label: 'Codecs', wide: true },
  { key: 'bitrate', label: 'Bitrate', wide: true }, { key: 'retention', label: 'Retention', wide: true },
  { key: 'stored', label: 'Stored', wide: true }, { key: 'activity', label: 'Last activity' },
  { key: 'events', label: 'Events today' },
];
const STATE_ORDER: Record<StreamState, number> = { live: 0, offline: 1, empty: 2 };

// Tile is one stream's tile of the grid and its live player.
class Tile {
  li: HTMLLIElement;
  // media holds the video, thumbnail or sentence; the link that opens
  // the stream covers it (a link with no text of its own: its name is
  // "Open NAME").
  media: HTMLDivElement;
  video: HTMLVideoElement | null = null;
  img: HTMLImageElement | null = null;
  player: WhepPlayer | null = null;
  frames = 0;
  failedAt = 0; // when WebRTC last failed (epoch ms): not retried for a while
  onScreen = false;
  thumbURL = '';
  thumbAt = 0;
  s!: WallStream;

  // The body's parts, built once: a refresh only changes their text, so
  // a keyboard user's focus (on the Manage link) stays where it is.
  private badge: HTMLSpanElement;
  private facts: Record<'codecs' | 'retention' | 'activity' | 'events' | 'source', HTMLElement>;
  private sourceTerm: HTMLElement;

  constructor(name: string, opts: WallOptions) {
    this.media = el('div', { class: 'tile-media' }, el('a', { class: 'tile-open', href: opts.href(name), 'aria-label': `Open ${name}` }));
    this.badge = el('span', { class: 'state-badge' });
    const dl = el('dl', { class: 'tile-facts' });
    const fact = (k: string) => { const dd = el('dd'); dl.append(el('dt', { text: k }), dd); return dd; };
    this.facts = { codecs: fact('Codecs'), retention: fact('Retention'), activity: fact('Last activity'), events: fact('Events today'), source: fact('Source') };
    this.sourceTerm = this.facts.source.previousElementSibling as HTMLElement;
    this.li = el('li', { class: 'tile', 'data-stream': name }, this.media, el('div', { class: 'tile-body' },
      el('div', { class: 'tile-title' }, el('h3', { class: 'tile-name', title: name, text: name }), this.badge),
      dl,
      el('div', { class: 'tile-actions' }, el('a', { class: 'button', href: opts.manageHref(name), 'aria-label': `Manage ${name}`, text: 'Manage' }))));
  }

  update(s: WallStream): void {
    this.s = s;
    const st = streamStateOf(s);
    if (this.li.dataset.state !== st) this.li.dataset.state = st;
    setText(this.badge, st);
    setAttr(this.badge, 'class', `state-badge ${st} state-${st}`);
    const la = lastActivityOf(s);
    setText(this.facts.codecs, codecsText(s), s.playback?.reason);
    setText(this.facts.retention, retentionText(s));
    setText(this.facts.activity, la ? fmtAgo(la) : 'never', la ? new Date(la).toLocaleString() : undefined);
    setText(this.facts.events, eventsText(s));
    this.sourceTerm.hidden = this.facts.source.hidden = !s.source;
    if (s.source) setText(this.facts.source, s.source.state + (s.source.lastError ? ` · ${s.source.lastError}` : ''), s.source.url);
  }

  // canPlayLive: live, and WebRTC can play it for this identity.
  canPlayLive(): boolean {
    const s = this.s;
    return streamStateOf(s) === 'live' && s.playback?.webrtc !== false && s.access?.webrtc !== false && Date.now() - this.failedAt > 30_000;
  }

  async startLive(onEnd: () => void): Promise<void> {
    if (this.player) return;
    const video = el('video', { muted: true, autoplay: true, playsinline: true, 'aria-hidden': 'true' });
    video.muted = true;
    this.video = video;
    const name = this.s.name;
    const p = new WhepPlayer(video, `/webrtc/${encodeURIComponent(name)}/whep`, {
      token: () => webrtcToken(name, 'webrtc:read'),
      onEnded: () => { if (this.player === p) { this.stopLive(); onEnd(); } },
    });
    this.player = p;
    this.frames = 0;
    const tick = () => {
      if (this.player !== p) return;
      this.frames++;
      video.requestVideoFrameCallback(tick);
    };
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(tick);
    // The thumbnail stays until the first frame is shown.
    video.style.visibility = 'hidden';
    this.media.prepend(video);
    try {
      await p.start();
    } catch {
      if (this.player === p) {
        this.failedAt = Date.now();
        this.stopLive();
        onEnd();
      }
      return;
    }
    if (this.player !== p) return;
    video.style.visibility = '';
    this.setTech('live');
  }

  stopLive(): void {
    const p = this.player;
    this.player = null;
    p?.close();
    this.video?.remove();
    this.video = null;
    this.setTech('');
  }

  private setTech(t: string): void {
    this.media.querySelector('.tile-tech')?.remove();
    if (t) this.media.append(el('span', { class: 'tile-tech', 'aria-hidden': 'true', text: t }));
  }

  // showStill shows the stream's latest thumbnail (refreshed every 30 s
  // while live), or a sentence when it has never recorded.
  showStill(): void {
    const s = this.s;
    // Thumbnails are found by producer time: the last fragment's end.
    const la = lastRecordedOf(s);
    const st = streamStateOf(s);
    const placeholder = this.media.querySelector('.tile-placeholder:not(.tile-nopreview)');
    if (!la || st === 'empty') {
      this.img?.remove();
      this.img = null;
      this.thumbURL = '';
      this.media.querySelector('.tile-nopreview')?.remove();
      const text = s.source ? `Nothing recorded yet: the pull source is ${s.source.state}` : 'Nothing recorded yet';
      if (!placeholder) this.media.append(el('span', { class: 'tile-placeholder', text }));
      else if (placeholder.textContent !== text) placeholder.textContent = text;
      return;
    }
    placeholder?.remove();
    if (st === 'live' && Date.now() - this.thumbAt < 30_000 && this.thumbURL) return;
    // A second before the end of the last fragment: the latest frame the
    // thumbnail grid snaps to; within looks forward if that is in a gap.
    const at = new Date(Math.floor((la - 1000) / 1000) * 1000).toISOString();
    const url = `/api/v1/streams/${encodeURIComponent(s.name)}/thumbnail?time=${encodeURIComponent(at)}&within=60000&width=320`;
    if (url === this.thumbURL) return;
    this.thumbURL = url;
    this.thumbAt = Date.now();
    if (!this.img) {
      this.img = el('img', { alt: '', loading: 'lazy', decoding: 'async' });
      // A stream whose codec the server cannot decode has no thumbnail:
      // say so rather than show a black tile.
      this.img.onerror = () => {
        this.img?.classList.add('failed');
        if (!this.media.querySelector('.tile-nopreview')) this.media.append(el('span', { class: 'tile-placeholder tile-nopreview', text: 'No preview' }));
      };
      this.img.onload = () => this.media.querySelector('.tile-nopreview')?.remove();
      this.media.append(this.img);
    }
    this.img.classList.remove('failed');
    this.img.src = url;
  }
}

// ListRow is one stream's row of the list view.
class ListRow {
  tr: HTMLTableRowElement;
  private badge: HTMLSpanElement;
  private cells: HTMLTableCellElement[];
  private source: HTMLSpanElement;

  constructor(name: string, opts: WallOptions) {
    this.tr = el('tr', { 'data-stream': name });
    this.badge = el('span', { class: 'state-badge' });
    this.source = el('span');
    const cell = (cls?: string, ...children: Node[]) => { const td = el('td', { class: cls }, ...children); this.tr.append(td); return td; };
    cell('name', el('a', { class: 'cell-name', href: opts.href(name), text: name })).title = name;
    this.cells = [cell(undefined, this.badge), cell('wide'), cell('num wide'), cell('wide'), cell('num wide'), cell(), cell('num'), cell('wide', this.source)];
  }

  update(s: WallStream): void {
    const st = streamStateOf(s);
    if (this.tr.dataset.state !== st) this.tr.dataset.state = st;
    setText(this.badge, st);
    setAttr(this.badge, 'class', `state-badge ${st} state-${st}`);
    const la = lastActivityOf(s);
    const [, codecs, bitrate, retention, stored, activity, events, source] = this.cells;
    setText(codecs, codecsText(s), s.playback?.reason);
    setText(bitrate, fmtBitrate(s.bitrateBps));
    setText(retention, retentionText(s));
    setText(stored, storedText(s));
    setText(activity, la ? fmtAgo(la) : 'never', la ? new Date(la).toLocaleString() : undefined);
    setText(events, eventsText(s));
    const src = s.source;
    setText(this.source, src ? src.state + (src.lastError ? ` · ${src.lastError}` : '') : '—');
    setAttr(this.source, 'class', src?.lastError ? 'source-error' : undefined);
    setAttr(source, 'title', src?.url);
  }
}

// A notice on the wall: a sentence another page leaves for it (e.g.
// "Deleted NAME."), focused when the wall is shown and gone when the wall
// is left. The element is made on first use, under the wall's heading.
let noticePending = false;
function noticeElement(): HTMLElement {
  let p = document.getElementById('wall-notice');
  if (!p) {
    p = el('p', { id: 'wall-notice', class: 'msg ok', role: 'status', tabindex: '-1', hidden: true });
    document.querySelector('#page-wall .wall-head')!.after(p);
  }
  return p;
}

// wallNotice leaves text on the wall for when it is shown next.
export function wallNotice(text: string): void {
  const p = noticeElement();
  p.textContent = text;
  p.hidden = false;
  noticePending = true;
}

function noticeShown(wallShown: boolean): void {
  const p = document.getElementById('wall-notice');
  if (!p) return;
  if (wallShown && noticePending) {
    noticePending = false;
    p.focus();
  } else if (!wallShown && !noticePending) {
    p.hidden = true;
    p.textContent = '';
  }
}

export class Wall {
  streams: WallStream[] = [];
  tiles = new Map<string, Tile>();
  view: View;
  sort: { key: SortKey; desc: boolean };
  filter = '';
  search = ''; // as typed (the sentence shows it so)
  active = false;
  private rows = new Map<string, ListRow>();
  private headBuilt = false;
  // The ticket of the stream list last rendered: an older answer that
  // arrives late is ignored.
  private rendered = 0;
  private tickets = 0;
  private observer: IntersectionObserver | null = null;
  private maxLive: number;
  private grid: HTMLUListElement;
  private list: HTMLTableElement;

  constructor(private opts: WallOptions) {
    this.maxLive = opts.maxLive ?? 6;
    this.grid = document.getElementById('wall-grid') as HTMLUListElement;
    this.list = document.getElementById('wall-list') as HTMLTableElement;
    const saved = (() => { try { return localStorage.getItem('eddy.wallView'); } catch { return null; } })();
    this.view = saved === 'list' ? 'list' : 'grid';
    let sort: any = null;
    try { sort = JSON.parse(localStorage.getItem('eddy.wallSort') ?? 'null'); } catch { /* none */ }
    this.sort = sort && COLUMNS.some((c) => c.key === sort.key) ? { key: sort.key, desc: !!sort.desc } : { key: 'name', desc: false };
    if ('IntersectionObserver' in window) {
      this.observer = new IntersectionObserver((entries) => {
        for (const e of entries) {
          const t = this.tiles.get((e.target as HTMLElement).dataset.stream ?? '');
          if (t) t.onScreen = e.isIntersecting;
        }
        this.schedule();
      }, { threshold: 0.1 });
    }
    const search = document.getElementById('wall-search') as HTMLInputElement;
    search.oninput = () => { this.search = search.value.trim(); this.draw(); };
    const filter = document.getElementById('wall-filter') as HTMLSelectElement;
    filter.onchange = () => { this.filter = filter.value; this.draw(); };
    document.getElementById('view-grid')!.onclick = () => this.setView('grid');
    document.getElementById('view-list')!.onclick = () => this.setView('list');
    this.setView(this.view);
    // A hidden page plays nothing.
    document.addEventListener('visibilitychange', () => this.schedule());
  }

  setView(v: View): void {
    this.view = v;
    try { localStorage.setItem('eddy.wallView', v); } catch { /* storage disabled */ }
    document.getElementById('view-grid')!.setAttribute('aria-pressed', String(v === 'grid'));
    document.getElementById('view-list')!.setAttribute('aria-pressed', String(v === 'list'));
    this.draw();
  }

  // setActive starts (the wall is shown) or stops (another page is) the
  // live tiles.
  setActive(on: boolean): void {
    this.active = on;
    noticeShown(on);
    this.schedule();
  }

  // ticket numbers a stream-list request: take one before asking, and
  // pass it to render with the answer.
  ticket(): number { return ++this.tickets; }

  // render shows streams, the answer to the request of ticket; it returns
  // false (and shows nothing) when a later request's answer is already
  // shown. Without a ticket the answer is taken as the latest.
  render(streams: WallStream[], ticket = ++this.tickets): boolean {
    if (ticket < this.rendered) return false;
    this.rendered = ticket;
    this.streams = streams;
    const names = new Set(streams.map((s) => s.name));
    for (const [n, t] of this.tiles) {
      if (names.has(n)) continue;
      t.stopLive();
      this.observer?.unobserve(t.li);
      t.li.remove();
      this.tiles.delete(n);
    }
    for (const [n, r] of this.rows) {
      if (names.has(n)) continue;
      r.tr.remove();
      this.rows.delete(n);
    }
    for (const s of streams) {
      let t = this.tiles.get(s.name);
      if (!t) {
        t = new Tile(s.name, this.opts);
        this.tiles.set(s.name, t);
        if (this.observer) this.observer.observe(t.li);
        else t.onScreen = true;
      }
      t.update(s);
    }
    (document.getElementById('wall-new') as HTMLElement).hidden = !session.canCreate;
    this.draw();
    return true;
  }

  // shown is the streams the filter and the search leave, sorted.
  shown(): WallStream[] {
    const { key, desc } = this.sort;
    const val = (s: WallStream): number | string => {
      switch (key) {
        case 'name': return s.name;
        case 'state': return STATE_ORDER[streamStateOf(s)];
        case 'codecs': return s.codecs.join(',');
        case 'bitrate': return s.bitrateBps;
        case 'retention': return s.retentionHours;
        case 'stored': return s.storedBytes;
        case 'activity': return lastActivityOf(s);
        case 'events': return s.eventsToday ?? -1;
      }
    };
    const search = this.search.toLowerCase();
    return this.streams
      .filter((s) => (!this.filter || streamStateOf(s) === this.filter) && (!search || s.name.toLowerCase().includes(search)))
      .sort((a, b) => {
        const x = val(a);
        const y = val(b);
        const c = x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
        return desc && x !== y ? -c : c;
      });
  }

  draw(): void {
    const shown = this.shown();
    const none = shown.length === 0 && this.streams.length > 0;
    const msg = document.getElementById('wall-none')!;
    msg.hidden = !none;
    const text = none ? `No stream${this.filter ? ` is ${this.filter}` : ''}${this.search ? `${this.filter ? ' and' : ''} matches “${this.search}”` : ''}.` : '';
    if (msg.textContent !== text) msg.textContent = text;
    this.grid.hidden = this.view !== 'grid' || none;
    this.list.hidden = this.view !== 'list' || none;
    if (this.view === 'grid') {
      if (this.list.tBodies[0].rows.length) this.list.tBodies[0].replaceChildren();
      // Moving a playing <video> in the document can pause it: the tiles
      // are re-placed only when the order changed.
      const lis = shown.map((s) => this.tiles.get(s.name)!.li);
      const same = lis.length === this.grid.children.length && lis.every((li, i) => this.grid.children[i] === li);
      if (!same) this.grid.replaceChildren(...lis);
    } else {
      if (this.grid.children.length) this.grid.replaceChildren();
      this.drawList(shown);
    }
    this.schedule();
  }

  // drawList shows the list view: the heading is built once, and each
  // stream keeps its row (keyed by name) whose cells change in place, so
  // a focused sort button or name link stays focused across refreshes.
  private drawList(shown: WallStream[]): void {
    const head = this.list.tHead!.rows[0];
    if (!this.headBuilt) {
      this.headBuilt = true;
      head.replaceChildren(...COLUMNS.map((c) => {
        const b = el('button', { type: 'button', text: c.label });
        b.onclick = () => {
          const sorted = this.sort.key === c.key;
          this.sort = { key: c.key, desc: sorted ? !this.sort.desc : c.key === 'activity' || c.key === 'events' };
          try { localStorage.setItem('eddy.wallSort', JSON.stringify(this.sort)); } catch { /* storage disabled */ }
          this.draw();
        };
        return el('th', { scope: 'col', 'data-key': c.key, class: c.wide ? 'wide' : undefined }, b);
      }), el('th', { scope: 'col', class: 'wide', text: 'Source' }));
    }
    for (const th of Array.from(head.cells)) {
      const key = th.dataset.key;
      if (key) setAttr(th, 'aria-sort', this.sort.key === key ? (this.sort.desc ? 'descending' : 'ascending') : undefined);
    }
    const trs = shown.map((s) => {
      let r = this.rows.get(s.name);
      if (!r) {
        r = new ListRow(s.name, this.opts);
        this.rows.set(s.name, r);
      }
      r.update(s);
      return r.tr;
    });
    const body = this.list.tBodies[0];
    const same = trs.length === body.rows.length && trs.every((tr, i) => body.rows[i] === tr);
    if (!same) body.replaceChildren(...trs);
  }

  // schedule plays the on-screen live tiles (up to maxLive, in page order)
  // and stops the rest; every other tile shows its still.
  private schedule(): void {
    const want = new Set<string>();
    if (this.active && this.view === 'grid' && !document.hidden) {
      for (const li of Array.from(this.grid.children) as HTMLElement[]) {
        const t = this.tiles.get(li.dataset.stream ?? '');
        if (t && t.onScreen && t.canPlayLive() && want.size < this.maxLive) want.add(t.s.name);
      }
    }
    for (const [n, t] of this.tiles) {
      if (!want.has(n)) t.stopLive();
      t.showStill();
      if (want.has(n)) void t.startLive(() => this.schedule());
    }
  }

  // stats is for the browser test: each tile's live state.
  stats(): Record<string, { live: boolean; frames: number; thumb: string }> {
    const out: Record<string, { live: boolean; frames: number; thumb: string }> = {};
    for (const [n, t] of this.tiles) out[n] = { live: !!t.player, frames: t.frames, thumb: t.img && !t.img.classList.contains('failed') ? t.thumbURL : '' };
    return out;
  }
}
