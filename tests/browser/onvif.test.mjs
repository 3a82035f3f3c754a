// ONVIF as an NVR sees it, on a network of the test's own: the camera (the default preset with
// `--set onvif=on`) in one network namespace, the NVR in another, a veth pair between them —
// WS-Discovery multicasts, and multicast stays there. The NVR side (onvif_nvr.cjs, npm `onvif`,
// the ONVIF client of Node-based NVR software) finds the camera by WS-Discovery, connects signing
// with the access token as NVRs do, reads what the camera is, gets the stream's RTSP address,
// which ffprobe plays with the same credentials, and the still picture's, which is a JPEG; a
// wrong password gets "Sender not Authorized"; a flood of probes gets a bounded number of answers.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { watched, camcastExe } from './lib.mjs';

const camera = 'camcast-ocam', nvr = 'camcast-onvr';

function sh(...argv) {
  execFileSync(argv[0], argv.slice(1), { stdio: 'pipe' });
}

function removeNetwork() {
  for (const ns of [camera, nvr])
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

// camera 10.96.0.2 ⟷ nvr 10.96.0.3, multicast routed onto the pair on both sides.
function makeNetwork() {
  sh('ip', 'netns', 'add', camera);
  sh('ip', 'netns', 'add', nvr);
  sh('ip', 'link', 'add', 'ocam0', 'type', 'veth', 'peer', 'name', 'onvr0');
  sh('ip', 'link', 'set', 'ocam0', 'netns', camera);
  sh('ip', 'link', 'set', 'onvr0', 'netns', nvr);
  for (const [ns, dev, ip] of [[camera, 'ocam0', '10.96.0.2'], [nvr, 'onvr0', '10.96.0.3']]) {
    sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev);
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    sh('ip', '-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev);
  }
}

test('an NVR finds the camera by WS-Discovery, adds it by ONVIF and plays it',
     { timeout: 120000 }, async (t) => {
  if (process.getuid() !== 0) {
    t.skip('network namespaces need root');
    return;
  }
  removeNetwork();
  try {
    makeNetwork();
  } catch (e) {
    removeNetwork();
    t.skip(`no network namespace can be made here: ${e.message}`);
    return;
  }
  const camcast = watched('ip', ['netns', 'exec', camera, camcastExe, 'default', '--port', '8080',
                                 '--set', 'onvif=on', '--set', 'width=320', '--set', 'height=240',
                                 '--set', 'audio=off', '--set', 'ladder=off']);
  try {
    const [, token] = await camcast.waitFor(/open http:\/\/127\.0\.0\.1:8080\/video\?token=(\S+)/,
                                            30000);
    await camcast.waitFor(/onvif\/device_service {2}\(onvifsink/);
    const run = spawnSync('ip', ['netns', 'exec', nvr, process.execPath, 'onvif_nvr.cjs', token],
                          { timeout: 90000, encoding: 'utf8' });
    const line = run.stdout.trim().split('\n').pop();
    console.log(`# the NVR: ${line.replaceAll(token, 'TOKEN')}`);
    const seen = JSON.parse(line);
    assert.equal(seen.error, undefined, seen.error);
    assert.equal(seen.found, 1);
    assert.equal(seen.xaddrs, 'http://10.96.0.2:8080/onvif/device_service');
    assert.match(seen.endpoint, /^urn:uuid:[0-9a-f-]{36}$/);
    assert.equal(seen.info.manufacturer, 'camcast');
    assert.equal(seen.profiles, 1);
    assert.equal(seen.encoding, 'H264');
    assert.equal(seen.width, 320);
    assert.match(seen.stream, /^rtsp:\/\/10\.96\.0\.2:8554\/video$/);
    assert.equal(seen.ffprobe, 'h264,320');
    assert.equal(seen.snapshot, 'http://10.96.0.2:8080/mjpeg/snapshot.jpg?token=TOKEN');
    assert.deepEqual(seen.picture, [200, 0xff, 0xd8]);
    assert.match(seen.wrong, /Sender not Authorized/);
    // 300 probes at once: answers within the budget (10 a second), over the 2.5 s counted.
    assert.ok(seen.flood >= 1 && seen.flood <= 30, `${seen.flood} answers to a flood of 300`);
  } finally {
    await camcast.stop();
    removeNetwork();
  }
});
