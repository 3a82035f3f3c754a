// camcast's MSE backend: fragments appended to a SourceBuffer (ManagedMediaSource on Safari/iOS
// 17.1+) and the <video> held near the live edge: gentle playbackRate nudges, a seek when far
// behind (seeks only on Safari, where rate changes make it re-buffer), old data trimmed. Both
// tracks, when the stream has sound, in one SourceBuffer on the element's one clock.

const isSafari = /^((?!chrome|android).)*safari/i.test(navigator.userAgent);

// How far behind the newest frame MSE plays a stream with sound. Chromium's audio renderer
// wants about 120 ms of sound ahead of the playhead: held one frame behind, playback stalled
// several times a minute; at 150 ms it plays on at rate 1 (docs/benchmarks.md, "Sound").
const MSE_AUDIO_TARGET_S = 0.15;
// On a rung below the top that the server moved this viewer to, its link is narrow: each of the
// rung's keyframes takes a few frames' time to arrive and the frames behind it come late and
// together. Held one frame behind, playback ran dry at each and dropped frames catching up (at
// 700 kbit/s 3.5-4.3 % of frames never shown); held this far behind, 0.6 %, p95 144 ms
// (docs/benchmarks.md, "Slow links").
const MSE_NARROW_TARGET_S = 0.1;
// Right after a move to another rung the picture changes anyway: for this long, a playhead more
// than MSE_MOVE_SLACK_S behind its target jumps to it instead of catching up at 1.5x. A move down
// on a link that just narrowed brings the new rung's first keyframe late (what the kernel held of
// the old rung goes first) and the frames behind it together: at 4 → 0.5 Mbit/s the first 180p
// frame showed 0.96 s late, and catching up took 1.8 s more (docs/benchmarks.md, "Slow links").
const MSE_MOVE_JUMP_MS = 2000;
const MSE_MOVE_SLACK_S = 0.25;

// The SourceBuffer's type for a stream: both tracks in one, as they come in the same fragments.
function mimeType(info) {
  const codecs = [info.codec, info.audio && info.audio.codec].filter(Boolean).join(', ');
  return `${info.codec ? 'video' : 'audio'}/mp4; codecs="${codecs}"`;
}

export class MseBackend {
  constructor(player, video) {
    this.player = player;
    this.video = video;
    this.queue = [];
    this.sourceBuffer = null;
    this.timer = null;
  }

