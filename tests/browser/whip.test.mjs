// WHIP publishing against Debian's simple-whip-server and the Janus server behind it (the WHIP
// server does the signalling, Janus's VideoRoom takes the media). camcast's `whip` preset
// publishes the test pattern; Janus forwards what it receives as plain RTP to a UDP port of the
// test's, where the H.264 frames are counted; the local /video plays on in Chromium. The session
// ends with a DELETE; a wrong token is refused with the reason; the WHIP server restarts and
// camcast publishes again by itself.
//
// simple-whip-server comes from Debian's archive (apt-get download; .ci/run unpacks it into
// build/apt): its package depends on Debian's Node.js, which cannot be installed beside other
// builds of Node, so its code runs on the machine's Node with its dependencies from npm.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
         writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { camcastExe, expectPlaying, freePort, launchBrowser, watched } from './lib.mjs';

const serverDir = process.env.SIMPLE_WHIP_SERVER ||
  new URL('../../build/apt/simple-whip-server/usr/share/simple-whip-server', import.meta.url)
    .pathname;
const work = mkdtempSync(join(tmpdir(), 'camcast-whip-'));
let browser, whip, rtp;
const ports = {};
// Every process the test starts, stopped after it whatever happened.
const processes = [];
const start = (...args) => {
  const proc = watched(...args);
  processes.push(proc);
  return proc;
};
const token = 's3cret';

// Janus with only what the test uses: the WebSocket API on loopback and the VideoRoom plugin,
// whose room 1234 takes H.264. ICE only on loopback.
async function startJanus() {
  const libdir = readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'janus'))
    .find((d) => existsSync(join(d, 'plugins', 'libjanus_videoroom.so')));
  assert.ok(libdir, 'Janus is not installed (apt-get install janus)');
  const dir = join(work, 'janus');
  mkdirSync(dir);
  const only = (folder, keep) => readdirSync(join(libdir, folder))
    .filter((f) => f.endsWith('.so') && f !== keep).join(',');
  writeFileSync(join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${libdir}/plugins"
  transports_folder = "${libdir}/transports"
  events_folder = "${libdir}/events"
  loggers_folder = "${libdir}/loggers"
  debug_level = 4
}
nat: { ice_enforce_list = "lo" }
plugins: { disable = "${only('plugins', 'libjanus_videoroom.so')}" }
transports: { disable = "${only('transports', 'libjanus_websockets.so')}" }
events: { disable = "${only('events', '')}" }
loggers: { disable = "${only('loggers', '')}" }
`);
  writeFileSync(join(dir, 'janus.transport.websockets.jcfg'),
    `general: { ws = true ws_port = ${ports.janus} ws_interface = "lo" }\n`);
  writeFileSync(join(dir, 'janus.plugin.videoroom.jcfg'),
    'room-1234: { description = "camcast" publishers = 2 videocodec = "h264" }\n');
  const proc = start('janus', ['-F', dir, '-C', join(dir, 'janus.jcfg')]);
  await proc.waitFor(/Websockets server started/);
  return proc;
}

// simple-whip-server's own code with a configuration of the test's (its package links its
// configuration to /etc).
async function startWhipServer() {
  assert.ok(existsSync(join(serverDir, 'src', 'server.js')),
            `no simple-whip-server at ${serverDir} (.ci/run unpacks Debian's package there)`);
  const dir = join(work, 'whip', 'src');
  mkdirSync(dir, { recursive: true });
  for (const f of ['server.js', 'whip-janus.js'])
    copyFileSync(join(serverDir, 'src', f), join(dir, f));
  writeFileSync(join(dir, 'config.js'), `module.exports = {
  janus: { address: 'ws://127.0.0.1:${ports.janus}', multistream: true },
  port: ${ports.whip}, rest: '/whip', allowTrickle: true, strictETags: false, iceServers: [],
};\n`);
  const proc = start(process.execPath, [join(dir, 'server.js')], {
    NODE_PATH: new URL('node_modules', import.meta.url).pathname,
    DEBUG: 'whip:info,whip:warn,whip:error',
  });
  await proc.waitFor(/WHIP server prototype started/);
  // The endpoint camcast publishes to, with a token; Janus forwards its video to the test.
  const created = await fetch(`http://127.0.0.1:${ports.whip}/whip/create`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'cam', room: 1234, token,
                           recipient: { host: '127.0.0.1', videoPort: ports.rtp } }),
  });
  assert.equal(created.status, 200, await created.text());
  return proc;
}

