// whepsink in headless Chromium: camcast's player plays /webrtc over WHEP (frames advance, the
// colours are the test pattern's), and the session ends on the server when the page goes.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, launchBrowser, expectPlaying } from './lib.mjs';

const encode = 'videotestsrc is-live=true pattern=smpte ! ' +
  'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
  'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 ! h264parse !';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

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
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/webrtc`);  // redirected to ?backend=webrtc
    const stats = await expectPlaying(page, errors, 'webrtc');
    console.log(`# webrtc: ${stats.latencyMs?.toFixed(0)} ms (stats API), ${stats.fps} fps`);
    const during = (await streams(pipe.port)).streams.find((s) => s.path === '/webrtc');
    assert.equal(during.clients.length, 1, JSON.stringify(during));
    assert.equal(during.clients[0].peer, 'webrtc');
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
