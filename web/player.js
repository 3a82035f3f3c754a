// camcast's browser player: one WebSocket, and a backend chosen by what the stream is.
//
// Fragmented MP4 from msesink, two ways to show it:
//  - WebCodecs: each frame goes to a VideoDecoder the moment it arrives and is drawn to a canvas
//    when decoded. Nothing is buffered, so latency is transport + decode.
//  - MSE (mse.js): fragments are appended to a SourceBuffer (ManagedMediaSource on Safari/iOS
//    17.1+) and the <video> is held near the live edge: gentle playbackRate nudges, a seek when
//    far behind (seeks only on Safari, where rate changes make it re-buffer), old data trimmed.
// JPEG from mjpegsink:
//  - Pull: ask for a picture, draw it, ask for the next, so the rate follows this viewer's link
//    and machine and every picture shown is the newest the server had.
//
// WebRTC from whepsink (webrtc.js): WHEP instead of the WebSocket, the browser's RTP stack and a
// <video>.
//
// Each frame carries its capture wall-clock time (fMP4: the prft box; JPEG: the message's first
// bytes), so every backend reports glass-to-glass latency; WebRTC's comes from the stats API.
// All the player knows is in `stats`.
import { isInitSegment, parseFragment } from './fmp4.js';
import { WebRtcSession } from './webrtc.js';
import { MseBackend } from './mse.js';
import { WebCodecsBackend } from './webcodecs.js';
import { LadderControl, isMove, isPadding, rungName } from './ladder.js';

class JpegBackend {
  constructor(player, canvas) {
    this.player = player;
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.closed = false;
  }

  prepare(info) {
    if (info.width && info.height) {
      this.canvas.width = info.width;
      this.canvas.height = info.height;
    }
    this.player.stats.state = 'playing';
    this.request();
  }

  request() {
    const ws = this.player.ws;
    if (!this.closed && ws && ws.readyState === WebSocket.OPEN) ws.send('next');
  }

  // bytes: capture time (µs, big-endian i64), frame number (u64), then the JPEG.
  async push(bytes) {
    const head = new DataView(bytes.buffer, bytes.byteOffset, 16);
    const captureUs = Number(head.getBigInt64(0));
    this.player.countSequence(Number(head.getBigUint64(8)));
    try {
      const jpeg = new Blob([bytes.subarray(16)], { type: 'image/jpeg' });
      const bitmap = await createImageBitmap(jpeg);
      if (this.closed) {
        bitmap.close();
        return;
      }
      if (this.canvas.width !== bitmap.width || this.canvas.height !== bitmap.height) {
        this.canvas.width = bitmap.width;
        this.canvas.height = bitmap.height;
      }
      this.ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      this.player.frameShown(null, captureUs >= 0 ? captureUs / 1000 : null);
    } catch (e) {
      this.player.fail(`jpeg: ${e.message}`);
    }
    this.request();
  }

  close() {
    this.closed = true;
  }
}

// The backend for H.264: the one asked for, else the lowest latency this browser has (measured
// on screen, docs/benchmarks.md: WebCodecs 4 ms, MSE 17 ms, WebRTC 32 ms at the median on
// loopback). VideoDecoder exists only in secure contexts (HTTPS, localhost); MSE everywhere
// but iPhones before iOS 17.1, which get WebRTC if a WHEP endpoint is known (`whep`). A stream
// with sound (`audio`) needs AudioDecoder and AudioWorklet too for WebCodecs, else MSE.
export function chooseBackend(requested, whep = null, audio = false) {
  if (requested === 'webcodecs' || requested === 'mse' || requested === 'webrtc') return requested;
  const sound = !audio || ('AudioDecoder' in window && 'AudioWorkletNode' in window);
  if ('VideoDecoder' in window && sound) return 'webcodecs';
  if (window.ManagedMediaSource || window.MediaSource || !whep) return 'mse';
  return 'webrtc';
}