  // Called when the stream is described, before its init segment: the MediaSource opens while
  // the init segment is on its way, which shortens the join.
  prepare(info) {
    this.close();
    const Source = window.ManagedMediaSource || window.MediaSource;
    const source = new Source();
    this.source = source;
    this.info = info;
    const video = this.video;
    video.muted = this.player.muted;
    video.playsInline = true;
    video.autoplay = true;
    if (window.ManagedMediaSource && source instanceof window.ManagedMediaSource) {
      // Without this, Safari waits for an AirPlay decision and sourceopen never fires.
      video.disableRemotePlayback = true;
      video.srcObject = source;
    } else {
      video.src = URL.createObjectURL(source);
    }
    source.addEventListener('sourceopen', () => {
      if (this.source !== source) return;
      // One SourceBuffer for both tracks: they come in the same fragments.
      const type = mimeType(info);
      this.type = type;
      try {
        this.sourceBuffer = source.addSourceBuffer(type);
      } catch (e) {
        this.player.fail(`MSE cannot play ${type}: ${e.message}`);
        return;
      }
      // The tfdt of each fragment places it; joins happen at keyframes (MSE §3.5.8).
      this.sourceBuffer.mode = 'segments';
      this.sourceBuffer.addEventListener('updateend', () => {
        this.holdLiveEdge();
        this.appendNext();
      });
      this.appendNext();
    }, { once: true });
    this.timer = setInterval(() => this.holdLiveEdge(), 100);
    // Playback waiting for data it lacks: an underrun, of sound or picture.
    video.onwaiting = () => { if (this.sourceBuffer) this.player.stats.stalls++; };
    if (video.requestVideoFrameCallback) {
      const onFrame = (now, meta) => {
        if (this.video !== video || !this.source) return;
        this.player.frameShown(Math.round(meta.mediaTime * 1e6));
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
  }

  // The element plays both tracks on one clock: the sound heard is at its current time.
  audioClockUs() {
    return this.video.paused ? null : this.video.currentTime * 1e6;
  }

  setMuted(muted) {
    const video = this.video;
    video.muted = muted;
    if (!muted && !video.camcastAnalyser) {
      // The level meter: the element's sound through an AnalyserNode to the speakers.
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 2048;
      context.createMediaElementSource(video).connect(analyser);
      analyser.connect(context.destination);
      video.camcastAnalyser = analyser;
    }
    this.player.analyser = muted ? null : video.camcastAnalyser;
    if (!muted) video.play().catch(() => {});
  }

  // Another rung of the stream comes next (ladder.js): its init segment goes into the same
  // SourceBuffer after what is queued, the type changed first if the codec string differs, and
  // playback jumps to its first keyframe (what the old rung still had to send was skipped).
  move(info) {
    const type = mimeType(info);
    if (type !== this.type) this.queue.push({ changeType: type });
    this.type = type;
    this.info = info;
    this.moving = true;
  }

  init(info, initBytes) {
    if (this.moving) {
      this.moving = false;
      this.queue.push(initBytes);
      this.jumpToNext = true;
      this.appendNext();
      return;
    }
    if (!this.source || this.info !== info) this.prepare(info);
    this.queue.unshift(initBytes);
    this.appendNext();
  }

  push(frag, bytes) {
    if (this.jumpToNext) {
      this.jumpToNext = false;
      this.jumpTo = this.player.timestampUs(frag) / 1e6;
      // The old rung may have sent a frame newer than the new rung's first keyframe: it goes, so
      // the new rung does not overlap it (Chromium stalled on such an overlap now and then).
      this.queue.push({ removeFrom: this.jumpTo });
    }
    // MSE needs moof+mdat: the prft box before them is for us.
    this.queue.push(bytes.subarray(frag.moofOffset));
    this.appendNext();
  }

  appendNext() {
    const sb = this.sourceBuffer;
    if (!sb || sb.updating || this.queue.length === 0) return;
    if (this.queue[0].changeType) {
      try {
        sb.changeType(this.queue.shift().changeType);
      } catch (e) {
        this.player.fail(`changeType: ${e.message}`);
      }
    }
    if (this.queue[0] && this.queue[0].removeFrom !== undefined) {
      const from = this.queue.shift().removeFrom;
      const end = sb.buffered.length ? sb.buffered.end(sb.buffered.length - 1) : 0;
      if (end > from) {
        sb.remove(from, end);  // 'updateend' goes on with the queue
        return;
      }
    }
    // Everything up to the next change of type or removal, in one append.
    let n = this.queue.findIndex((p) => p.changeType || p.removeFrom !== undefined);
    if (n < 0) n = this.queue.length;
    const parts = this.queue.splice(0, n);
    if (parts.length === 0) return;
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const data = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { data.set(p, at); at += p.byteLength; }
    try {
      sb.appendBuffer(data);
    } catch (e) {
      if (e.name === 'QuotaExceededError') {
        // Full: drop what is behind the playhead and try again later.
        this.queue.unshift(data);
        this.trim(0.5);
      } else {
        this.player.fail(`append: ${e.message}`);
      }
    }
  }

  trim(keepSeconds) {
    const sb = this.sourceBuffer;
    const t = this.video.currentTime;
    if (!sb || sb.updating || sb.buffered.length === 0) return;
    const start = sb.buffered.start(0);
    if (t - start > keepSeconds) sb.remove(start, t - keepSeconds);
  }

  holdLiveEdge() {
    const video = this.video;
    const sb = this.sourceBuffer;
    if (!sb || sb.buffered.length === 0) return;
    const start = sb.buffered.start(0);
    const end = sb.buffered.end(sb.buffered.length - 1);
    if (video.paused) video.play().catch(() => {});
    if (video.currentTime < start) video.currentTime = start;
    // Moved to another rung: on to its first keyframe, past the gap before it (or back to it, by
    // the frame of the old rung that was newer) — once it is in the buffer, after the old rung's
    // newer frames are gone, and to where its range starts: a playhead left in the sliver
    // between the two (the times rounded apart) stalled Chromium until the next seek.
    if (this.jumpTo !== undefined && this.jumpTo !== null && !sb.updating &&
        !this.queue.some((p) => p.removeFrom !== undefined)) {
      for (let i = 0; i < sb.buffered.length; i++) {
        if (sb.buffered.end(i) <= this.jumpTo) continue;
        const to = Math.max(this.jumpTo, sb.buffered.start(i));
        if (Math.abs(video.currentTime - to) > 0.001) video.currentTime = to;
        this.jumpTo = null;
        this.movedAt = performance.now();
        break;
      }
    }
    const narrow = this.player.stats.rung > 0 && this.player.ladder.pinned === null;
    const target = this.player.targetLatency ??
      Math.max(this.info.audio ? MSE_AUDIO_TARGET_S : this.player.frameSeconds,
               narrow ? MSE_NARROW_TARGET_S : 0);
    const gap = end - video.currentTime;
    this.player.stats.bufferMs = Math.round(gap * 1000);
    const justMoved = performance.now() - (this.movedAt ?? -Infinity) < MSE_MOVE_JUMP_MS;
    if (gap > Math.max(1.0, target * 4) || (isSafari && gap > target + 0.5) ||
        (justMoved && gap > target + MSE_MOVE_SLACK_S)) {
      video.currentTime = Math.max(start, end - target);
      this.player.stats.seeks++;
    } else if (!isSafari) {
      // Proportional catch-up: 10 % faster per 100 ms over the target, at most 1.5x.
      const excess = gap - target;
      video.playbackRate = excess > 0.02 ? Math.min(1.5, 1 + excess) : 1.0;
    }
    this.trim(3);
  }

  close() {
    clearInterval(this.timer);
    this.timer = null;
    this.sourceBuffer = null;
    this.queue = [];
    if (this.source && this.source.readyState === 'open') {
      try { this.source.endOfStream(); } catch (e) { /* already ended */ }
    }
    this.source = null;
    this.video.onwaiting = null;
    this.video.removeAttribute('src');
    this.video.srcObject = null;
  }
}
