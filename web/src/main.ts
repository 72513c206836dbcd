// Eddy web UI: stream list, live view (WebRTC through WHEP, falling back
// to Low-Latency HLS LIVE through the Kinesis Video
// GetHLSStreamingSessionURL API, played with hls.js), archive timeline
// (coverage from /api/v1/streams/{name}/coverage, ON_DEMAND playback on
// click), clip download (/api/v1/streams/{name}/clip.mp4) and a publish
// page (camera and microphone over WHIP). Events of the stream's
// {name}.events are drawn over the video (boxes, in step with the frame on
// screen), on the timeline (markers; a density strip when zoomed out) and
// in a list beside the player (events.ts, events_view.ts). The timeline
// shows a strip of thumbnails and previews the frame under the pointer
// (thumbs.ts). A stream opens at #/stream/NAME: live when its camera
// is, else on its last recorded minute, or, never published, with how to
// publish to it; review controls (speed, day, previous/next event,
// keyboard and playhead scrubbing) and a sentence when this browser
// cannot decode the stream's codec (review.ts). With
// credentials configured, a
// login page first (an HttpOnly session cookie; the page sees only who is
// logged in), and the page shows and offers only what the identity may do.
import Hls from 'hls.js';
import { WhepPlayer } from './whep_player';
import { Ev, Overlay, RtpClock } from './events';
import { EventsView } from './events_view';
import { Thumbnails } from './thumbs';
import { publisher, setupPublish } from './publish';
import { session, setSession, SessionInfo, webrtcToken } from './session';
import {
  clockText, codecProblem, lastActivityOf, lastRecordedOf, lengthText, StreamState, streamStateOf, whenText,
} from './review';
import { Wall } from './wall';
import { publishPanel, showManage, showNewStream } from './manage';
import { showStatus } from './status_page';
import { setupTheme } from './theme';
import { getEndpoints, localMidnight, request, RequestError, type StoredBytes, storedText } from './api';
import { manageHref, parseRoute, streamHref } from './routes';
import './style.css';

interface StreamInfo extends StoredBytes {
  name: string; status: string; live: boolean; codecs: string[]; bitrateBps: number;
  // state and lastActivity: absent from older servers (see review.ts).
  state?: StreamState; lastActivity?: string;
  retentionHours: number; storedBytes: number; firstFragment?: string; lastFragment?: string;
  // playback is how browsers can play the stream (absent from older servers).
  playback?: { hls: boolean; webrtc: boolean; webrtcAudio?: boolean; reason?: string };
  // access is what the logged-in identity may do with the stream.
  access?: { hls: boolean; webrtc: boolean; clip: boolean; publish: boolean };
}
type LiveTech = 'webrtc' | 'hls';
interface Coverage {
  mode: 'ranges' | 'buckets'; ranges?: { start: string; end: string }[];
  bucket?: string; buckets?: { start: string; ratio: number; sampled?: boolean }[]; truncated?: boolean;
}
interface Range { start: number; end: number } // epoch ms

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const ZOOMS: [string, number][] = [['zoom-day', DAY], ['zoom-hour', HOUR], ['zoom-10min', 10 * 60_000], ['zoom-1min', 60_000]];
// EVENT_LEAD is how long before an event an archive session starts when
// an event is played (the fragment that holds it starts up to a GOP
// before it); playback then seeks to the event itself.
const EVENT_LEAD = 10_000;
// PLAYHEAD_HANDLE is the height (px) of the top of the timeline where a
// drag on the playhead scrubs (its handle, drawn by the CSS).
const PLAYHEAD_HANDLE = 16;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state = {
  streams: [] as StreamInfo[],
  current: '' as string,
  span: DAY,
  end: 0, // timeline window end (epoch ms); 0 follows now
  ranges: [] as Range[],
  // In a window drawn by buckets (over 48 h: no ranges), the buckets with
  // recording, as ranges: recording lies somewhere inside each.
  bucketRanges: [] as Range[],
  selection: null as Range | null,
  markStart: null as number | null,
  cursor: null as number | null,
  hls: null as Hls | null,
  mode: '',
  playStart: 0, // epoch ms of media time 0 for ON_DEMAND playback
  fatalErrors: [] as string[],
  coverageLoads: 0,
  // coverageSeq numbers the coverage requests: an answer that is not the
  // latest's (the 10 s refresh, a zoom, the day picker and a stream change
  // can land out of order) is dropped; coverageReq is the latest's promise.
  coverageSeq: 0,
  coverageReq: Promise.resolve() as Promise<void>,
  streamsAt: 0, // when state.streams was last loaded (epoch ms)
  whep: null as WhepPlayer | null,
  liveTech: (localStorage.getItem('eddy.liveTech') === 'hls' ? 'hls' : 'webrtc') as LiveTech, // preferred
  liveGen: 0, // bumped by stopPlayer: callbacks of older players do nothing
  retryTimer: 0,
  scrubbing: false, // the playhead is being dragged
  // The stream view: the state the stream had when opened (or last seen),
  // whether the archive plays because the view opened on it (not by the
  // user's choice: it gives way to live), whether this browser cannot
  // decode the stream, and the archive playback speed.
  opened: '' as StreamState | '',
  autoArchive: false,
  blocked: '',
  rate: 1,
};

// live describes the live view: what plays it (tech; '' while starting
// or stopped), the frames shown (requestVideoFrameCallback), the server's
// notice (what WebRTC leaves out), why WebRTC was not used (fallback), and
// the latest latency estimate in seconds.
const live = {
  tech: '' as LiveTech | '', frames: 0, notice: '', fallback: '', latency: null as number | null, ended: '',
  events: 0, clocks: 0, // messages of the WHEP events channel
};

// clock maps the WebRTC frames' RTP timestamps to producer time (the
// events channel's clock messages); overlay draws the events' boxes; events
// is the timeline's and the list's events.
const clock = new RtpClock();
const overlay = new Overlay($<HTMLVideoElement>('video'), $('overlay'));
const events = new EventsView({
  window: () => ({ start: windowEnd() - state.span, end: windowEnd() }),
  pct: (t) => pct(t),
  seek: (ev) => seekToEvent(ev),
  fetchJSON: (path) => request(path),
  explain: (e) => explain(e),
});
// thumbs is the timeline's strip of thumbnails and its hover preview.
const thumbs = new Thumbnails({
  window: () => ({ start: windowEnd() - state.span, end: windowEnd() }),
  ranges: () => (state.ranges.length ? state.ranges : state.bucketRanges),
  approx: () => state.ranges.length === 0 && state.bucketRanges.length > 0,
  stream: () => state.current,
  timeAt: (x) => timeAt(x),
  play: (t) => { setCursor(t); void playAt(t); },
  fmtTime: (t) => fmtTime(t, true),
});
overlay.timeOf = (meta) => {
  if (state.mode === 'LIVE' && live.tech === 'webrtc') return typeof meta.rtpTimestamp === 'number' ? clock.at(meta.rtpTimestamp) : null;
  if (state.mode === 'ON_DEMAND') return producerAt(meta.mediaTime);
  return null; // HLS live: its program date-times are the server's clock
};
overlay.events = () => (state.mode === 'LIVE' ? events.live : events.events);
overlay.filter = (ev) => events.matches(ev);

