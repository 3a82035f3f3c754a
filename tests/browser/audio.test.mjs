// Sound in the players: a test tone from audiotestsrc, Opus in msesink's fMP4, played by
// Chromium through WebCodecs (AudioDecoder, AudioWorklet) or MSE after a click on the sound
// button, is found at its frequency by the page's AnalyserNode; with pictures for 30 s (an
// underrun at most now and then), and alone. MP2 in jsmpegsink's MPEG-TS the same way through JSMpeg, and the
// default preset's test tone in both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPipeline, sharedBrowser, testH264, waitInPage, expectPlaying, watched, camcastExe,
         freePort } from './lib.mjs';

const chrome = sharedBrowser();

// A live test tone at `freq` Hz into msesink `s`'s audio pad, as a microphone would come.
const tone = (freq) => `audiotestsrc is-live=true wave=sine freq=${freq} volume=0.5 ! ` +
  'audio/x-raw,rate=48000,channels=1 ! opusenc frame-size=20 ! s.audio';

// The strongest frequency the player's AnalyserNode hears now, in Hz, and its level in dB.
async function loudestFrequency(page) {
  return page.evaluate(() => {
    const analyser = window.camcast.analyser;
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return { hz: best * analyser.context.sampleRate / analyser.fftSize, db: bins[best] };
  });
}

// Clicks the sound button, as a viewer must before a browser plays sound.
async function unmute(page) {
  await page.click('.camcast-sound');
  await waitInPage(page, () => window.camcast.analyser && !window.camcast.stats.muted);
}

// Waits until the tone is heard: the loudest frequency within two bins of `freq` and well above
// silence. Up to 15 s: on a quiet machine it is there within a second; beside a CI run's other
// stages the default preset's sound (its encoders waking for the first viewer) once stayed
// silent past 6 s.
async function expectTone(page, freq) {
  let heard = null;
  for (let i = 0; i < 75; i++) {
    await page.waitForTimeout(200);
    heard = await loudestFrequency(page);
    if (Math.abs(heard.hz - freq) < 50 && heard.db > -60) break;
  }
  console.log(`# loudest ${heard.hz.toFixed(0)} Hz at ${heard.db.toFixed(0)} dB (tone ${freq} Hz)`);
  assert.ok(Math.abs(heard.hz - freq) < 50, `loudest frequency ${heard.hz} Hz, tone ${freq} Hz`);
  assert.ok(heard.db > -60, `tone at ${heard.db} dB`);
}

// With pictures: the tone heard, the overlay's level, audio frames arriving for 30 s with at
// most an underrun now and then and the pictures going on; sound off again on a second click.
async function tonePlaysWithPictures(backend) {
  const pipe = await startPipeline(`${testH264} msesink name=s port=0 path=/cam ${tone(1000)}`);
  const page = await chrome.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/cam${backend ? `?backend=${backend}` : ''}`);
    await expectPlaying(page, errors, backend || 'webcodecs');
    const before = await page.evaluate(() => ({ ...window.camcast.stats }));
    assert.equal(before.audioCodec, 'opus');
    assert.equal(before.muted, true);  // as browsers require until the viewer asks
    await unmute(page);
    await expectTone(page, 1000);
    // The first seconds of sound: the decoder and the audio thread warm up, and the queue learns
    // the jitter (an underrun then raises it once, web/audio-worklet.js). From there on, few.
    await page.waitForTimeout(2000);
    const start = await page.evaluate(() => ({ ...window.camcast.stats }));
    console.log(`# ${backend || 'webcodecs'}: ${start.stalls} underruns while warming up, queue ` +
                `${start.audioQueueMs ?? '(MSE)'} ms`);
    for (let second = 5; second <= 30; second += 5) {
      await page.waitForTimeout(5000);
      const now = await page.evaluate(() => ({ ...window.camcast.stats }));
      // 50 Opus frames a second arrive, and the picture keeps coming.
      assert.ok(now.audioFrames - start.audioFrames >= 45 * second,
                `${now.audioFrames - start.audioFrames} audio frames in ${second} s`);
      assert.ok(now.framesShown - start.framesShown >= 25 * second,
                `${now.framesShown - start.framesShown} frames in ${second} s: ${JSON.stringify(now)}`);
      // Each underrun raises the queue (web/audio-worklet.js): a working queue has few even on a
      // busy machine (CI saw one in 30 s while other tests ran), one that never learns has one
      // every second or two. (None on a quiet machine: tests/bench/avsync measures it.)
      assert.ok(now.stalls - start.stalls <= second / 5,
                `${now.stalls - start.stalls} underruns in ${second} s: ${JSON.stringify(now)}`);
    }
    await expectTone(page, 1000);
    const stats = await page.evaluate(() => ({ ...window.camcast.stats }));
    console.log(`# ${stats.backend}, 30 s: ${stats.audioFrames} audio frames, ${stats.stalls} ` +
                `underruns, level ${stats.audioLevelDb} dB, sound ${stats.audioLatencyMs} ms and ` +
                `pictures ${Math.round(stats.latencyMs)} ms glass-to-glass, ` +
                `${stats.audioDroppedMs} ms of sound dropped`);
    // The overlay's level: a sine at half scale is about -9 dB (RMS of 0.5 / sqrt 2).
    assert.ok(stats.audioLevelDb > -20 && stats.audioLevelDb < 0, `level ${stats.audioLevelDb}`);
    assert.ok(stats.audioLatencyMs > 0 && stats.audioLatencyMs < 500,
              `sound latency ${stats.audioLatencyMs} ms`);
    assert.deepEqual(stats.errors, []);
    assert.deepEqual(errors, []);
    await page.click('.camcast-sound');  // and off again
    await waitInPage(page, () => window.camcast.stats.muted && window.camcast.analyser === null);
  } finally {
    await page.close();
    pipe.stop();
  }
}

