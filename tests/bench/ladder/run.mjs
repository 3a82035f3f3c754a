// Slow links: the camera behind a shaped link, a viewer in headless Chromium, glass-to-glass read
// off the screen (bench-latency-server's time code) — with the ladder (/video: 1280x720 at 2
// Mbit/s, 640x360 at 500 kbit/s, 320x180 at 150, as the presets make it) against the same top
// stream without one (/flat, how camcast served before ladders, and how go2rtc and MediaMTX
// serve: one rendition for everyone), in the same run; over WebRTC the same (/webrtc, a ladder;
// /webrtc-flat, the top alone). And a camera behind a narrow upload pushing to a relay (`camcast
// relay-serve` on this side of the link, its viewer here): `relay`, relaysink with the ladder;
// `relay-flat`, the top alone (each a camera of its own, one after the other).
//
//   node tests/bench/ladder/run.mjs --link 700kbit [--seconds 60]
//        [--only mse,flat,webrtc,webrtc-flat,relay,relay-flat]
//        [--steps 20:500kbit,40:4mbit] [--loss 20] [--rtt 40] [--pin N] [--latency S]
//        [--dump PREFIX]
//
// --link RATE: the link's rate both ways (tc tbf); --steps T:RATE,…: the rate changes T seconds
// after the viewer's first frame; --loss N: N per mille of the packets dropped each way at
// random; --rtt MS: the round trip made that much longer (half of it each way). Runs as root (a network namespace of its own); the page is over plain http at an
// address that is not loopback, so no WebCodecs, as on a LAN.
//
// For each, from 3 s after the first frame: p50/p95 glass-to-glass, frames shown a second, the
// share of the camera's frames never shown; how long after opening the page the first frame
// came, and after it how long until p95 over one second stayed under 300 ms, the time on each picture height, and around each step of the link: how
// long after it the one-second p95 was under 300 ms again (until the next step), and after a step
// up, how long until the picture was back at full size.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { launchBrowser } from '../../browser/lib.mjs';
import { option, stats } from '../lib.mjs';
import { measureScript, makeLink, removeLink, setLinkRate, netns } from '../latency/measure.mjs';

const seconds = Number(option('seconds', 60));
const link = option('link', '700kbit');
const only = option('only', 'mse,flat').split(',');
const loss = Number(option('loss', 0));
const rtt = Number(option('rtt', 0));
// --pin N: the viewer held on rung N (what the machine itself loses at that size, say);
// --latency S: the MSE player's target (?latency=S); --dump PREFIX: each case's frames as JSON.
const pin = option('pin', '');
const latency = option('latency', '');
const dump = option('dump', '');
const steps = option('steps', '').split(',').filter(Boolean).map((s) => {
  const [at, rate] = s.split(':');
  return { at: Number(at), rate };
});
const port = 18091;
const host = '10.99.0.2';
const fps = 30;

const relayPort = 18092;
const near = host.replace(/\.\d+$/, '.1');
const plugins = new URL('../../../build/plugins/camcast', import.meta.url).pathname;

async function startServer(mode = 'h264-ladder') {
  const exe = new URL('../../../build/tests/bench/bench-latency-server', import.meta.url).pathname;
  const argv = ['ip', 'netns', 'exec', netns, exe, String(port), '1280', '720', String(fps),
                '2000', '60', mode];
  const server = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_ADDRESS: '0.0.0.0', GST_PLUGIN_PATH: plugins,
           BENCH_RELAY: `http://${near}:${relayPort}/publish/s3cret`,
           GST_REGISTRY_1_0: '/tmp/camcast-bench-ladder.bin' } });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
    server.on('exit', (code) => reject(new Error(`bench-latency-server exited with ${code}`)));
  });
  return server;
}

// The p95 of each second of frames, from `from` (ms, page time) on: [second, p95] pairs.
function perSecond(frames, from) {
  const out = [];
  for (let s = 0; ; s++) {
    const inSecond = frames.filter((f) => f.at >= from + s * 1000 && f.at < from + (s + 1) * 1000);
    if (!inSecond.length && frames.every((f) => f.at < from + s * 1000)) break;
    out.push([s, inSecond.length ? stats(inSecond.map((f) => f.latency)).p95 : Infinity]);
  }
  return out;
}
// Seconds from `from` until the one-second p95 is under `bound` for good (of what was seen).
function settledAfter(frames, from, bound = 300) {
  const seconds = perSecond(frames, from);
  let last = -1;
  for (const [s, p95] of seconds) if (p95 > bound) last = s;
  return last + 1;
}

// The relay as users run it (`camcast relay-serve`), on this side of the link.
async function startRelay() {
  const exe = new URL('../../../build/launcher/camcast', import.meta.url).pathname;
  const relay = spawn(exe, ['relay-serve', '--no-auth', '--set', `address=${near}`, '--port',
                            String(relayPort), '--set', 'relay-secret=s3cret', '--set', 'rtsp=off'],
                      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env,
                                                                    GST_PLUGIN_PATH: plugins } });
  await new Promise((resolve, reject) => {
    relay.stdout.on('data', (d) => { if (String(d).includes('/video')) resolve(); });
    relay.on('exit', (code) => reject(new Error(`camcast relay-serve exited with ${code}`)));
  });
  return relay;
}

async function stop(child) {
  const gone = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGINT');
  await gone;
}

