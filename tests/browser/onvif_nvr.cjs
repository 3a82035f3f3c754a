// The NVR's side of tests/browser/onvif.test.mjs, run in a network namespace of that test's:
// npm `onvif` finds cameras by WS-Discovery, connects to the one found signing with the token
// given, reads its addresses, plays the stream with ffprobe and fetches the still picture; a
// wrong password is refused; then a flood of probes, counting the answers. Prints one JSON line.
const onvif = require('onvif');
const dgram = require('dgram');
const { spawnSync } = require('child_process');

const token = process.argv[2];

function connect(hostname, port, password) {
  return new Promise((resolve, reject) => {
    const cam = new onvif.Cam({ hostname, port, username: 'admin', password, timeout: 10000,
                                autoconnect: false });
    cam.connect((err) => (err ? reject(err) : resolve(cam)));
  });
}

function call(cam, method, ...args) {
  return new Promise((resolve, reject) => {
    cam[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

// Probes sent as fast as they go for the group, each its own; the answers counted for `ms`.
function flood(count, ms) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    let answers = 0;
    socket.on('message', (msg) => { answers += /ProbeMatches/.test(msg.toString()); });
    socket.bind(() => {
      for (let i = 0; i < count; i++) {
        const probe = Buffer.from(
          '<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><MessageID>' +
          `urn:uuid:flood-${i}</MessageID></Header><Body><Probe><Types>` +
          'dn:NetworkVideoTransmitter</Types></Probe></Body></Envelope>');
        socket.send(probe, 3702, '239.255.255.250');
      }
      setTimeout(() => { socket.close(); resolve(answers); }, ms);
    });
  });
}

(async () => {
  const out = {};
  try {
    const found = await new Promise((resolve) => onvif.Discovery.probe(
      { timeout: 4000, resolve: false }, (err, cams) => resolve(cams || [])));
    out.found = found.length;
    const match = found[0].probeMatches.probeMatch;
    out.xaddrs = match.XAddrs;
    out.endpoint = match.endpointReference.address;
    const url = new URL(out.xaddrs.split(' ')[0]);
    const cam = await connect(url.hostname, Number(url.port), token);
    out.info = await call(cam, 'getDeviceInformation');
    out.profiles = cam.profiles.length;
    out.encoding = cam.activeSource.encoding;
    out.width = cam.activeSource.width;
    out.stream = (await call(cam, 'getStreamUri', { protocol: 'RTSP' })).uri;
    const probe = spawnSync('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries',
                                        'stream=codec_name,width', '-of', 'csv=p=0',
                                        out.stream.replace('rtsp://', `rtsp://admin:${token}@`)],
                            { timeout: 20000, encoding: 'utf8' });
    out.ffprobe = (probe.stdout + probe.stderr).trim();
    const snapshot = (await call(cam, 'getSnapshotUri')).uri;
    out.snapshot = snapshot.replace(token, 'TOKEN');
    const picture = await fetch(snapshot);
    const bytes = new Uint8Array(await picture.arrayBuffer());
    out.picture = [picture.status, bytes[0], bytes[1]];
    const wrong = await connect(url.hostname, Number(url.port), 'not-the-token')
      .then((c) => call(c, 'getDeviceInformation')).then(() => 'let in', (e) => e.message);
    out.wrong = wrong;
    out.flood = await flood(300, 2500);
  } catch (e) {
    out.error = e.stack || String(e);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
})();
