// A private stream in headless Chromium: the link with the access token plays (the page gets a
// session cookie that its WebSocket then carries); without it, the page is refused. The link
// camcast prints for other machines carries the token and plays from across a link. A page's
// session outlives a restart of camcast; a page whose session ended offers to sign in again.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPipeline, launchBrowser, waitInPage, watched, camcastExe, freePort } from './lib.mjs';
import { makeLink, removeLink } from '../bench/latency/measure.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('the access token link plays; without it the camera is private', async () => {
  const pipe = await startPipeline('videotestsrc is-live=true ! ' +
    'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! ' +
    'msesink port=0 path=/cam access-token=letmein');
  const page = await browser.newPage();
  try {
    const refused = await page.goto(`http://127.0.0.1:${pipe.port}/cam`);
    assert.equal(refused.status(), 401);
    assert.match(await page.textContent('body'), /private/);
    await page.goto(`http://127.0.0.1:${pipe.port}/cam?token=letmein&backend=webcodecs`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'camcast_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    // The session alone now opens the other pages of the server.
    const index = await page.goto(`http://127.0.0.1:${pipe.port}/`);
    assert.equal(index.status(), 200);
  } finally {
    await page.close();
    pipe.stop();
  }
});

test('a page from the token link plays again after camcast restarts; one signed out says so',
     async () => {
  const config = mkdtempSync(join(tmpdir(), 'camcast-state-'));
  const port = await freePort();
  const args = ['h264', '--port', String(port), '--set', 'width=320', '--set', 'height=240'];
  const env = { XDG_CONFIG_HOME: config };
  let camcast = watched(camcastExe, args, env);
  const page = await browser.newPage();
  try {
    const [link] = await camcast.waitFor(/http:\/\/127\.0\.0\.1:\d+\/video\?token=\S+/);
    await page.goto(`${link}&backend=webcodecs`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
    // camcast restarts; the page, with nothing but its session cookie, plays on.
    assert.equal(await camcast.stop(), 0);
    const shown = await page.evaluate(() => window.camcast.stats.framesShown);
    const restarted = Date.now();
    camcast = watched(camcastExe, args, env);
    await waitInPage(page, (n) => window.camcast.stats.framesShown >= n + 10, shown, 8000);
    console.log(`# playing again ${Date.now() - restarted} ms after camcast started again`);
    // Signed out (as another tab of the browser would, with the same cookie): after the next
    // restart the page says so and offers to sign in, instead of reconnecting for ever.
    await page.evaluate(() => fetch('/logout', { redirect: 'manual' }));
    assert.equal(await camcast.stop(), 0);
    camcast = watched(camcastExe, args, env);
    await waitInPage(page, () => window.camcast.stats.state === 'signed out', null, 15000);
    assert.match(await page.textContent('.camcast-signed-out'), /signed out.*Sign in again/s);
    // Signing in again (the link with the token) plays, once camcast serves it: the page may
    // have been told it is signed out by a server whose first sinks were up, not yet /video's.
    await camcast.waitFor(/every stream/);
    await page.goto(`${link}&backend=webcodecs`);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
  } finally {
    await page.close();
    await camcast.stop();
    rmSync(config, { recursive: true, force: true });
  }
});

test('logging in on the login page opens the player', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'camcast-users-'));
  const users = join(dir, 'users');
  // The users file as camcast passwd makes it (the launcher built beside the plugin).
  const camcast = new URL('../../build/launcher/camcast', import.meta.url).pathname;
  execFileSync(camcast, ['passwd', 'alice', '--file', users], { input: 'correct horse\n' });
  const pipe = await startPipeline('videotestsrc is-live=true ! ' +
    'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! ' +
    `msesink port=0 path=/cam users-file=${users}`);
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${pipe.port}/cam`);
    assert.match(page.url(), /\/login\?next=\/cam$/);
    await page.fill('input[name=user]', 'alice');
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('body'), /Wrong user name or password/);
    await page.fill('input[name=user]', 'alice');
    await page.fill('input[name=password]', 'correct horse');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/cam$/);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
  } finally {
    await page.close();
    pipe.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('over HTTPS the page plays through WSS with a Secure __Host- session cookie', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'camcast-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const pipe = await startPipeline('videotestsrc is-live=true ! ' +
    'video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! ' +
    'x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! ' +
    `msesink port=0 path=/cam access-token=letmein tls-certificate=${join(dir, 'cert.pem')} ` +
    `tls-key=${join(dir, 'key.pem')}`);
  // The test's own certificate is self-signed: this browser context trusts it.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  try {
    const response = await page.goto(`https://127.0.0.1:${pipe.port}/cam?token=letmein`);
    assert.equal(response.status(), 200);
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
    assert.ok(sockets.length > 0 && sockets.every((u) => u.startsWith('wss://')),
      `the stream came over WSS: ${sockets}`);
    // Over HTTPS the session is a __Host- cookie: one a plain-HTTP page set cannot stand in.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === '__Host-camcast_session');
    assert.ok(session, `a __Host- session cookie: ${cookies.map((c) => c.name)}`);
    assert.equal(session.secure, true);
    assert.equal(session.path, '/');
    assert.ok(!cookies.some((c) => c.name === 'camcast_session'));
  } finally {
    await context.close();
    pipe.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// camcast in a network namespace of the test's own (10.97.0.2 behind a veth pair): the address it
// prints "from other machines" is that one, with the token, and a browser on this side plays it.
test('the link for other machines has the machine\'s address and the token, and plays', async (t) => {
  if (process.getuid() !== 0) {
    t.skip('a network namespace needs root');
    return;
  }
  const lab = 'camcast-atest';
  removeLink(lab);
  try {
    makeLink('100mbit', '10.97.0.2', { name: lab });
  } catch (e) {
    removeLink(lab);
    t.skip(`no network namespace can be made here: ${e.message}`);
    return;
  }
  const state = mkdtempSync(join(tmpdir(), 'camcast-state-'));
  const camcast = watched('ip', ['netns', 'exec', lab, camcastExe, 'h264', '--port', '8080',
                                 '--set', 'width=320', '--set', 'height=240', '--set', 'ladder=off'],
                          { STATE_DIRECTORY: state });
  const page = await browser.newPage();
  try {
    const [, url] = await camcast.waitFor(/from other machines: (\S+)/);
    assert.match(url, /^http:\/\/10\.97\.0\.2:8080\/\?token=[\w-]+$/);
    await page.goto(url.replace('/?', '/video?'));
    await waitInPage(page, () => window.camcast && window.camcast.stats.framesShown >= 10);
  } finally {
    await page.close();
    await camcast.stop();
    removeLink(lab);
    rmSync(state, { recursive: true, force: true });
  }
});