test('a tone plays with the pictures through WebCodecs (the default) for 30 s', async () => {
  await tonePlaysWithPictures(null);
});

test('a tone plays with the pictures through MSE for 30 s', async () => {
  await tonePlaysWithPictures('mse');
});

test('sound alone plays, at its own frequency', async () => {
  const pipe = await startPipeline(`msesink name=s port=0 path=/radio ${tone(440)}`);
  const page = await chrome.browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/radio`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.audioFrames >= 50);
    const stats = await page.evaluate(() => ({ ...window.camcast.stats }));
    assert.equal(stats.backend, 'webcodecs');
    assert.equal(stats.width, undefined);
    await unmute(page);
    await expectTone(page, 440);
    assert.deepEqual((await page.evaluate(() => window.camcast.stats.errors)), []);
  } finally {
    await page.close();
    pipe.stop();
  }
});

// JSMpeg: muted until the sound button, then the tone heard through JSMpeg's own Web Audio
// output, the pictures still coming.
async function jsmpegPlaysTone(page, url, freq) {
  await page.goto(url);
  await waitInPage(page, () => window.camcast && window.camcast.stats.frames >= 10 &&
                               window.camcast.stats.audioFrames >= 10);
  assert.equal(await page.evaluate(() => window.camcast.stats.muted), true);
  await page.click('.camcast-sound');
  await waitInPage(page, () => window.camcast.analyser && !window.camcast.stats.muted);
  await expectTone(page, freq);
  const before = await page.evaluate(() => ({ ...window.camcast.stats }));
  await page.waitForTimeout(2000);
  const after = await page.evaluate(() => ({ ...window.camcast.stats }));
  assert.ok(after.frames - before.frames >= 40, `pictures ${before.frames} → ${after.frames}`);
  assert.ok(after.audioFrames - before.audioFrames >= 20,
            `MP2 frames ${before.audioFrames} → ${after.audioFrames}`);
}

test('JSMpeg plays MP2 sound after a tap', async () => {
  const pipe = await startPipeline('videotestsrc is-live=true ! ' +
    'video/x-raw,width=320,height=240,framerate=30/1 ! mpeg1enc ! mpegtsmux name=ts latency=0 ! ' +
    'jsmpegsink port=0 audiotestsrc is-live=true wave=sine freq=1000 volume=0.5 ! ' +
    'audio/x-raw,rate=44100,channels=1 ! avenc_mp2 bitrate=64000 ! ts.');
  const page = await chrome.browser.newPage();
  try {
    await jsmpegPlaysTone(page, `http://127.0.0.1:${pipe.port}/jsmpeg`, 1000);
  } finally {
    await page.close();
    pipe.stop();
  }
});

test('the default preset with audio=test: the tone at /video, /webrtc and /jsmpeg', async () => {
  const port = await freePort();
  const camcast = watched(camcastExe, ['--port', String(port), '--no-auth', '--set', 'audio=test',
                                       '--set', 'width=320', '--set', 'height=240']);
  const page = await chrome.browser.newPage();
  try {
    await camcast.waitFor(/open http:\/\/\S+\/video/);
    await page.goto(`http://127.0.0.1:${port}/video`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10 &&
                                 window.camcast.stats.audioCodec === 'opus');
    await unmute(page);
    await expectTone(page, 440);
    await page.goto(`http://127.0.0.1:${port}/webrtc`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10 &&
                                 window.camcast.stats.audioCodec === 'opus');
    await unmute(page);
    await expectTone(page, 440);
    await jsmpegPlaysTone(page, `http://127.0.0.1:${port}/jsmpeg`, 440);
  } finally {
    await page.close();
    await camcast.stop();
  }
});

test('WebRTC: the sound on the same session as the picture, heard after a tap', async () => {
  const pipe = await startPipeline(`${testH264} whepsink name=rtc port=0 path=/webrtc ` +
                                   tone(1000).replace('s.audio', 'rtc.audio'));
  const page = await chrome.browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/webrtc?backend=webrtc`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10 &&
                                 window.camcast.stats.audioCodec === 'opus');
    await unmute(page);
    await expectTone(page, 1000);
    assert.deepEqual(await page.evaluate(() => window.camcast.stats.errors), []);
  } finally {
    await page.close();
    pipe.stop();
  }
});
