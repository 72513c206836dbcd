// The publish page: this browser's camera and microphone (getUserMedia)
// sent to Eddy over WHIP. H.264 goes first in the video codec preferences,
// since Eddy records it and plays it over HLS as well as WebRTC; other
// codecs (VP8, VP9, AV1) play live and are recorded, but not over HLS.
import { codecOf, endSession, negotiate, preferCodec, WebRTCError } from './webrtc';
import { webrtcToken } from './session';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type PublishState = 'idle' | 'preview' | 'connecting' | 'publishing' | 'error';

// publisher is the publish page's state, exposed on window.eddy.publish.
export const publisher = {
  state: 'idle' as PublishState,
  stream: '',
  location: '',
  token: '', // the bearer token of the publication's POST and DELETE
  notice: '',
  error: '',
  codecs: [] as string[], // MIME types sent, e.g. video/H264, audio/opus
  h264: false, // H.264 could be put first
  media: null as MediaStream | null,
  pc: null as RTCPeerConnection | null,
  gen: 0,
  stop: (keepalive = false) => stop(keepalive),
  onChange: () => {},
};

function setStatus(msg: string, error = false): void {
  const p = $('pub-status');
  p.textContent = msg;
  p.className = error ? 'error' : '';
}

function setNotice(msg: string): void {
  const p = $('pub-notice');
  p.textContent = msg;
  p.hidden = !msg;
}

function render(): void {
  const s = publisher.state;
  const busy = s === 'connecting' || s === 'publishing';
  $<HTMLButtonElement>('pub-start').disabled = busy;
  $<HTMLButtonElement>('pub-stop').disabled = !busy && !publisher.media;
  $<HTMLButtonElement>('pub-camera').disabled = busy || s === 'preview';
  $<HTMLInputElement>('pub-name').disabled = busy;
  const nav = $('nav-publish');
  nav.classList.toggle('publishing', s === 'publishing');
  nav.title = s === 'publishing' ? `Publishing ${publisher.stream}` : '';
}

// camera opens the camera and microphone, or the camera alone when there
// is no usable microphone.
async function camera(): Promise<MediaStream> {
  if (publisher.media) return publisher.media;
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('this page cannot use the camera: browsers allow it on HTTPS and on localhost only');
  }
  const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  let media: MediaStream;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video, audio: true });
  } catch (e) {
    const name = (e as DOMException).name;
    if (name !== 'NotFoundError' && name !== 'NotReadableError' && name !== 'OverconstrainedError') throw e;
    media = await navigator.mediaDevices.getUserMedia({ video });
    setNotice('No usable microphone: publishing video only.');
  }
  publisher.media = media;
  const v = $<HTMLVideoElement>('pub-preview');
  v.srcObject = media;
  void v.play().catch(() => {});
  return media;
}

function gumError(e: unknown): string {
  const err = e as DOMException;
  switch (err.name) {
    case 'NotAllowedError': return 'Camera access was denied; allow it in the browser and try again.';
    case 'NotFoundError': return 'No camera found.';
    case 'NotReadableError': return 'The camera is in use by another program.';
  }
  return 'Cannot open the camera: ' + (err.message || String(e));
}

async function preview(): Promise<void> {
  try {
    await camera();
    publisher.state = 'preview';
    setStatus('Camera ready. Press "Start publishing".');
  } catch (e) {
    publisher.state = 'error';
    publisher.error = gumError(e);
    setStatus(publisher.error, true);
  }
  render();
}

