// recordsink's page in headless Chromium: the recordings of a live test pattern listed by hour,
// a segment played, a seek into its middle, and at its end the next segment playing on; a viewer
// with a stream token sees the page but its delete is refused. Screenshots at desktop and phone
// size go to build/screenshots (to look at the page).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPipeline, sharedBrowser, waitInPage } from './lib.mjs';

const chrome = sharedBrowser();
const shots = new URL('../../build/screenshots/', import.meta.url).pathname;

// A live test pattern recorded in segments of two seconds into a fresh folder.
async function recording(extra = '') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camcast-recordings-'));
  const pipe = await startPipeline(
    'videotestsrc is-live=true pattern=smpte ! ' +
    'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! h264parse ! ' +
    `recordsink port=0 segment-seconds=2 location=${dir} ${extra}`);
  return { pipe, dir, stop: () => { pipe.stop(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

// Waits until /api/recordings lists `n` segments whose writing is done.
async function finished(port, n, query = '') {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const list = await (await fetch(`http://127.0.0.1:${port}/api/recordings${query}`)).json();
    const done = list.recordings.filter((s) => !s.writing);
    if (done.length >= n) return done;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`fewer than ${n} finished segments after 20 s`);
}

test('a recording plays, seeks into its middle and goes on into the next segment', async () => {
  const rec = await recording();
  const page = await chrome.browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    const done = await finished(rec.pipe.port, 3);
    await page.goto(`http://127.0.0.1:${rec.pipe.port}/recordings`);
    await waitInPage(page, () => window.recordings && window.recordings.segments.length >= 3);
    // The list of the hour shows each segment; the first of them plays.
    const first = await page.evaluate(() => window.recordings.segments.findIndex(
      (s) => document.querySelector(`#list li[data-index="${window.recordings.segments.indexOf(s)}"]`)));
    assert.ok(first >= 0, 'the list shows the segments of the hour');
    await page.click(`#list li[data-index="${first}"] .time`);
    await waitInPage(page, () => document.getElementById('video').currentTime > 0.3);
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: `${shots}recordings-desktop.png` });
    // Into the middle: 1.2 s into a 2 s segment, and it plays on from there.
    await page.evaluate(() => { document.getElementById('video').currentTime = 1.2; });
    await waitInPage(page, () => !document.getElementById('video').seeking &&
                     document.getElementById('video').currentTime >= 1.2);
    const at = await page.evaluate(() => document.getElementById('video').currentTime);
    assert.ok(at >= 1.2 && at < 2.2, `after the seek the video is at ${at} s`);
    // Its end: the next segment (by time) follows, from its start, and plays.
    await waitInPage(page, (i) => window.recordings.playing === i + 1, first, 10000);
    await waitInPage(page, () => document.getElementById('video').currentTime > 0.3 &&
                     !document.getElementById('video').paused, null, 10000);
    const src = await page.evaluate(() => document.getElementById('video').currentSrc);
    const next = await page.evaluate((i) => window.recordings.segments[i + 1].url, first);
    assert.ok(src.endsWith(next), `the next segment plays (${src})`);
    const shown = await page.evaluate(() => {
      const v = document.getElementById('video');
      return [v.videoWidth, v.videoHeight];
    });
    assert.deepEqual(shown, [320, 240]);
    assert.ok(done.length >= 3);
    assert.deepEqual(errors, []);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${shots}recordings-phone.png`, fullPage: true });
  } finally {
    await page.close();
    rec.stop();
  }
});

test('a stream token plays recordings but cannot delete them', async () => {
  const rec = await recording('access-token=SECRET');
  const page = await chrome.browser.newPage();
  try {
    const done = await finished(rec.pipe.port, 1, '?token=SECRET');
    const minted = await (await fetch(
      `http://127.0.0.1:${rec.pipe.port}/api/token?path=/recordings&token=SECRET`)).json();
    await page.goto(`http://127.0.0.1:${rec.pipe.port}/recordings?token=${minted.token}`);
    // The page lists them with the stream token (its list is inside the token's path).
    await waitInPage(page, () => window.recordings && window.recordings.segments.length > 0);
    const answer = await page.evaluate(async ([url, token]) => {
      const r = await fetch(`${url}?token=${token}`, { method: 'DELETE' });
      return r.status;
    }, [done[0].url, minted.token]);
    assert.equal(answer, 403);
    assert.ok(fs.existsSync(path.join(rec.dir, done[0].name)));
  } finally {
    await page.close();
    rec.stop();
  }
});
