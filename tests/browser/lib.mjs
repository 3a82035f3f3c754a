// Shared by the browser tests: a real pipeline in a gst-launch-1.0 process, and Debian's
// Chromium driven by playwright-core. Everything is bounded in time and stops by itself.
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

// Starts gst-launch-1.0 with `pipeline` (its serving sink with port=0) and resolves with the
// port it listens on, read from the current-port notification that -v prints.
export function startPipeline(pipeline) {
  return new Promise((resolve, reject) => {
    const proc = spawn('gst-launch-1.0', ['-v', ...pipeline.split(/\s+/)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`pipeline did not start:\n${output}`));
    }, 15000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/current-port = (\d+)/);
      if (m && Number(m[1]) > 0) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => proc.kill('SIGINT'), output: () => output });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gst-launch-1.0 exited (${code}):\n${output}`));
    });
  });
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
}

// Polls fn in the page until it returns a truthy value or the time is up.
export async function waitInPage(page, fn, arg, timeoutMs = 15000) {
  await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
}
