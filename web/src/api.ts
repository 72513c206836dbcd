// Requests of the pages: the UI API (errors {"error":{code,message}}),
// the Kinesis Video APIs through the session (POST
// /api/v1/ui/kinesisvideo/{Operation}: the operation's own body and
// answer, errors as KVS gives them: the x-amzn-ErrorType header and
// {"message"}), and the server's publish addresses.
import { session } from './session';

export class RequestError extends Error {
  constructor(public code: string, message: string, public status: number) { super(message); }
  // sentence is the error as shown: the error type, then its message.
  get sentence(): string { return this.code ? `${this.code}: ${this.message}` : this.message; }
}

// request fetches path and reads its JSON answer; an error answer throws
// a RequestError (a 401 also ends the page's session).
export async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  const text = await res.text();
  let body: any = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    if (res.status === 401) session.onUnauthorized();
    // x-amzn-ErrorType may carry a ":"-separated suffix (AWS's form).
    const type = (res.headers.get('x-amzn-ErrorType') ?? '').split(':')[0];
    const code = type || body?.error?.code || body?.__type || String(res.status);
    const msg = body?.error?.message ?? body?.message ?? body?.Message ?? (text || res.statusText);
    throw new RequestError(String(code), String(msg), res.status);
  }
  return body as T;
}

export function getJSON<T>(path: string): Promise<T> { return request<T>(path); }

// kvs calls a Kinesis Video control-plane operation with the session.
export function kvs<T = any>(operation: string, body: object): Promise<T> {
  return request<T>('/api/v1/ui/kinesisvideo/' + operation, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
}

// Endpoints is GET /api/v1/ui/endpoints: the server's publish addresses.
export interface Endpoints { rtsp: string; rtsps: string; http: string; auth: boolean }

let endpoints: Promise<Endpoints> | null = null;

// getEndpoints asks the server once for its publish addresses (again
// after a failure).
export function getEndpoints(): Promise<Endpoints> {
  if (!endpoints) {
    endpoints = getJSON<Endpoints>('/api/v1/ui/endpoints');
    endpoints.catch(() => { endpoints = null; });
  }
  return endpoints;
}

// PublishLine is a way to publish to a stream: its label, an id for the
// page's elements, and the URL or command to copy.
export interface PublishLine { label: string; id: string; value: string }

// publishLines are the ways to publish to stream, from the server's
// endpoints: RTSP (and RTSPS), WHIP, an ffmpeg command, PutMedia.
export function publishLines(ep: Endpoints, stream: string): PublishLine[] {
  const n = encodeURIComponent(stream);
  const out: PublishLine[] = [{ label: 'RTSP', id: 'rtsp', value: `${ep.rtsp}/${n}` }];
  if (ep.rtsps) out.push({ label: 'RTSPS', id: 'rtsps', value: `${ep.rtsps}/${n}` });
  out.push(
    { label: 'WHIP (WebRTC)', id: 'whip', value: `${ep.http}/webrtc/${n}/whip` },
    { label: 'ffmpeg', id: 'ffmpeg', value: `ffmpeg -re -stream_loop -1 -i FILE -c copy -f rtsp -rtsp_transport tcp ${ep.rtsp}/${n}` },
    { label: 'PutMedia', id: 'putmedia', value: `eddy putmedia --endpoint ${ep.http} FILE ${stream}` },
  );
  return out;
}

// errorText is an error as a sentence for the page.
export function errorText(e: unknown): string {
  if (e instanceof RequestError) {
    if (e.status === 403) return `Not allowed${session.identity ? ` for ${session.identity}` : ''}: ${e.sentence}`;
    return e.sentence;
  }
  return (e as Error)?.message ?? String(e);
}

// ---- formatting shared by the pages

// StoredBytes is what GET /api/v1/streams says of a stream's size; with
// object storage, how much is on local disk, in the bucket (hot or cold)
// and waiting for upload (absent without it, and from older servers).
export interface StoredBytes { storedBytes: number; localBytes?: number; bucketBytes?: number; pendingBytes?: number }

// storedText is a stream's size: "On disk X · In bucket Y" (and what
// waits for upload) with object storage, else the stored bytes.
export function storedText(s: StoredBytes): string {
  if (s.localBytes === undefined || s.bucketBytes === undefined) return fmtBytes(s.storedBytes);
  let t = `On disk ${fmtBytes(s.localBytes)} · In bucket ${fmtBytes(s.bucketBytes)}`;
  if ((s.pendingBytes ?? 0) > 0) t += ` · ${fmtBytes(s.pendingBytes ?? 0)} waiting for upload`;
  return t;
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
}

export function fmtRetention(h: number): string {
  if (!h) return 'none';
  if (h % 24 === 0) return `${h / 24} d`;
  return `${h} h`;
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

// fmtAgo is a past time relative to now ("5 min. ago").
export function fmtAgo(ms: number, now = Date.now()): string {
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  if (a < 60) return rtf.format(s, 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

// el makes an element with attributes (class, text, others as attributes)
// and children.
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children);
  return e;
}

// localMidnight is the start of today in the browser's time zone.
export function localMidnight(now = new Date()): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate());
}
