// A ladder in headless Chromium: msesink with a lower rung (rung_1) plays either rung, a pinned
// rung holds, and a move between rungs — in MSE and in WebCodecs — plays on without waiting for
// the next GOP (3 s here), the server's /api/streams saying the viewer's rung; behind a link narrower than
// the top (the link lab of tests/bench), a viewer moves down by itself and plays on; and on a
// link that loses packets a player that chose MSE moves to WebRTC by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, sharedBrowser, waitInPage, expectPlaying } from './lib.mjs';
import { makeLink, removeLink, setLinkLoss } from '../bench/latency/measure.mjs';

const chrome = sharedBrowser();

// 640x360 on top, 320x180 below, one camera, two encodes.
const ladder = 'videotestsrc is-live=true pattern=smpte ! ' +
  'video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! tee name=t ' +
  't. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=90 bitrate=1000 ! ' +
  'h264parse ! msesink name=v port=0 path=/cam ' +
  't. ! queue ! videoscale ! video/x-raw,width=320,height=180 ! ' +
  'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=90 bitrate=200 ! h264parse ! ' +
  'v.rung_1';

async function rungOnServer(port) {
  const streams = JSON.parse(await (await fetch(`http://127.0.0.1:${port}/api/streams`)).text());
  return streams.streams.find((s) => s.path === '/cam').clients.map((c) => c.rung);
}

// Pins `rung` from the page and waits until the picture has its height; returns the longest
// time between two frames shown from the moment of asking, and how long the move took.
async function moveTo(page, rung, height, frames = 30) {
  await page.evaluate(([r, h]) => {
    window.askedAt = performance.now();
    window.movedAt = null;
    window.frameTimes = [];
    window.camcast.onFrameShown = () => {
      window.frameTimes.push(performance.now());
      if (window.movedAt === null && window.camcast.stats.height === h) window.movedAt = performance.now();
    };
    window.camcast.ladder.pinned = r;
    window.camcast.ladder.send();
  }, [rung, height]);
  await waitInPage(page, ([h, n]) => window.camcast.stats.height === h &&
    window.frameTimes.length > n, [height, frames]);
  return page.evaluate(() => {
    const t = window.frameTimes;
    let gap = 0;
    for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i] - t[i - 1]);
    return { gap, took: window.movedAt - window.askedAt };
  });
}

for (const backend of ['mse', 'webcodecs']) {
  test(`${backend}: a pinned rung holds, and moves between rungs play on`, async () => {
    const pipe = await startPipeline(ladder);
    const page = await chrome.browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`http://127.0.0.1:${pipe.port}/cam?backend=${backend}&rung=1`);
      await expectPlaying(page, errors, backend);
      await waitInPage(page, () => window.camcast.stats.height === 180);
      assert.deepEqual(await rungOnServer(pipe.port), [1]);
      // The picker lists the ladder.
      assert.deepEqual(await page.$$eval('select.camcast-rung option', (o) => o.map((x) => x.text)),
                       ['Auto', '360p', '180p']);
      for (const [rung, height] of [[0, 360], [1, 180], [0, 360]]) {
        const { gap, took } = await moveTo(page, rung, height);
        console.log(`# ${backend}: to rung ${rung} in ${took.toFixed(0)} ms, the longest wait ` +
                    `between frames ${gap.toFixed(0)} ms`);
        // Some 50 ms on a quiet machine (printed above); a busy one can hold a frame back a few
        // hundred ms. What the move must not do is wait for a GOP to pass.
        assert.ok(gap <= 1000, `a stall of ${gap.toFixed(0)} ms moving to rung ${rung}`);
        // At the keyframe the move asks for, even right after the last move's (the GOP is 3 s).
        assert.ok(took <= 2000, `the move to rung ${rung} took ${took.toFixed(0)} ms`);
        assert.deepEqual(await rungOnServer(pipe.port), [rung]);
      }
      // Moves in quick succession: the keyframe for the last one is asked for within half a
      // second of the first's, more often than an encoder is asked; it comes a little later,
      // not a GOP later.
      await moveTo(page, 1, 180, 1);
      await moveTo(page, 0, 360, 1);
      const { took } = await moveTo(page, 1, 180, 1);
      console.log(`# ${backend}: back to rung 1 at once, in ${took.toFixed(0)} ms`);
      assert.ok(took <= 2000, `the quick move to rung 1 took ${took.toFixed(0)} ms`);
      const stats = await page.evaluate(() => window.camcast.stats);
      // Six moves: the page started on the rung it asked for (?rung=1), not on the top.
      assert.equal(stats.rungMoves, 6);
      assert.deepEqual(stats.errors, []);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      pipe.stop();
    }
  });
}

// The test's link lab (the camera at 10.98.0.2 behind `rate`), or null with the test skipped
// where no network namespace can be made.
function linkOrSkip(t, rate, options = {}) {
  if (process.getuid() !== 0) {
    t.skip('a network namespace needs root');
    return null;
  }
  const lab = 'camcast-ltest';
  removeLink(lab);
  try {
    makeLink(rate, '10.98.0.2', { name: lab, ...options });
  } catch (e) {
    removeLink(lab);
    t.skip(`no network namespace can be made here: ${e.message}`);
    return null;
  }
  return lab;
}

