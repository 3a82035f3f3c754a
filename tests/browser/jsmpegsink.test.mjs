// The pages jsmpegsink serves decode camcast's own MPEG-1 in headless Chromium: JSMpeg (from
// npm, compiled into the plugin) in mpegts mode, with and without MP2 audio, and the legacy
// jsmpg.js in jsmp mode. A viewer joining mid-GOP never sees a broken picture.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, launchBrowser, waitInPage } from './lib.mjs';

const video = 'videotestsrc is-live=true pattern=smpte ! ' +
  'video/x-raw,width=320,height=240,framerate=30/1 ! mpeg1enc bitrate=800';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// Runs in the page before anything else: checks the SMPTE bars in every frame the player
// draws, so a single broken picture (decoding from a P-picture without its I-picture, a torn
// message) is caught, not just the last one.
function watchFrames() {
  // The SMPTE bars: grey, yellow, cyan, green, magenta, red, blue (1 = channel lit). Players
  // differ in levels, so a lit channel is > 140 and a dark one < 80.
  const bars = [[1, 1, 1], [1, 1, 0], [0, 1, 1], [0, 1, 0], [1, 0, 1], [1, 0, 0], [0, 0, 1]];
  const scratch = document.createElement('canvas');
  scratch.width = 320;
  scratch.height = 240;
  const ctx = scratch.getContext('2d', { willReadFrequently: true });
  window.frameLog = { shown: 0, bad: [], firstAtMs: null, lastAtMs: [] };
  const check = (canvas) => {
    ctx.drawImage(canvas, 0, 0, 320, 240);
    const now = performance.now();
    if (window.frameLog.shown++ === 0) window.frameLog.firstAtMs = now;
    window.frameLog.lastAtMs = [...window.frameLog.lastAtMs.slice(-19), now];
    bars.forEach((want, i) => {
      const x = Math.round((i + 0.5) * 320 / 7);
      for (const y of [20, 80, 140]) {
        const got = Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
        if (got.some((v, c) => (want[c] ? v <= 140 : v >= 80))) {
          window.frameLog.bad.push({ frame: window.frameLog.shown, x, y, want, got });
          return;
        }
      }
    });
  };
  const hook = setInterval(() => {
    if (!window.camcast) return;
    window.camcast.onFrameShown = check;
    clearInterval(hook);
  }, 1);
}

async function watch(pipe, path, { frames = 60, delayMs = 0 } = {}) {
  if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(watchFrames);
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}${path}`);
    await waitInPage(page, () => window.frameLog && window.frameLog.shown >= 10);
    const first = await page.evaluate(() => window.frameLog.shown);
    // Live pictures keep coming after the first ones (a joiner may get a GOP's burst first).
    await waitInPage(page, (n) => window.frameLog.shown >= n, Math.max(frames, first + 10));
    const log = await page.evaluate(() => ({ ...window.frameLog, size: [
      window.camcast.canvas.width, window.camcast.canvas.height] }));
    assert.deepEqual(errors, [], 'the page threw');
    assert.deepEqual(log.bad.slice(0, 5), [], 'frames that are not the test pattern');
    assert.deepEqual(log.size, [320, 240]);
    // It keeps updating with every picture, not only the keyframes: the last 20 pictures came
    // less than 500 ms apart on average. A stream that showed keyframes only (one a second at
    // the default GOP, one in 10 s mid-GOP) fails this; 30 frames/s on a busy machine does not
    // (its software decoder falls to ~4 a second with four busy loops on two cores; the pace
    // itself is measured in tests/bench, not here).
    const recent = log.lastAtMs;
    const interval = (recent[recent.length - 1] - recent[0]) / (recent.length - 1);
    assert.ok(interval < 500, `pictures ${interval.toFixed(1)} ms apart on average`);
    // The viewer starts at the newest keyframe already queued, not at the next one to come
    // (with a 10 s GOP that is at least 7.5 s away; the bound leaves room for a busy machine).
    assert.ok(log.firstAtMs < 5000, `first picture after ${Math.round(log.firstAtMs)} ms`);
    return log;
  } finally {
    await page.close();
  }
}

test('mpegts mode: JSMpeg shows the test pattern and keeps updating', async () => {
  const pipe = await startPipeline(`${video} ! mpegtsmux ! jsmpegsink port=0`);
  try {
    await watch(pipe, '/jsmpeg');
  } finally {
    pipe.stop();
  }
});

// 15 frames a second, a rate MPEG-1 has no code for (a common Pi camera setting): mpeg1enc takes
// it, and JSMpeg shows every picture, the test pattern, at the camera's pace.
test('mpegts mode: a 15 frames/s camera plays', async () => {
  const pipe = await startPipeline('videotestsrc is-live=true pattern=smpte ! ' +
    'video/x-raw,width=320,height=240,framerate=15/1 ! mpeg1enc bitrate=800 ! mpegtsmux ! ' +
    'jsmpegsink port=0');
  try {
    const log = await watch(pipe, '/jsmpeg', { frames: 70 });  // past the joiner's burst
    const recent = log.lastAtMs;
    const interval = (recent[recent.length - 1] - recent[0]) / (recent.length - 1);
    console.log(`# 15 frames/s: pictures ${interval.toFixed(1)} ms apart on average`);
  } finally {
    pipe.stop();
  }
});

test('mpegts mode: video plays with MP2 audio muxed in', async () => {
  const pipe = await startPipeline(`${video} ! mpegtsmux name=mux ! jsmpegsink port=0 ` +
    'audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=44100,channels=1 ! ' +
    'avenc_mp2 bitrate=64000 ! mux.');
  try {
    await watch(pipe, '/jsmpeg?audio=0');
  } finally {
    pipe.stop();
  }
});

test('jsmp mode: the legacy jsmpg.js shows the test pattern and keeps updating', async () => {
  const pipe = await startPipeline(`${video} ! jsmpegsink mode=jsmp port=0 path=/legacy`);
  try {
    await watch(pipe, '/legacy');
  } finally {
    pipe.stop();
  }
});

test('a viewer joining mid-GOP never sees a broken picture, in either mode', async () => {
  // A 10-second GOP and no keyframe on join: the viewer arrives between keyframes.
  const gop = 'key-int-max=300';
  const ts = await startPipeline(`${video} ${gop} ! mpegtsmux ! ` +
    'jsmpegsink port=0 keyframe-on-join=false');
  const legacy = await startPipeline(`${video} ${gop} ! ` +
    'jsmpegsink mode=jsmp port=0 path=/legacy keyframe-on-join=false');
  try {
    await Promise.all([
      watch(ts, '/jsmpeg', { frames: 40, delayMs: 1500 }),
      watch(legacy, '/legacy', { frames: 40, delayMs: 2500 }),
    ]);
  } finally {
    ts.stop();
    legacy.stop();
  }
});
