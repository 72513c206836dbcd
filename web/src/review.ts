// The stream view's helpers for reviewing footage: what state a stream is
// in (live, offline with a recording, never published; the camera wall and
// the management page read it here too), whether this browser can decode
// its codecs, and how times and lengths are written.

export type StreamState = 'live' | 'offline' | 'empty';

// StreamRow is the part of a GET /api/v1/streams row these helpers read.
export interface StreamRow {
  name: string; live: boolean; codecs: string[]; state?: StreamState; lastActivity?: string; lastFragment?: string;
}

// streamStateOf is the row's state; servers that do not send one say whether
// the stream is live and when its last fragment was.
export function streamStateOf(s: StreamRow): StreamState {
  if (s.state) return s.state;
  if (s.live) return 'live';
  return s.lastFragment ? 'offline' : 'empty';
}

// lastActivityOf is when the stream's last fragment ended by the server's
// clock (epoch ms), or 0: the time to show ("last recorded 7:49 PM").
export function lastActivityOf(s: StreamRow): number {
  const t = Date.parse(s.lastActivity ?? s.lastFragment ?? '');
  return Number.isFinite(t) ? t : 0;
}

// lastRecordedOf is when the stream's last fragment ended by the
// producer's clock (epoch ms), or 0: the time to address its media with
// (thumbnails, coverage and archive sessions go by producer time, which
// differs from the server's when the camera's clock is off).
export function lastRecordedOf(s: StreamRow): number {
  const t = Date.parse(s.lastFragment ?? s.lastActivity ?? '');
  return Number.isFinite(t) ? t : 0;
}

function sameDay(a: number, b: number): boolean {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

// whenText is a local time, "7:49 PM", with its date when not today.
export function whenText(t: number, now = Date.now()): string {
  const time = new Date(t).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
  if (sameDay(t, now)) return time;
  return new Date(t).toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' }) + ' ' + time;
}

// clockText is a local time to the second, with its date when not today.
export function clockText(t: number, now = Date.now()): string {
  const time = new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (sameDay(t, now)) return time;
  return new Date(t).toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + time;
}

// lengthText writes a length: "45 s", "30 min", "2 min 5 s", "1 h 5 min".
export function lengthText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

// Codec strings a browser is asked about: a common profile of each codec
// (the playlists' CODECS attribute names the exact one).
const MSE_TYPES: Record<string, string> = {
  H264: 'video/mp4; codecs="avc1.42E01E"',
  H265: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
  VP9: 'video/mp4; codecs="vp09.00.10.08"',
  AV1: 'video/mp4; codecs="av01.0.04M.08"',
};
const RTP_TYPES: Record<string, string> = { H264: 'video/H264', H265: 'video/H265', VP8: 'video/VP8', VP9: 'video/VP9', AV1: 'video/AV1' };
const CODEC_NAMES: Record<string, string> = { H264: 'H.264', H265: 'H.265 (HEVC)', VP8: 'VP8', VP9: 'VP9', AV1: 'AV1' };

// Decodable is what this browser says about a video codec: over HLS
// (Media Source Extensions, or native HLS) and over WebRTC.
export interface Decodable { codec: string; hls: boolean; webrtc: boolean }

// canDecode asks this browser whether it decodes the video codec.
export function canDecode(codec: string): Decodable {
  const mse = MSE_TYPES[codec];
  let hls = false;
  if (mse) {
    const MS = (window as any).ManagedMediaSource ?? window.MediaSource;
    hls = !!MS?.isTypeSupported?.(mse);
    if (!hls) hls = document.createElement('video').canPlayType(mse) === 'probably';
  }
  let webrtc = false;
  const rtp = RTP_TYPES[codec];
  const caps = typeof RTCRtpReceiver !== 'undefined' ? RTCRtpReceiver.getCapabilities?.('video') : null;
  if (rtp && caps) webrtc = caps.codecs.some((c) => c.mimeType.toLowerCase() === rtp.toLowerCase());
  return { codec, hls, webrtc };
}

// codecProblem is a sentence saying this browser cannot play the stream's
// video and what to use instead, or '' when it can (or the codec is not
// one it is asked about). The archive plays only over HLS: with hlsOnly
// (an offline stream), WebRTC decoding it is no help.
export function codecProblem(codecs: string[], stream: string, rtspBase: string, hlsOnly = false): string {
  const video = codecs.find((c) => c in CODEC_NAMES);
  if (!video) return '';
  const d = canDecode(video);
  if (d.hls || (d.webrtc && !hlsOnly)) return '';
  const name = CODEC_NAMES[video];
  const rtsp = `${rtspBase}/${encodeURIComponent(stream)}`;
  const where = video === 'H265' ? 'Use Safari (or Chrome or Edge on a computer that decodes HEVC), or ' : 'Use another browser, or ';
  return `This browser cannot play ${name}. ${where}VLC or ffplay with the RTSP URL ${rtsp}, or download a clip of a selection and play it with a desktop player.`;
}
