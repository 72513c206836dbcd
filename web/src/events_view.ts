// The archive's events: markers on the timeline (a density strip when
// zoomed out), the events list beside the player, and the label filter.
// Events of the visible range come from GET /api/v1/streams/{name}/events
// (paged with nextToken), and live ones from the WHEP events channel.
import { colourOf, Ev, EventJSON, nameOf, toEv } from './events';

// PAGE is the limit of one request; MAX_LOADED the events a load follows
// pages for (each More adds as many, for the stream's later loads too).
const PAGE = 1000;
const MAX_LOADED = 5000;
// MAX_LIST is how many rows the list shows (the rest are counted).
const MAX_LIST = 500;
// MARKERS_MAX_SPAN and MARKERS_MAX are the widest window and the most
// events drawn as single markers; beyond either, a density strip.
const MARKERS_MAX_SPAN = 3600_000;
const MARKERS_MAX = 400;
// BIN_PX is the width of a density bin.
const BIN_PX = 5;
// LIVE_MAX is how many live events are kept for the overlay.
const LIVE_MAX = 2000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export interface ViewHooks {
  window(): { start: number; end: number }; // the timeline's window (epoch ms)
  pct(t: number): number; // position of t on the timeline (percent)
  seek(ev: Ev): void; // play the event
  fetchJSON<T>(path: string): Promise<T>;
  explain(e: unknown): string;
}

export class EventsView {
  stream = '';
  label = ''; // the label filter ('' all)
  events: Ev[] = []; // of the window, time order (filtered by label on the server)
  live: Ev[] = []; // from the events channel, arrival order
  labels = new Set<string>();
  next = ''; // nextToken of the window's load, '' when all are loaded
  want = MAX_LOADED; // events a load reads at most
  loads = 0; // finished loads (the end-to-end test waits for them)
  loaded = { start: 0, end: 0, label: '' }; // what the last load read
  error = '';
  mode: 'markers' | 'density' | '' = '';
  private gen = 0;
  private selected = '';
  private renderQueued = false;

  constructor(private hooks: ViewHooks) {
    const sel = $<HTMLSelectElement>('ev-label');
    sel.onchange = () => {
      this.label = sel.value;
      void this.load();
    };
    $('ev-more').onclick = () => {
      this.want += MAX_LOADED;
      void this.load();
    };
  }

  // open switches to a stream: nothing loaded yet.
  open(stream: string): void {
    if (stream === this.stream) return;
    this.stream = stream;
    this.events = [];
    this.live = [];
    this.labels.clear();
    this.label = '';
    this.next = '';
    this.want = MAX_LOADED;
    this.selected = '';
    this.fillLabels();
    this.render();
  }

  matches(ev: Ev): boolean { return !this.label || ev.label === this.label; }

  // load reads the window's events, following nextToken for up to want
  // events.
  async load(): Promise<void> {
    if (!this.stream) return;
    const gen = ++this.gen;
    const { start, end } = this.hooks.window();
    const base = `/api/v1/streams/${encodeURIComponent(this.stream)}/events?start=${new Date(start).toISOString()}&end=${new Date(end).toISOString()}&limit=${PAGE}`
      + (this.label ? `&label=${encodeURIComponent(this.label)}` : '');
    const got: Ev[] = [];
    let token = '';
    try {
      for (let n = 0; ; n += PAGE) {
        const page = await this.hooks.fetchJSON<{ events: EventJSON[]; nextToken?: string }>(base + (token ? `&nextToken=${encodeURIComponent(token)}` : ''));
        if (gen !== this.gen) return;
        for (const e of page.events ?? []) {
          const ev = toEv(e);
          if (ev) got.push(ev);
        }
        token = page.nextToken ?? '';
        if (!token || n + PAGE >= this.want) break;
      }
    } catch (e) {
      if (gen !== this.gen) return;
      this.error = 'Could not load events: ' + this.hooks.explain(e);
      this.loads++;
      this.render();
      return;
    }
    this.error = '';
    this.loaded = { start, end, label: this.label };
    this.events = got;
    this.next = token;
    for (const ev of got) if (ev.label) this.labels.add(ev.label);
    this.fillLabels();
    this.loads++;
    this.render();
  }

  // addLive takes an event of the live channel: kept for the overlay and,
  // when the window shows it, added to the markers and the list.
  addLive(e: EventJSON): void {
    const ev = toEv(e);
    if (!ev) return;
    this.live.push(ev);
    if (this.live.length > LIVE_MAX) this.live.splice(0, this.live.length - LIVE_MAX);
    if (ev.label && !this.labels.has(ev.label)) { this.labels.add(ev.label); this.fillLabels(); }
    const { start, end } = this.hooks.window();
    if (!this.matches(ev) || ev.end < start || ev.t >= end || this.events.some((x) => x.id === ev.id)) return;
    let i = this.events.length;
    while (i > 0 && this.events[i - 1].t > ev.t) i--;
    this.events.splice(i, 0, ev);
    this.queueRender();
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    setTimeout(() => { this.renderQueued = false; this.render(); }, 250);
  }

  private fillLabels(): void {
    const sel = $<HTMLSelectElement>('ev-label');
    const want = ['', ...Array.from(this.labels).sort()];
    if (this.label && !this.labels.has(this.label)) want.push(this.label);
    const have = Array.from(sel.options).map((o) => o.value);
    if (have.join('\n') === want.join('\n')) return;
    sel.replaceChildren(...want.map((l) => {
      const o = document.createElement('option');
      o.value = l;
      o.textContent = l || 'All labels';
      if (l) o.style.color = colourOf({ label: l } as EventJSON);
      return o;
    }));
    sel.value = this.label;
  }

