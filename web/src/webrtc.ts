// WHEP (draft-ietf-wish-whep) and WHIP (RFC 9725) signalling against
// Eddy's /webrtc/{stream}/whep and /whip endpoints: one POST of the full
// offer (candidates gathered first, no trickle), a 201 with the answer and
// the session's Location, and a DELETE of that Location to end it. With
// credentials configured, every request carries a bearer token
// (Authorization: Bearer, as both specifications authenticate), which
// the page gets from POST /api/v1/ui/tokens with its session.

// WebRTCError is a refused POST: the HTTP status and the server's plain
// text reason (404 stream not live, 400 no common codec, 409 busy, 429 too
// many pending sessions).
export class WebRTCError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

export interface Session {
  location: string; // absolute URL of the session resource (DELETE ends it)
  answer: string;
  notice: string; // what the server left out and why ('' when nothing)
}

// gathered waits until ICE gathering completes, or timeoutMs passed (the
// host candidates come in milliseconds; a slow STUN server must not hold
// up the POST: whatever was gathered by then goes in the offer).
export function gathered(pc: RTCPeerConnection, timeoutMs = 1500): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

// sdpNotices returns the i= (media title, RFC 8866 5.4) lines of an
// answer's media sections, where Eddy says what it does not send and why.
export function sdpNotices(sdp: string): string[] {
  const out: string[] = [];
  let inMedia = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) inMedia = true;
    else if (inMedia && line.startsWith('i=')) out.push(line.slice(2));
  }
  return out;
}

// authHeaders are the headers that carry a bearer token (none for '').
export function authHeaders(token: string): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// negotiate makes pc's offer, POSTs it to url (with token, when set) and
// applies the answer.
export async function negotiate(pc: RTCPeerConnection, url: string, token = '', signal?: AbortSignal): Promise<Session> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/sdp', ...authHeaders(token) }, body: pc.localDescription!.sdp, signal,
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) {
    throw new WebRTCError(res.status, `${res.status} ${text.trim() || res.statusText}`);
  }
  const loc = res.headers.get('Location');
  if (!loc) throw new WebRTCError(res.status, 'the answer has no Location header');
  const notice = res.headers.get('Eddy-Notice') || sdpNotices(text).join('; ');
  const session = { location: new URL(loc, res.url).href, answer: text, notice };
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: text });
  } catch (e) {
    endSession(session.location, false, token);
    throw e;
  }
  return session;
}

// endSession DELETEs a session, with the token it was made with (the
// server keeps honouring it for its session); keepalive lets the request
// outlive the page (pagehide), so the server frees the session at once
// rather than at its ICE timeout.
export function endSession(location: string, keepalive = false, token = ''): void {
  void fetch(location, { method: 'DELETE', keepalive, headers: authHeaders(token) }).catch(() => {});
}

// preferCodec puts the codecs of mimeType (e.g. 'video/H264') first in a
// transceiver's preferences, keeping every other codec after them (and the
// rtx/red/fec ones). It returns false, changing nothing, when the browser
// cannot send that codec or does not support setting preferences.
export function preferCodec(tr: RTCRtpTransceiver, kind: 'video' | 'audio', mimeType: string): boolean {
  const caps = (typeof RTCRtpSender.getCapabilities === 'function' && RTCRtpSender.getCapabilities(kind)) || null;
  if (!caps || typeof tr.setCodecPreferences !== 'function') return false;
  const want = mimeType.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (first.length === 0) return false;
  // packetization-mode=1 (non-interleaved) before mode 0: every H.264 RTP
  // depacketizer takes it, and it fragments large frames (FU-A).
  first.sort((a, b) => Number(/packetization-mode=0/.test(a.sdpFmtpLine ?? '')) - Number(/packetization-mode=0/.test(b.sdpFmtpLine ?? '')));
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== want);
  try {
    tr.setCodecPreferences([...first, ...rest]);
    return true;
  } catch {
    return false;
  }
}

// codecOf returns the MIME type (e.g. 'video/H264') a sender or receiver
// uses, from its stats ('' until the first packets).
export async function codecOf(s: RTCRtpSender | RTCRtpReceiver): Promise<string> {
  const stats = await s.getStats();
  let mime = '';
  stats.forEach((r: any) => {
    if ((r.type === 'outbound-rtp' || r.type === 'inbound-rtp') && r.codecId) mime = stats.get(r.codecId)?.mimeType ?? mime;
  });
  return mime;
}
