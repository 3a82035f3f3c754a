// What the relay adds: one camera, one H.264 encode, served two ways in the same run — directly
// by the camera (msesink at /direct) and through a relay process (relaysink → relaysrc → tsdemux
// → h264parse → msesink at /relayed). One client reads both as Annex-B and pairs each frame's
// arrival on the two paths by the bytes of its slices, so the difference is exactly what the
// relay adds: the MPEG-TS mux, the HTTP push, the relay's demux and parse, and its fan-out.
// Then, with --reconnects N, the camera process is stopped and started N times: how long after
// it starts (and after its first frame on its own port) do frames come through the relay again?
//
//   node tests/bench/relay/run.mjs [--seconds 60] [--reconnects 5] [--kbps 2000]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpuSeconds, option, stats } from '../lib.mjs';

const seconds = Number(option('seconds', 60)), reconnects = Number(option('reconnects', 5));
const kbps = Number(option('kbps', 2000));
const cameraPort = 18091, relayPort = 18092;
const WebSocket = createRequire(new URL('../../browser/', import.meta.url).pathname)('ws');
const env = { ...process.env,
              GST_PLUGIN_PATH: new URL('../../../build/plugins/camcast', import.meta.url).pathname };

// The relay as users run it: the relay-serve preset (which also makes MPEG-1 for /jsmpeg).
const relay = spawn(new URL('../../../build/launcher/camcast', import.meta.url).pathname,
  ['relay-serve', '--no-auth', '--set', 'address=127.0.0.1', '--port', String(relayPort),
   '--set', 'relay-secret=s3cret'], { stdio: ['ignore', 'ignore', 'inherit'], env });

// A 640x480 test pattern with the running time drawn in, so no two frames are alike.
function startCamera() {
  return spawn('gst-launch-1.0', ['-q', ...(
    'videotestsrc is-live=true pattern=smpte ! ' +
    'video/x-raw,format=I420,width=640,height=480,framerate=30/1 ! ' +
    'timeoverlay font-desc=Sans,24 ! ' +
    `x264enc tune=zerolatency speed-preset=ultrafast bitrate=${kbps} key-int-max=60 ! ` +
    'tee name=t ' +
    `t. ! queue ! h264parse ! msesink address=127.0.0.1 port=${cameraPort} path=/direct ` +
    't. ! queue ! h264parse config-interval=-1 ! mpegtsmux latency=0 ! ' +
    `relaysink location=http://127.0.0.1:${relayPort}/publish/s3cret`).split(' ')],
  { stdio: 'inherit', env });
}

// The frame's identity: a hash of its slices (NAL types 1 and 5) in the fragment's mdat, which
// both paths carry as they came from the encoder. "" for a message without slices (the init
// segment).
function frameKey(data) {
  const hash = createHash('sha1');
  let slices = 0;
  for (let box = 0; box + 8 <= data.length; box += data.readUInt32BE(box)) {
    const size = data.readUInt32BE(box);
    if (size < 8) break;
    if (data.toString('latin1', box + 4, box + 8) !== 'mdat') continue;
    for (let nal = box + 8; nal + 4 < box + size; nal += 4 + data.readUInt32BE(nal)) {
      const type = data[nal + 4] & 0x1f;
      if (type === 1 || type === 5) {
        hash.update(data.subarray(nal + 4, nal + 4 + data.readUInt32BE(nal)));
        slices++;
      }
    }
  }
  return slices ? hash.digest('hex') : '';
}

// A stream, reconnecting by itself; onFrame(name, key, ms) for every frame.
function watch(port, path, name, onFrame) {
  let closed = false;
  let ws;
  const open = () => {
    ws = new WebSocket(`ws://127.0.0.1:${port}/${path}`, { perMessageDeflate: false });
    ws.on('message', (data) => onFrame(name, frameKey(data), performance.now()));
    ws.on('error', () => {});
    ws.on('close', () => { if (!closed) setTimeout(open, 10); });
  };
  open();
  return () => { closed = true; ws.close(); };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Arrival times by frame on each path, until the other path's copy comes (either may be first).
const seen = { direct: new Map(), relayed: new Map() };
let added = null;  // what the relay added, per frame (ms), while measuring
let unmatched = 0;
// The first new frame on each path after a restart (a frame of the stream before does not count).
const firsts = { direct: null, relayed: null };
let before = new Set();
const recent = [];
const onFrame = (path, key, ms) => {
  if (!key) return;
  if (firsts[path] === null && !before.has(key)) firsts[path] = ms;
  recent.push(key);
  if (recent.length > 120) recent.shift();
  const other = seen[path === 'direct' ? 'relayed' : 'direct'];
  const then = other.get(key);
  if (then === undefined) {
    seen[path].set(key, ms);
    if (seen[path].size > 600) {  // 20 s of frames that never came the other way
      seen[path].delete(seen[path].keys().next().value);
      if (path === 'direct' && added) unmatched++;
    }
    return;
  }
  other.delete(key);
  if (added) added.push(path === 'relayed' ? ms - then : then - ms);
};

let camera = startCamera();
const stopDirect = watch(cameraPort, 'direct', 'direct', onFrame);
const stopRelayed = watch(relayPort, 'video', 'relayed', onFrame);
const f = (x) => x.toFixed(1);
try {
  await sleep(5000);  // warm-up: both connected, the push up
  added = [];
  unmatched = 0;
  const cpu0 = cpuSeconds(relay.pid);
  await sleep(seconds * 1000);
  const relayCpu = (cpuSeconds(relay.pid) - cpu0) / seconds;
  const s = stats(added);
  added = null;
  console.log(`added by the relay, ${s.n} frames in ${seconds} s (${kbps} kbit/s, 30 fps): ` +
    `p50 ${f(s.p50)} ms  p95 ${f(s.p95)}  p99 ${f(s.p99)}  max ${f(s.max)}; ` +
    `${unmatched} frames lost on the way; ` +
    `relay process ${f(relayCpu * 100)} % of a core`);
  if (s.n < seconds * 25) console.log('FEWER FRAMES THAN EXPECTED: the relay lost frames');

  const fromStart = [], fromDirect = [];
  for (let i = 0; i < reconnects; i++) {
    camera.kill('SIGINT');
    await new Promise((r) => camera.on('exit', r));
    await sleep(2000);
    firsts.direct = firsts.relayed = null;
    before = new Set(recent);
    const started = performance.now();
    camera = startCamera();
    while (firsts.relayed === null || firsts.direct === null) {
      if (performance.now() - started > 20000) throw new Error('no frames through the relay');
      await sleep(5);
    }
    fromStart.push(firsts.relayed - started);
    fromDirect.push(firsts.relayed - firsts.direct);
  }
  if (reconnects) {
    const a = stats(fromStart), b = stats(fromDirect);
    console.log(`camera process restarted ${reconnects} times: first frame through the relay ` +
      `${f(a.p50)} ms (max ${f(a.max)}) after it was started, ` +
      `${f(b.p50)} ms (max ${f(b.max)}) after its first frame on its own port`);
  }
} finally {
  stopDirect();
  stopRelayed();
  camera.kill('SIGINT');
  relay.kill('SIGINT');
}
