// camcast's WebRTC backend: WHEP to whepsink — POST an SDP offer, play the answer's stream,
// DELETE the session when leaving. The browser's own RTP stack does the rest (jitter buffer,
// loss recovery, decoding), in a <video>.
//
// whepsink takes no trickled candidates, and it needs none of the browser's: without STUN or
// TURN servers those are host addresses, which browsers hide behind mDNS names (….local) that
// the camera cannot resolve. The connection forms from the camera's candidates in the answer:
// the browser's checks reach them, and the camera learns the browser's address from those. So
// the offer goes out at once (waiting for the browser to finish gathering cost 115 ms of every
// join, measured in Chromium).

export class WebRtcSession {
  // onEnd: called once when the session fails or ends by itself (not by close()).
  constructor(player, video, url, onEnd) {
    this.player = player;
    this.video = video;
    this.url = url;
    this.onEnd = onEnd;
    this.closed = false;
    this.pc = new RTCPeerConnection();
    this.location = null;
  }

  async start() {
    const { pc, video } = this;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });  // the sound, if the camera has any
    const stream = new MediaStream();
    pc.ontrack = (event) => {
      stream.addTrack(event.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      const state = pc.connectionState;
      if (state === 'failed' || state === 'closed') this.end(`connection ${state}`);
    };
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(this.url, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
    });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`WHEP ${response.status}: ${text.trim()}`);
    this.location = new URL(response.headers.get('Location'), new URL(this.url, location.href));
    if (this.closed) return this.leave();
    await pc.setRemoteDescription({ type: 'answer', sdp: text });
    // whepsink answers the audio section inactive when it has no sound.
    const sound = pc.getTransceivers().some((t) => t.receiver.track.kind === 'audio' &&
                                                 t.currentDirection === 'recvonly');
    this.player.stats.audioCodec = sound ? 'opus' : null;
    this.player.showSoundButton(sound);
    const shown = (now, meta) => {
      if (this.closed) return;
      this.player.stats.width = meta.width;
      this.player.stats.height = meta.height;
      this.player.stats.state = 'playing';
      this.player.frameShown(undefined);
      video.requestVideoFrameCallback(shown);
    };
    video.requestVideoFrameCallback(shown);
  }

  // From the stats API: glass-to-glass latency as the browser knows it (the time a frame waits
  // in the jitter buffer, decodes, and half the round trip to the camera), and what arrives
  // (kbit/s, picture and sound, since the last sample).
  async sample() {
    const stats = await this.pc.getStats();
    let jitter = null, decode = 0, rtt = 0, bytes = 0;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') bytes += s.bytesReceived || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.jitterBufferEmittedCount) {
        jitter = 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount;
        if (s.framesDecoded) decode = 1000 * s.totalDecodeTime / s.framesDecoded;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined)
        rtt = 1000 * s.currentRoundTripTime;
    });
    const now = performance.now();
    const kbps = this.lastBytes === undefined ? 0
      : Math.round((bytes - this.lastBytes) * 8 / (now - this.lastSampleAt));
    this.lastBytes = bytes;
    this.lastSampleAt = now;
    return { latencyMs: jitter === null ? null : jitter + decode + rtt / 2, kbps };
  }

  // The element plays the sound; the analyser only listens (the level, measurements).
  setMuted(muted) {
    const video = this.video;
    video.muted = muted;
    if (!muted && !this.analyser && video.srcObject) {
      const context = new AudioContext();
      this.analyser = context.createAnalyser();
      this.analyser.fftSize = 2048;
      context.createMediaStreamSource(video.srcObject).connect(this.analyser);
    }
    this.player.analyser = muted ? null : this.analyser;
    if (!muted) video.play().catch(() => {});
  }

  end(why) {
    if (this.closed) return;
    this.close();
    this.onEnd(why);
  }

  close() {
    this.closed = true;
    if (this.analyser) this.analyser.context.close().catch(() => {});
    this.pc.close();
    this.leave();
  }

  leave() {
    if (this.location) fetch(this.location, { method: 'DELETE', keepalive: true }).catch(() => {});
    this.location = null;
  }
}
