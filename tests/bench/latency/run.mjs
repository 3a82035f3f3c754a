// Glass-to-glass latency: the time each frame was made (written into the picture by
// bench-latency-server) against the time the browser shows it, read back from the shown pixels.
// Same machine, same clock, one page after the other in headless Chromium.
//
// --codec h264 (default): camcast's player with WebCodecs, with MSE and (--only webrtc) with
// WebRTC from whepsink, and the peer — the same H.264 as Annex-B into a jMuxer page, the Pi H264
// To Browser design.
// --codec mpeg1: jsmpegsink's pages fed by camcast's mpeg1enc (jsmpeg: MPEG-TS to JSMpeg; jsmp:
// the legacy jsmpg.js), and the peers — the same frames encoded by ffmpeg, as the seeds do, into
// the same sinks (ffmpeg-jsmpeg, ffmpeg-jsmp). --only jsmpeg-sound: JSMpeg with an MP2 tone in
// the MPEG-TS, sound on (JSMpeg then shows each picture by its sound's clock).
//
//   node tests/bench/latency/run.mjs [--codec h264|mpeg1] [--seconds 60] [--only a,b] [--soak]
//                                    [--compare PLUGIN_DIR] [--link RATE]
//                                    [--size 640x480] [--kbps 1000] [--grain] [--half]
// --grain: grain on the picture (one pixel in eight), so the encoder fills its bitrate as a
// camera's picture does (the moving gradient alone compresses to a tenth of it).
// --half (mpeg1): camcast's MPEG-1 encoded at half the size, as a lower rung would be.
// --soak: MSE for --seconds (default 600), comparing the first minute's p50 with the last's.
// --compare: after each of ours, the same with the camcast plugin (and so its player pages) in
// PLUGIN_DIR, e.g. an older commit's build/plugins/camcast: "old-mse" against "mse".
// --link RATE (root; e.g. 20mbit): the server runs in a network namespace of the bench's own,
// reached through a veth pair shaped to RATE both ways (tc tbf), at 10.99.0.2 — an address that
// is not loopback, so the page is not a secure context and has no WebCodecs, as on a LAN.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { launchBrowser } from '../../browser/lib.mjs';
import { option, stats } from '../lib.mjs';
import { measureScript, makeLink, removeLink } from './measure.mjs';

const args = process.argv.slice(2);
const soak = args.includes('--soak');
const latency = option('latency', '');  // the MSE target, seconds (default: the player's)
const seconds = Number(option('seconds', soak ? 600 : 60));
const codec = option('codec', 'h264');
const only = option('only', soak ? 'mse' : codec === 'mpeg1'
  ? 'jsmpeg,ffmpeg-jsmpeg,jsmp,ffmpeg-jsmp' : 'webcodecs,mse,jmuxer').split(',');
// The jsmpegsink paths bench-latency-server serves in mpeg1 mode.
const jsmpegPaths = { 'jsmpeg': '/ts', 'jsmp': '/jsmp', 'ffmpeg-jsmpeg': '/ffmpeg-ts',
                      'ffmpeg-jsmp': '/ffmpeg-jsmp', 'jsmpeg-sound': '/ts-sound' };
const compare = option('compare', '');
const link = option('link', '');
const size = option('size', '640x480');  // the picture, and its bitrate (kbit/s)
const kbps = option('kbps', '1000');
const port = 18090;
const host = link ? '10.99.0.2' : '127.0.0.1';
import { netns } from './measure.mjs';
const require = createRequire(import.meta.url);
const jmuxerJs = readFileSync(require.resolve('jmuxer/dist/jmuxer.min.js', {
  paths: [new URL('../../browser/', import.meta.url).pathname] }), 'utf8');

function jmuxerPage() {
  return `<!doctype html><body style="margin:0"><video id="v" autoplay muted playsinline></video>
    <script>${jmuxerJs}</script><script>${measureScript}
    const video = document.getElementById('v');
    const jmuxer = new JMuxer({ node: 'v', mode: 'video', flushingTime: 0, fps: 30 });
    const ws = new WebSocket('ws://${host}:${port}/h264');
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e) => jmuxer.feed({ video: new Uint8Array(e.data) });
    const onFrame = () => { window.benchMeasure(video); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
    </script></body>`;
}

