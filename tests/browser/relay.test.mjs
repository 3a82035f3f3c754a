// A relay with two camcast processes on loopback: the public host (relay-serve) and a camera
// behind NAT that pushes to it (relay-push). Chromium watches the relay's player; the camera is
// stopped and started again, and the same page plays on without a reload.
// And the peer's relay: a camera (jsmpeg-push) pushing to JSMpeg's websocket-relay.js itself
// (from npm), watched with the JSMpeg player as its README does.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { camcastExe, freePort, launchBrowser, waitInPage, watched } from './lib.mjs';

const config = mkdtempSync(join(tmpdir(), 'camcast-relay-'));
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  await browser?.close();
  rmSync(config, { recursive: true, force: true });
});

const camcast = (args) => watched(camcastExe, args, { XDG_CONFIG_HOME: config });

test('a camera pushed through the relay plays, and plays on after the camera restarts',
  async () => {
    const relay = camcast(['relay-serve', '--port', '0', '--set', 'relay-secret=s3cret']);
    let camera;
    const page = await browser.newPage();
    try {
      const [, port, token] = await relay.waitFor(
        /open http:\/\/127\.0\.0\.1:(\d+)\/video\?token=(\S+)/);
      const push = ['relay-push', '--no-auth', '--set', 'width=320', '--set', 'height=240',
                    '--set', `relay-url=http://127.0.0.1:${port}/publish/s3cret`];
      camera = camcast(push);
      await camera.waitFor(/: connected to the relay/);
      await page.goto(`http://127.0.0.1:${port}/video?token=${token}&backend=webcodecs`);
      await page.evaluate(() => { window.sameDocument = true; });
      await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);

      // The camera goes away (the relay says so) and comes back.
      const gone = relay.mark();
      assert.equal(await camera.stop(), 0);
      await gone(/the camera at 127\.0\.0\.1 stopped/);
      const shown = await page.evaluate(() => window.camcast.stats.framesShown);
      const back = Date.now();
      camera = camcast(push);
      await waitInPage(page, (n) => window.camcast.stats.framesShown >= n + 10, shown, 20000);
      console.log(`the page showed 10 new frames ${Date.now() - back} ms after the camera ` +
                  'process was started again');
      assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload');
    } finally {
      await page.close();
      await camera?.stop();
      await relay.stop();
    }
  });

// JSMpeg's relay, websocket-relay.js itself: the copy the npm package jsmpeg-player (3.0.3)
// publishes of the JSMpeg project's script. It is the project's script but for one later line
// (upstream 924acfb also sets `streamServer.headersTimeout = 0`, which only matters on Node
// versions that ended long uploads at the headers timeout; Node 20 does not). It logs what it
// does, listens on the ports it is given, and answers a wrong secret with an empty 200 and
// relays the stream anyway. With REQUEST_TIMEOUT_MS, a preload shortens Node's requestTimeout.
const relayScript = new URL('node_modules/jsmpeg-player/ws/websocket-relay.js', import.meta.url)
  .pathname;

async function jsmpegRelay(env = {}) {
  const streamPort = await freePort(), wsPort = await freePort();
  const preload = env.REQUEST_TIMEOUT_MS
    ? ['-r', new URL('short-request-timeout.cjs', import.meta.url).pathname] : [];
  const relay = watched(process.execPath, [...preload, relayScript, 's3cret', String(streamPort),
                                           String(wsPort)], env);
  await relay.waitFor(/Awaiting WebSocket connections/);
  return { relay, streamPort, wsPort };
}
const jsmpegJs = readFileSync(new URL(
  '../../web/node_modules/@cycjimmy/jsmpeg-player/dist/jsmpeg-player.umd.min.js',
  import.meta.url), 'utf8');

test('relaysink pushes MPEG-1 to JSMpeg\'s websocket-relay.js, and JSMpeg plays it', async () => {
  const { relay, streamPort, wsPort } = await jsmpegRelay();
  // Pages must come from a loopback server for Chromium to let them open loopback WebSockets.
  const pages = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<!doctype html><body><canvas id="c"></canvas><script>${jsmpegJs}</script><script>
      window.decoded = 0;
      new JSMpeg.Player('ws://127.0.0.1:${wsPort}/', { canvas: document.getElementById('c'),
        onVideoDecode: () => { window.decoded++; } });
    </script></body>`);
  });
  await new Promise((resolve) => pages.listen(0, '127.0.0.1', resolve));
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const push = (secret) => camcast(['jsmpeg-push', '--set', 'width=320', '--set', 'height=240',
    '--set', `relay-url=http://127.0.0.1:${streamPort}/${secret}`]);
  let camera;
  try {
    camera = push('s3cret');
    await camera.waitFor(/: connected to the relay/);
    await relay.waitFor(/Stream Connected/);
    await page.goto(`http://127.0.0.1:${pages.address().port}/`);
    await waitInPage(page, () => window.decoded >= 30);
    const size = await page.evaluate(() => [document.getElementById('c').width,
                                            document.getElementById('c').height]);
    assert.deepEqual(size, [320, 240]);
    const decoded = await page.evaluate(() => window.decoded);
    await waitInPage(page, (n) => window.decoded >= n + 30, decoded);
    assert.deepEqual(errors, []);
    await camera.stop();
    camera = null;

    // A wrong secret: that relay answers an empty 200 at once (and relays anyway); the camera
    // says what the answer means and tries again.
    const wrong = push('guess');
    try {
      const [line] = await wrong.waitFor(/not connected to the relay: .*/);
      assert.match(line, /200 OK.*wrong secret/);
      await relay.waitFor(/Failed Stream Connection: .* - wrong secret/);
    } finally {
      await wrong.stop();
    }
  } finally {
    await page.close();
    await camera?.stop();
    await relay.stop();
    pages.close();
  }
});

