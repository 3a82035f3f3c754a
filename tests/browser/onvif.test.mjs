// ONVIF as an NVR sees it: npm `onvif` (the ONVIF client of Node-based NVR software) against
// the default preset with `--set onvif=on`: it connects (GetSystemDateAndTime, GetServices,
// GetProfiles, GetVideoSources) signing with the access token as NVRs do, reads what the camera
// is, gets the stream's RTSP address, which ffprobe plays with the same credentials, and the
// still picture's, which is a JPEG; a wrong password gets ter:NotAuthorized.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import onvif from 'onvif';
import { watched, camcastExe } from './lib.mjs';

// npm onvif's callbacks as promises: `method` of `cam` with `args`.
function call(cam, method, ...args) {
  return new Promise((resolve, reject) => {
    cam[method](...args, (err, value) => (err ? reject(err) : resolve(value)));
  });
}

function connect(port, password) {
  return new Promise((resolve, reject) => {
    const cam = new onvif.Cam({ hostname: '127.0.0.1', port, username: 'admin', password,
                                timeout: 10000, autoconnect: false });
    cam.connect((err) => (err ? reject(err) : resolve(cam)));
  });
}

test('an NVR adds the camera by its ONVIF address and plays it', { timeout: 90000 }, async () => {
  const camcast = watched(camcastExe, ['default', '--port', '0', '--set', 'onvif=on',
                                       '--set', 'width=320', '--set', 'height=240',
                                       '--set', 'audio=off']);
  try {
    const [, port, token] =
        await camcast.waitFor(/open http:\/\/127\.0\.0\.1:(\d+)\/video\?token=(\S+)/, 30000);
    await camcast.waitFor(/onvif\/device_service {2}\(onvifsink/);
    const cam = await connect(Number(port), token);
    const info = await call(cam, 'getDeviceInformation');
    console.log(`# GetDeviceInformation: ${JSON.stringify(info)}`);
    assert.equal(info.manufacturer, 'camcast');
    assert.ok(cam.profiles.length === 1, JSON.stringify(cam.profiles));
    assert.equal(cam.activeSource.encoding, 'H264');
    assert.equal(cam.activeSource.width, 320);

    const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP' });
    console.log(`# GetStreamUri: ${stream.uri}`);
    assert.match(stream.uri, /^rtsp:\/\/127\.0\.0\.1:\d+\/video$/);
    // An NVR opens it with the credentials it signed with.
    const withCredentials = stream.uri.replace('rtsp://', `rtsp://admin:${token}@`);
    const probe = spawnSync('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries',
                                        'stream=codec_name,width', '-of', 'csv=p=0',
                                        withCredentials], { timeout: 20000, encoding: 'utf8' });
    console.log(`# ffprobe: ${probe.stdout.trim()} ${probe.stderr.trim()}`);
    assert.equal(probe.stdout.trim(), 'h264,320');

    const snapshot = await call(cam, 'getSnapshotUri');
    console.log(`# GetSnapshotUri: ${snapshot.uri.replace(token, 'TOKEN')}`);
    const picture = await fetch(snapshot.uri);
    assert.equal(picture.status, 200);
    const bytes = new Uint8Array(await picture.arrayBuffer());
    assert.deepEqual([bytes[0], bytes[1]], [0xff, 0xd8], 'a JPEG');

    const wrong = await connect(Number(port), 'not-the-token').catch((err) => err);
    const refused = wrong instanceof Error ? wrong
                                           : await call(wrong, 'getDeviceInformation').catch(e => e);
    assert.ok(refused instanceof Error, 'a wrong password is refused');
    assert.match(refused.message, /Sender not Authorized/);
  } finally {
    await camcast.stop();
  }
});
