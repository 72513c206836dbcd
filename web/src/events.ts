// Events on the video's own timeline: the event model (the JSON of
// GET /api/v1/streams/{name}/events and of the WHEP "events" data
// channel), their colours, the mapping of a WebRTC frame's RTP timestamp
// to the producer time (the channel's clock messages), and the overlay
// that draws each event's box over the frame it describes.

// EventJSON is an event as the server sends it. time is the producer
// (camera) clock; box is x, y, width, height relative to the frame (0–1).
export interface EventJSON {
  id: string; type: string; time: string; duration?: number; label?: string; score?: number;
  box?: [number, number, number, number]; attributes?: unknown; serverTime?: string;
}

// Ev is an event with its times parsed (epoch ms, fractional).
export interface Ev extends EventJSON { t: number; end: number }

// HOLD_MS is how long a box stays on screen after its event's time when
// the event is shorter (a single detection has no duration).
export const HOLD_MS = 500;

// RTP_CLOCK_KHZ is the video RTP clock rate (90 kHz for every video codec
// WebRTC carries), in ticks per millisecond.
const RTP_CLOCK_KHZ = 90;

// parseTime parses an RFC 3339 time with up to nanoseconds (Date.parse
// keeps milliseconds only) to epoch ms; NaN when it is not one.
export function parseTime(s: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.exec(s);
  if (!m) return NaN;
  return Date.parse(m[1] + m[3]) + (m[2] ? Number('0' + m[2]) * 1000 : 0);
}

// toEv parses an event of the API; null when its time is not a time.
export function toEv(e: EventJSON): Ev | null {
  const t = parseTime(e.time);
  if (!Number.isFinite(t)) return null;
  return { ...e, t, end: t + Math.max(0, e.duration ?? 0) * 1000 };
}

// shownUntil is when an event's box leaves the screen: its end, or
// HOLD_MS after its time when it is shorter.
export function shownUntil(ev: Ev): number { return Math.max(ev.end, ev.t + HOLD_MS); }

// nameOf is what an event is called on screen: its label, else its type.
export function nameOf(ev: EventJSON): string { return ev.label || ev.type || 'event'; }

// Colours of common detector labels, far apart; any other name gets a
// hue from a hash of it.
const colours = new Map<string, string>([
  ['person', '#e6194b'], ['car', '#3cb44b'], ['truck', '#4363d8'], ['bus', '#911eb4'], ['bicycle', '#f58231'],
  ['motorcycle', '#9a6324'], ['dog', '#42d4f4'], ['cat', '#f032e6'], ['bird', '#bfef45'], ['face', '#ffe119'],
  ['license_plate', '#469990'], ['package', '#dcbeff'], ['motion', '#a9a9a9'],
]);

// colourOf is the colour of an event's label (of its type when it has no
// label), the same across pages, zoom levels and reloads.
export function colourOf(ev: EventJSON): string {
  const name = nameOf(ev);
  let c = colours.get(name.toLowerCase());
  if (!c) {
    let h = 2166136261;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    c = `hsl(${h % 360} ${60 + ((h >>> 9) % 30)}% ${42 + ((h >>> 17) % 16)}%)`;
    colours.set(name.toLowerCase(), c);
  }
  return c;
}

// RtpClock maps a video frame's RTP timestamp to its producer time, from
// the latest {kind:"clock"} message of the events channel (a frame the
// server just sent: its RTP timestamp and producer time).
export class RtpClock {
  private rtp = 0;
  private ms = NaN;
  count = 0;

  set(rtpTimestamp: number, time: string): void {
    const ms = parseTime(time);
    if (!Number.isFinite(ms) || !Number.isInteger(rtpTimestamp)) return;
    this.rtp = rtpTimestamp >>> 0;
    this.ms = ms;
    this.count++;
  }

  // at is the producer time (epoch ms) of the frame with RTP timestamp
  // rtp; null before the first clock message. The difference is taken
  // modulo 2^32 (signed), so a wrap of the 32-bit timestamp is harmless.
  at(rtp: number): number | null {
    if (!this.count) return null;
    return this.ms + ((rtp - this.rtp) | 0) / RTP_CLOCK_KHZ;
  }

  reset(): void { this.count = 0; this.ms = NaN; }
}

// Overlay draws the boxes of the events whose time span holds the
// producer time of the frame on screen, as positioned elements over the
// video's picture (letterboxing taken into account). It runs on
// requestVideoFrameCallback: timeOf gives the shown frame's producer
// time from the callback's metadata (null: not known, nothing drawn) and
// events the events that may be drawn.
export class Overlay {
  frameTime: number | null = null; // producer time of the frame shown (epoch ms)
  frames = 0;
  drawn = 0; // boxes on screen
  timeOf: (meta: VideoFrameCallbackMetadata) => number | null = () => null;
  events: () => Ev[] = () => [];
  filter: (ev: Ev) => boolean = () => true;
  private boxes = new Map<string, HTMLElement>();

  constructor(private video: HTMLVideoElement, private layer: HTMLElement) {
    if (!('requestVideoFrameCallback' in video)) return;
    const tick = (_now: number, meta: VideoFrameCallbackMetadata) => {
      this.frames++;
      this.frameTime = this.timeOf(meta);
      this.draw();
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  }

  // clear removes every box (the player stopped or changed source).
  clear(): void {
    this.frameTime = null;
    for (const el of this.boxes.values()) el.remove();
    this.boxes.clear();
    this.drawn = 0;
  }

  draw(): void {
    const t = this.frameTime;
    const want = new Map<string, Ev>();
    if (t !== null) {
      for (const ev of this.events()) {
        if (ev.box && ev.t <= t && t <= shownUntil(ev) && this.filter(ev)) want.set(ev.id, ev);
      }
    }
    for (const [id, el] of this.boxes) {
      if (!want.has(id)) { el.remove(); this.boxes.delete(id); }
    }
    if (want.size > 0) this.place();
    for (const [id, ev] of want) {
      if (this.boxes.has(id)) continue;
      const [x, y, w, h] = ev.box!;
      const el = document.createElement('div');
      el.className = 'ev-box';
      el.dataset.id = id;
      el.dataset.label = nameOf(ev);
      el.style.left = x * 100 + '%';
      el.style.top = y * 100 + '%';
      el.style.width = w * 100 + '%';
      el.style.height = h * 100 + '%';
      el.style.borderColor = colourOf(ev);
      if (y < 0.06) el.classList.add('inside'); // no room for the tag above
      const tag = document.createElement('span');
      tag.style.background = colourOf(ev);
      tag.textContent = nameOf(ev) + (typeof ev.score === 'number' ? ` ${Math.round(ev.score * 100)}%` : '');
      el.append(tag);
      this.layer.append(el);
      this.boxes.set(id, el);
    }
    this.drawn = this.boxes.size;
  }

  // place fits the layer to the picture inside the <video> element
  // (object-fit: contain leaves bars at the sides or top and bottom).
  private place(): void {
    const v = this.video;
    const cw = v.clientWidth;
    const ch = v.clientHeight;
    const vw = v.videoWidth || cw;
    const vh = v.videoHeight || ch;
    if (!cw || !ch || !vw || !vh) return;
    const s = Math.min(cw / vw, ch / vh);
    const w = vw * s;
    const h = vh * s;
    const st = this.layer.style;
    st.left = v.offsetLeft + (cw - w) / 2 + 'px';
    st.top = v.offsetTop + (ch - h) / 2 + 'px';
    st.width = w + 'px';
    st.height = h + 'px';
  }
}
