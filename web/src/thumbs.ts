// Thumbnails on the archive timeline: a strip of frames across the visible
// window, one per tile where the archive holds recording (gaps stay empty),
// and a preview of the frame under the pointer with its time. Both come
// from GET /api/v1/streams/{name}/thumbnail?time=&width=, which the server
// caches and browsers keep (immutable): tile times sit on a grid of nice
// steps (1 s, 2 s, 5 s, …) so that panning and returning to a zoom ask for
// the same URLs, and widths come from a short list. The preview waits for
// the pointer to rest (HOVER_WAIT) and snaps its time to a step of about
// HOVER_PX pixels, so sweeping the timeline asks for few images. In a
// window over 48 h the coverage is hourly or daily buckets, not ranges:
// a tile (or the preview) then shows the first frame recorded in its span.

export interface Range { start: number; end: number } // epoch ms

export interface ThumbHooks {
  window(): { start: number; end: number }; // the timeline's window (epoch ms)
  ranges(): Range[]; // the recorded ranges of the window
  // approx: the ranges are coarse (hourly or daily buckets of a long
  // window): recording lies somewhere inside each, so a tile or the
  // preview asks for the first frame recorded in its span (within=).
  approx(): boolean;
  stream(): string;
  timeAt(clientX: number): number; // the time under a pointer
  play(t: number): void;
  fmtTime(t: number): string;
}

// TILE_PX is the width a tile aims at (the strip's height at 16:9).
const TILE_PX = 80;
// WIDTHS are the image widths asked for: the smallest that fills a tile
// or the preview at the device's pixel ratio.
const WIDTHS = [80, 160, 320, 640];
const PREVIEW_PX = 240;
// STEPS are the grid steps of tiles and of the preview's time (ms).
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const STEPS = [200, 500, S, 2 * S, 5 * S, 10 * S, 15 * S, 30 * S, M, 2 * M, 5 * M, 10 * M, 15 * M, 30 * M,
  H, 2 * H, 3 * H, 6 * H, 12 * H, 24 * H];
const HOVER_PX = 4;
const HOVER_WAIT = 120;
// KEEP is how many loaded tile images are kept for reuse across layouts.
const KEEP = 400;
// MAX_LOADS is how many tile images are fetched at once (the current
// layout's, in order; a zoom drops the previous layout's still pending),
// and RETRIES how often one the server answered 503 (busy) is asked
// again, after its Retry-After.
const MAX_LOADS = 3;
const RETRIES = 2;

// A TileImage is one tile's image and its load: queued (no src yet),
// loading (fetched: one of MAX_LOADS), waiting (to retry after a 503),
// loaded, or failed (dropped from the reuse map: a later layout asks
// again).
interface TileImage {
  url: string;
  img: HTMLImageElement;
  state: 'queued' | 'loading' | 'waiting' | 'loaded' | 'failed';
  retries: number;
  abort?: AbortController;
  timer?: number;
  blob?: string; // the object URL shown
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// fmtPrecise is a date and time to the tenth of a second (the preview's
// caption: its step can be under a second).
export function fmtPrecise(t: number): string {
  return new Date(t).toLocaleString([], {
    year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 1,
  });
}

// niceStep is the smallest grid step of at least ms.
export function niceStep(ms: number): number {
  return STEPS.find((s) => s >= ms) ?? Math.ceil(ms / STEPS[STEPS.length - 1]) * STEPS[STEPS.length - 1];
}

function widthFor(cssPx: number): number {
  const px = cssPx * (window.devicePixelRatio || 1);
  return WIDTHS.find((w) => w >= px) ?? WIDTHS[WIDTHS.length - 1];
}

// timeIn returns the time nearest t within the ranges overlapping
// [from, to), or null when none does. A range's end is taken down to a
// multiple of grid (when still inside it), so that the live edge moving on
// does not change the time, and the URL, at every refresh.
function timeIn(ranges: Range[], t: number, from: number, to: number, grid: number): number | null {
  let best: number | null = null;
  for (const r of ranges) {
    if (r.end <= from || r.start >= to) continue;
    const c = t < r.start ? r.start : t < r.end ? t : Math.max(r.start, Math.floor((r.end - 1) / grid) * grid);
    if (best === null || Math.abs(c - t) < Math.abs(best - t)) best = c;
  }
  return best;
}

export class Thumbnails {
  // What the last layout drew: tiles with an image, and the grid step
  // (the end-to-end test reads them).
  tiles: { start: number; end: number; time: number; url: string }[] = [];
  step = 0;
  laid = { start: 0, end: 0 }; // the window of the last layout
  requested = 0; // preview images asked for
  private imgs = new Map<string, TileImage>(); // tile images by URL: the layout's, and loaded ones for reuse
  private current = new Set<string>(); // the URLs of the last layout's tiles
  private queue: TileImage[] = []; // tiles of the last layout to load, in order
  private loading = 0;
  private queued = false;
  private hoverTimer = 0;
  private hoverURL = '';