// wall is the home page's grid (or list) of every stream.
const wall = new Wall({ href: streamHref, manageHref });

// Exposed for debugging and for the end-to-end test.
(window as any).eddy = {
  state, live, publish: publisher, session, playLive, playAt, loadStreams, liveLatency, stopPlayer,
  events, overlay, clock, playerTime, thumbs, loadCoverage, wall,
};

function windowEnd(): number { return state.end || Date.now(); }

function fmtTime(ms: number, withDate = false): string {
  const d = new Date(ms);
  return withDate ? d.toLocaleString() : d.toLocaleTimeString();
}

// ---- stream list

async function loadStreams(): Promise<void> {
  if (!loggedIn()) return;
  const status = $('streams-status');
  const ticket = wall.ticket();
  let rows: StreamInfo[];
  try {
    // Events are counted from the browser's midnight ("today").
    rows = await request<StreamInfo[]>('/api/v1/streams?eventsSince=' + encodeURIComponent(localMidnight().toISOString()));
  } catch (e) {
    status.textContent = 'Could not load streams: ' + (e as Error).message;
    return;
  }
  if (!wall.render(rows, ticket)) return; // a later answer is already shown
  state.streams = rows;
  state.streamsAt = Date.now();
  const live = state.streams.filter((s) => streamStateOf(s) === 'live').length;
  status.textContent = state.streams.length === 0
    ? (session.auth ? `No streams that ${session.identity} may watch.` : 'No streams yet: create one, or publish one with ffmpeg -re -i FILE -c copy -f rtsp rtsp://HOST:8554/cam1')
    : `${state.streams.length} stream(s), ${live} live. Updated ${new Date().toLocaleTimeString()}.`;
  followState();
}

// openStream shows a stream: live when its camera is; offline, its last
// recorded minute (its last frame as the poster); never published, how to
// publish to it. A codec this browser cannot decode plays nothing and
// says what to use instead.
async function openStream(name: string): Promise<void> {
  stopPlayer();
  state.current = name;
  // Nothing of the previous stream stays: its coverage (which playAt clips
  // to), the cursor, the selection, and the timeline drawn of them.
  state.coverageSeq++;
  Object.assign(state, {
    selection: null, markStart: null, end: 0, ranges: [], bucketRanges: [], cursor: null, scrubbing: false,
    opened: '', autoArchive: false, blocked: '', mode: '',
  });
  clearTimeline();
  updateSpeed();
  showState('');
  $('mode').textContent = '';
  setStatus('');
  $<HTMLVideoElement>('video').removeAttribute('poster');
  for (const id of ['stream-banner', 'btn-go-live', 'btn-last-minute', 'publish-help', 'codec-problem', 'stream-storage']) $(id).hidden = true;
  $('viewer').hidden = false;
  $('viewer-h').textContent = name;
  events.open(name);
  thumbs.open();
  renderSelection();
  if (!state.streamsAt) await loadStreams();
  if (state.current !== name) return;
  const info = state.streams.find((s) => s.name === name);
  if (!info) {
    showBanner(`There is no stream named ${name}${session.auth ? ` that ${session.identity} may watch` : ''}.`);
    return;
  }
  // With object storage: how much of it is on disk and in the bucket.
  if (info.bucketBytes !== undefined) {
    $('stream-storage').textContent = storedText(info);
    $('stream-storage').hidden = false;
  }
  const st = streamStateOf(info);
  // Media is addressed by producer time (the last recording's window,
  // poster and minute); the banner shows the server's time of it.
  const last = lastRecordedOf(info);
  state.opened = st;
  showState(st);
  // An offline stream opens at the Hour zoom (a short recording is a
  // sliver at Day), its window holding its last recording.
  if (st === 'offline' && last) {
    setSpan(HOUR);
    if (last < Date.now() - state.span + 60_000) state.end = last + state.span / 2;
  }
  const coverage = loadCoverage();
  const rtsp = await rtspBase();
  if (state.current !== name) return;
  state.blocked = codecProblem(info.codecs, name, rtsp, st === 'offline');
  $('codec-problem').textContent = state.blocked;
  $('codec-problem').hidden = !state.blocked;
  if (st === 'empty') {
    showEmpty(name);
    return;
  }
  if (st === 'offline') {
    showOffline(lastActivityOf(info), last);
    if (state.blocked || !last) return;
    await playLastMinute(name, last, coverage);
    return;
  }
  if (!state.blocked) void playLive();
}

// playLastMinute plays an offline stream's last recorded minute (ending at
// last, producer time), once the stream's coverage is in (playAt clips to
// it): the view's own choice, which gives way to live when the camera
// comes back.
async function playLastMinute(name: string, last: number, coverage = loadCoverage()): Promise<void> {
  // A newer coverage request (the refresh, a zoom) supersedes this one:
  // wait for the latest.
  for (let p = coverage; ; p = state.coverageReq) {
    await p;
    if (p === state.coverageReq || state.current !== name) break;
  }
  if (state.current !== name) return;
  await playAt(last - 60_000, last, name);
  if (state.current === name && state.mode === 'ON_DEMAND') state.autoArchive = true;
}

// clearTimeline empties the timeline's drawing (for another stream).
function clearTimeline(): void {
  for (const id of ['tl-coverage', 'tl-axis']) $(id).replaceChildren();
  for (const id of ['tl-cursor', 'tl-playhead']) $(id).hidden = true;
  for (const id of ['tl-window', 'tl-info']) $(id).textContent = '';
  $('timeline').removeAttribute('aria-valuenow');
  $('timeline').removeAttribute('aria-valuetext');
}

// setSpan sets the timeline's zoom (and which zoom button is pressed).
function setSpan(span: number): void {
  state.span = span;
  for (const [id, s] of ZOOMS) $(id).setAttribute('aria-pressed', String(span === s));
}

// updateSpeed enables the speed only for the archive (live plays at 1×).
function updateSpeed(): void {
  $<HTMLSelectElement>('speed').disabled = state.mode !== 'ON_DEMAND';
}

// rtspBase is the server's RTSP address, for the sentences that say what
// to play a stream with; without the server's endpoints, RTSP's default
// port on this host.
function rtspBase(): Promise<string> {
  return getEndpoints().then((ep) => ep.rtsp, () => `rtsp://${location.hostname}:8554`);
}