export class CamcastPlayer {
  // container: an element the player fills with a <video> or <canvas> and the stats overlay.
  // targetLatency: how far behind the newest frame MSE playback is held, in seconds; by default
  // one frame (measured: the lowest that plays every frame, docs/benchmarks.md).
  // whep: the WHEP endpoint for backend 'webrtc' (a whepsink's path).
  // rung: a rung of a ladder to stay on from the start (null: the server chooses).
  constructor(container, { url, whep = null, backend = 'auto', targetLatency = null,
                           showStats = false, rung = null } = {}) {
    this.container = container;
    this.url = url;
    this.whep = whep;
    this.requestedBackend = backend;
    this.targetLatency = targetLatency;
    this.stats = {
      backend: null, state: 'connecting', codec: '', width: 0, height: 0,
      framesReceived: 0, framesShown: 0, skipped: 0, reconnects: 0, seeks: 0,
      latencyMs: null, fps: 0, kbps: 0, bufferMs: null, errors: [],
      audioCodec: null, audioFrames: 0, muted: true, audioLevelDb: null, audioLatencyMs: null,
      stalls: 0, audioDroppedMs: 0, rung: null, rungMoves: 0, backendWhy: null,
    };
    // Browsers play sound only after the viewer asks (autoplay rules): muted until the sound
    // button is pressed.
    this.muted = true;
    this.analyser = null;  // the AnalyserNode the sound goes through while unmuted
    this.timescale = 90000;      // ticks per second of fragment times, from the description
    this.frameSeconds = 1 / 30;  // updated from the fragments' durations
    this.captureTimes = new Map();  // frame timestamp (µs) → capture time (ms since epoch)
    this.retryMs = 500;
    this.window = { shown: 0, bytes: 0, since: performance.now() };
    this.view = null;  // a <canvas> or <video>, made when the stream says which backend it needs
    if (showStats) {
      this.overlay = document.createElement('div');
      this.overlay.className = 'camcast-stats';
      container.appendChild(this.overlay);
    }
    this.ladder = new LadderControl(this, container, rung);
    this.statsTimer = setInterval(() => this.updateStats(), 500);
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.disconnect('hidden');
      else this.connect();
    });
  }

  start() {
    this.connect();
    return this;
  }

  connect() {
    if (chooseBackend(this.requestedBackend, this.whep) === 'webrtc') return this.connectWebRtc();
    if (this.ws) return;
    this.stats.state = 'connecting';
    const ws = new WebSocket(this.ladder.url(this.url));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.lastSequence = null;
    ws.onmessage = (event) => this.onMessage(event.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closeBackend();
      this.retry(() => this.connect());
    };
  }

  connectWebRtc() {
    if (this.webrtc) return;
    this.stats.state = 'connecting';
    this.stats.backend = 'webrtc';
    // A rung to stay on goes with the offer (whepsink's ?rung=N); without, the server moves the
    // viewer along its ladder as its link allows.
    const whep = this.ladder.url(this.whep);
    const session = new WebRtcSession(this, this.makeView('VIDEO'), whep, (why) => {
      if (this.webrtc !== session) return;
      this.webrtc = null;
      this.fail(why);
      this.retry(() => this.connectWebRtc());
    });
    this.webrtc = session;
    session.start().then(() => { this.retryMs = 500; }).catch((e) => session.end(e.message));
  }

  // The server says TCP has been resending what it sent this viewer (`resent`, a share): over
  // such a link a TCP stream stalls at every loss, while WebRTC resends only what was lost and
  // shows the rest (2 % lost, 40 ms round trip: p95 250 ms over MSE, 98 over WebRTC;
  // docs/benchmarks.md). A player that chose its backend moves to the stream's WHEP endpoint
  // (the description's `whep`), and back for good if WebRTC shows nothing in 10 s (a network
  // that lets neither UDP nor ICE-TCP through; UDP alone blocked, WebRTC plays over ICE-TCP).
  onLossyLink(link) {
    const whep = this.whep || (this.info && this.info.whep);
    if (this.requestedBackend !== 'auto' || !whep || this.stayOnWebSocket) return;
    this.stats.backendWhy = `lossy link: ${(link.resent * 100).toFixed(1)} % resent`;
    const shownBefore = this.stats.framesShown;
    const asked = this.whep;
    this.whep = new URL(whep, this.url.replace(/^ws/, 'http')).href;
    this.requestedBackend = 'webrtc';
    this.disconnect('moving');
    this.connectWebRtc();
    this.fallback = setTimeout(() => {
      if (this.stats.framesShown > shownBefore || this.requestedBackend !== 'webrtc') return;
      this.stats.backendWhy = 'WebRTC showed nothing';
      this.stayOnWebSocket = true;
      this.requestedBackend = 'auto';
      this.whep = asked;
      this.disconnect('moving');
      this.connect();
    }, 10000);
  }

  // After a lost connection: again, with back-off, unless the page is hidden — or the server
  // says this page may no longer watch (its session ended: a logout, another access token or
  // users file); then the page says so and offers to sign in again, never reconnecting for ever.
  retry(connect) {
    if (document.hidden) return;
    this.stats.state = 'reconnecting';
    this.stats.reconnects++;
    setTimeout(async () => {
      if (await this.mayWatch()) connect();
      else this.signedOut();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 8000);
  }

  // Whether the server lets this page's stream in (its session still holds). A server that
  // does not answer might: the retries go on.
  async mayWatch() {
    try {
      const answer = await fetch(this.url.replace(/^ws/, 'http'),
                                 { method: 'HEAD', redirect: 'manual', cache: 'no-store' });
      return !(answer.status === 401 || answer.status === 403 || answer.type === 'opaqueredirect');
    } catch {
      return true;
    }
  }

  signedOut() {
    this.disconnect('signed out');
    if (this.container.querySelector('.camcast-signed-out')) return;
    const box = document.createElement('div');
    box.className = 'camcast-signed-out';
    box.style.cssText = 'position:absolute;inset:0;display:flex;flex-direction:column;' +
      'align-items:center;justify-content:center;gap:12px;background:rgba(0,0,0,.75);' +
      'text-align:center;padding:16px';
    const text = document.createElement('p');
    text.textContent = 'This page is signed out: its session has ended.';
    const again = document.createElement('button');
    again.textContent = 'Sign in again';
    again.style.cssText = 'font:inherit;padding:8px 16px;border-radius:4px;cursor:pointer';
    // The page again: the server asks for a login, or a link with a valid token lets it in.
    again.onclick = () => location.reload();
    box.append(text, again);
    this.container.appendChild(box);
  }

  disconnect(state) {
    if (this.webrtc) this.webrtc.close();
    this.webrtc = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.closeBackend();
    this.stats.state = state;
  }

  closeBackend() {
    if (this.backend) this.backend.close();
    this.backend = null;
  }

  onMessage(data) {
    try {
      if (typeof data === 'string') {
        const info = JSON.parse(data);
        if (info.type === 'link' && info.lossy) this.onLossyLink(info);
        if (info.type === 'stream') {
          const move = this.backend && this.backend.move && isMove(this.info, info);
          this.info = info;
          this.timescale = info.timescale || 90000;
          Object.assign(this.stats, { codec: info.codec || info.format, width: info.width,
                                      height: info.height, rung: info.ladder ? info.rung : null,
                                      audioCodec: info.audio ? info.audio.codec : null });
          this.ladder.describe(info);
          if (move) {
            this.stats.rungMoves++;
            this.lastSequence = null;  // each rung numbers its own fragments
            this.backend.move(info);
            return;
          }
          this.closeBackend();
          this.backend = this.makeBackend(info);
          this.backend.prepare(info);
        }
        return;
      }
      const bytes = new Uint8Array(data);
      this.window.bytes += bytes.byteLength;
      // A 'free' box: padding the server sends to measure the link (ladder.js), nothing to play.
      if (isPadding(bytes)) return;
      if (this.info && this.info.format === 'jpeg') {
        this.stats.framesReceived++;
        this.retryMs = 500;
        if (this.backend) this.backend.push(bytes);
        return;
      }
      if (isInitSegment(bytes)) {
        if (!this.backend) throw new Error('init segment before the stream description');
        this.backend.init(this.info, bytes);
        this.stats.state = 'playing';
        return;
      }
      const frag = parseFragment(bytes);
      this.retryMs = 500;
      this.countSequence(frag.sequence);
      this.stats.audioFrames += frag.audio.length;
      // Capture time less media time, for the sound's latency (the same for both tracks).
      if (frag.captureMs !== null) {
        this.captureOffsetMs = frag.captureMs - (frag.data ? this.timestampUs(frag) / 1000
          : frag.audio[0].time * 1000 / this.info.audio.rate);
      }
      if (frag.data) {
        this.stats.framesReceived++;
        if (frag.duration > 0) this.frameSeconds = frag.duration / this.timescale;
        if (frag.captureMs !== null) {
          this.captureTimes.set(this.timestampUs(frag), frag.captureMs);
          if (this.captureTimes.size > 300)
            this.captureTimes.delete(this.captureTimes.keys().next().value);
        }
      }
      if (this.backend) this.backend.push(frag, bytes);
    } catch (e) {
      this.fail(e.message);
    }
  }

  // The backend a stream needs, and the element it shows in (kept when the kind is the same).
  makeBackend(info) {
    const name = info.format === 'jpeg' ? 'jpeg'
      : chooseBackend(this.requestedBackend, null, Boolean(info.audio));
    this.makeView(name === 'mse' ? 'VIDEO' : 'CANVAS');
    this.stats.backend = name;
    this.showSoundButton(Boolean(info.audio) && (name === 'mse' || 'AudioDecoder' in window));
    if (name === 'jpeg') return new JpegBackend(this, this.view);
    return name === 'webcodecs' ? new WebCodecsBackend(this, this.view)
      : new MseBackend(this, this.view);
  }

  // The <video> or <canvas> the player shows in, made if it has another.
  makeView(tag) {
    if (!this.view || this.view.tagName !== tag) {
      const view = document.createElement(tag.toLowerCase());
      view.className = 'camcast-view';
      if (tag === 'VIDEO') Object.assign(view, { muted: true, autoplay: true, playsInline: true });
      if (this.view) this.view.replaceWith(view);
      else this.container.insertBefore(view, this.overlay || null);
      this.view = view;
    }
    return this.view;
  }

  // The sound button: shown when the stream has sound this backend plays.
  showSoundButton(show) {
    if (show && !this.soundButton) {
      const button = document.createElement('button');
      button.className = 'camcast-sound';
      button.addEventListener('click', () => this.setMuted(!this.muted));
      this.container.appendChild(button);
      this.soundButton = button;
    }
    if (this.soundButton) {
      this.soundButton.hidden = !show;
      this.soundButton.textContent = this.muted ? '🔇 Sound off — tap to listen' : '🔊 Sound on';
    }
  }

  // Turns sound on or off. Called from a click (browsers allow sound to start only then).
  setMuted(muted) {
    this.muted = muted;
    this.stats.muted = muted;
    const output = this.backend || this.webrtc;
    if (output && output.setMuted) output.setMuted(muted);
    this.showSoundButton(true);
  }

  // The sound's level now, in dB below full scale (null when nothing is measured).
  audioLevelDb() {
    if (!this.analyser || this.muted) return null;
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length);
    return rms > 0 ? Math.round(20 * Math.log10(rms)) : -Infinity;
  }

  // Frame numbers count every frame the server produced: a gap is frames it skipped for us to
  // stay live (or, pulling JPEG, frames made while we were busy).
  countSequence(sequence) {
    if (this.lastSequence !== null && sequence > this.lastSequence + 1)
      this.stats.skipped += sequence - this.lastSequence - 1;
    this.lastSequence = sequence;
  }

  timestampUs(frag) {
    return Math.round((frag.decodeTime + frag.cts) * 1e6 / this.timescale);
  }

  // timestampUs: the frame's media time, to look its capture time up; or captureMs directly.
  frameShown(timestampUs, captureMs = undefined) {
    if (this.onFrameShown) this.onFrameShown();  // for measurements (tests/bench/latency)
    this.stats.framesShown++;
    this.window.shown++;
    const capture = captureMs ?? this.captureTimes.get(timestampUs);
    if (capture !== undefined) this.stats.latencyMs = Math.max(0, Date.now() - capture);
  }

  fail(message) {
    this.stats.errors.push(message);
    if (this.stats.errors.length > 20) this.stats.errors.shift();
    console.error(`camcast: ${message}`);
  }

  updateStats() {
    const now = performance.now();
    const seconds = (now - this.window.since) / 1000;
    this.stats.fps = Math.round(this.window.shown / seconds);
    // (WebRTC's bytes arrive outside the page: its sample below says them.)
    if (!this.webrtc) this.stats.kbps = Math.round(this.window.bytes * 8 / seconds / 1000);
    this.window = { shown: 0, bytes: 0, since: now };
    if (this.webrtc) {
      this.webrtc.sample().then(({ latencyMs, kbps }) => {
        this.stats.latencyMs = latencyMs;
        this.stats.kbps = kbps;
      });
    }
    this.stats.audioLevelDb = this.audioLevelDb();
    const heard = this.muted || !this.backend || !this.backend.audioClockUs ? null
      : this.backend.audioClockUs();
    this.stats.audioLatencyMs = heard === null || this.captureOffsetMs === undefined ? null
      : Math.round(Date.now() - (heard / 1000 + this.captureOffsetMs));
    const audio = this.backend && this.backend.audio && this.backend.audio.stats();
    if (audio) {
      Object.assign(this.stats, { stalls: audio.underruns, audioDroppedMs: audio.droppedMs,
                                  audioQueueMs: audio.targetMs });
    }
    if (this.overlay) {
      const s = this.stats;
      const latency = s.latencyMs === null ? '–' : `${Math.round(s.latencyMs)} ms`;
      let sound = '';
      if (s.audioCodec) {
        sound = s.muted ? ' · sound muted'
          : ` · sound ${s.audioLevelDb === null ? '–' : `${s.audioLevelDb} dB`}` +
            (s.audioLatencyMs === null ? '' : ` ${s.audioLatencyMs} ms`);
      }
      // (WebRTC's picture size is the rung it is on, whether a ladder or not.)
      const size = s.rung === null && s.backend !== 'webrtc' ? '' : `${rungName(s)} · `;
      const why = s.backendWhy ? ` (${s.backendWhy})` : '';
      this.overlay.textContent = `${s.backend || '…'}${why} · ${s.state} · latency ${latency} · ` +
        `${size}${s.fps} fps · ${(s.kbps / 1000).toFixed(1)} Mbit/s · skipped ${s.skipped}${sound}`;
    }
  }
}