// The camera behind a 500 kbit/s link (a network namespace of the test's own, tc tbf both ways):
// a top of 1 Mbit/s cannot pass, a rung of 250 kbit/s can. Snow, so the encoders fill their
// bitrates. The viewer — over MSE, then over WebRTC — is on the rung within 15 s of joining (over
// MSE from its first frame) and plays on there (the bench, tests/bench/ladder, measures how
// well; this, that it happens, even on a busy machine).
test('behind a narrow link a viewer moves down by itself and plays on', async (t) => {
  const lab = linkOrSkip(t, '500kbit');
  if (!lab) return;
  const snow = 'videotestsrc is-live=true pattern=snow ! ' +
    'video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! tee name=t ' +
    't. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=1000 ! ' +
    'h264parse ! tee name=top ' +
    // (one port for both: the namespace is the test's own, every port in it free)
    'top. ! queue ! msesink name=v address=0.0.0.0 port=8080 path=/cam ' +
    'top. ! queue ! whepsink name=w address=0.0.0.0 port=8080 path=/rtc ' +
    't. ! queue leaky=downstream max-size-buffers=2 ! videoscale ! ' +
    'video/x-raw,width=320,height=180 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=250 ! h264parse ! ' +
    'tee name=r1 r1. ! queue ! v.rung_1 r1. ! queue ! w.rung_1';
  const pipe = await startPipeline(snow, { netns: lab });
  try {
    // Over MSE (TCP: the lag and the link's measure) and over WebRTC (RTP: the receiver
    // reports' loss), one after the other on the same link.
    for (const [path, backend] of [['cam', 'mse'], ['rtc', 'webrtc']]) {
      const page = await chrome.browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      try {
        // What the page and the server saw, for a failure on a machine that is not this one.
        const explain = async (e) => {
          const seen = await page.evaluate(() => JSON.stringify({
            stats: window.camcast?.stats,
            loaded: performance.getEntriesByType('resource').map(
              (r) => `${r.name.replace(/^.*\//, '')} ${Math.round(r.duration)} ms`),
          }));
          const server = await (await fetch(`http://10.98.0.2:${pipe.port}/api/streams`)).text();
          throw new Error(`${e.message}\npage: ${seen}\nserver: ${server}`);
        };
        // The page and its modules first: over this link, whose queue holds two packets, a lost
        // SYN or request costs seconds of TCP's back-off (a CI run once took over 15 s). The
        // move itself is what is timed.
        await page.goto(`http://10.98.0.2:${pipe.port}/${path}?backend=${backend}`);
        await waitInPage(page, () => window.camcast, null, 45000).catch(explain);
        await waitInPage(page, () => window.camcast.stats.height === 180, null, 15000)
          .catch(explain);
        const before = await page.evaluate(() => window.camcast.stats.framesShown);
        await new Promise((resolve) => setTimeout(resolve, 5000));
        const stats = await page.evaluate(() => window.camcast.stats);
        const fps = (stats.framesShown - before) / 5;
        console.log(`# ${backend} on the rung: ${fps} frames a second shown, ` +
                    `${stats.latencyMs} ms behind`);
        assert.equal(stats.height, 180);
        if (backend === 'mse') {
          // It started there: the probe of its link, sent before anything else, said so — no
          // top keyframe first (its server-side record of moves is empty).
          const api = await (await fetch(`http://10.98.0.2:${pipe.port}/api/streams`)).json();
          const viewer = api.streams.find((s) => s.path === '/cam').clients[0];
          assert.deepEqual([viewer.rung, viewer.rung_changes], [1, 0]);
        }
        assert.ok(fps >= 15, `${backend}: ${fps} frames a second`);
        assert.ok(stats.latencyMs < 1000, `${backend}: ${stats.latencyMs} ms behind`);
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    }
  } finally {
    pipe.stop();
    removeLink(lab);
  }
});

// The camera behind a 20 Mbit/s link: clean for 12 s (more than the server's 10 s window), the
// page stays on MSE; then 3 % of the packets lost each way: TCP resends, the server says so,
// and the page (which chose its backend by itself) moves to the WHEP endpoint msesink names
// (whep-path) and plays there — or, where nothing but the web's port passes (no UDP, no
// ICE-TCP: WebRTC cannot connect), comes back to MSE and plays on.
async function onALossyLink(t, webrtcPasses) {
  const lab = linkOrSkip(t, '20mbit', { routed: true });
  if (!lab) return;
  const camera = 'videotestsrc is-live=true pattern=snow ! ' +
    'video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=1000 ! ' +
    'h264parse ! tee name=top ' +
    'top. ! queue ! msesink address=0.0.0.0 port=8080 path=/cam whep-path=/rtc ' +
    'top. ! queue ! whepsink address=0.0.0.0 port=8080 path=/rtc';
  const pipe = await startPipeline(camera, { netns: lab });
  const page = await chrome.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://10.98.0.2:${pipe.port}/cam`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown > 0);
    await new Promise((resolve) => setTimeout(resolve, 12000));
    assert.equal(await page.evaluate(() => window.camcast.stats.backend), 'mse');
    setLinkLoss(30, lab, webrtcPasses ? {} : { onlyPort: pipe.port });
    const lossAt = Date.now();
    await waitInPage(page, () => window.camcast.stats.backend === 'webrtc', null, 30000);
    const why = await page.evaluate(() => window.camcast.stats.backendWhy);
    console.log(`# moved to WebRTC ${(Date.now() - lossAt) / 1000} s after the loss began: ${why}`);
    assert.match(why, /lossy link/);
    if (!webrtcPasses) {
      await waitInPage(page, () => window.camcast.stats.backend === 'mse', null, 20000);
      assert.equal(await page.evaluate(() => window.camcast.stats.backendWhy),
                   'WebRTC showed nothing');
    }
    const before = await page.evaluate(() => window.camcast.stats.framesShown);
    await waitInPage(page, (n) => window.camcast.stats.framesShown >= n + 30, before, 15000);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    pipe.stop();
    removeLink(lab);
  }
}

test('on a link that loses packets the player moves to WebRTC by itself', async (t) => {
  await onALossyLink(t, true);
});

test('where WebRTC cannot pass, a player that moved there comes back to MSE', async (t) => {
  await onALossyLink(t, false);
});