  constructor(private hooks: ThumbHooks) {
    const strip = $('tl-thumbs');
    new ResizeObserver(() => this.render()).observe(strip);
    strip.addEventListener('click', (e) => {
      const tile = (e.target as HTMLElement).closest<HTMLElement>('.tl-thumb');
      if (tile?.dataset.time) this.hooks.play(Number(tile.dataset.time));
    });
    for (const el of [$('timeline'), strip]) {
      el.addEventListener('pointermove', (e) => this.hover(e.clientX));
      el.addEventListener('pointerleave', () => this.hideHover());
    }
  }

  url(t: number, width: number, within = 0): string {
    return `/api/v1/streams/${encodeURIComponent(this.hooks.stream())}/thumbnail?time=${new Date(t).toISOString()}&width=${width}` +
      (within > 0 ? `&within=${Math.round(within)}` : '');
  }

  // open switches to another stream: nothing drawn yet.
  open(): void {
    for (const ti of this.imgs.values()) this.drop(ti);
    this.imgs.clear();
    this.current.clear();
    this.queue = [];
    this.tiles = [];
    $('tl-thumbs').replaceChildren();
    this.hideHover();
  }

  // render lays the strip out again (after a zoom, a pan, new coverage or
  // a resize), once per frame.
  render(): void {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.layout();
    });
  }

  private layout(): void {
    const strip = $('tl-thumbs');
    const px = strip.clientWidth;
    if (!this.hooks.stream() || px === 0) return;
    const { start, end } = this.hooks.window();
    const span = end - start;
    const step = niceStep((span * TILE_PX) / px);
    const width = widthFor((step / span) * px);
    const ranges = this.hooks.ranges();
    const approx = this.hooks.approx();
    const tiles: typeof this.tiles = [];
    const nodes: HTMLElement[] = [];
    const used = new Map<string, TileImage>();
    for (let t0 = Math.floor(start / step) * step; t0 < end; t0 += step) {
      const t = approx
        ? timeIn(ranges, Math.max(t0, start), Math.max(t0, start), Math.min(t0 + step, end), step)
        : timeIn(ranges, t0 + step / 2, Math.max(t0, start), Math.min(t0 + step, end), Math.max(200, step / 5));
      if (t === null) continue; // a gap: nothing recorded in this tile
      const url = this.url(t, width, approx ? t0 + step - t : 0);
      let ti = this.imgs.get(url) ?? used.get(url);
      if (!ti) {
        const img = document.createElement('img');
        img.alt = '';
        img.decoding = 'async';
        img.draggable = false;
        ti = { url, img, state: 'queued', retries: 0 };
      }
      used.set(url, ti);
      const tile = document.createElement('div');
      tile.className = 'tl-thumb';
      tile.dataset.time = String(t);
      tile.title = this.hooks.fmtTime(t);
      // The tile spans the cell's recorded part: its edges are the
      // recording's where it starts or ends inside the cell.
      const lo = Math.max(t0, start);
      const hi = Math.min(t0 + step, end);
      const over = ranges.filter((r) => r.end > lo && r.start < hi);
      const left = Math.max(lo, Math.min(...over.map((r) => r.start)));
      const right = Math.min(hi, Math.max(...over.map((r) => r.end)));
      tile.style.left = ((left - start) / span) * 100 + '%';
      tile.style.width = ((right - left) / span) * 100 + '%';
      tile.append(ti.img);
      nodes.push(tile);
      tiles.push({ start: left, end: right, time: t, url });
    }
    strip.replaceChildren(...nodes);
    // Keep the images drawn now, and others already loaded up to KEEP;
    // stop the loads of the others.
    for (const [u, ti] of this.imgs) {
      if (used.has(u)) continue;
      if (ti.state === 'loaded' && used.size < KEEP) used.set(u, ti);
      else this.drop(ti);
    }
    this.imgs = used;
    this.current = new Set(tiles.map((t) => t.url));
    this.queue = tiles.map((t) => used.get(t.url)!).filter((ti) => ti.state === 'queued');
    this.pump();
    this.tiles = tiles;
    this.step = step;
    this.laid = { start, end };
  }

  // pump starts queued loads up to MAX_LOADS.
  private pump(): void {
    while (this.loading < MAX_LOADS && this.queue.length > 0) {
      const ti = this.queue.shift()!;
      if (ti.state === 'queued' && this.current.has(ti.url)) void this.load(ti);
    }
  }

  // load fetches a tile's image (the browser's HTTP cache answers those it
  // holds) and shows it; a 503 is retried after its Retry-After.
  private async load(ti: TileImage): Promise<void> {
    ti.state = 'loading';
    ti.abort = new AbortController();
    this.loading++;
    try {
      const r = await fetch(ti.url, { signal: ti.abort.signal });
      if (r.ok) {
        const blob = await r.blob();
        ti.blob = URL.createObjectURL(blob);
        ti.img.src = ti.blob;
        ti.img.classList.remove('failed');
        ti.state = 'loaded';
        return;
      }
      if (r.status === 503 && ti.retries < RETRIES) {
        ti.retries++;
        ti.state = 'waiting';
        const after = Math.min(Math.max(Number(r.headers.get('Retry-After')) || 1, 1), 30);
        ti.timer = window.setTimeout(() => {
          ti.timer = undefined;
          if (ti.state !== 'waiting' || !this.current.has(ti.url)) return;
          ti.state = 'queued';
          this.queue.unshift(ti);
          this.pump();
        }, after * 1000);
        return;
      }
      this.fail(ti);
    } catch (e) {
      if (ti.state === 'loading') this.fail(ti); // not an abort of ours
    } finally {
      ti.abort = undefined;
      this.loading--;
      this.pump();
    }
  }

  // fail marks a tile's image as not there, and forgets it: a later
  // layout asks for it again.
  private fail(ti: TileImage): void {
    ti.state = 'failed';
    ti.img.classList.add('failed');
    if (this.imgs.get(ti.url) === ti) this.imgs.delete(ti.url);
  }

  // drop stops a tile image's load or retry and lets its image go.
  private drop(ti: TileImage): void {
    if (ti.state === 'loading' || ti.state === 'waiting' || ti.state === 'queued') ti.state = 'failed';
    ti.abort?.abort();
    clearTimeout(ti.timer);
    if (ti.blob) {
      URL.revokeObjectURL(ti.blob);
      ti.blob = undefined;
      ti.img.removeAttribute('src');
    }
  }

  // hover shows the preview for the pointer at clientX: placed at once,
  // its image asked for once the pointer rests.
  private hover(clientX: number): void {
    if (!this.hooks.stream()) return;
    const { start, end } = this.hooks.window();
    const px = $('timeline').clientWidth || 1;
    const hstep = niceStep(((end - start) * HOVER_PX) / px);
    const raw = this.hooks.timeAt(clientX);
    const approx = this.hooks.approx();
    // Coarse: the first frame from a step before the pointer to two after.
    const t = timeIn(this.hooks.ranges(), approx ? (Math.floor(raw / hstep) - 1) * hstep : Math.round(raw / hstep) * hstep, raw - hstep, raw + hstep, hstep);
    const box = $('tl-preview');
    box.hidden = false;
    box.style.left = ((raw - start) / (end - start)) * 100 + '%';
    clearTimeout(this.hoverTimer);
    if (t === null) {
      box.classList.add('empty');
      box.dataset.time = '';
      $('tl-preview-time').textContent = `${fmtPrecise(raw)} · not recorded`;
      this.hoverURL = '';
      return;
    }
    box.classList.remove('empty');
    const url = this.url(t, widthFor(PREVIEW_PX), approx ? 3 * hstep : 0);
    if (url === this.hoverURL) return;
    $('tl-preview-time').textContent = fmtPrecise(t);
    this.hoverTimer = window.setTimeout(() => void this.showFrame(url, t), HOVER_WAIT);
  }

  // showFrame loads the preview's image and swaps it in when ready, so
  // the old frame stays until the new one is there; its caption is the
  // frame's time (X-Eddy-Thumbnail-Time).
  private async showFrame(url: string, t: number): Promise<void> {
    this.hoverURL = url;
    this.requested++;
    let ok = false;
    let at = t;
    let blob = '';
    try {
      const r = await fetch(url);
      if (r.ok) {
        const h = Date.parse(r.headers.get('X-Eddy-Thumbnail-Time') ?? '');
        if (!Number.isNaN(h)) at = h;
        blob = URL.createObjectURL(await r.blob());
        ok = true;
      }
    } catch {
      // shown as no image
    }
    const next = new Image();
    if (ok) {
      next.alt = '';
      next.id = 'tl-preview-img';
      next.dataset.src = url;
      next.src = blob;
      await next.decode().catch(() => undefined);
    }
    if (this.hoverURL !== url) {
      if (blob) URL.revokeObjectURL(blob);
      return;
    }
    const box = $('tl-preview');
    if (ok) {
      const old = $<HTMLImageElement>('tl-preview-img');
      if (old.src.startsWith('blob:')) URL.revokeObjectURL(old.src);
      old.replaceWith(next);
    }
    box.dataset.time = String(at);
    box.classList.toggle('failed', !ok);
    $('tl-preview-time').textContent = fmtPrecise(at) + (ok ? '' : ' · no image');
  }

  private hideHover(): void {
    clearTimeout(this.hoverTimer);
    this.hoverURL = '';
    const box = $('tl-preview');
    box.hidden = true;
    box.dataset.time = ''; // the time of the frame shown: none until the next
  }
}