  // render draws the timeline strip and the list.
  render(): void {
    this.renderStrip();
    this.renderList();
  }

  private renderStrip(): void {
    const strip = $('tl-events');
    strip.replaceChildren();
    const { start, end } = this.hooks.window();
    const evs = this.events.filter((ev) => this.matches(ev) && ev.end >= start && ev.t < end);
    if (evs.length === 0) { this.mode = ''; return; }
    if (end - start <= MARKERS_MAX_SPAN && evs.length <= MARKERS_MAX) {
      this.mode = 'markers';
      for (const ev of evs) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'ev-marker' + (ev.id === this.selected ? ' selected' : '');
        b.dataset.id = ev.id;
        b.dataset.label = nameOf(ev);
        const left = Math.max(0, this.hooks.pct(ev.t));
        b.style.left = left + '%';
        b.style.width = `max(4px, ${Math.min(100, this.hooks.pct(ev.end)) - left}%)`;
        b.style.background = colourOf(ev);
        b.title = describe(ev);
        b.setAttribute('aria-label', 'Play ' + describe(ev));
        b.onclick = () => this.pick(ev);
        strip.append(b);
      }
      return;
    }
    // Density: events per bin (a bin counts each event at its start),
    // heights on a log scale, coloured by the bin's commonest label.
    this.mode = 'density';
    const bins = Math.max(24, Math.min(400, Math.floor(strip.clientWidth / BIN_PX) || 200));
    const size = (end - start) / bins;
    const count = new Array<number>(bins).fill(0);
    const first: (Ev | undefined)[] = new Array(bins);
    const byLabel: Map<string, number>[] = Array.from({ length: bins }, () => new Map());
    for (const ev of evs) {
      const i = Math.min(bins - 1, Math.max(0, Math.floor((ev.t - start) / size)));
      count[i]++;
      if (!first[i]) first[i] = ev;
      const n = nameOf(ev);
      byLabel[i].set(n, (byLabel[i].get(n) ?? 0) + 1);
    }
    const max = Math.max(...count);
    for (let i = 0; i < bins; i++) {
      if (!count[i]) continue;
      const top = Array.from(byLabel[i]).sort((a, b) => b[1] - a[1]);
      const d = document.createElement('button');
      d.type = 'button';
      d.className = 'ev-bin';
      d.dataset.count = String(count[i]);
      d.style.left = (i / bins) * 100 + '%';
      d.style.width = 100 / bins + '%';
      d.style.height = Math.max(15, (Math.log1p(count[i]) / Math.log1p(max)) * 100) + '%';
      d.style.background = colourOf({ label: top[0][0] } as EventJSON);
      const from = start + i * size;
      d.title = `${new Date(from).toLocaleTimeString()}–${new Date(from + size).toLocaleTimeString()}: ${count[i]} event(s) (${top.slice(0, 4).map(([l, n]) => `${l} ${n}`).join(', ')})`;
      d.setAttribute('aria-label', 'Play from ' + d.title);
      d.onclick = () => this.pick(first[i]!);
      strip.append(d);
    }
  }

  private renderList(): void {
    const list = $('ev-list');
    const status = $('ev-status');
    const { start, end } = this.hooks.window();
    const evs = this.events.filter((ev) => this.matches(ev) && ev.end >= start && ev.t < end);
    list.replaceChildren(...evs.slice(0, MAX_LIST).map((ev) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.id = ev.id;
      if (ev.id === this.selected) b.setAttribute('aria-current', 'true');
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.style.background = colourOf(ev);
      const when = document.createElement('time');
      when.dateTime = ev.time;
      when.textContent = fmtClock(ev.t);
      const what = document.createElement('span');
      what.textContent = nameOf(ev) + (ev.label && ev.type && ev.type !== ev.label ? ` (${ev.type})` : '')
        + (typeof ev.score === 'number' ? ` ${Math.round(ev.score * 100)}%` : '')
        + (ev.duration ? ` · ${ev.duration.toFixed(1)} s` : '');
      b.append(dot, when, what);
      b.title = describe(ev);
      b.onclick = () => this.pick(ev);
      li.append(b);
      return li;
    }));
    $('ev-more').hidden = !this.next;
    if (this.error) {
      status.textContent = this.error;
      status.className = 'error';
      return;
    }
    status.className = 'muted';
    const more = evs.length > MAX_LIST ? ` (the first ${MAX_LIST} listed)` : '';
    status.textContent = evs.length === 0
      ? (this.label ? `No ${this.label} events in this window.` : 'No events in this window.')
      : `${evs.length}${this.next ? '+' : ''} event(s) in this window${more}.`;
  }

  // pick plays an event and marks it in the list and on the timeline.
  pick(ev: Ev): void {
    this.selected = ev.id;
    this.render();
    this.hooks.seek(ev);
  }
}

function fmtClock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 1 } as Intl.DateTimeFormatOptions);
}

function describe(ev: Ev): string {
  return `${nameOf(ev)}${ev.label && ev.type && ev.type !== ev.label ? ` (${ev.type})` : ''} at ${new Date(ev.t).toLocaleString()}`
    + (typeof ev.score === 'number' ? `, score ${ev.score.toFixed(2)}` : '')
    + (ev.duration ? `, ${ev.duration.toFixed(1)} s` : '');
}
