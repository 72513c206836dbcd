// WhepPlayer plays a live stream over WebRTC (WHEP): a receive-only peer
// connection whose tracks go to a muted, autoplaying <video> (srcObject).
import { endSession, negotiate, WebRTCError } from './webrtc';

// NTP (1900) to Unix (1970) epoch, in milliseconds.
const NTP_UNIX_MS = 2208988800000;

export interface WhepPlayerOptions {
  // firstFrameMs is how long start() waits for the first decoded frame.
  firstFrameMs?: number;
  // onEnded is called once when a session that played stops: the server
  // closed it (the publisher went away) or the connection failed.
  onEnded?: (reason: string) => void;
  // token returns the bearer token of the POST ('' for none); the
  // session's DELETE sends the same.
  token?: () => Promise<string>;
  // onData gets each JSON message of the session's "events" data channel
  // ({kind:"event",event} and {kind:"clock",rtpTimestamp,time}).
  onData?: (msg: any) => void;
}

export class WhepPlayer {
  pc: RTCPeerConnection | null = null;
  location = '';
  notice = '';
  token = '';
  closed = false;
  private started = false;
  private ended = false;
  private stream = new MediaStream();
  private lastFrame = 0;
  private watchdog = 0;
  private prevStats: { jb: number; n: number; proc: number; dec: number } | null = null;

  constructor(private video: HTMLVideoElement, private url: string, private opts: WhepPlayerOptions = {}) {}

