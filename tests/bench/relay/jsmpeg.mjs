// An MPEG-1 camera's relay, side by side with the peer's: one camera (mpeg1enc ! mpegtsmux)
// serves its MPEG-TS directly (jsmpegsink at /direct) and pushes the same bytes with two
// relaysinks — to camcast's jsmpeg-relay preset and to JSMpeg's websocket-relay.js itself (the
// copy npm's jsmpeg-player publishes, installed in tests/browser). One client reads all three
// and pairs each frame (the TS packet that starts its PES) by its bytes, so each relay's figure
// is what it adds over the direct path.
//
//   node tests/bench/relay/jsmpeg.mjs [--seconds 60] [--kbps 1000]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { cpuSeconds, option, stats } from '../lib.mjs';

const seconds = Number(option('seconds', 60)), kbps = Number(option('kbps', 1000));
const cameraPort = 18091, camcastPort = 18092, peerStreamPort = 18093, peerWsPort = 18094;
const browserDir = new URL('../../browser/', import.meta.url).pathname;
const WebSocket = createRequire(browserDir)('ws');
const env = { ...process.env,
              GST_PLUGIN_PATH: new URL('../../../build/plugins/camcast', import.meta.url).pathname };

const relays = {
  camcast: spawn(new URL('../../../build/launcher/camcast', import.meta.url).pathname,
    ['jsmpeg-relay', '--no-auth', '--set', 'address=127.0.0.1', '--port', String(camcastPort),
     '--set', 'relay-secret=s3cret'], { stdio: ['ignore', 'ignore', 'inherit'], env }),
  peer: spawn(process.execPath, [`${browserDir}node_modules/jsmpeg-player/ws/websocket-relay.js`,
    's3cret', String(peerStreamPort), String(peerWsPort)], { stdio: 'ignore' }),
};
await new Promise((r) => setTimeout(r, 1500));
const camera = spawn('gst-launch-1.0', ['-q', ...(
  'videotestsrc is-live=true pattern=smpte ! ' +
  'video/x-raw,width=640,height=480,framerate=30/1 ! timeoverlay font-desc=Sans,24 ! ' +
  `mpeg1enc bitrate=${kbps} ! mpegtsmux latency=0 ! tee name=t ` +
  `t. ! queue ! jsmpegsink address=127.0.0.1 port=${cameraPort} path=/direct ` +
  `t. ! queue ! relaysink location=http://127.0.0.1:${camcastPort}/publish/s3cret ` +
  `t. ! queue ! relaysink location=http://127.0.0.1:${peerStreamPort}/s3cret`).split(' ')],
  { stdio: 'inherit', env });

// Each path's byte stream cut into packets; a packet that starts a video PES is a frame.
const paths = ['direct', 'camcast', 'peer'];
const seen = Object.fromEntries(paths.map((p) => [p, new Map()]));  // key -> arrival ms
const added = { camcast: [], peer: [] };
let measuring = false;
function onPacket(path, packet, ms) {
  const pusi = packet[1] & 0x40, afc = (packet[3] >> 4) & 3;
  const at = afc & 2 ? 5 + packet[4] : 4;
  if (!pusi || !(afc & 1) || packet[at + 3] !== 0xe0) return;  // not the start of a video PES
  const key = createHash('sha1').update(packet).digest('hex');
  seen[path].set(key, ms);
  if (seen[path].size > 900) seen[path].delete(seen[path].keys().next().value);
  for (const relay of ['camcast', 'peer']) {
    const d = seen.direct.get(key), r = seen[relay].get(key);
    if (measuring && d !== undefined && r !== undefined && (path === 'direct' || path === relay))
      added[relay].push(r - d);
  }
}
function watch(port, path, name) {
  let pending = Buffer.alloc(0);
  const open = () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
    ws.on('message', (data) => {
      const ms = performance.now();
      pending = Buffer.concat([pending, data]);
      let pos = 0;
      while (pos < pending.length && pending[pos] !== 0x47) pos++;  // a relay may cut anywhere
      for (; pos + 188 <= pending.length; pos += 188) onPacket(name, pending.subarray(pos, pos + 188), ms);
      pending = pending.subarray(pos);
    });
    ws.on('error', () => {});
    ws.on('close', () => { if (!stopped) setTimeout(open, 10); });
  };
  open();
}
let stopped = false;
watch(cameraPort, '/direct', 'direct');
watch(camcastPort, '/jsmpeg', 'camcast');
watch(peerWsPort, '/', 'peer');

try {
  await new Promise((r) => setTimeout(r, 5000));
  measuring = true;
  const cpu0 = Object.fromEntries(Object.entries(relays).map(([k, p]) => [k, cpuSeconds(p.pid)]));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  for (const relay of ['camcast', 'peer']) {
    const s = stats(added[relay]);
    const cpu = (cpuSeconds(relays[relay].pid) - cpu0[relay]) / seconds * 100;
    const name = relay === 'camcast' ? 'camcast jsmpeg-relay' : 'JSMpeg websocket-relay.js';
    console.log(`${name.padEnd(26)} added over direct, ${s.n} frames: p50 ${s.p50.toFixed(1)} ms ` +
      `p95 ${s.p95.toFixed(1)} p99 ${s.p99.toFixed(1)} max ${s.max.toFixed(1)}; ` +
      `relay process ${cpu.toFixed(1)} % of a core`);
  }
} finally {
  stopped = true;
  camera.kill('SIGINT');
  for (const p of Object.values(relays)) p.kill('SIGINT');
  setTimeout(() => process.exit(0), 500);
}