// showState marks the view with the stream's state: a stream never
// published shows no player and no archive (the CSS hides them), and
// "Watch live" waits for a camera.
function showState(st: StreamState | ''): void {
  const v = $('viewer');
  if (st) v.dataset.state = st;
  else delete v.dataset.state;
  const btn = $<HTMLButtonElement>('btn-live');
  btn.disabled = st !== '' && st !== 'live';
  btn.title = btn.disabled ? 'Nothing publishes to this stream now' : '';
}

function showBanner(msg: string, offerLive = false, offerLastMinute = false): void {
  $('stream-banner').hidden = !msg;
  $('stream-state').textContent = msg;
  $('btn-go-live').hidden = !offerLive;
  $('btn-last-minute').hidden = !offerLastMinute;
}

// showOffline says since when (shown: the server's time) the camera is
// offline, with the last frame recorded (addressed: the producer's time)
// as the player's poster.
function showOffline(shown: number, last: number, offerLastMinute = false): void {
  $('mode').textContent = 'OFFLINE';
  showBanner(shown ? `Offline — last recorded ${whenText(shown)}` : 'Offline', false, offerLastMinute && !!last);
  if (last) $<HTMLVideoElement>('video').poster = thumbs.url(last - 500, 640);
}

// showEmpty says the stream was never published, and how to publish to
// it: the management page's publish panel (its ids prefixed, as that page
// may hold its own).
function showEmpty(name: string): void {
  $('mode').textContent = '';
  showBanner(`Nothing has been published to ${name} yet.`);
  const help = $('publish-help');
  help.replaceChildren(publishPanel(name, 'stream-'));
  help.hidden = false;
}

// followState follows the open stream's state in the stream list: when
// its camera comes live, the view goes live, unless the user reviews the
// archive (then it offers to).
function followState(): void {
  const s = state.streams.find((x) => x.name === state.current);
  if (!s || $('viewer').hidden || !state.opened) return;
  const st = streamStateOf(s);
  if (st === state.opened) return;
  const was = state.opened;
  state.opened = st;
  showState(st);
  // A first recording: the view opens again, on it (live or its last minute).
  if (was === 'empty') { void openStream(s.name); return; }
  if (st === 'offline' && was === 'live') { wentOffline(s); return; }
  if (st !== 'live') return;
  if (state.blocked) { showBanner(`${s.name} is live now.`); return; }
  if (state.mode === 'ON_DEMAND' && !state.autoArchive) {
    showBanner(`${s.name} is live now.`, true);
    return;
  }
  if (state.mode === 'LIVE' && (state.whep || state.hls)) return; // already playing (the retry after an end)
  showBanner('');
  void playLive();
}

// wentOffline follows a stream whose camera stopped: a live view stops and
// says the stream is offline (since when, its last frame as the poster),
// offers its last minute, and waits for the camera (followState goes live
// when it comes back); an archive being watched plays on.
//
// The list can see the camera go before a WebRTC view's own session says
// it ended; either way the view says the stream ended (live.ended).
function wentOffline(s: StreamInfo): void {
  if (state.mode === 'ON_DEMAND') return;
  const wasLive = live.tech !== '' || live.ended !== '';
  stopPlayer();
  state.mode = '';
  updateSpeed();
  if (wasLive) {
    live.ended = 'the camera went offline';
    setStatus('Stream ended (the camera went offline). Waiting for the camera to come back…', true);
  } else {
    setStatus('Waiting for the camera to come back…');
  }
  showOffline(lastActivityOf(s), lastRecordedOf(s), !state.blocked);
}

// ---- player

function setStatus(msg: string, error = false): void {
  const p = $('player-status');
  p.textContent = msg;
  p.className = error ? 'error' : '';
}

function showNotice(): void {
  const parts: string[] = [];
  if (live.fallback) parts.push(live.fallback);
  if (live.notice) parts.push(/audio not sent/i.test(live.notice) ? 'Video only: ' + live.notice : live.notice);
  const p = $('player-notice');
  p.textContent = parts.join(' ');
  p.hidden = parts.length === 0;
}

// stopPlayer stops whatever plays; a WebRTC session is DELETEd (with
// keepalive when the page goes away).
function stopPlayer(keepalive = false): void {
  state.liveGen++;
  clearTimeout(state.retryTimer);
  state.whep?.close(keepalive);
  state.whep = null;
  state.hls?.destroy();
  state.hls = null;
  clock.reset();
  overlay.clear();
  Object.assign(live, { tech: '', notice: '', fallback: '', latency: null, ended: '', events: 0, clocks: 0 });
  showNotice();
  const v = $<HTMLVideoElement>('video');
  v.srcObject = null;
  v.removeAttribute('src');
  v.load();
}

// countFrames counts the frames the live view shows, until the next
// stopPlayer.
function countFrames(gen: number): void {
  const v = $<HTMLVideoElement>('video');
  if (!('requestVideoFrameCallback' in v)) return;
  const tick = () => {
    if (gen !== state.liveGen) return;
    live.frames++;
    v.requestVideoFrameCallback(tick);
  };
  v.requestVideoFrameCallback(tick);
}

