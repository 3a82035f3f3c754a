// A/V sync: bench-avsync-server flashes the picture and starts a beep at the same instant once a
// second; camcast's player, with its sound on, shows the one and plays the other.
//
// Where the viewer sees and hears them:
//  - shown: the page notes when each flash is on screen (the frame's pixels, read as it is
//    drawn: WebCodecs' draw, MSE's requestVideoFrameCallback expected display time);
//  - heard: Chromium plays its sound into a PulseAudio server of this script's own, into a null
//    sink standing for the speakers; parec records that sink's monitor, and each beep's first
//    sample is found in the recording. A sample's instant is its place in the recording mapped
//    to this process's clock by the chunks' arrival (the earliest arrival for its place, over the
//    10 s around it: what comes out of the sink cannot reach us before it is played).
// The page's clock is mapped to this process's by round trips (the one with the shortest trip).
// Offset = heard − shown: positive when the sound is late. Glass-to-glass: heard (or shown) less
// the instant the server made the clap (it says when its clock's zero was).
// Same machine, headless Chromium.
//
//   node tests/bench/avsync/run.mjs [--seconds 60] [--only webcodecs,mse] [--latency S]
//                                   [--each]
// --seconds 600 shows drift: each minute's median offset is printed.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser } from '../../browser/lib.mjs';
import { option, stats } from '../lib.mjs';

const seconds = Number(option('seconds', 60));
const only = option('only', 'webcodecs,mse').split(',');
const latency = option('latency', null);  // MSE: how far behind the newest frame (s)
const each = process.argv.includes('--each');  // print every flash's offset
const port = 18095;
const RATE = 48000;
const now = () => performance.timeOrigin + performance.now();  // ms since 1970, this process

// The speakers: a PulseAudio server of our own with a null sink, its monitor recorded.
async function startSpeakers(dir) {
  const socket = join(dir, 'native');
  const server = spawn('pulseaudio', [
    '-n', '--daemonize=no', '--exit-idle-time=-1', '--disable-shm=yes', '--log-level=error',
    '-L', `module-native-protocol-unix auth-anonymous=1 socket=${socket}`,
    '-L', `module-null-sink sink_name=speakers rate=${RATE} channels=1`],
  { stdio: 'inherit', env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir } });
  for (let i = 0; i < 250 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
  if (!existsSync(socket)) throw new Error('pulseaudio did not start (apt-get install pulseaudio)');
  const address = `unix:${socket}`;
  const recorder = spawn('parec', ['--latency-msec=5', '--format=s16le', `--rate=${RATE}`,
                                   '--channels=1', '-d', 'speakers.monitor'],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PULSE_SERVER: address } });
  const chunks = [];  // { at: arrival (ms), end: samples recorded by then }
  const onsets = [];  // sample index of each beep's first sample
  let total = 0, quiet = 0;
  recorder.stdout.on('data', (data) => {
    const at = now();
    for (let i = 0; i + 1 < data.length; i += 2, total++) {
      if (Math.abs(data.readInt16LE(i)) > 1600) {  // 0.05 of full scale
        if (quiet > RATE * 0.3) onsets.push(total);
        quiet = 0;
      } else {
        quiet++;
      }
    }
    chunks.push({ at, end: total });
  });
  // When sample `index` was played: the earliest (arrival − duration recorded) near it.
  const playedAt = (index) => {
    let best = Infinity;
    for (const c of chunks) {
      if (Math.abs(c.end - index) <= RATE * 5) best = Math.min(best, c.at - c.end * 1000 / RATE);
    }
    return best + index * 1000 / RATE;
  };
  const stop = async () => {
    for (const p of [recorder, server]) {
      const gone = new Promise((resolve) => p.on('exit', resolve));
      p.kill('SIGTERM');
      await gone;
    }
  };
  return { address, onsets, playedAt, stop };
}

// The page's clock less ours (ms), from the round trip that took least time.
async function clockOffset(page) {
  let best = null;
  for (let i = 0; i < 20; i++) {
    const before = now();
    const theirs = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = now();
    const trip = after - before;
    if (!best || trip < best.trip) best = { trip, d: theirs - (before + after) / 2 };
  }
  return best;
}

