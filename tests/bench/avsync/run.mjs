// A/V sync: bench-avsync-server flashes the picture and starts a beep at the same instant once a
// second; camcast's player, with its sound on, shows the one and plays the other. The page notes
// when each flash is on screen (the frame's pixels, read as it is drawn: WebCodecs' draw, MSE's
// requestVideoFrameCallback) and when each beep is heard (an AudioWorklet on the sound the
// player plays, its sample time mapped to the page's clock where it leaves the speakers:
// AudioContext.getOutputTimestamp). Offset = heard − shown: positive when the sound is late.
// Also the sound's glass-to-glass latency the player reports. Same machine, headless Chromium.
//
//   node tests/bench/avsync/run.mjs [--seconds 60] [--only webcodecs,mse]
// --seconds 600 shows drift: each minute's median offset is printed.
import { spawn } from 'node:child_process';
import { launchBrowser } from '../../browser/lib.mjs';
import { option, stats } from '../lib.mjs';

const seconds = Number(option('seconds', 60));
const only = option('only', 'webcodecs,mse').split(',');
const port = 18095;

// Runs in the page: records flashes shown and beeps heard, in performance.now() milliseconds.
function instrument(backend) {
  const log = { flashes: [], beeps: [], audioLatency: [] };
  window.avsync = log;
  const player = window.camcast;
  const probe = document.createElement('canvas');
  probe.width = probe.height = 1;
  const probeCtx = probe.getContext('2d', { willReadFrequently: true });
  let bright = false;
  const look = (source, at) => {
    probeCtx.drawImage(source, 0, 0, 1, 1);
    const now = probeCtx.getImageData(0, 0, 1, 1).data[0] > 128;
    if (now && !bright) log.flashes.push(at);
    bright = now;
  };
  if (backend === 'webcodecs') {
    player.onFrameShown = () => look(player.view, performance.now());
  } else {
    const video = player.view;
    const onFrame = (now, meta) => {
      look(video, meta.expectedDisplayTime || now);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  // The beep's first sample: a worklet behind the player's analyser (the sound it plays).
  const analyser = player.analyser;
  const context = analyser.context;
  const code = `registerProcessor('onset', class extends AudioWorkletProcessor {
    constructor() { super(); this.quiet = 0; }
    process(inputs) {
      const x = inputs[0][0];
      if (!x) return true;
      for (let i = 0; i < x.length; i++) {
        if (Math.abs(x[i]) > 0.05) {
          if (this.quiet > sampleRate * 0.3) this.port.postMessage(currentTime + i / sampleRate);
          this.quiet = 0;
        } else {
          this.quiet++;
        }
      }
      return true;
    }
  });`;
  const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
  return context.audioWorklet.addModule(url).then(() => {
    const node = new AudioWorkletNode(context, 'onset', { numberOfOutputs: 0 });
    node.port.onmessage = (e) => {
      // Where that context time leaves the speakers, on the page's clock.
      const ts = context.getOutputTimestamp();
      log.beeps.push(ts.performanceTime + (e.data - ts.contextTime) * 1000);
    };
    analyser.connect(node);
    setInterval(() => {
      if (player.stats.audioLatencyMs !== null) log.audioLatency.push(player.stats.audioLatencyMs);
    }, 500);
  });
}

async function measure(browser, backend) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page: ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/video?backend=${backend}`);
  await page.waitForFunction(() => window.camcast && window.camcast.stats.framesShown > 30,
                             null, { timeout: 20000 });
  await page.click('.camcast-sound');
  await page.waitForFunction(() => window.camcast.analyser, null, { timeout: 5000 });
  await page.waitForTimeout(2000);  // past the start: queues filled, rates settled
  await page.evaluate(instrument, backend);
  const initial = await page.evaluate(() => ({ ...window.camcast.stats }));
  await page.waitForTimeout(seconds * 1000);
  const log = await page.evaluate(() => window.avsync);
  const final = await page.evaluate(() => ({ ...window.camcast.stats }));
  await page.close();
  // Each beep with the flash nearest to it (they are a second apart: within half of it).
  const offsets = [];
  const start = log.beeps[0];
  const minutes = [];
  for (const beep of log.beeps) {
    let nearest = null;
    for (const f of log.flashes)
      if (nearest === null || Math.abs(f - beep) < Math.abs(nearest - beep)) nearest = f;
    if (nearest === null || Math.abs(nearest - beep) > 500) continue;
    const offset = Math.round(beep - nearest);
    offsets.push(offset);
    const minute = Math.floor((beep - start) / 60000);
    (minutes[minute] = minutes[minute] || []).push(offset);
  }
  return { backend, flashes: log.flashes.length, beeps: log.beeps.length, offsets: stats(offsets),
           mean: offsets.reduce((a, b) => a + b, 0) / Math.max(1, offsets.length),
           spread: [Math.min(...offsets), Math.max(...offsets)],
           absP95: stats(offsets.map(Math.abs)).p95,
           audio: stats(log.audioLatency), video: Math.round(final.latencyMs),
           underruns: final.stalls - initial.stalls,
           dropped: final.audioDroppedMs - initial.audioDroppedMs,
           minuteP50: minutes.map((m) => stats(m).p50) };
}

const exe = new URL('../../../build/tests/bench/bench-avsync-server', import.meta.url).pathname;
const server = spawn(exe, [String(port)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env,
         GST_PLUGIN_PATH: new URL('../../../build/plugins/camcast', import.meta.url).pathname } });
await new Promise((resolve, reject) => {
  server.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
  server.on('exit', (code) => reject(new Error(`bench-avsync-server exited with ${code}`)));
});
const browser = await launchBrowser();
try {
  for (const backend of only) {
    const r = await measure(browser, backend);
    console.log(`${r.backend.padEnd(10)} offset (sound − picture) p50 ${r.offsets.p50} ms, ` +
      `mean ${r.mean.toFixed(1)}, |offset| p95 ${r.absP95}, from ${r.spread[0]} to ` +
      `${r.spread[1]} over ${r.offsets.n} ` +
      `flashes (${r.flashes} shown, ${r.beeps} heard); sound glass-to-glass p50 ${r.audio.p50} ` +
      `ms (p95 ${r.audio.p95}), picture ${r.video} ms at the end; measuring, ${r.underruns} ` +
      `underruns and ${r.dropped} ms of sound dropped; per-minute p50 ${r.minuteP50.join(' ')}`);
  }
} finally {
  await browser.close();
  const gone = new Promise((resolve) => server.on('exit', resolve));
  server.kill('SIGINT');
  await gone;
}
process.exit(0);
