// Sound for the WebCodecs backend: each audio frame goes to an AudioDecoder as it arrives, and
// its samples to an AudioWorklet (audio-worklet.js) that plays them after a short queue.
//
// Sync: the sound is the clock. It cannot come sooner than its frame, the network and the
// queue allow, so while sound plays the pictures wait for it: each decoded picture is drawn when
// the sound of its instant is heard (clockUs). Dropping sound instead would only make it
// stutter, not come earlier. Muted, nothing is waited for and pictures show at once.
// Gathered before playing at first: three Opus frames — the frames come in bursts, those that
// rode with one picture (up to 33 ms apart), plus the network's jitter. audio-worklet.js raises
// it after underruns.
const TARGET_MS = 60;
const MAX_MS = 140;  // queued beyond the target + 80 ms, the oldest sound is dropped
const WORKLET_URL = new URL('audio-worklet.js', import.meta.url);  // served beside this file

export class WebCodecsAudio {
  // info: the stream's `audio` description; config: the decoder's description bytes (AAC's
  // AudioSpecificConfig) or null.
  constructor(player, info, config) {
    this.player = player;
    this.info = info;
    this.config = config;
    this.context = null;
    this.node = null;
    this.decoder = null;
    this.report = null;  // the worklet's last report
  }

  // Starts the sound: call from a click (browsers allow sound to start only then).
  start() {
    if (this.context) return;
    const context = new AudioContext({ sampleRate: this.info.rate, latencyHint: 'interactive' });
    this.context = context;
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 2048;
    context.audioWorklet.addModule(WORKLET_URL).then(() => {
      if (this.context !== context) return;
      const rate = context.sampleRate;
      this.node = new AudioWorkletNode(context, 'camcast-audio', {
        numberOfInputs: 0, outputChannelCount: [this.info.channels],
        processorOptions: { targetFrames: Math.round(rate * TARGET_MS / 1000),
                            maxFrames: Math.round(rate * MAX_MS / 1000) },
      });
      this.node.port.onmessage = (event) => { this.report = event.data; };
      this.node.connect(this.analyser);
      this.analyser.connect(context.destination);
      this.decoder = new AudioDecoder({
        output: (data) => this.play(data),
        error: (e) => this.player.fail(`audio decoder: ${e.message}`),
      });
      const config = { codec: this.info.codec, sampleRate: this.info.rate,
                       numberOfChannels: this.info.channels };
      if (this.config) config.description = this.config;
      this.decoder.configure(config);
    }).catch((e) => this.player.fail(`sound: ${e.message}`));
    context.resume().catch(() => {});
  }

  stop() {
    const context = this.context;
    this.context = null;
    this.node = null;
    this.report = null;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    if (context) context.close().catch(() => {});
  }

  // The audio frames of a fragment ({time, duration, data} in the track's units).
  push(frames) {
    if (!this.decoder || this.decoder.state !== 'configured') return;
    const rate = this.info.rate;
    for (const f of frames) {
      this.decoder.decode(new EncodedAudioChunk({
        type: 'key', timestamp: Math.round(f.time * 1e6 / rate),
        duration: Math.round(f.duration * 1e6 / rate), data: f.data,
      }));
    }
  }

  play(data) {
    if (!this.node) {
      data.close();
      return;
    }
    const samples = [];
    for (let c = 0; c < data.numberOfChannels; c++) {
      const plane = new Float32Array(data.numberOfFrames);
      data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
      samples.push(plane);
    }
    this.node.port.postMessage({ samples, timestampUs: data.timestamp },
                               samples.map((s) => s.buffer));
    data.close();
  }

  // The media time (µs) of the sound heard now, or null while none plays: the worklet's last
  // report, moved on by the time since, less the time sound takes to leave the speakers.
  clockUs() {
    const r = this.report;
    const context = this.context;
    if (!r || r.timestampUs === null || !context) return null;
    const out = context.outputLatency || context.baseLatency || 0;
    return r.timestampUs + (context.currentTime - r.at - out) * 1e6;
  }

  stats() {
    const r = this.report;
    const ms = (frames) => Math.round(frames * 1000 / this.info.rate);
    return r ? { underruns: r.underruns, droppedMs: ms(r.droppedFrames), queuedMs: ms(r.buffered),
                 targetMs: ms(r.targetFrames) } : null;
  }
}