// H.264 frames arriving as RTP (RFC 6184): the NAL unit types of each frame, in order.
function rtpReceiver(port) {
  const socket = dgram.createSocket('udp4');
  const frames = [];
  let current = new Set();
  socket.on('message', (packet) => {
    const cc = packet[0] & 0x0f, extension = packet[0] & 0x10, marker = packet[1] & 0x80;
    let at = 12 + 4 * cc;
    if (extension) at += 4 + 4 * packet.readUInt16BE(at + 2);
    const type = packet[at] & 0x1f;
    if (type === 28) {  // FU-A: the type is in the FU header
      if (packet[at + 1] & 0x80) current.add(packet[at + 1] & 0x1f);
    } else if (type === 24) {  // STAP-A: 16-bit sizes, each followed by a NAL unit
      for (let i = at + 1; i + 2 < packet.length; i += 2 + packet.readUInt16BE(i))
        current.add(packet[i + 2] & 0x1f);
    } else {
      current.add(type);
    }
    if (marker) {
      frames.push(current);
      current = new Set();
    }
  });
  return new Promise((resolve) => socket.bind(port, '127.0.0.1', () => resolve({
    frames,
    close: () => socket.close(),
    // Resolves once `n` frames have come after frame `from`.
    async waitFrames(from, n, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (frames.length < from + n) {
        assert.ok(Date.now() < until, `${frames.length - from} of ${n} frames came through Janus`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  })));
}
const isKeyframe = (types) => types.has(5) && types.has(7);  // IDR, with its SPS

before(async () => {
  ports.janus = await freePort();
  ports.whip = await freePort();
  ports.rtp = await freePort();
  rtp = await rtpReceiver(ports.rtp);
  await startJanus();
  whip = await startWhipServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  for (const proc of processes.reverse())
    await proc.stop();
  rtp?.close();
  rmSync(work, { recursive: true, force: true });
});

const camcast = (whipToken, url = `http://127.0.0.1:${ports.whip}/whip/endpoint/cam`,
                 more = []) => start(camcastExe, [
  'whip', '--port', '0', '--set', 'width=320', '--set', 'height=240',
  '--set', `whip-url=${url}`, '--set', `whip-token=${whipToken}`, ...more],
{ XDG_CONFIG_HOME: work });

// An HTTPS front for the WHIP server, as a server with a certificate of its own is: each request
// passed on to it as it came, the answer passed back; `requests` counts those that got through
// TLS.
function httpsFront(port, cert, key, to) {
  const front = { requests: 0 };
  front.server = https.createServer({ cert, key }, (req, res) => {
    front.requests++;
    const upstream = http.request({ host: '127.0.0.1', port: to, method: req.method,
                                    path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.statusMessage, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(upstream);
  });
  return new Promise((resolve) => front.server.listen(port, '127.0.0.1', () => resolve(front)));
}

test('a wrong token is refused with the reason, and nothing is published', async () => {
  const camera = camcast('guess');
  try {
    const [line] = await camera.waitFor(/not connected to the WHIP server: .*/);
    assert.match(line, /403 Forbidden "Unauthorized" \(check the token\)/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(rtp.frames.length, 0, 'no media reached Janus');
  } finally {
    await camera.stop();
  }
});

test('the whip preset publishes to simple-whip-server, keeps /video, ends with a DELETE, and ' +
     'publishes again after the server restarts', async () => {
  let camera = camcast(token);
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    const [, port, viewToken] = await camera.waitFor(
      /open http:\/\/127\.0\.0\.1:(\d+)\/video\?token=(\S+)/);
    await camera.waitFor(/: connected to the WHIP server/);
    await rtp.waitFrames(0, 60, 10000);
    assert.ok(isKeyframe(rtp.frames[0]), 'the session starts at a keyframe');

    // The local view plays from the same encode.
    await page.goto(`http://127.0.0.1:${port}/video?token=${viewToken}&backend=webcodecs`);
    await expectPlaying(page, errors, 'webcodecs');

    // The WHIP server restarts (its Janus sessions go with it); camcast notices the silence,
    // and publishes again once the endpoint is back.
    const next = camera.mark();
    await whip.stop();
    whip = await startWhipServer();
    const restarted = Date.now();
    const [lost] = await next(/not connected to the WHIP server: .*/, 30000);
    console.log(`camcast noticed after ${Date.now() - restarted} ms: ${lost}`);
    const from = rtp.frames.length;  // the old session is over
    await next(/: connected to the WHIP server/, 30000);
    await rtp.waitFrames(from, 60, 10000);
    console.log(`publishing again ${Date.now() - restarted} ms after the restart`);
    assert.ok(isKeyframe(rtp.frames[from]),
              'the new session starts at a keyframe');

    // Stopping camcast ends the session at its Location.
    const ended = whip.mark();
    assert.equal(await camera.stop(), 0);
    camera = null;
    await ended(/\[cam\] Terminating WHIP session/, 5000);
  } finally {
    await page.close();
    await camera?.stop();
  }
});

test('over HTTPS it publishes to an endpoint whose certificate it is given (whip-ca-file), and ' +
     'says why not without it', async () => {
  const cert = join(work, 'whip.crt'), key = join(work, 'whip.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const front = await httpsFront(await freePort(), readFileSync(cert), readFileSync(key),
                                 ports.whip);
  const url = `https://127.0.0.1:${front.server.address().port}/whip/endpoint/cam`;
  let camera = camcast(token, url);
  try {
    // A certificate nobody vouches for: no session, and the reason in words.
    const [line] = await camera.waitFor(/not connected to the WHIP server: .*/);
    assert.match(line, /TLS|certificate/i);
    assert.equal(front.requests, 0, 'nothing went through an untrusted connection');
    await camera.stop();

    camera = camcast(token, url, ['--set', `whip-ca-file=${cert}`]);
    await camera.waitFor(/: connected to the WHIP server/);
    const from = rtp.frames.length;
    await rtp.waitFrames(from, 30, 10000);
    assert.ok(front.requests >= 1, 'the offer went over HTTPS');
  } finally {
    await camera?.stop();
    front.server.close();
  }
});
