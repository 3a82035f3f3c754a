// camcast's sound output, on the browser's audio thread: decoded samples queue here and play as
// soon as a little has gathered. The queue is kept short — sound that falls behind is dropped,
// not played late — and the main thread hears what plays when, to hold pictures to it.
//
// How short is learnt: sound comes in bursts (the frames that rode with one picture) and a busy
// machine decodes late, so each underrun adds 20 ms to the target, up to 160 ms, and ten quiet
// seconds take 10 ms back, down to where it started.
//
// In (port): {samples: [Float32Array per channel], timestampUs} — one decoded frame;
//            {reset: true} — forget what is queued (a new stream).
// Out (port), every ~50 ms: {timestampUs, at, buffered, underruns, droppedFrames} — the media
// time of the next sample to play at context time `at`, frames queued, and counts.
class CamcastAudioProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetFrames, maxFrames } = options.processorOptions;
    this.minTarget = targetFrames;
    this.targetFrames = targetFrames;          // gathered before playing starts (or resumes)
    this.slack = maxFrames - targetFrames;     // beyond target + slack the oldest is dropped
    this.step = Math.round(sampleRate / 50);   // 20 ms
    this.calm = 0;                             // frames played since the last underrun
    this.chunks = [];                  // {samples, timestampUs, offset}
    this.buffered = 0;
    this.playing = false;
    this.underruns = 0;
    this.droppedFrames = 0;
    this.sinceReport = 0;
    this.port.onmessage = (event) => {
      const m = event.data;
      if (m.reset) {
        this.chunks = [];
        this.buffered = 0;
        this.playing = false;
        return;
      }
      this.chunks.push({ samples: m.samples, timestampUs: m.timestampUs, offset: 0 });
      this.buffered += m.samples[0].length;
      if (this.buffered > this.targetFrames + this.slack)
        this.drop(this.buffered - this.targetFrames);
    };
  }

  drop(frames) {
    while (frames > 0 && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const n = Math.min(frames, chunk.samples[0].length - chunk.offset);
      chunk.offset += n;
      frames -= n;
      this.buffered -= n;
      this.droppedFrames += n;
      if (chunk.offset >= chunk.samples[0].length) this.chunks.shift();
    }
  }

  // The media time of the next sample to play (µs), or null when nothing is queued.
  headTimestampUs() {
    const chunk = this.chunks[0];
    return chunk ? chunk.timestampUs + chunk.offset * 1e6 / sampleRate : null;
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const frames = out[0].length;
    if (!this.playing && this.buffered >= this.targetFrames) this.playing = true;
    let written = 0;
    while (this.playing && written < frames && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const n = Math.min(frames - written, chunk.samples[0].length - chunk.offset);
      for (let c = 0; c < out.length; c++) {
        const source = chunk.samples[Math.min(c, chunk.samples.length - 1)];
        out[c].set(source.subarray(chunk.offset, chunk.offset + n), written);
      }
      chunk.offset += n;
      written += n;
      this.buffered -= n;
      if (chunk.offset >= chunk.samples[0].length) this.chunks.shift();
    }
    if (this.playing && written < frames) {
      // Ran dry: an underrun. Gather a larger target before playing on.
      this.underruns++;
      this.playing = false;
      this.targetFrames = Math.min(this.targetFrames + this.step, 8 * this.step);
      this.calm = 0;
    } else if (this.playing && (this.calm += frames) > 10 * sampleRate) {
      this.calm = 0;
      this.targetFrames = Math.max(this.minTarget, this.targetFrames - this.step / 2);
    }
    this.sinceReport += frames;
    if (this.sinceReport >= sampleRate / 20) {
      this.sinceReport = 0;
      this.port.postMessage({
        timestampUs: this.playing ? this.headTimestampUs() : null, at: currentTime,
        buffered: this.buffered, underruns: this.underruns, droppedFrames: this.droppedFrames,
        targetFrames: this.targetFrames,
      });
    }
    return true;
  }
}

registerProcessor('camcast-audio', CamcastAudioProcessor);