async function measure(browser, name) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const url = (name.startsWith('relay') ? `http://${near}:${relayPort}/video?backend=mse&stats=0`
    : name.startsWith('webrtc') ? `http://${host}:${port}/${name}?backend=webrtc&stats=0`
    : `http://${host}:${port}/${name === 'flat' ? 'flat' : 'video'}?backend=mse&stats=0`) +
    (pin ? `&rung=${pin}` : '') + (latency ? `&latency=${latency}` : '');
  await page.addInitScript(`${measureScript}
    const hook = setInterval(() => {
      if (!window.camcast) return;
      clearInterval(hook);
      window.camcast.onFrameShown = () => window.benchMeasure(window.camcast.view);
    }, 5);`);
  page.on('pageerror', (e) => console.log(`${name}: the page threw: ${e.message}`));
  setLinkRate(link);
  const opened = Date.now();
  await page.goto(url);
  try {
    await page.waitForFunction(() => window.bench && window.bench.latencies.length > 0,
                               null, { timeout: 30000 });
  } catch {
    await page.close();
    return { name, none: true };
  }
  const t0 = await page.evaluate(() => window.bench.shownAt[0]);
  for (const step of steps)
    setTimeout(() => setLinkRate(step.rate), Math.max(0, t0 + step.at * 1000 - Date.now()));
  await page.waitForTimeout(seconds * 1000);
  const b = await page.evaluate(() => window.bench);
  await page.close();
  const frames = b.latencies.map((latency, i) => ({ latency, at: b.shownAt[i],
                                                    height: b.heights[i] }));
  if (dump) writeFileSync(`${dump}-${name}.json`, JSON.stringify(frames));
  const steady = frames.filter((f) => f.at >= t0 + 3000);
  if (steady.length < 2) return { name, none: true, shown: frames.length };
  const span = (steady[steady.length - 1].at - steady[0].at) / 1000;
  const heights = {};
  for (let i = 1; i < frames.length; i++)
    heights[frames[i].height] = (heights[frames[i].height] || 0) + frames[i].at - frames[i - 1].at;
  const around = steps.map((step, i) => {
    const at = t0 + step.at * 1000;
    // Until the next step: how the link as it was after this one treated the viewer.
    const until = i + 1 < steps.length ? t0 + steps[i + 1].at * 1000 : Infinity;
    const full = frames.find((f) => f.at >= at && f.height === 720 &&
      frames.filter((g) => g.at >= f.at && g.at < f.at + 3000).every((g) => g.height === 720));
    return { ...step, settled: settledAfter(frames.filter((f) => f.at < until), at),
             top: full ? ((full.at - at) / 1000).toFixed(1) : '-' };
  });
  if (process.argv.includes('--verbose'))
    for (const [second, p95] of perSecond(frames, t0)) {
      const those = frames.filter((f) => f.at >= t0 + second * 1000 && f.at < t0 + second * 1000 + 1000);
      console.log(`  ${name} ${second} s: ${those.length} frames, p95 ${p95} ms, ` +
                  `${[...new Set(those.map((f) => f.height))].join('/')}p`);
    }
  return { name, ...stats(steady.map((f) => f.latency)),
           fps: steady.length / ((steady[steady.length - 1].at - steady[0].at) / 1000),
           unshown: Math.max(0, 1 - steady.length / (span * fps)), settled: settledAfter(frames, t0),
           first: (t0 - opened) / 1000,
           heights, around, bad: b.bad };
}

removeLink();  // one a run that was killed left
makeLink(link, host, { lossPermille: loss, delayMs: rtt / 2 });
const server = only.some((n) => !n.startsWith('relay')) ? await startServer() : null;
const browser = await launchBrowser();
try {
  for (const name of only) {
    // A relay's camera pushes all the time: each its own, alone on the link while measured.
    const relayed = name.startsWith('relay')
      ? [await startRelay(), await startServer(name === 'relay' ? 'relay-ladder' : 'relay-flat')]
      : [];
    const r = await measure(browser, name);
    for (const child of relayed.reverse()) await stop(child);
    if (r.none) {
      console.log(`${r.name.padEnd(6)} ` + (r.shown ? `${r.shown} frames shown, none after 3 s`
                                                 : 'no frame shown in 30 s'));
      continue;
    }
    const time = Object.entries(r.heights).map(([h, ms]) => `${h}p ${(ms / 1000).toFixed(0)} s`);
    console.log(`${r.name.padEnd(6)} p50 ${r.p50} ms  p95 ${r.p95}  p99 ${r.p99}  ` +
      `fps ${r.fps.toFixed(1)}  never shown ${(r.unshown * 100).toFixed(1)} %  ` +
      `first frame ${r.first.toFixed(1)} s after opening, p95 < 300 ms for good ${r.settled} s ` +
      `after it  on screen: ${time.join(', ')}` +
      (r.bad ? `  unreadable ${r.bad}` : ''));
    for (const a of r.around)
      console.log(`       at ${a.at} s to ${a.rate}: p95 < 300 ms again after ${a.settled} s, ` +
                  `full size after ${a.top} s`);
  }
} finally {
  await browser.close();
  if (server) await stop(server);
  removeLink();
}
console.log(`through a veth link shaped to ${link} both ways` +
            (loss ? `, ${loss / 10} % of packets lost each way` : '') +
            (rtt ? `, ${rtt} ms added to the round trip` : '') +
            (steps.length ? `, then ${steps.map((s) => `${s.rate} at ${s.at} s`).join(', ')}` : ''));
process.exit(0);
