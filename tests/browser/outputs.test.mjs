// Outputs that fail alone (launcher/output_part.h): camcast's rtmp and srt presets with their far
// ends away keep /video playing at the camera's pace, the camera's line never restarts,
// /api/streams says the output is down and why, and each output reaches its far end by itself
// once it is there — node-media-server for RTMP, ffprobe listening for SRT — which ffprobe reads
// back as the camera's H.264 (and /api/streams says it runs). relay-push with its relay away
// keeps trying by itself, the camera's line never restarting, and the relay plays it once it is
// there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import WebSocket from 'ws';
import { watched, camcastExe, freePort } from './lib.mjs';

const small = ['--set', 'width=320', '--set', 'height=240'];

// Watches `path` over WebSocket for `ms`: the fMP4 fragments (one a frame) that arrive, as frames
// a second, the fewest in any whole second, and the longest time between two.
function watchFrames(port, path, ms) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const times = [];
    let started = null;
    ws.on('message', (data, binary) => {
      if (!binary) return;
      const now = performance.now();
      for (let at = data.indexOf('moof'); at >= 0; at = data.indexOf('moof', at + 4)) {
        times.push(now);
        started ??= now;
      }
      if (started !== null && now - started >= ms) {
        ws.close();
        let gap = 0;
        for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i] - times[i - 1]);
        const perSecond = new Array(Math.floor(ms / 1000)).fill(0);
        for (const t of times) {
          const second = Math.floor((t - started) / 1000);
          if (second < perSecond.length) perSecond[second]++;
        }
        resolve({ fps: (times.length - 1) / ((times.at(-1) - times[0]) / 1000), gap,
                  fewest: Math.min(...perSecond) });
      }
    });
    ws.on('error', reject);
    setTimeout(() => reject(new Error(`${path}: ${times.length} frames, then nothing`)), ms + 10000);
  });
}

// What ffprobe finds at `url` (its video stream's codec and width), or its error.
function probe(url, timeoutMs) {
  return new Promise((resolve) => {
    execFile('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries',
                         'stream=codec_name,width', '-of', 'compact', url],
             { timeout: timeoutMs }, (error, stdout, stderr) => resolve(stdout + stderr));
  });
}

// The output `name` as /api/streams on `port` reports it.
async function outputState(port, name) {
  const status = await (await fetch(`http://127.0.0.1:${port}/api/streams`)).json();
  return status.outputs.find((o) => o.name === name);
}

// The preset with its far end away: /video plays on while the output fails and waits; then
// `farEnd(state)` brings the far end and resolves with what it received (`state()`: the output
// as /api/streams reports it).
async function failsAlone(preset, settings, farEnd) {
  const port = await freePort();
  const camcast = watched(camcastExe, [preset, '--port', String(port), '--no-auth', ...small,
                                       ...settings]);
  try {
    await camcast.waitFor(/open http/);
    await camcast.waitFor(new RegExp(`${preset}/${preset}: .*this output restarts in`));
    const seen = await watchFrames(port, '/video', 15000);
    console.log(`# ${preset} away: /video ${seen.fps.toFixed(1)} frames a second, ` +
                `${seen.fewest} in the slowest second, longest gap ${Math.round(seen.gap)} ms`);
    // 25 every second is what a viewer must get; a busy machine may make a second slower than
    // the camera, never a gap (a restart of the camera's line is seconds of nothing).
    assert.ok(seen.fps >= 25, `/video: ${seen.fps.toFixed(1)} frames a second`);
    assert.ok(seen.fewest >= 20, `/video: ${seen.fewest} frames in one second`);
    assert.ok(seen.gap < 1000, `/video stopped for ${Math.round(seen.gap)} ms`);
    const name = `${preset}/${preset}`;
    const away = await outputState(port, name);
    assert.equal(away?.state, 'down', JSON.stringify(away));
    assert.match(away.why, /error from/);
    const received = await farEnd(() => outputState(port, name));
    assert.match(received, /codec_name=h264\|width=320/);
    // The camera's own line never restarted (its log says "restarting in"; an output's "this
    // output restarts in").
    assert.doesNotMatch(camcast.output(), /restarting in/);
  } finally {
    await camcast.stop();
  }
}

test('rtmp: with the server away /video plays on, and the output publishes once it is there',
     async () => {
  const rtmpPort = await freePort();
  const url = `rtmp://127.0.0.1:${rtmpPort}/live/camcast`;
  await failsAlone('rtmp', ['--set', `rtmp-url=${url}`], async (state) => {
    const server = watched('node', [new URL('rtmp_server.mjs', import.meta.url).pathname,
                                    String(rtmpPort)]);
    try {
      // Within the output's back-off (doubling from 250 ms: 16 s by now, 30 s at most).
      await server.waitFor(/publishing \/live\/camcast/, 40000);
      const received = await probe(url, 15000);
      // Running: its data has reached rtmp2sink, and five seconds without a fault.
      let now;
      for (let i = 0; i < 50 && (now = await state())?.state !== 'running'; i++)
        await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(now?.state, 'running', JSON.stringify(now));
      return received;
    } finally {
      await server.stop();
    }
  });
});

test('srt: with the far end away /video plays on, and the output sends once it is there',
     async () => {
  const srtPort = await freePort();
  await failsAlone('srt', ['--set', `srt-url=srt://127.0.0.1:${srtPort}`],
                   () => probe(`srt://127.0.0.1:${srtPort}?mode=listener`, 45000));
});

test('relay-push: with the relay away the camera waits, and the relay plays it once it is there',
     async () => {
  const port = await freePort();
  const camera = watched(camcastExe, ['relay-push', '--no-auth', ...small, '--set',
                                      `relay-url=http://127.0.0.1:${port}/publish/s3cret`]);
  let relay;
  try {
    await camera.waitFor(/relay-push: not connected to the relay/);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    relay = watched(camcastExe, ['relay-serve', '--port', String(port), '--no-auth', '--set',
                                 'relay-secret=s3cret']);
    await relay.waitFor(/open http/);
    // Within relaysink's back-off (doubling from 250 ms; 4 s by now).
    await camera.waitFor(/relay-push: connected to the relay/, 20000);
    const seen = await watchFrames(port, '/video', 5000);
    console.log(`# relay-push, the relay back: its /video ${seen.fps.toFixed(1)} frames a second`);
    assert.ok(seen.fps >= 25, `the relay's /video: ${seen.fps.toFixed(1)} frames a second`);
    assert.doesNotMatch(camera.output(), /restarting in/);
  } finally {
    await camera.stop();
    await relay?.stop();
  }
});
