// What the glass-to-glass benchmarks share: the script that reads bench-latency-server's time
// code off whatever a page shows, and the link lab — the server in a network namespace of the
// bench's own behind a veth pair shaped both ways (tc tbf), with random loss (nftables' numgen;
// this kernel has no netem) and rate changes during a run.
import { execFileSync } from 'node:child_process';

// The benchmarks' namespace; a test makes one of another name (`name`), so both can run.
export const netns = 'camcast-bench';
const sh = (...cmd) => execFileSync(cmd[0], cmd.slice(1), { stdio: 'inherit' });
const quietly = (...cmd) => execFileSync(cmd[0], cmd.slice(1), { stdio: 'ignore' });

// tbf on both ends of the link: `rate` (tc's words: 700kbit, 4mbit) each way, its queue 50 ms
// at that rate.
function shape(verb, rate, name) {
  for (const [dev, prefix] of [[`${name}0`, []], [`${name}1`, ['ip', 'netns', 'exec', name]]])
    sh(...prefix, 'tc', 'qdisc', verb, 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '32kbit',
       'latency', '50ms');
}

// The namespace `name`, its veth pair (`${name}0` here at x.y.z.1, `${name}1` in it at `host`,
// a /24) shaped to `rate`, and `lossPermille` of the packets dropped at random each way.
export function makeLink(rate, host, lossPermille = 0, name = netns) {
  const inNetns = (...cmd) => ['ip', 'netns', 'exec', name, ...cmd];
  sh('ip', 'netns', 'add', name);
  sh('ip', 'link', 'add', `${name}0`, 'type', 'veth', 'peer', 'name', `${name}1`);
  sh('ip', 'link', 'set', `${name}1`, 'netns', name);
  sh('ip', 'addr', 'add', `${host.replace(/\.\d+$/, '.1')}/24`, 'dev', `${name}0`);
  sh('ip', 'link', 'set', `${name}0`, 'up');
  sh(...inNetns('ip', 'addr', 'add', `${host}/24`, 'dev', `${name}1`));
  sh(...inNetns('ip', 'link', 'set', `${name}1`, 'up'));
  sh(...inNetns('ip', 'link', 'set', 'lo', 'up'));
  shape('add', rate, name);
  if (lossPermille > 0) {
    // Inside the namespace only: its own nftables, nothing of the host's touched.
    sh(...inNetns('nft', 'add', 'table', 'inet', 'camcastlab'));
    for (const hook of ['input', 'output']) {
      sh(...inNetns('nft', 'add', 'chain', 'inet', 'camcastlab', hook,
                    `{ type filter hook ${hook} priority 0 ; }`));
      sh(...inNetns('nft', 'add', 'rule', 'inet', 'camcastlab', hook, 'iifname', '!=', 'lo',
                    'oifname', '!=', 'lo', 'numgen', 'random', 'mod', '1000', '<',
                    String(lossPermille), 'drop'));
    }
  }
}

// A new rate for the link, in the middle of a run.
export function setLinkRate(rate, name = netns) {
  shape('change', rate, name);
}

export function removeLink(name = netns) {
  try { quietly('ip', 'netns', 'del', name); } catch { /* already gone */ }
  try { quietly('ip', 'link', 'del', `${name}0`); } catch { /* went with the namespace */ }
}

// Runs in the page: decodes the time code from whatever is on screen. The code spans the whole
// width (40 blocks) and two blocks' height, whatever the rendition's size.
export const measureScript = `
  window.bench = { latencies: [], shownAt: [], heights: [], bad: 0, last: -1,
                   firstFrameAt: null };
  const scratch = document.createElement('canvas');
  scratch.width = 640; scratch.height = 32;
  const sctx = scratch.getContext('2d', { willReadFrequently: true });
  window.benchMeasure = (source) => {
    const now = Date.now();
    const w = source.videoWidth || source.width;
    const h = source.videoHeight || source.height;
    if (!w) return;
    sctx.drawImage(source, 0, 0, w, w / 20, 0, 0, 640, 32);
    const px = sctx.getImageData(0, 0, 640, 32).data;
    let ms = 0;
    for (let b = 0; b < 40; b++) {
      const top = px[(8 * 640 + b * 16 + 8) * 4 + 1] > 128;
      const bottom = px[(24 * 640 + b * 16 + 8) * 4 + 1] > 128;
      if (top === bottom) { window.bench.bad++; return; }
      ms = ms * 2 + (top ? 1 : 0);
    }
    const span = 2 ** 40;
    let t = Math.floor(now / span) * span + ms;
    if (t > now + 1000) t -= span;
    if (t === window.bench.last) return;  // the same frame again
    window.bench.last = t;
    if (window.bench.firstFrameAt === null) window.bench.firstFrameAt = performance.now();
    window.bench.latencies.push(now - t);
    window.bench.shownAt.push(now);
    window.bench.heights.push(h);
  };`;
