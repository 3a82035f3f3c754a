// whepsink in headless Chromium: camcast's player plays /webrtc over WHEP (frames advance, the
// colours are the test pattern's), and the session ends on the server when the page goes; an
// independent WHEP player (npm @eyevinn/webrtc-player, on a page of another origin) plays it too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import esbuild from 'esbuild';
import { startPipeline, sharedBrowser, testH264, expectPlaying, expectTestPattern, servePage,
         expectVideoAdvances } from './lib.mjs';

const encode = testH264;
const chrome = sharedBrowser();

async function streams(port) {
  return JSON.parse(await (await fetch(`http://127.0.0.1:${port}/api/streams`)).text());
}

test('camcast\'s player plays /webrtc over WHEP', async () => {
  const pipe = await startPipeline(`${encode} whepsink port=0`);
  try {
    await playsAndLeaves(pipe);
  } finally {
    pipe.stop();
  }
});

async function playsAndLeaves(pipe) {
  const page = await chrome.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/webrtc`);  // redirected to ?backend=webrtc
    const stats = await expectPlaying(page, errors, 'webrtc');
    console.log(`# webrtc: ${stats.latencyMs?.toFixed(0)} ms (stats API), ${stats.fps} fps`);
    // What the server counts of the viewer is what the browser received: the browser's count lies
    // between the server's just before and the server's 600 ms after it (/api/streams shows a
    // viewer's counts as of the server's last tick, a quarter second), within 10 %.
    const counted = async () => {
      const during = (await streams(pipe.port)).streams.find((s) => s.path === '/webrtc');
      assert.equal(during.clients.length, 1, JSON.stringify(during));
      assert.equal(during.clients[0].peer, null);  // an open server tells nobody who watches
      return during.clients[0];
    };
    const before = await counted();
    const received = await page.evaluate(async () => {
      const stats = await window.camcast.webrtc.pc.getStats();
      for (const s of stats.values())
        if (s.type === 'inbound-rtp' && s.kind === 'video')
          return { bytes: s.bytesReceived, frames: s.framesReceived };
      return null;
    });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const after = await counted();
    console.log(`# the server counted ${before.bytes_sent}, then ${after.bytes_sent} bytes ` +
                `(as on the wire), ${before.frames_sent}, then ${after.frames_sent} frames, a ` +
                `${after.rtt_ms} ms round trip; the browser received ${received.bytes} bytes ` +
                `(payload), ${received.frames} frames`);
    assert.ok(received.bytes >= 0.9 * before.bytes_sent &&
              received.bytes <= 1.1 * after.bytes_sent);
    assert.ok(received.frames >= 0.9 * before.frames_sent &&
              received.frames <= 1.1 * after.frames_sent);
  } finally {
    await page.close();
  }
  // The page's DELETE (or the connection's end) frees the session.
  const deadline = Date.now() + 10000;
  let left;
  do {
    await new Promise((resolve) => setTimeout(resolve, 200));
    left = (await streams(pipe.port)).streams.find((s) => s.path === '/webrtc').clients.length;
  } while (left > 0 && Date.now() < deadline);
  assert.equal(left, 0, 'the session outlived its page');
}

// Eyevinn's player as a page would load it: bundled for the browser (it is published for
// bundlers), served from a web server of its own, so every WHEP request is cross-origin (CORS).
function eyevinnPage(endpoint) {
  const require = createRequire(import.meta.url);
  const bundle = esbuild.buildSync({
    entryPoints: [require.resolve('@eyevinn/webrtc-player')], bundle: true, format: 'iife',
    globalName: 'eyevinn', platform: 'browser', write: false, logLevel: 'error',
  }).outputFiles[0].text;
  return `<!doctype html><body style="margin:0">
    <video id="v" class="camcast-view" autoplay muted playsinline></video>
    <script>${bundle}</script>
    <script>
      const player = new eyevinn.WebRTCPlayer({ video: document.getElementById('v'), type: 'whep' });
      player.load(new URL('${endpoint}'));
    </script></body>`;
}

test('an independent WHEP player (@eyevinn/webrtc-player) plays /webrtc from another origin', async () => {
  const pipe = await startPipeline(`${encode} whepsink port=0`);
  const html = eyevinnPage(`http://127.0.0.1:${pipe.port}/webrtc`);
  const pageServer = await servePage(html);
  const page = await chrome.browser.newPage();
  try {
    await page.goto(pageServer.url);
    await expectVideoAdvances(page);
    await expectTestPattern(page, 320, 240);
    const viewers = (await streams(pipe.port)).streams.find((s) => s.path === '/webrtc').clients;
    assert.equal(viewers.length, 1);
  } finally {
    await page.close();
    pageServer.close();
    pipe.stop();
  }
});

test('a browser with neither WebCodecs nor MSE (an iPhone before iOS 17.1) plays by WebRTC', async () => {
  // Both sinks on one server: a port chosen here (port=0 would give each a server of its own).
  const port = await new Promise((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const pipe = await startPipeline(`${encode} tee name=t ! queue ! msesink port=${port} ` +
                                   `path=/cam t. ! queue ! whepsink port=${port} path=/webrtc`);
  const page = await chrome.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.addInitScript(() => {
      delete window.VideoDecoder;
      delete window.MediaSource;
      delete window.ManagedMediaSource;
    });
    await page.goto(`http://127.0.0.1:${pipe.port}/cam?whep=/webrtc`);
    await expectPlaying(page, errors, 'webrtc');
  } finally {
    await page.close();
    pipe.stop();
  }
});