// sessionURL gets an HLS session URL: GetHLSStreamingSessionURL's request
// and answer, through the UI's own endpoint (the session authenticates it;
// the API's endpoint takes SigV4).
async function sessionURL(body: object): Promise<string> {
  const out = await request<{ HLSStreamingSessionURL: string }>('/api/v1/ui/hls', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return out.HLSStreamingSessionURL;
}

function explain(e: unknown): string {
  if (e instanceof RequestError) {
    if (e.code.includes('ResourceNotFound') && /fragment/i.test(e.message)) {
      return 'No fragments yet: nothing recent is recorded for this stream (is a camera publishing?). ' + e.message;
    }
    return e.sentence;
  }
  return (e as Error).message ?? String(e);
}

function setLiveTech(t: LiveTech): void {
  state.liveTech = t;
  try { localStorage.setItem('eddy.liveTech', t); } catch { /* storage disabled */ }
  $('tech-webrtc').setAttribute('aria-pressed', String(t === 'webrtc'));
  $('tech-hls').setAttribute('aria-pressed', String(t === 'hls'));
}

// playLive plays the stream live: over WebRTC (WHEP) when preferred and
// possible, else, or when WebRTC fails (refused, no connection, no frame
// within 4 s), over LL-HLS.
async function playLive(name = state.current): Promise<void> {
  stopPlayer();
  const gen = state.liveGen;
  state.mode = 'LIVE';
  state.autoArchive = false;
  updateSpeed();
  showBanner('');
  const v0 = $<HTMLVideoElement>('video');
  v0.removeAttribute('poster');
  v0.defaultPlaybackRate = 1;
  v0.playbackRate = 1;
  $('mode').textContent = 'LIVE';
  live.frames = 0;
  countFrames(gen);
  const info = state.streams.find((s) => s.name === name);
  const pb = info?.playback;
  const access = info?.access;
  let fallback = '';
  if (state.liveTech === 'webrtc' || (access && !access.hls)) {
    if (pb && !pb.webrtc) {
      fallback = 'WebRTC cannot play this stream' + (pb.reason ? ` (${pb.reason})` : '') + '.';
    } else if (access && !access.webrtc) {
      fallback = `${session.identity} may not watch this stream over WebRTC (webrtc:read); playing HLS.`;
    } else {
      setStatus('Starting live view over WebRTC…');
      const video = $<HTMLVideoElement>('video');
      const p = new WhepPlayer(video, `/webrtc/${encodeURIComponent(name)}/whep`, {
        onEnded: (why) => { if (gen === state.liveGen) liveEnded(name, why); },
        token: () => webrtcToken(name, 'webrtc:read'),
        onData: (m) => {
          if (gen !== state.liveGen || !m || typeof m !== 'object') return;
          if (m.kind === 'clock' && typeof m.rtpTimestamp === 'number' && typeof m.time === 'string') {
            clock.set(m.rtpTimestamp, m.time);
            live.clocks++;
          } else if (m.kind === 'event' && m.event && typeof m.event === 'object') {
            live.events++;
            events.addLive(m.event);
          }
        },
      });
      state.whep = p;
      try {
        await p.start();
      } catch (e) {
        if (gen !== state.liveGen) return;
        state.whep = null;
        video.srcObject = null;
        fallback = `WebRTC did not play (${(e as Error).message}); playing HLS instead.`;
      }
      if (gen !== state.liveGen) return;
      if (!fallback) {
        live.tech = 'webrtc';
        live.notice = p.notice;
        showNotice();
        showWebRTC(p, gen);
        return;
      }
    }
  }
  live.fallback = fallback;
  showNotice();
  if (pb && !pb.hls) {
    setStatus('HLS cannot play this stream' + (pb.reason ? `: ${pb.reason}` : '.'), true);
    return;
  }
  if (access && !access.hls) {
    setStatus(`${session.identity} may not watch this stream over HLS (hls:read).`, true);
    return;
  }
  setStatus('Starting live view…');
  let url: string;
  try {
    // Program date-times let the player show how far behind the camera
    // it plays; a continuous recording has no discontinuities.
    url = await sessionURL({
      StreamName: name, PlaybackMode: 'LIVE', DisplayFragmentTimestamp: 'ALWAYS', DiscontinuityMode: 'ON_DISCONTINUITY',
    });
  } catch (e) {
    if (gen === state.liveGen) setStatus(explain(e), true);
    return;
  }
  if (gen !== state.liveGen) return;
  live.tech = 'hls';
  startHls(url, 'Live', true);
}

// showWebRTC keeps the status line of a WebRTC live view up to date.
function showWebRTC(p: WhepPlayer, gen: number): void {
  setStatus('Live · WebRTC');
  const current = () => gen === state.liveGen && state.whep === p;
  const tick = async () => {
    if (!current()) return;
    const l = await p.latency().catch(() => null);
    if (!current()) return;
    live.latency = l;
    setStatus('Live · WebRTC' + (l !== null ? ` · ${l < 0.1 ? 'under 0.1' : l.toFixed(1)} s behind` : ''));
    setTimeout(() => void tick(), 1000);
  };
  setTimeout(() => void tick(), 500);
}

// liveEnded follows a WebRTC live view whose session ended (the publisher
// went away, or the connection broke): it says so and plays again once
// the stream list shows the stream live (after the end).
function liveEnded(name: string, why: string): void {
  const gen = state.liveGen;
  const endedAt = Date.now();
  state.whep = null;
  Object.assign(live, { tech: '', latency: null, ended: why });
  setStatus(`Stream ended (${why}). Waiting for it to come back…`, true);
  const retry = () => {
    if (gen !== state.liveGen) return;
    const s = state.streams.find((x) => x.name === name);
    if (state.streamsAt > endedAt + 500 && s?.live) { void playLive(name); return; }
    state.retryTimer = window.setTimeout(retry, 1000);
  };
  state.retryTimer = window.setTimeout(retry, 1000);
}

// liveLatency is how many seconds the picture is behind the camera: for
// HLS, server arrival of the frame on screen, from EXT-X-PROGRAM-DATE-TIME;
// for WebRTC, the receiver's estimate (see WhepPlayer.latency).
function liveLatency(): number | null {
  if (live.tech === 'webrtc') return live.latency;
  const d = state.hls?.playingDate;
  return d ? (Date.now() - d.getTime()) / 1000 : null;
}

// playAt plays the archive ON_DEMAND from t for up to an hour, clipped to
// recorded coverage: a time in a gap starts at the next recording. With
// seek, playback starts at that (producer) time inside the session.
async function playAt(t: number, until?: number, name = state.current, seek?: number): Promise<void> {
  const r = clipToCoverage(t, until ?? t + HOUR);
  if (!r) {
    setStatus(`Nothing recorded at or after ${fmtTime(t, true)}.`, true);
    return;
  }
  stopPlayer();
  // Leaving the view (or another stream, or player) while the session is
  // asked for: its answer plays nothing.
  const gen = state.liveGen;
  state.autoArchive = false;
  state.mode = 'ON_DEMAND';
  updateSpeed();
  $('mode').textContent = 'ARCHIVE';
  setStatus(`Loading the archive from ${fmtTime(r.start, true)} to ${fmtTime(r.end, true)}…`);
  let url: string;
  try {
    url = await sessionURL({
      StreamName: name, PlaybackMode: 'ON_DEMAND', DisplayFragmentTimestamp: 'ALWAYS',
      HLSFragmentSelector: {
        FragmentSelectorType: 'PRODUCER_TIMESTAMP',
        TimestampRange: { StartTimestamp: r.start / 1000, EndTimestamp: r.end / 1000 },
      },
    });
  } catch (e) {
    if (gen === state.liveGen && name === state.current) setStatus(explain(e), true);
    return;
  }
  if (gen !== state.liveGen || name !== state.current) return;
  state.playStart = r.start;
  startHls(url, seek === undefined ? `Archive from ${fmtTime(r.start, true)}` : `Archive at ${fmtTime(seek, true)}`, false, seek);
}

// producerAt is the producer time (epoch ms) of media time mt of the
// archive session, from its fragments' program date-times (an ON_DEMAND
// session by PRODUCER_TIMESTAMP dates its fragments by the producer clock).
function producerAt(mt: number): number | null {
  const frags = state.hls?.latestLevelDetails?.fragments;
  if (!frags?.length) return null;
  let f = null;
  for (const x of frags) {
    if (x.start > mt + 0.001) break;
    f = x;
  }
  return f && f.programDateTime ? f.programDateTime + (mt - f.start) * 1000 : null;
}

// positionOf is the media time of producer time t in the archive
// session's fragments; null when the session does not hold it.
function positionOf(t: number, frags = state.hls?.latestLevelDetails?.fragments): number | null {
  for (const f of frags ?? []) {
    const pdt = f.programDateTime;
    if (pdt && t >= pdt && t < pdt + f.duration * 1000) return f.start + (t - pdt) / 1000;
  }
  return null;
}

// playerTime is the producer time (epoch ms) of the frame on screen:
// WebRTC live (the events channel's clock) or archive; null otherwise.
function playerTime(): number | null {
  if (state.mode === 'ON_DEMAND') return producerAt($<HTMLVideoElement>('video').currentTime);
  return overlay.frameTime;
}

// seekToEvent plays the archive at an event's time: a seek when the
// archive session playing holds it, else a new session around it.
function seekToEvent(ev: Ev): void {
  setCursor(ev.t);
  const pos = state.mode === 'ON_DEMAND' && state.hls ? positionOf(ev.t) : null;
  if (pos !== null) {
    const v = $<HTMLVideoElement>('video');
    v.currentTime = pos;
    void v.play().catch(() => {});
    setStatus(`Archive at ${fmtTime(ev.t, true)}`);
    return;
  }
  void playAt(ev.t - EVENT_LEAD, undefined, state.current, ev.t);
}

function clipToCoverage(t: number, until: number): Range | null {
  const rs = state.ranges;
  if (rs.length === 0) return { start: t, end: until }; // unknown (bucket view): let the server decide
  const first = rs.find((r) => r.end > t);
  if (!first || first.start >= until) return null;
  const start = Math.max(t, first.start);
  let end = start;
  for (const r of rs) {
    if (r.end <= start) continue;
    if (r.start >= until) break;
    end = Math.min(until, r.end);
  }
  return end > start ? { start, end } : null;
}

function startHls(url: string, label: string, isLive = false, seek?: number): void {
  const video = $<HTMLVideoElement>('video');
  if (!Hls.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      void video.play().catch(() => {});
      setStatus(label);
      return;
    }
    setStatus('This browser supports neither Media Source Extensions nor native HLS.', true);
    return;
  }
  // Live sessions are Low-Latency HLS (parts and blocking reloads);
  // hls.js keeps about PART-HOLD-BACK behind the newest part, and plays
  // up to 1.5x faster to get there when it starts (or stalls) further back.
  // The archive buffers further ahead (in media seconds): at 16× speed
  // 30 s of buffer lasts under 2 s.
  const hls = new Hls({
    lowLatencyMode: isLive, backBufferLength: 60, maxLiveSyncPlaybackRate: isLive ? 1.5 : 1,
    maxBufferLength: isLive ? 30 : 120, maxMaxBufferLength: isLive ? 600 : 240,
  });
  state.hls = hls;
  hls.on(Hls.Events.ERROR, (_ev, data) => {
    if (!data.fatal) return;
    if (data.details === Hls.ErrorDetails.MANIFEST_INCOMPATIBLE_CODECS_ERROR) {
      // The playlist's codecs are none this browser decodes: say so in
      // words, with what to use instead.
      const info = state.streams.find((x) => x.name === state.current);
      void rtspBase().then((rtsp) => {
        const why = codecProblem(info?.codecs ?? [], state.current, rtsp)
          || `This browser cannot decode this stream's codecs (${info?.codecs.join(', ') ?? 'unknown'}). Use VLC or ffplay with its RTSP URL ${rtsp}/${encodeURIComponent(state.current)}, or download a clip.`;
        $('codec-problem').textContent = why;
        $('codec-problem').hidden = false;
      });
      setStatus('');
      hls.destroy();
      if (state.hls === hls) state.hls = null;
      return;
    }
    const msg = `Playback error (${data.type}: ${data.details})`;
    state.fatalErrors.push(msg);
    setStatus(msg + '. Press "Watch live" or click the timeline to retry.', true);
    hls.destroy();
    if (state.hls === hls) state.hls = null;
  });
  if (isLive) {
    const show = () => {
      if (state.hls !== hls) return;
      const l = liveLatency();
      live.latency = l;
      if (l !== null && !$('player-status').classList.contains('error')) setStatus(`${label} · ${hls.lowLatencyMode && hls.latestLevelDetails?.partList ? 'LL-HLS' : 'HLS'} · ${l.toFixed(1)} s behind the camera`);
      setTimeout(show, 1000);
    };
    setTimeout(show, 1000);
  }
  if (seek !== undefined) {
    // Start loading at the fragment that holds seek, not at the session's
    // first.
    hls.once(Hls.Events.LEVEL_LOADED, (_ev, data) => {
      const pos = positionOf(seek, data.details.fragments);
      if (pos === null || state.hls !== hls) return;
      hls.stopLoad();
      hls.startLoad(pos);
      // hls.js may start at the fragment's keyframe: once the first frame
      // is there, go to the event itself.
      const exact = () => {
        if (state.hls === hls && Math.abs(video.currentTime - pos) > 0.04) video.currentTime = pos;
      };
      if (video.readyState >= 2) exact();
      else video.addEventListener('loadeddata', exact, { once: true });
    });
  }
  if (!isLive) applyRate();
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    if (!isLive) applyRate();
    setStatus(isLive ? `${label} · ${hls.lowLatencyMode && hls.latestLevelDetails?.partList ? 'LL-HLS' : 'HLS'}` : label);
    void video.play().catch((e) => setStatus('Press play to start (' + (e as Error).message + ')'));
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

// ---- timeline

function loadCoverage(): Promise<void> {
  const p = fetchCoverage();
  state.coverageReq = p;
  return p;
}

async function fetchCoverage(): Promise<void> {
  const name = state.current;
  if (!name) return;
  const seq = ++state.coverageSeq;
  const stale = () => seq !== state.coverageSeq || name !== state.current;
  const end = windowEnd();
  const from = new Date(end - state.span).toISOString();
  const to = new Date(end).toISOString();
  try {
    const c = await request<Coverage>(`/api/v1/streams/${encodeURIComponent(name)}/coverage?from=${from}&to=${to}`);
    if (stale()) return;
    state.ranges = (c.ranges ?? []).map((r) => ({ start: Date.parse(r.start), end: Date.parse(r.end) }));
    const size = c.bucket === 'day' ? DAY : HOUR;
    state.bucketRanges = (c.buckets ?? []).filter((b) => b.ratio > 0).map((b) => ({ start: Date.parse(b.start), end: Date.parse(b.start) + size }));
    renderTimeline(c);
    state.coverageLoads++;
    void events.load();
  } catch (e) {
    if (!stale()) $('tl-info').textContent = 'Could not load the archive: ' + explain(e);
  }
}

function pct(t: number): number {
  const end = windowEnd();
  return ((t - (end - state.span)) / state.span) * 100;
}

function renderTimeline(c?: Coverage): void {
  const end = windowEnd();
  const start = end - state.span;
  const cov = $('tl-coverage');
  cov.replaceChildren();
  let total = 0;
  for (const r of state.ranges) {
    const d = document.createElement('div');
    d.style.left = pct(r.start) + '%';
    d.style.width = (pct(r.end) - pct(r.start)) + '%';
    d.title = `${fmtTime(r.start, true)} – ${fmtTime(r.end, true)}`;
    cov.append(d);
    total += r.end - r.start;
  }
  for (const b of c?.buckets ?? []) {
    const bs = Date.parse(b.start);
    const size = c?.bucket === 'day' ? DAY : HOUR;
    const d = document.createElement('div');
    d.style.left = pct(bs) + '%';
    d.style.width = (pct(bs + size) - pct(bs)) + '%';
    d.style.opacity = String(b.ratio);
    d.title = `${fmtTime(bs, true)}: ${Math.round(b.ratio * 100)}% recorded`;
    if (b.ratio > 0) cov.append(d);
  }
  $('tl-window').textContent = `${fmtTime(start, true)} – ${fmtTime(end, true)}`;
  // Not while the user is at the day picker (the refresh every 10 s
  // would overwrite what is being typed).
  const day = $<HTMLInputElement>('tl-day');
  if (document.activeElement !== day) day.value = dayValue(end - 1);
  const tl = $('timeline');
  tl.setAttribute('aria-valuetext', state.ranges.length
    ? `${state.ranges.length} recorded range(s), ${Math.round(total / 1000)} s in this window`
    : 'nothing recorded in this window');
  const axis = $('tl-axis');
  axis.replaceChildren();
  // Fewer labels on a narrow timeline (a phone) so that they do not overlap.
  const ticks = tl.clientWidth && tl.clientWidth < 560 ? 3 : 6;
  for (let i = 0; i <= ticks; i++) {
    const s = document.createElement('span');
    s.style.left = (i / ticks) * 100 + '%';
    s.textContent = new Date(start + (state.span * i) / ticks).toLocaleTimeString([], state.span <= 10 * 60_000
      ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' });
    axis.append(s);
  }
  renderSelection();
  thumbs.render();
}

function renderSelection(): void {
  const sel = $('tl-selection');
  const ctl = $('selection-controls');
  const s = state.selection;
  if (!s) { sel.hidden = true; ctl.hidden = true; return; }
  sel.hidden = false;
  sel.style.left = pct(s.start) + '%';
  sel.style.width = Math.max(0.2, pct(s.end) - pct(s.start)) + '%';
  ctl.hidden = false;
  $('selection-text').textContent = `${clockText(s.start)} – ${clockText(s.end)} · ${lengthText(s.end - s.start)}`;
  const a = $<HTMLAnchorElement>('btn-download');
  a.hidden = state.streams.find((x) => x.name === state.current)?.access?.clip === false;
  a.href = `/api/v1/streams/${encodeURIComponent(state.current)}/clip.mp4?start=${new Date(s.start).toISOString()}&end=${new Date(s.end).toISOString()}`;
  // An empty download attribute: the file takes the server's name (the
  // real start and end of the media, in its Content-Disposition).
  a.download = '';
}

function timeAt(clientX: number): number {
  const r = $('timeline').getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
  return windowEnd() - state.span + f * state.span;
}

function setCursor(t: number): void {
  state.cursor = t;
  const c = $('tl-cursor');
  c.hidden = false;
  c.style.left = pct(t) + '%';
  const tl = $('timeline');
  tl.setAttribute('aria-valuenow', String(Math.round(pct(t))));
  tl.setAttribute('aria-valuetext', fmtTime(t, true));
}

function markSelection(t: number): void {
  if (state.markStart === null) {
    state.markStart = t;
    $('tl-info').textContent = `Selection starts at ${fmtTime(t, true)}; mark the end.`;
    return;
  }
  const a = Math.min(state.markStart, t);
  const b = Math.max(state.markStart, t);
  state.markStart = null;
  if (b > a) state.selection = { start: a, end: b };
  renderSelection();
}

// setupTimeline wires the timeline: pointer and keys, zoom and paging,
// the player buttons, and the playhead that follows the archive.
function setupTimeline(): void {
  setupTimelinePointer();
  setupTimelineKeys();
  const zoom = (span: number) => {
    // Zoom around the cursor if one is set, else show the latest span.
    const center = state.cursor;
    setSpan(span);
    state.end = center === null ? 0 : center + span / 2;
    if (Date.now() - state.end < 0) state.end = 0;
    void loadCoverage();
  };
  setupReview();
  for (const [id, s] of ZOOMS) $(id).onclick = () => zoom(s);
  $('tl-prev').onclick = () => { state.end = windowEnd() - state.span / 2; void loadCoverage(); };
  $('tl-next').onclick = () => {
    const e = windowEnd() + state.span / 2;
    state.end = e >= Date.now() ? 0 : e;
    void loadCoverage();
  };
  $('tl-now').onclick = () => { state.end = 0; void loadCoverage(); };
  $('btn-live').onclick = () => void playLive();
  $('tech-webrtc').onclick = () => { setLiveTech('webrtc'); if (state.current) void playLive(); };
  $('tech-hls').onclick = () => { setLiveTech('hls'); if (state.current) void playLive(); };
  $('btn-play-sel').onclick = () => { if (state.selection) void playAt(state.selection.start, state.selection.end); };
  $('btn-clear-sel').onclick = () => { state.selection = null; state.markStart = null; renderSelection(); };
  for (const ev of ['timeupdate', 'seeking']) $<HTMLVideoElement>('video').addEventListener(ev, followPlayhead);
}

// followPlayhead: the playhead follows ON_DEMAND playback (media time
// 0 = playStart). It moves on a seek too, not only at the next
// timeupdate; its time is the frame's program date-time (the session may
// start a GOP before playStart).
function followPlayhead(): void {
  const ph = $('tl-playhead');
  const v = $<HTMLVideoElement>('video');
  if (state.mode !== 'ON_DEMAND') { ph.hidden = true; return; }
  ph.hidden = false;
  if (state.scrubbing) return;
  ph.style.left = pct(producerAt(v.currentTime) ?? state.playStart + v.currentTime * 1000) + '%';
}

// setupTimelinePointer: a click plays there (shift-click marks a
// selection's ends), a drag selects, a drag of the playhead's handle
// scrubs.
function setupTimelinePointer(): void {
  const tl = $('timeline');
  let down: { x: number; t: number; scrub: boolean } | null = null;
  tl.addEventListener('pointerdown', (e) => {
    // On the playhead's handle (its top, while the archive plays): a drag
    // scrubs; elsewhere, a drag selects (from the playhead too).
    const ph = $('tl-playhead');
    const r = ph.getBoundingClientRect();
    const scrub = state.mode === 'ON_DEMAND' && !ph.hidden && Math.abs(e.clientX - (r.left + r.width / 2)) <= 8
      && e.clientY - tl.getBoundingClientRect().top < PLAYHEAD_HANDLE;
    down = { x: e.clientX, t: timeAt(e.clientX), scrub };
    state.scrubbing = scrub;
    tl.setPointerCapture(e.pointerId);
  });
  tl.addEventListener('pointermove', (e) => {
    if (down?.scrub) {
      const t = timeAt(e.clientX);
      setCursor(t);
      $('tl-playhead').style.left = pct(t) + '%';
      return;
    }
    if (!down || Math.abs(e.clientX - down.x) < 5) return;
    const t = timeAt(e.clientX);
    state.selection = { start: Math.min(down.t, t), end: Math.max(down.t, t) };
    renderSelection();
  });
  tl.addEventListener('pointerup', (e) => {
    if (!down) return;
    const d = down;
    down = null;
    state.scrubbing = false;
    if (d.scrub) { scrubTo(timeAt(e.clientX)); return; }
    if (Math.abs(e.clientX - d.x) >= 5) return; // a drag: selection done
    setCursor(d.t);
    if (e.shiftKey) { markSelection(d.t); return; }
    void playAt(d.t);
  });
  // A pointer taken away (a touch turned into a scroll, the capture lost,
  // the window left) ends the drag where it was, without playing: nothing
  // stays scrubbing.
  const cancel = () => {
    if (!down) return;
    down = null;
    state.scrubbing = false;
    followPlayhead();
  };
  tl.addEventListener('pointercancel', cancel);
  tl.addEventListener('lostpointercapture', cancel);
}

// setupTimelineKeys: the arrows, Home and End move the cursor, Enter
// plays from it, S marks a selection's ends.
function setupTimelineKeys(): void {
  $('timeline').addEventListener('keydown', (e) => {
    const step = (e.shiftKey ? 10 : 1) * state.span / 100;
    const t = state.cursor ?? windowEnd() - state.span / 2;
    const from = windowEnd() - state.span;
    const rs = state.ranges.filter((r) => r.end > from && r.start < windowEnd());
    switch (e.key) {
      case 'ArrowLeft': setCursor(Math.max(from, t - step)); break;
      case 'ArrowRight': setCursor(Math.min(windowEnd(), t + step)); break;
      case 'Home': setCursor(rs.length ? Math.max(from, rs[0].start) : from); break;
      case 'End': setCursor(rs.length ? Math.min(windowEnd(), rs[rs.length - 1].end) - 1000 : windowEnd()); break;
      case 'Enter': void playAt(t); break;
      case 's': case 'S': markSelection(t); break;
      default: return;
    }
    e.preventDefault();
  });
}

// ---- review: speed, day, previous and next event, scrubbing

// applyRate sets the archive's playback speed on the player (a new
// source resets playbackRate to defaultPlaybackRate).
function applyRate(): void {
  const v = $<HTMLVideoElement>('video');
  try {
    v.defaultPlaybackRate = state.rate;
    v.playbackRate = state.rate;
  } catch (e) {
    // Browsers refuse some speeds (Chromium: beyond 1/16× to 16×).
    setStatus(`This browser does not play at ${state.rate}× (${(e as Error).message}).`, true);
  }
}

function dayValue(t: number): string {
  const d = new Date(t);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// showDay shows the local day of value (YYYY-MM-DD) at the Day zoom.
function showDay(value: string): void {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
  state.end = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1).getTime(); // DST days are 23 or 25 h
  state.span = state.end - start;
  for (const [id, s] of ZOOMS) $(id).setAttribute('aria-pressed', String(s === DAY));
  state.cursor = null;
  $('tl-cursor').hidden = true;
  void loadCoverage();
}

// scrubTo plays the archive at t: a seek when the session playing holds
// it, else a new session from there.
function scrubTo(t: number): void {
  setCursor(t);
  const pos = state.mode === 'ON_DEMAND' && state.hls ? positionOf(t) : null;
  if (pos === null) { void playAt(t); return; }
  const v = $<HTMLVideoElement>('video');
  v.currentTime = pos;
  void v.play().catch(() => {});
  state.autoArchive = false;
}

// jumpEvent goes to the window's previous (dir -1) or next (+1) event
// from the frame on screen (or the cursor) and plays it.
function jumpEvent(dir: 1 | -1): void {
  const ref = (state.mode === 'ON_DEMAND' ? playerTime() : null) ?? state.cursor ?? (dir > 0 ? windowEnd() - state.span : windowEnd());
  // Half a second of slack: playing an event lands a little after it.
  const evs = events.events;
  const ev = dir > 0 ? evs.find((x) => x.t > ref + 500) : [...evs].reverse().find((x) => x.t < ref - 500);
  if (!ev) {
    $('tl-info').textContent = dir > 0 ? 'No later event in this window.' : 'No earlier event in this window.';
    return;
  }
  events.pick(ev);
}

function setupReview(): void {
  const speed = $<HTMLSelectElement>('speed');
  updateSpeed();
  speed.onchange = () => {
    state.rate = Number(speed.value) || 1;
    if (state.mode === 'ON_DEMAND') applyRate();
  };
  const day = $<HTMLInputElement>('tl-day');
  day.onchange = () => showDay(day.value);
  $('ev-prev').onclick = () => jumpEvent(-1);
  $('ev-next').onclick = () => jumpEvent(1);
  $('btn-go-live').onclick = () => void playLive();
  $('btn-last-minute').onclick = () => {
    const s = state.streams.find((x) => x.name === state.current);
    const last = s ? lastRecordedOf(s) : 0;
    if (!s || !last) return;
    showBanner($('stream-state').textContent ?? '');
    void playLastMinute(s.name, last);
  };
  // [ and ] anywhere in the stream view but in a text field.
  document.addEventListener('keydown', (e) => {
    if ($('viewer').hidden || !state.current || e.ctrlKey || e.metaKey || e.altKey) return;
    const el = e.target as HTMLElement;
    if (el.closest('input, select, textarea, [contenteditable="true"]')) return;
    if (e.key === '[') jumpEvent(-1);
    else if (e.key === ']') jumpEvent(1);
    else return;
    e.preventDefault();
  });
}

// ---- pages (routes.ts): #/ the camera wall, #/stream/NAME a stream's
// view, #/publish, #/streams/new, #/manage/NAME, #/status

const PAGES: [string, string][] = [
  ['wall', 'page-wall'], ['stream', 'page-streams'], ['publish', 'page-publish'], ['new', 'page-new'],
  ['manage', 'page-manage'], ['status', 'page-status'],
];

function route(): void {
  if (!loggedIn()) return;
  const r = parseRoute(location.hash);
  let page: string = r.page;
  if (page === 'publish' && !session.canPublish) page = 'wall';
  for (const [p, id] of PAGES) $(id).hidden = p !== page;
  const nav = page === 'publish' ? 'nav-publish' : page === 'status' ? 'nav-status' : 'nav-streams';
  for (const id of ['nav-streams', 'nav-publish', 'nav-status']) $(id).setAttribute('aria-current', id === nav ? 'page' : 'false');
  // Only the page shown plays: the wall's tiles, or the stream view.
  wall.setActive(page === 'wall');
  if (page === 'stream') {
    if (r.name !== state.current || state.mode === 'LIVE-PAUSED') void openStream(r.name);
  } else if (state.current) {
    stopPlayer();
    setStatus('');
    state.current = '';
    state.mode = '';
    updateSpeed();
  }
  // A camera preview (not a publication) ends with the publish page.
  if (page !== 'publish' && publisher.media && publisher.state !== 'publishing' && publisher.state !== 'connecting') publisher.stop();
  const manage = { stream: (n: string) => state.streams.find((s) => s.name === n), changed: () => void loadStreams(), href: streamHref };
  const shown = PAGES.find(([p]) => p === page)![1];
  if (page === 'new') showNewStream($('page-new'), manage);
  if (page === 'manage') void showManage($('page-manage'), r.name, manage, r.query.has('created')).finally(() => focusHeading(shown));
  else if (page === 'status') void showStatus($('page-status')).finally(() => focusHeading(shown));
  else focusHeading(shown);
  if (page !== 'stream') document.title = 'Eddy';
}

// focusHeading moves the focus to the heading of the page just shown, so
// that keyboard and screen-reader users land on it (not on the link of the
// page they left); pages drawn after an answer call it once drawn.
function focusHeading(pageId: string): void {
  const page = $(pageId);
  if (page.hidden) return;
  // Something of the page took the focus as it was shown (the wall's
  // "Deleted NAME." notice): that is where the user should land.
  if (document.activeElement && document.activeElement !== document.body && page.contains(document.activeElement)) return;
  const h = (page.getAttribute('aria-labelledby') && document.getElementById(page.getAttribute('aria-labelledby')!)) || page.querySelector('h2');
  if (!(h instanceof HTMLElement) || !page.contains(h)) return;
  h.tabIndex = -1;
  h.focus({ preventScroll: true });
}

// ---- login

// loggedIn: the server needs no login, or the page has a session.
function loggedIn(): boolean { return !session.auth || session.identity !== ''; }

function showApp(): void {
  $('page-login').hidden = true;
  $('nav').hidden = false;
  $('nav-publish').hidden = !session.canPublish;
  $('nav-status').hidden = !session.admin;
  $('whoami').hidden = !session.auth;
  $('whoami-name').textContent = session.auth ? `Logged in as ${session.identity}` : '';
  route();
  void loadStreams();
}

// showLogin ends whatever plays or publishes and shows the login page.
function showLogin(msg = '', error = false): void {
  stopPlayer();
  setStatus('');
  if (publisher.state !== 'idle') publisher.stop();
  Object.assign(state, { streams: [], current: '', mode: '', ranges: [], bucketRanges: [], selection: null });
  events.open('');
  wall.render([]);
  wall.setActive(false);
  $('viewer').hidden = true;
  for (const id of ['page-wall', 'page-streams', 'page-publish', 'page-new', 'page-manage', 'page-status', 'nav', 'whoami']) $(id).hidden = true;
  $('page-login').hidden = false;
  const st = $('login-status');
  st.textContent = msg;
  st.className = error ? 'error' : '';
  $<HTMLInputElement>('login-key').focus();
}

async function login(e: Event): Promise<void> {
  e.preventDefault();
  const st = $('login-status');
  st.textContent = 'Logging in…';
  st.className = '';
  const secret = $<HTMLInputElement>('login-secret');
  try {
    const info = await request<SessionInfo>('/api/v1/ui/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ accessKeyId: $<HTMLInputElement>('login-key').value.trim(), secretAccessKey: secret.value }),
    });
    secret.value = '';
    setSession(info);
    st.textContent = '';
    showApp();
  } catch (err) {
    secret.value = '';
    const wrong = err instanceof RequestError && err.status === 401;
    showLogin(wrong ? 'Wrong access key id or secret access key.' : 'Cannot log in: ' + (err as Error).message, true);
  }
}

async function logout(): Promise<void> {
  await fetch('/api/v1/ui/logout', { method: 'POST' }).catch(() => {});
  session.identity = '';
  showLogin('Logged out.');
}

// boot asks the server whether it wants a login and who is logged in.
async function boot(): Promise<void> {
  try {
    setSession(await request<SessionInfo>('/api/v1/ui/session'));
  } catch (e) {
    showLogin('Cannot reach Eddy: ' + (e as Error).message, true);
    return;
  }
  if (loggedIn()) showApp();
  else showLogin();
}

session.onUnauthorized = () => {
  if (!session.auth || !session.identity) return;
  session.identity = '';
  showLogin('Your session ended; log in again.', true);
};
setupTheme($<HTMLSelectElement>('theme'));
setupTimeline();
setLiveTech(state.liveTech);
setupPublish(() => void loadStreams());
$<HTMLFormElement>('login-form').onsubmit = (e) => void login(e);
$('btn-logout').onclick = () => void logout();
window.addEventListener('hashchange', route);
// The page goes away: end the WebRTC sessions now rather than at their ICE
// timeouts (keepalive lets the DELETEs outlive the page).
window.addEventListener('pagehide', () => { stopPlayer(true); publisher.stop(true); });
void boot();
// The stream list is not asked for from a hidden tab; it is asked for at
// once when the tab shows again.
setInterval(() => { if (!document.hidden) void loadStreams(); }, 3000);
document.addEventListener('visibilitychange', () => { if (!document.hidden) void loadStreams(); });
setInterval(() => { if (loggedIn() && state.current && !document.hidden) void loadCoverage(); }, 10000);
setInterval(() => { if (loggedIn() && !$('page-status').hidden && !document.hidden) void showStatus($('page-status')); }, 5000);
