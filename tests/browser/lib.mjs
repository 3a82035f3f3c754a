// Shared by the browser tests: a real pipeline in a gst-launch-1.0 process, and Debian's
// Chromium driven by playwright-core. Everything is bounded in time and stops by itself.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

// Starts gst-launch-1.0 with `pipeline` (its serving sink with port=0) and resolves with the
// port it listens on, read from the current-port notification that -v prints. `netns`: in that
// network namespace (ip netns exec execs it: the same process).
export function startPipeline(pipeline, { netns = null } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'gst-launch-1.0', '-v',
                  ...pipeline.split(/\s+/)];
    const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`pipeline did not start:\n${output}`));
    }, 15000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/current-port = (\d+)/);
      if (m && Number(m[1]) > 0) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => proc.kill('SIGINT'), output: () => output });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gst-launch-1.0 exited (${code}):\n${output}`));
    });
  });
}

// The launcher this build made.
export const camcastExe = new URL('../../build/launcher/camcast', import.meta.url).pathname;

// A process of the test's; waitFor resolves with the match once its output shows `pattern`.
export function watched(exe, args, env = {}) {
  const proc = spawn(exe, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  const waiters = [];
  const onData = (chunk) => {
    output += chunk;
    for (const w of [...waiters]) {
      const m = output.slice(w.from).match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    waitFor(pattern, timeoutMs = 15000) { return this.waitFromMark(pattern, 0, timeoutMs); },
    // Only output that comes after this call.
    mark() { const at = output.length; return (pattern, t) => this.waitFromMark(pattern, at, t); },
    waitFromMark(pattern, from, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve, from };
        w.timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
        waiters.push(w);
        onData('');
      });
    },
    output: () => output,
    async stop() { proc.kill('SIGTERM'); return exited; },
    exited,  // the exit code once it has ended by itself
  };
}

// A TCP port free on loopback now.
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// soundServer: a PulseAudio server's address for the browser's sound to play into (otherwise
// it is muted, as playwright has it).
export async function launchBrowser({ soundServer } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
    ...(soundServer ? { env: { ...process.env, PULSE_SERVER: soundServer },
                        ignoreDefaultArgs: ['--mute-audio'] } : {}),
  });
}

// Polls fn in the page until it returns a truthy value or the time is up.
export async function waitInPage(page, fn, arg, timeoutMs = 15000) {
  await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
}

// Asserts that the player's view shows the SMPTE test pattern (videotestsrc's default), scaled
// to width x height: not a blank or garbage surface. Its first bar is light grey, the second
// yellow.
export async function expectTestPattern(page, width, height) {
  const colours = await page.evaluate(([w, h]) => {
    const view = document.querySelector('.camcast-view');
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const ctx = c.getContext('2d');
    ctx.drawImage(view, 0, 0, w, h);
    const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
    return { grey: at(Math.round(w / 16), h / 4), yellow: at(Math.round(w / 5), h / 4) };
  }, [width, height]);
  const [r, g, b] = colours.yellow;
  if (!(r > 150 && g > 150 && b < 80)) throw new Error(`yellow bar is ${colours.yellow}`);
  if (!colours.grey.every((v) => v > 150)) throw new Error(`grey bar is ${colours.grey}`);
}

// Asserts that camcast's player on `page` plays with `backend`: 30 frames shown, about 30 more
// a second after, no errors from the player or the page (`pageErrors`), the test pattern at
// 320x240 on screen, a latency measured. Returns the player's stats.
export async function expectPlaying(page, pageErrors, backend) {
  await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 30);
  const first = await page.evaluate(() => ({ ...window.camcast.stats }));
  await page.waitForTimeout(1000);
  const later = await page.evaluate(() => ({ ...window.camcast.stats }));
  assert.equal(first.backend, backend);
  assert.deepEqual(later.errors, [], 'the player reported errors');
  assert.deepEqual(pageErrors, [], 'the page threw');
  assert.ok(later.framesShown - first.framesShown >= 15,
            `frames advanced ${first.framesShown} → ${later.framesShown}`);
  assert.equal(later.width, 320);
  assert.ok(later.latencyMs !== null && later.latencyMs < 1000, `latency ${later.latencyMs}`);
  await expectTestPattern(page, 320, 240);
  return later;
}

// A web server on loopback that serves `html` for every request, as a third-party page would
// come from a server of its own (another origin). Resolves with it; close() when done.
export async function servePage(html) {
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.url = `http://127.0.0.1:${server.address().port}/`;
  return server;
}

// Asserts that the <video id="v"> of a third-party player page shows 320x240 and plays on.
export async function expectVideoAdvances(page) {
  try {
    await waitInPage(page, () => {
      const v = document.getElementById('v');
      return v.videoWidth === 320 && v.currentTime > 0.5;
    });
  } catch (e) {
    // What the element was doing: says whether nothing came, nothing decoded, or it stalled.
    const state = await page.evaluate(() => {
      const v = document.getElementById('v');
      const ranges = [];
      for (let i = 0; i < v.buffered.length; i++)
        ranges.push(`${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`);
      return `${v.videoWidth}x${v.videoHeight}, currentTime ${v.currentTime}, readyState ` +
        `${v.readyState}, networkState ${v.networkState}, paused ${v.paused}, buffered ` +
        `[${ranges.join(' ')}], error ${v.error ? v.error.message || v.error.code : 'none'}`;
    });
    throw new Error(`the video did not play: ${state} (${e.message})`);
  }
  const t0 = await page.evaluate(() => document.getElementById('v').currentTime);
  await page.waitForTimeout(1000);
  const t1 = await page.evaluate(() => document.getElementById('v').currentTime);
  assert.ok(t1 - t0 > 0.5, `video time advances (${t0} → ${t1})`);
}

// The H.264 the player tests stream: the SMPTE test pattern at 320x240, 30 frames a second, a
// 2 s GOP, ready for a sink (a gst-launch-1.0 description up to its last `!`).
export const testH264 = 'videotestsrc is-live=true pattern=smpte ! ' +
  'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
  'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse !';

// One Chromium for a test file's tests: launched before them, closed after. Use `.browser`.
export function sharedBrowser() {
  const shared = { browser: null };
  before(async () => { shared.browser = await launchBrowser(); });
  after(async () => { await shared.browser?.close(); });
  return shared;
}
