// Browser check of the WHEP events data channel (driven by
// server/webrtc_events_test.go): in headless Chromium, a page makes a WHEP
// session the way the README says (pc.createDataChannel("events") before
// createOffer), plays the video, and collects the channel's messages and
// the RTP timestamps of the frames it presents (requestVideoFrameCallback).
// It prints one line, RESULT {json}: the event ids and labels in the order
// they came, the clock messages, the RTP timestamps of the frames the page
// presented, and how many clock RTP timestamps were among them.
//
// Env: EDDY_URL, EDDY_STREAM, WANT_EVENTS (events to wait for), CHROMIUM.
import { chromium } from 'playwright-core';

const base = process.env.EDDY_URL;
const stream = process.env.EDDY_STREAM || 'cam';
const want = Number(process.env.WANT_EVENTS || '5');
if (!base) throw new Error('EDDY_URL is not set');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log('console.' + m.type() + ':', m.text()));
  page.on('pageerror', (e) => console.log('pageerror:', e.message));
  await page.goto(base + '/');
  const res = await page.evaluate(async ({ stream, want }) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const events = pc.createDataChannel('events');
    const got = { events: [], clocks: [], bad: [], presented: new Set() };
    events.onmessage = (m) => {
      try {
        const msg = JSON.parse(m.data);
        if (msg.kind === 'event') got.events.push({ id: msg.event.id, label: msg.event.label, time: msg.event.time });
        else if (msg.kind === 'clock') got.clocks.push({ rtpTimestamp: msg.rtpTimestamp, time: msg.time });
        else got.bad.push(m.data);
      } catch (e) {
        got.bad.push(String(m.data));
      }
    };
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    document.body.appendChild(video);
    pc.ontrack = (e) => { if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]); };
    const onFrame = (_now, meta) => {
      if (meta.rtpTimestamp !== undefined) got.presented.add(meta.rtpTimestamp);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => {
      if (pc.iceGatheringState === 'complete') return r();
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); };
    });
    const resp = await fetch('/webrtc/' + stream + '/whep', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (resp.status !== 201) throw new Error('WHEP POST: ' + resp.status + ' ' + await resp.text());
    await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && (got.events.length < want || got.clocks.length < 3)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Clocks name frames just sent: give the last ones time to be shown.
    await new Promise((r) => setTimeout(r, 500));
    const matched = got.clocks.filter((c) => got.presented.has(c.rtpTimestamp)).length;
    pc.close();
    return { events: got.events, clocks: got.clocks, bad: got.bad, presented: [...got.presented], clocksOnPresentedFrames: matched };
  }, { stream, want });
  console.log('RESULT ' + JSON.stringify(res));
} finally {
  await browser.close();
}
