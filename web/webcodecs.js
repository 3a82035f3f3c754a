// camcast's WebCodecs backend: each frame goes to a VideoDecoder the moment it arrives and is
// drawn to a canvas when decoded. Nothing is buffered, so latency is transport + decode. With
// sound (audio.js), pictures are held until their sound plays.
import { parseInit } from './fmp4.js';
import { WebCodecsAudio } from './audio.js';

export class WebCodecsBackend {
  constructor(player, canvas) {
    this.player = player;
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.decoder = null;
    this.audio = null;
    this.waitingForKeyframe = true;
    this.held = [];  // decoded pictures waiting for their sound (audio.js: sync)
    this.drawTimer = null;
  }

  prepare() {}  // nothing to open ahead of the init segment

  // Another rung of the stream comes next: its init segment configures the decoder anew, the
  // sound plays on.
  move() {
    this.moving = true;
  }

  init(info, initBytes) {
    const { avcc, width, height, audioConfig } = parseInit(initBytes);
    if (this.moving && this.decoder && avcc) {
      this.moving = false;
      this.canvas.width = width || info.width;
      this.canvas.height = height || info.height;
      this.decoder.configure({ codec: info.codec, description: avcc, optimizeForLatency: true });
      this.waitingForKeyframe = true;
      return;
    }
    this.moving = false;
    this.close();
    if (info.audio) {
      this.audio = new WebCodecsAudio(this.player, info.audio, audioConfig);
      if (!this.player.muted) this.audio.start();
    }
    if (!avcc) return;  // sound alone
    this.canvas.width = width || info.width;
    this.canvas.height = height || info.height;
    this.decoder = new VideoDecoder({
      output: (frame) => this.show(frame),
      error: (e) => this.player.fail(`decoder: ${e.message}`),
    });
    this.decoder.configure({ codec: info.codec, description: avcc, optimizeForLatency: true });
    this.waitingForKeyframe = true;
  }

  // A decoded picture: drawn now, or held until its sound plays.
  show(frame) {
    const clock = this.audio && this.audio.clockUs();
    if (clock === null || clock === undefined) {
      this.flushHeld();
      this.draw(frame);
      return;
    }
    this.held.push(frame);
    // Sound that stopped coming must not stop the pictures: at most half a second is held.
    while (this.held.length > 0 && frame.timestamp - this.held[0].timestamp > 500000)
      this.draw(this.held.shift());
    if (!this.drawTimer) this.drawTimer = requestAnimationFrame(() => this.drawDue());
  }

  // Draws the newest held picture whose sound has been heard (older ones are skipped: they
  // would be shown for no time at all).
  drawDue() {
    this.drawTimer = null;
    const clock = this.audio && this.audio.clockUs();
    if (clock === null || clock === undefined) {
      this.flushHeld();
      return;
    }
    let due = null;
    while (this.held.length > 0 && this.held[0].timestamp <= clock) {
      if (due) due.close();
      due = this.held.shift();
    }
    if (due) this.draw(due);
    if (this.held.length > 0) this.drawTimer = requestAnimationFrame(() => this.drawDue());
  }

  flushHeld() {
    for (const frame of this.held) this.draw(frame);
    this.held = [];
  }

  draw(frame) {
    this.ctx.drawImage(frame, 0, 0, this.canvas.width, this.canvas.height);
    this.player.frameShown(frame.timestamp);
    frame.close();
  }

  audioClockUs() {
    return this.audio ? this.audio.clockUs() : null;
  }

  setMuted(muted) {
    if (!this.audio) return;
    if (muted) this.audio.stop();
    else this.audio.start();
    this.player.analyser = muted ? null : this.audio.analyser;
  }

  push(frag) {
    if (this.audio && frag.audio.length > 0) this.audio.push(frag.audio);
    if (!frag.data || !this.decoder || this.decoder.state !== 'configured') return;
    // Decoding falls behind only if the machine cannot keep up: then skip to the next keyframe
    // rather than show old pictures late.
    if (this.decoder.decodeQueueSize > 10) this.waitingForKeyframe = true;
    if (this.waitingForKeyframe && !frag.keyframe) return;
    this.waitingForKeyframe = false;
    this.decoder.decode(new EncodedVideoChunk({
      type: frag.keyframe ? 'key' : 'delta',
      timestamp: this.player.timestampUs(frag),
      duration: Math.round(frag.duration * 1e6 / this.player.timescale),
      data: frag.data,
    }));
  }

  close() {
    if (this.drawTimer) cancelAnimationFrame(this.drawTimer);
    this.drawTimer = null;
    for (const frame of this.held) frame.close();
    this.held = [];
    if (this.audio) this.audio.stop();
    this.audio = null;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }
}
