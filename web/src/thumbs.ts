// Thumbnails on the archive timeline: a strip of frames across the visible
// window, one per tile where the archive holds recording (gaps stay empty),
// and a preview of the frame under the pointer with its time. Both come
// from GET /api/v1/streams/{name}/thumbnail?time=&width=, which the server
// caches and browsers keep (immutable): tile times sit on a grid of nice
// steps (1 s, 2 s, 5 s, …) so that panning and returning to a zoom ask for
// the same URLs, and widths come from a short list. The preview waits for
// the pointer to rest (HOVER_WAIT) and snaps its time to a step of about
// HOVER_PX pixels, so sweeping the timeline asks for few images.

export interface Range { start: number; end: number } // epoch ms

export interface ThumbHooks {
  window(): { start: number; end: number }; // the timeline's window (epoch ms)
  ranges(): Range[]; // the recorded ranges of the window
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
// KEEP is how many tile images are kept for reuse across layouts.
const KEEP = 400;

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
  private imgs = new Map<string, HTMLImageElement>(); // tile images by URL, for reuse
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

  url(t: number, width: number): string {
    return `/api/v1/streams/${encodeURIComponent(this.hooks.stream())}/thumbnail?time=${new Date(t).toISOString()}&width=${width}`;
  }

  // open switches to another stream: nothing drawn yet.
  open(): void {
    this.imgs.clear();
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
    const tiles: typeof this.tiles = [];
    const nodes: HTMLElement[] = [];
    const used = new Map<string, HTMLImageElement>();
    for (let t0 = Math.floor(start / step) * step; t0 < end; t0 += step) {
      const t = timeIn(ranges, t0 + step / 2, Math.max(t0, start), Math.min(t0 + step, end), Math.max(200, step / 5));
      if (t === null) continue; // a gap: nothing recorded in this tile
      const url = this.url(t, width);
      let img = this.imgs.get(url) ?? used.get(url);
      if (!img) {
        img = document.createElement('img');
        img.alt = '';
        img.loading = 'lazy';
        img.decoding = 'async';
        img.draggable = false;
        img.onerror = () => img!.classList.add('failed');
        img.src = url;
      }
      used.set(url, img);
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
      tile.append(img);
      nodes.push(tile);
      tiles.push({ start: left, end: right, time: t, url });
    }
    strip.replaceChildren(...nodes);
    // Keep the images drawn now, and the most recent others up to KEEP.
    for (const [u, img] of this.imgs) {
      if (used.size >= KEEP) break;
      if (!used.has(u)) used.set(u, img);
    }
    this.imgs = used;
    this.tiles = tiles;
    this.step = step;
    this.laid = { start, end };
  }

  // hover shows the preview for the pointer at clientX: placed at once,
  // its image asked for once the pointer rests.
  private hover(clientX: number): void {
    if (!this.hooks.stream()) return;
    const { start, end } = this.hooks.window();
    const px = $('timeline').clientWidth || 1;
    const hstep = niceStep(((end - start) * HOVER_PX) / px);
    const raw = this.hooks.timeAt(clientX);
    const t = timeIn(this.hooks.ranges(), Math.round(raw / hstep) * hstep, raw - hstep, raw + hstep, hstep);
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
    const url = this.url(t, widthFor(PREVIEW_PX));
    $('tl-preview-time').textContent = fmtPrecise(t);
    if (url === this.hoverURL) return;
    this.hoverTimer = window.setTimeout(() => this.showFrame(url, t), HOVER_WAIT);
  }

  // showFrame loads the preview's image off screen and swaps it in when
  // ready, so the old frame stays until the new one is there.
  private showFrame(url: string, t: number): void {
    this.hoverURL = url;
    this.requested++;
    const next = new Image();
    next.alt = '';
    next.decoding = 'async';
    const done = (ok: boolean) => {
      if (this.hoverURL !== url) return;
      const box = $('tl-preview');
      if (ok) {
        next.id = 'tl-preview-img';
        $('tl-preview-img').replaceWith(next);
      }
      box.dataset.time = String(t);
      box.classList.toggle('failed', !ok);
      $('tl-preview-time').textContent = fmtPrecise(t) + (ok ? '' : ' · no image');
    };
    next.onload = () => done(true);
    next.onerror = () => done(false);
    next.src = url;
  }

  private hideHover(): void {
    clearTimeout(this.hoverTimer);
    this.hoverURL = '';
    $('tl-preview').hidden = true;
  }
}