// Runs in the page: records when flashes are shown, in ms since 1970 on the page's clock.
function instrument(backend) {
  const log = { flashes: [], audioLatency: [] };
  window.avsync = log;
  const player = window.camcast;
  const probe = document.createElement('canvas');
  probe.width = probe.height = 1;
  const probeCtx = probe.getContext('2d', { willReadFrequently: true });
  let bright = false;
  const look = (source, at) => {
    probeCtx.drawImage(source, 0, 0, 1, 1);
    const now = probeCtx.getImageData(0, 0, 1, 1).data[0] > 128;
    if (now && !bright) log.flashes.push(performance.timeOrigin + at);
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
  setInterval(() => {
    if (player.stats.audioLatencyMs !== null) log.audioLatency.push(player.stats.audioLatencyMs);
  }, 500);
}

async function measure(browser, speakers, zero, backend) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page: ${e.message}`));
  const query = latency === null ? '' : `&latency=${latency}`;
  await page.goto(`http://127.0.0.1:${port}/video?backend=${backend}${query}`);
  await page.waitForFunction(() => window.camcast && window.camcast.stats.framesShown > 30,
                             null, { timeout: 20000 });
  await page.click('.camcast-sound');
  await page.waitForFunction(() => window.camcast.analyser, null, { timeout: 5000 });
  await page.waitForTimeout(2000);  // past the start: queues filled, rates settled
  const clock = await clockOffset(page);
  await page.evaluate(instrument, backend);
  const initial = await page.evaluate(() => ({ ...window.camcast.stats }));
  const from = now();
  await page.waitForTimeout(seconds * 1000);
  const until = now();
  const log = await page.evaluate(() => window.avsync);
  const final = await page.evaluate(() => ({ ...window.camcast.stats }));
  const clockAfter = await clockOffset(page);
  await page.close();
  const flashes = log.flashes.map((t) => t - clock.d);
  const beeps = speakers.onsets.map(speakers.playedAt).filter((t) => t >= from && t <= until);
  // Each beep with the flash nearest to it (they are a second apart: within half of it).
  const offsets = [], heard = [], shown = [], minutes = [];
  const sinceClap = (t, zeroMs) => (t - zeroMs) - Math.floor((t - zeroMs) / 1000) * 1000;
  for (const beep of beeps) {
    let nearest = null;
    for (const f of flashes)
      if (nearest === null || Math.abs(f - beep) < Math.abs(nearest - beep)) nearest = f;
    if (nearest === null || Math.abs(nearest - beep) > 500) continue;
    const offset = Math.round(beep - nearest);
    offsets.push(offset);
    heard.push(Math.round(sinceClap(beep, zero.sound)));
    shown.push(Math.round(sinceClap(nearest, zero.picture)));
    const minute = Math.floor((beep - from) / 60000);
    (minutes[minute] = minutes[minute] || []).push(offset);
  }
  if (each) console.log(`${backend} offsets (ms): ${offsets.join(' ')}`);
  return { backend, flashes: flashes.length, beeps: beeps.length, offsets: stats(offsets),
           mean: offsets.reduce((a, b) => a + b, 0) / Math.max(1, offsets.length),
           spread: [Math.min(...offsets), Math.max(...offsets)],
           absP95: stats(offsets.map(Math.abs)).p95, heard: stats(heard), shown: stats(shown),
           reported: stats(log.audioLatency), trip: Math.max(clock.trip, clockAfter.trip),
           clockMoved: clockAfter.d - clock.d,
           underruns: final.stalls - initial.stalls,
           dropped: final.audioDroppedMs - initial.audioDroppedMs,
           minuteP50: minutes.map((m) => stats(m).p50) };
}

const dir = mkdtempSync(join(tmpdir(), 'camcast-avsync-'));
const speakers = await startSpeakers(dir);
const exe = new URL('../../../build/tests/bench/bench-avsync-server', import.meta.url).pathname;
const server = spawn(exe, [String(port)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env,
         GST_PLUGIN_PATH: new URL('../../../build/plugins/camcast', import.meta.url).pathname } });
const zero = {};  // the wall-clock instant (ms) of clap 0, picture and sound
await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    for (const m of out.matchAll(/(picture|sound)-zero (\d+)/g)) zero[m[1]] = Number(m[2]) / 1000;
    if (zero.picture && zero.sound) resolve();
  });
  server.on('exit', (code) => reject(new Error(`bench-avsync-server exited with ${code}`)));
});
const browser = await launchBrowser({ soundServer: speakers.address });
try {
  for (const backend of only) {
    const r = await measure(browser, speakers, zero, backend);
    console.log(`${r.backend.padEnd(10)} offset (sound − picture) p50 ${r.offsets.p50} ms, ` +
      `mean ${r.mean.toFixed(1)}, |offset| p95 ${r.absP95}, from ${r.spread[0]} to ` +
      `${r.spread[1]} over ${r.offsets.n} flashes (${r.flashes} shown, ${r.beeps} heard); ` +
      `glass-to-glass p50 (p95): sound ${r.heard.p50} (${r.heard.p95}) ms, picture ` +
      `${r.shown.p50} (${r.shown.p95}) ms; the player said sound ${r.reported.p50} ms; ` +
      `${r.underruns} underruns, ${r.dropped} ms of sound dropped; per-minute p50 ` +
      `${r.minuteP50.join(' ')}; clocks: round trip ≤ ${r.trip.toFixed(1)} ms, moved ` +
      `${r.clockMoved.toFixed(1)} ms`);
  }
} finally {
  await browser.close();
  const gone = new Promise((resolve) => server.on('exit', resolve));
  server.kill('SIGINT');
  await gone;
  await speakers.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
