// The pictures mjpegsink serves show in headless Chromium: MJPEG through a plain <img> (as
// dashboards embed it), and the pull page through camcast's player, with latency shown.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, launchBrowser, waitInPage } from './lib.mjs';

// The SMPTE bars are the colour check; the frame counter (pull) or the moving ball (MJPEG) the
// "keeps updating".
const jpeg = (pattern) => `videotestsrc is-live=true pattern=${pattern} ! ` +
  'video/x-raw,width=320,height=240,framerate=15/1 ! jpegenc !';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// The colour at (x, y) of whatever an element shows, drawn to a canvas (same origin).
const colourAt = ({ selector, x, y }) => {
  const el = document.querySelector(selector);
  const c = document.createElement('canvas');
  c.width = 320;
  c.height = 240;
  const ctx = c.getContext('2d');
  ctx.drawImage(el, 0, 0, 320, 240);
  return Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
};

test('MJPEG plays in a plain <img> and keeps changing', async () => {
  const pipe = await startPipeline(`${jpeg('ball')} mjpegsink port=0 path=/cam`);
  const page = await browser.newPage();
  try {
    // Any page of the same server, so the picture can be read back from a canvas.
    await page.goto(`http://127.0.0.1:${pipe.port}/`);
    await page.evaluate(() => {
      const img = document.createElement('img');
      img.id = 'mjpeg';
      img.src = '/cam/stream.mjpg';
      document.body.appendChild(img);
    });
    await waitInPage(page, () => document.getElementById('mjpeg').naturalWidth === 320);
    // The ball moves: sample the picture until it has changed a few times.
    const changes = await page.evaluate(async () => {
      const img = document.getElementById('mjpeg');
      const c = document.createElement('canvas');
      c.width = 320;
      c.height = 240;
      const ctx = c.getContext('2d');
      let last = null;
      let n = 0;
      for (let i = 0; i < 40 && n < 5; i++) {
        ctx.drawImage(img, 0, 0);
        const sum = ctx.getImageData(0, 0, 320, 240).data.reduce((a, v, j) => a + v * (j % 7), 0);
        if (last !== null && sum !== last) n++;
        last = sum;
        await new Promise((r) => setTimeout(r, 100));
      }
      return n;
    });
    assert.ok(changes >= 5, `the <img> changed ${changes} times in 4 s`);
  } finally {
    await page.close();
    pipe.stop();
  }
});

test('the pull page shows the newest pictures, with latency', async () => {
  const pipe = await startPipeline(`${jpeg('smpte')} mjpegsink port=0 path=/cam`);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/cam`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
    const first = await page.evaluate(() => ({ ...window.camcast.stats }));
    await page.waitForTimeout(1000);
    const later = await page.evaluate(() => ({ ...window.camcast.stats }));
    assert.deepEqual(errors, [], 'the page threw');
    assert.deepEqual(later.errors, [], 'the player reported errors');
    assert.equal(later.backend, 'jpeg');
    assert.ok(later.framesShown - first.framesShown >= 10,
              `frames advanced ${first.framesShown} → ${later.framesShown} in 1 s (15 fps)`);
    assert.ok(later.latencyMs !== null && later.latencyMs < 500, `latency ${later.latencyMs}`);
    // The SMPTE bars: light grey, then yellow.
    const grey = await page.evaluate(colourAt, { selector: '.camcast-view', x: 20, y: 60 });
    const yellow = await page.evaluate(colourAt, { selector: '.camcast-view', x: 65, y: 60 });
    assert.ok(grey.every((v) => v > 150), `grey bar is ${grey}`);
    assert.ok(yellow[0] > 150 && yellow[1] > 150 && yellow[2] < 80, `yellow bar is ${yellow}`);
  } finally {
    await page.close();
    pipe.stop();
  }
});