test('Node ends the push after requestTimeout (408): relaysink says so and is back at once',
  async () => {
    const { relay, streamPort } = await jsmpegRelay({ REQUEST_TIMEOUT_MS: '2000' });
    const camera = camcast(['jsmpeg-push', '--set', 'width=160', '--set', 'height=120',
      '--set', `relay-url=http://127.0.0.1:${streamPort}/s3cret`]);
    try {
      await camera.waitFor(/: connected to the relay/);
      const next = camera.mark();
      const [line] = await next(/not connected to the relay: .*/, 10000);
      assert.match(line, /408.*5 minutes/);
      const cut = Date.now();
      await next(/: connected to the relay/, 5000);
      console.log(`pushing again ${Date.now() - cut} ms after the relay's 408`);
    } finally {
      await camera.stop();
      await relay.stop();
    }
  });

test('a JSMpeg camera (ffmpeg\'s MPEG-1 push) plays through camcast jsmpeg-relay, and a camcast ' +
     'camera after it on the same page', async () => {
  const relay = camcast(['jsmpeg-relay', '--port', '0', '--set', 'relay-secret=s3cret']);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(() => {
    window.shown = 0;
    const hook = setInterval(() => {
      if (!window.camcast) return;
      window.camcast.onFrameShown = () => { window.shown++; };
      clearInterval(hook);
    }, 1);
  });
  let ffmpeg, camera;
  try {
    const [, port, token] = await relay.waitFor(
      /open http:\/\/127\.0\.0\.1:(\d+)\/jsmpeg\?token=(\S+)/);
    const publish = `http://127.0.0.1:${port}/publish/s3cret`;
    // JSMpeg's README command, a test source for the webcam and this relay's URL for its own.
    ffmpeg = watched('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi',
      '-i', 'testsrc=size=320x240:rate=30', '-t', '6', '-f', 'mpegts', '-codec:v', 'mpeg1video',
      '-s', '320x240', '-b:v', '800k', '-bf', '0', publish]);
    await relay.waitFor(/a camera is publishing/);
    await page.goto(`http://127.0.0.1:${port}/jsmpeg?token=${token}`);
    await waitInPage(page, () => window.shown >= 30);
    await page.evaluate(() => { window.sameDocument = true; });

    assert.equal(await ffmpeg.exited, 0);  // its 6 s are over: the camera goes away
    ffmpeg = null;
    await relay.waitFor(/the camera at 127\.0\.0\.1 stopped/);
    const shown = await page.evaluate(() => window.shown);
    camera = camcast(['jsmpeg-push', '--set', 'width=320', '--set', 'height=240',
                      '--set', `relay-url=${publish}`]);
    await waitInPage(page, (n) => window.shown >= n + 30, shown, 20000);
    assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload');
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await ffmpeg?.stop();
    await camera?.stop();
    await relay.stop();
  }
});

test('an MPEG-1 camera pushed to relay-serve (H.264) is told to use jsmpeg-relay', async () => {
  const relay = camcast(['relay-serve', '--port', '0', '--set', 'relay-secret=s3cret']);
  let ffmpeg;
  try {
    const [, port] = await relay.waitFor(/open http:\/\/127\.0\.0\.1:(\d+)\/video/);
    ffmpeg = watched('ffmpeg', ['-hide_banner', '-loglevel', 'quiet', '-re', '-f', 'lavfi',
      '-i', 'testsrc=size=320x240:rate=30', '-t', '5', '-f', 'mpegts', '-codec:v', 'mpeg1video',
      '-bf', '0', `http://127.0.0.1:${port}/publish/s3cret`]);
    await relay.waitFor(/codec this pipeline cannot take \(relay-serve takes H\.264, jsmpeg-relay/);
  } finally {
    await ffmpeg?.stop();
    await relay.stop();
  }
});

test('relay-push reaches an HTTPS relay-serve whose certificate it is given (relay-ca-file)',
  async () => {
    const cert = join(config, 'relay.crt'), key = join(config, 'relay.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
      'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' });
    const relay = camcast(['relay-serve', '--port', '0', '--tls-certificate', cert,
                           '--tls-key', key, '--set', 'relay-secret=s3cret']);
    let camera;
    try {
      const [, port, token] =
        await relay.waitFor(/open https:\/\/127\.0\.0\.1:(\d+)\/video\?token=([\w-]+)/);
      camera = camcast(['relay-push', '--set', 'width=320', '--set', 'height=240',
        '--set', `relay-url=https://127.0.0.1:${port}/publish/s3cret`,
        '--set', `relay-ca-file=${cert}`]);
      await camera.waitFor(/: connected to the relay/);
      await relay.waitFor(/a camera is publishing from 127\.0\.0\.1/);
      // And the pushed stream reaches a viewer of the relay over WSS: 30 fMP4 fragments.
      const fragments = await new Promise((resolve, reject) => {
        const viewer = new WebSocket(`wss://127.0.0.1:${port}/video?token=${token}`,
          { ca: readFileSync(cert) });
        let got = 0;
        const timer = setTimeout(() => { viewer.terminate(); reject(new Error(`${got} frames`)); },
          20000);
        viewer.on('message', (data, binary) => {
          // After the description and the init segment: moof boxes (prft first), one a frame.
          if (binary && data.includes('moof') && ++got === 30) {
            clearTimeout(timer);
            viewer.close();
            resolve(got);
          }
        });
        viewer.on('error', reject);
      });
      assert.equal(fragments, 30);
    } finally {
      await camera?.stop();
      await relay.stop();
    }
  });
