// A relay with two camcast processes on loopback: the public host (relay-serve) and a camera
// behind NAT that pushes to it (relay-push). Chromium watches the relay's player; the camera is
// stopped and started again, and the same page plays on without a reload.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, waitInPage } from './lib.mjs';

const camcastExe = new URL('../../build/launcher/camcast', import.meta.url).pathname;
const config = mkdtempSync(join(tmpdir(), 'camcast-relay-'));
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  await browser?.close();
  rmSync(config, { recursive: true, force: true });
});

// A camcast process; waitFor resolves with the match once its output shows `pattern`.
function camcast(args) {
  const proc = spawn(camcastExe, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XDG_CONFIG_HOME: config },
  });
  let output = '';
  const waiters = [];
  const onData = (chunk) => {
    output += chunk;
    for (const w of [...waiters]) {
      const m = output.slice(w.from).match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return {
    waitFor(pattern, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve, from: 0 };
        w.timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
        waiters.push(w);
        onData('');
      });
    },
    // Only output that comes after this call.
    mark() { const at = output.length; return (pattern, t) => this.waitFromMark(pattern, at, t); },
    waitFromMark(pattern, from, timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const w = { pattern, resolve, from };
        w.timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${output}`)), timeoutMs);
        waiters.push(w);
        onData('');
      });
    },
    async stop() { proc.kill('SIGTERM'); return exited; },
  };
}

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
      await camera.waitFor(/connected to the relay/);
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