  // start negotiates and resolves once the first video frame is shown; it
  // rejects (and closes the player) when the POST is refused, ICE or DTLS
  // fail, or no frame comes in time.
  async start(): Promise<void> {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    // The server sends the stream's events, and the clock that maps a
    // frame's RTP timestamp to its producer time, on this channel.
    const dc = pc.createDataChannel('events');
    dc.onmessage = (m) => {
      if (this.closed || typeof m.data !== 'string') return;
      let msg: unknown;
      try { msg = JSON.parse(m.data); } catch { return; }
      this.opts.onData?.(msg);
    };
    let failed: (e: Error) => void = () => {};
    const failure = new Promise<never>((_, reject) => { failed = reject; });
    failure.catch(() => {});
    pc.ontrack = (e) => {
      // The server ends a session (the publisher went away) with a DTLS
      // close_notify: the transport closes at once, while ICE would take
      // seconds to notice.
      const dtls = e.receiver.transport;
      if (dtls && !dtls.onstatechange) {
        dtls.onstatechange = () => {
          if (dtls.state !== 'closed' && dtls.state !== 'failed') return;
          const why = dtls.state === 'closed' ? 'the server ended the session' : 'DTLS failed';
          if (!this.started) failed(new Error(why));
          else this.end(why, dtls.state === 'closed');
        };
      }
      this.stream.addTrack(e.track);
      if (this.video.srcObject !== this.stream) this.video.srcObject = this.stream;
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'failed' || s === 'closed') {
        if (!this.started) failed(new Error(`the WebRTC connection ${s === 'failed' ? 'failed (ICE or DTLS)' : 'was closed'}`));
        else this.end(s === 'failed' ? 'the connection failed' : 'the server ended the session', s === 'closed');
      } else if (s === 'disconnected' && this.started) {
        // Often transient: give ICE a few seconds to recover.
        setTimeout(() => { if (pc.connectionState === 'disconnected') this.end('the connection was lost'); }, 4000);
      }
    };
    try {
      this.token = this.opts.token ? await this.opts.token() : '';
      if (this.closed) throw new Error('closed');
      const session = await negotiate(pc, this.url, this.token);
      if (this.closed) { endSession(session.location, false, this.token); throw new Error('closed'); }
      this.location = session.location;
      this.notice = session.notice;
      this.video.muted = true; // autoplay needs it; the controls unmute
      this.video.srcObject = this.stream;
      void this.video.play().catch(() => {});
      const ms = this.opts.firstFrameMs ?? 4000;
      let timer = 0;
      const timeout = new Promise<never>((_, reject) => {
        timer = window.setTimeout(() => reject(new Error(`no video frame within ${ms / 1000} s (connection ${pc.connectionState})`)), ms);
      });
      try {
        await Promise.race([this.firstFrame(), failure, timeout]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.started = true;
    this.lastFrame = performance.now();
    this.watch();
  }

  private firstFrame(): Promise<void> {
    const v = this.video;
    return new Promise((resolve) => {
      if ('requestVideoFrameCallback' in v) v.requestVideoFrameCallback(() => resolve());
      else (v as HTMLVideoElement).addEventListener('playing', () => resolve(), { once: true });
    });
  }

  // watch notices a session that stopped delivering frames (the server
  // ends it when the publisher goes away; a stalled path looks the same).
  private watch(): void {
    const v = this.video;
    if ('requestVideoFrameCallback' in v) {
      const tick = () => {
        if (this.closed) return;
        this.lastFrame = performance.now();
        v.requestVideoFrameCallback(tick);
      };
      v.requestVideoFrameCallback(tick);
    }
    this.watchdog = window.setInterval(() => {
      if (this.closed) return;
      const track = this.stream.getVideoTracks()[0];
      if (track?.readyState === 'ended') this.end('the video track ended');
      else if ('requestVideoFrameCallback' in v && performance.now() - this.lastFrame > 6000) this.end('no video for 6 s');
    }, 1000);
  }

  // end stops a session that played and tells onEnded; gone says the
  // server already ended it (no DELETE needed).
  private end(reason: string, gone = false): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    if (gone) this.location = '';
    const cb = this.opts.onEnded;
    this.close();
    cb?.(reason);
  }

  // latency estimates how many seconds the picture is behind the server
  // (which forwards each frame as it arrives): the receiver's estimated
  // playout time when it has one (the NTP time of the frame on screen,
  // mapped through the server's RTCP sender reports), else the time the
  // frames of the last interval spent in the jitter buffer and decoding,
  // plus half the round trip.
  async latency(): Promise<number | null> {
    const pc = this.pc;
    if (!pc || this.closed) return null;
    const rx = pc.getReceivers().find((r) => r.track?.kind === 'video');
    if (!rx) return null;
    const stats = await rx.getStats();
    let inbound: any = null;
    let rtt: number | null = null;
    stats.forEach((r: any) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') inbound = r;
      if (r.type === 'candidate-pair' && r.nominated && typeof r.currentRoundTripTime === 'number') rtt = r.currentRoundTripTime;
    });
    if (!inbound) return null;
    const ept = inbound.estimatedPlayoutTimestamp;
    if (typeof ept === 'number' && ept > 0) {
      const unix = ept > NTP_UNIX_MS ? ept - NTP_UNIX_MS : ept;
      const l = (Date.now() - unix) / 1000;
      if (l >= 0 && l < 60) return l;
    }
    const now = { jb: inbound.jitterBufferDelay ?? 0, n: inbound.jitterBufferEmittedCount ?? 0, proc: inbound.totalProcessingDelay ?? 0, dec: inbound.framesDecoded ?? 0 };
    const prev = this.prevStats ?? { jb: 0, n: 0, proc: 0, dec: 0 };
    this.prevStats = now;
    if (now.n <= prev.n) return null;
    const jb = (now.jb - prev.jb) / (now.n - prev.n);
    // totalProcessingDelay runs from the first packet's arrival to decoded.
    const proc = now.dec > prev.dec ? (now.proc - prev.proc) / (now.dec - prev.dec) : 0;
    return Math.max(jb, proc) + (rtt ?? 0) / 2;
  }

  // close ends the session (DELETE; keepalive when the page goes away) and
  // releases the peer connection. It does not touch the <video> element.
  close(keepalive = false): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.location) endSession(this.location, keepalive, this.token);
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.ontrack = null;
      this.pc.close();
    }
    for (const t of this.stream.getTracks()) t.stop();
  }
}

export { WebRTCError };