async function measure(browser, name, pageServerPort) {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const url = name === 'jmuxer' ? `http://127.0.0.1:${pageServerPort}/`
    : name === 'jsmpeg-sound' ? `http://${host}:${port}/ts-sound`
    : jsmpegPaths[name] ? `http://${host}:${port}${jsmpegPaths[name]}?audio=0`
    : name === 'webrtc' ? `http://${host}:${port}/webrtc?backend=webrtc&stats=0`
    : `http://${host}:${port}/video?backend=${name}&stats=0${latency ? '&latency=' + latency : ''}`;
  if (name !== 'jmuxer') {
    await page.addInitScript(`${measureScript}
      const hook = setInterval(() => {
        if (!window.camcast) return;
        clearInterval(hook);
        const player = window.camcast;
        // camcast's player has a view; the JSMpeg pages pass the canvas they drew.
        player.onFrameShown = (canvas) => window.benchMeasure(player.view || canvas);
      }, 5);`);
  }
  page.on('pageerror', (e) => console.log(`${name}: the page threw: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.bench && window.bench.latencies.length > 0,
                             null, { timeout: 20000 });
  const join = await page.evaluate(() => window.bench.firstFrameAt);
  if (name === 'jsmpeg-sound') await page.click('.camcast-sound', { timeout: 10000 });  // sound on
  await page.waitForTimeout(5000);  // warm-up, then measure from a clean slate
  await page.evaluate(() => { window.bench.latencies = []; window.bench.shownAt = []; });
  const minutes = [];
  for (let left = seconds; left > 0; left -= 60) {
    await page.waitForTimeout(Math.min(left, 60) * 1000);
    minutes.push(await page.evaluate(() => {
      const out = { latencies: window.bench.latencies, shownAt: window.bench.shownAt };
      window.bench.latencies = [];
      window.bench.shownAt = [];
      return out;
    }));
  }
  const bad = await page.evaluate(() => window.bench.bad);
  await page.close();
  const all = minutes.flatMap((m) => m.latencies);
  const shown = minutes.flatMap((m) => m.shownAt);
  let stalls = 0;
  for (let i = 1; i < shown.length; i++) if (shown[i] - shown[i - 1] > 250) stalls++;
  return { name, join, ...stats(all), fps: all.length / seconds, stalls, bad,
           minuteP50: minutes.map((m) => stats(m.latencies).p50) };
}

// bench-latency-server with the camcast plugin of `pluginDir` (a registry of its own for each).
async function startServer(pluginDir, tag) {
  const exe = new URL('../../../build/tests/bench/bench-latency-server', import.meta.url).pathname;
  const argv = [exe, String(port), ...size.split('x'), '30', kbps, '60',
                codec + (args.includes('--half') ? '-half' : '') +
                (args.includes('--grain') ? '-grain' : '')];
  const inNetns = link ? ['ip', 'netns', 'exec', netns] : [];  // it execs the server: same pid
  const server = spawn([...inNetns, ...argv][0], [...inNetns, ...argv].slice(1), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, GST_PLUGIN_PATH: pluginDir,
           BENCH_ADDRESS: link ? '0.0.0.0' : '127.0.0.1',
           GST_REGISTRY_1_0: `/tmp/camcast-bench-latency-${tag}.bin` } });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
    server.on('exit', (code) => reject(new Error(`bench-latency-server exited with ${code}`)));
  });
  return server;
}
async function stopServer(server) {
  const gone = new Promise((resolve) => server.on('exit', resolve));
  server.kill('SIGINT');
  await gone;
}
const ourPlugin = new URL('../../../build/plugins/camcast', import.meta.url).pathname;
if (link) {
  removeLink();  // one a run that was killed left
  makeLink(link, host);
}
let server = await startServer(ourPlugin, 'ours');
const pageServer = http.createServer((req, res) => { res.setHeader('Content-Type', 'text/html');
                                                     res.end(jmuxerPage()); });
await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
const browser = await launchBrowser();
const results = [];
try {
  const report = (r) => console.log(`${r.name.padEnd(10)} p50 ${r.p50} ms  p95 ${r.p95}  ` +
    `p99 ${r.p99}  max ${r.max}  fps ${r.fps.toFixed(1)}  stalls ${r.stalls}  ` +
    `join ${Math.round(r.join)} ms  unreadable ${r.bad}  per-minute p50 ${r.minuteP50.join(' ')}`);
  for (const name of only) {
    const r = await measure(browser, name, pageServer.address().port);
    results.push(r);
    report(r);
    if (compare && name !== 'jmuxer' && !name.startsWith('ffmpeg')) {
      await stopServer(server);
      server = await startServer(compare, 'compare');
      const old = { ...(await measure(browser, name, pageServer.address().port)), name: `old-${name}` };
      results.push(old);
      report(old);
      await stopServer(server);
      server = await startServer(ourPlugin, 'ours');
    }
  }
} finally {
  await browser.close();
  pageServer.close();
  await stopServer(server);
  if (link) removeLink();
}
if (link) console.log(`through a veth link shaped to ${link} both ways, the server at ${host}`);
// Each of ours against its peer from the same run.
const peers = { webcodecs: 'jmuxer', mse: 'jmuxer', jsmpeg: 'ffmpeg-jsmpeg', jsmp: 'ffmpeg-jsmp' };
for (const r of results) {
  const peer = results.find((p) => p.name === peers[r.name]);
  if (peer) console.log(`${r.name}: p50 ${(peer.p50 / r.p50).toFixed(2)}x lower than ${peer.name}`);
  const old = results.find((p) => p.name === `old-${r.name}`);
  if (old) console.log(`${r.name}: p50 / old p50 = ${(r.p50 / old.p50).toFixed(2)}, ` +
                       `p99 / old p99 = ${(r.p99 / old.p99).toFixed(2)}`);
}
process.exit(0);