// start publishes the camera as stream name over WHIP.
async function start(name: string): Promise<void> {
  const gen = ++publisher.gen;
  Object.assign(publisher, { state: 'connecting', stream: name, location: '', token: '', notice: '', error: '', codecs: [], h264: false });
  setNotice('');
  render();
  let media: MediaStream;
  try {
    media = await camera();
  } catch (e) {
    fail(gen, gumError(e));
    return;
  }
  setStatus(`Connecting to publish ${name}…`);
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  publisher.pc = pc;
  for (const t of media.getTracks()) {
    const tr = pc.addTransceiver(t, { direction: 'sendonly', streams: [media] });
    if (t.kind === 'video') publisher.h264 = preferCodec(tr, 'video', 'video/H264');
    else preferCodec(tr, 'audio', 'audio/opus');
  }
  const connected = new Promise<void>((resolve, reject) => {
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'connected') resolve();
      if (s === 'failed' || s === 'closed') {
        reject(new Error(s === 'failed' ? 'the WebRTC connection failed (ICE or DTLS)' : 'the server closed the connection'));
        if (publisher.state === 'publishing' && gen === publisher.gen) fail(gen, 'Publishing stopped: ' + (s === 'failed' ? 'the connection failed.' : 'the server ended the session.'));
      }
    };
  });
  connected.catch(() => {});
  try {
    const token = await webrtcToken(name, 'webrtc:publish');
    if (gen !== publisher.gen) return;
    publisher.token = token;
    const session = await negotiate(pc, `/webrtc/${encodeURIComponent(name)}/whip`, token);
    if (gen !== publisher.gen) { endSession(session.location, false, token); return; }
    publisher.location = session.location;
    publisher.notice = session.notice;
    setNotice(session.notice);
    // The server ends a publication (DELETE from elsewhere, shutdown) with a
    // DTLS close_notify, which closes the transport at once (the transport
    // exists once the offer is set).
    const dtls = pc.getSenders()[0]?.transport;
    if (dtls) {
      dtls.onstatechange = () => {
        if (dtls.state === 'closed' && publisher.state === 'publishing' && gen === publisher.gen) {
          publisher.location = '';
          fail(gen, 'Publishing stopped: the server ended the session.');
        }
      };
    }
    let timer = 0;
    await Promise.race([connected, new Promise<never>((_, reject) => {
      timer = window.setTimeout(() => reject(new Error('no WebRTC connection within 10 s')), 10000);
    })]).finally(() => clearTimeout(timer));
  } catch (e) {
    if (gen !== publisher.gen) return;
    const busy = e instanceof WebRTCError && e.status === 409;
    const denied = e instanceof WebRTCError && (e.status === 401 || e.status === 403);
    fail(gen, busy ? `Stream ${name} is already being published (409): stop the other publisher or choose another name.`
      : denied ? `Not allowed to publish ${name} (${e.message}).` : 'Cannot publish: ' + (e as Error).message);
    return;
  }
  if (gen !== publisher.gen) return;
  publisher.state = 'publishing';
  setStatus(`Publishing ${name}.`);
  render();
  publisher.onChange();
  // Name the codecs once the first packets went out.
  setTimeout(async () => {
    if (gen !== publisher.gen || publisher.state !== 'publishing') return;
    const codecs = (await Promise.all(pc.getSenders().map((s) => codecOf(s).catch(() => '')))).filter(Boolean);
    if (gen !== publisher.gen || publisher.state !== 'publishing') return;
    publisher.codecs = codecs;
    const names = codecs.map((c) => c.split('/')[1]).join(' + ');
    const hlsNote = codecs.some((c) => /^video\//i.test(c)) && !codecs.some((c) => /h264/i.test(c))
      ? ' This browser sends no H.264: the stream plays live over WebRTC; whether HLS plays it depends on the codec (see the notice).' : '';
    setStatus(`Publishing ${name}${names ? ` (${names})` : ''}.${hlsNote}`);
  }, 1500);
}

// fail ends the attempt (or the publication) with an error message; the
// camera stays on for another try.
function fail(gen: number, msg: string): void {
  if (gen !== publisher.gen) return;
  closeSession(false);
  publisher.state = 'error';
  publisher.error = msg;
  setStatus(msg, true);
  render();
  publisher.onChange();
}

function closeSession(keepalive: boolean): void {
  if (publisher.location) endSession(publisher.location, keepalive, publisher.token);
  publisher.location = '';
  if (publisher.pc) {
    publisher.pc.onconnectionstatechange = null;
    publisher.pc.close();
    publisher.pc = null;
  }
}

// stop ends the publication (DELETE) and turns the camera off.
function stop(keepalive = false): void {
  const was = publisher.state;
  publisher.gen++;
  closeSession(keepalive);
  for (const t of publisher.media?.getTracks() ?? []) t.stop();
  publisher.media = null;
  const v = document.getElementById('pub-preview') as HTMLVideoElement | null;
  if (v) v.srcObject = null;
  publisher.state = 'idle';
  publisher.codecs = [];
  if (keepalive) return;
  setStatus(was === 'publishing' || was === 'connecting' ? `Stopped publishing ${publisher.stream}.` : '');
  setNotice('');
  render();
  publisher.onChange();
}

export function setupPublish(onChange: () => void): void {
  publisher.onChange = onChange;
  const input = $<HTMLInputElement>('pub-name');
  $('pub-camera').onclick = () => void preview();
  $('pub-stop').onclick = () => stop();
  $<HTMLFormElement>('publish-form').onsubmit = (e) => {
    e.preventDefault();
    if (!input.reportValidity()) return;
    void start(input.value.trim());
  };
  render();
}
