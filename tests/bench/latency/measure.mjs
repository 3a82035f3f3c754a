// What the glass-to-glass benchmarks share: the script that reads bench-latency-server's time
// code off whatever a page shows, and the link lab — the server in a network namespace of the
// bench's own behind a veth pair shaped both ways (tc tbf), with random loss (nftables' numgen;
// this kernel has no netem), a delay (bench-delay-line, on NFQUEUE) and rate changes during a run.
import { execFileSync, spawn } from 'node:child_process';

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
// a /24) shaped to `rate`, `lossPermille` of the packets dropped at random each way, and each
// packet held `delayMs` each way (bench-delay-line: the round trip grows by twice that).
//
// Loss and delay happen in a router between the two (a namespace `${name}r`, answering ARP for
// each side), where packets are forwarded: dropped or held where the sender put them, they
// would be neither — a TCP sender retries at once what its own netfilter output refuses, and
// TCP small queues stop a sender whose packets wait in its own output path (a 20 ms hold there
// took a 10 Mbit/s link's TCP down to 2.3 Mbit/s).
// `routed`: the router even without loss or delay (setLinkLoss() adds loss later).
export function makeLink(rate, host, { lossPermille = 0, delayMs = 0, name = netns,
                                      routed = lossPermille > 0 || delayMs > 0 } = {}) {
  const inNetns = (...cmd) => ['ip', 'netns', 'exec', name, ...cmd];
  const router = `${name}r`;
  const inRouter = (...cmd) => ['ip', 'netns', 'exec', router, ...cmd];
  const near = host.replace(/\.\d+$/, '.1');
  sh('ip', 'netns', 'add', name);
  if (routed) {
    sh('ip', 'netns', 'add', router);
    sh('ip', 'link', 'add', `${name}0`, 'type', 'veth', 'peer', 'name', `${name}b`);
    sh('ip', 'link', 'add', `${name}1`, 'type', 'veth', 'peer', 'name', `${name}a`);
    sh('ip', 'link', 'set', `${name}a`, 'netns', router);
    sh('ip', 'link', 'set', `${name}b`, 'netns', router);
    sh(...inRouter('sysctl', '-qw', 'net.ipv4.ip_forward=1'));
    // Each side's address answered by the router (proxy ARP); the router's own neighbours are
    // written in (with no address of its own it would send to the broadcast address).
    const mac = (...cmd) => execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8' }).trim();
    const macs = { [host]: mac('cat', `/sys/class/net/${name}1/address`),
                   [near]: mac('cat', `/sys/class/net/${name}0/address`) };
    for (const [dev, to] of [[`${name}a`, host], [`${name}b`, near]]) {
      sh(...inRouter('sysctl', '-qw', `net.ipv4.conf.${dev}.proxy_arp=1`));
      sh(...inRouter('ip', 'link', 'set', dev, 'up'));
      sh(...inRouter('ip', 'route', 'add', `${to}/32`, 'dev', dev));
      sh(...inRouter('ip', 'neigh', 'replace', to, 'lladdr', macs[to], 'dev', dev, 'nud',
                     'permanent'));
    }
  } else {
    sh('ip', 'link', 'add', `${name}0`, 'type', 'veth', 'peer', 'name', `${name}1`);
  }
  sh('ip', 'link', 'set', `${name}1`, 'netns', name);
  sh('ip', 'addr', 'add', `${near}/24`, 'dev', `${name}0`);
  sh('ip', 'link', 'set', `${name}0`, 'up');
  sh(...inNetns('ip', 'addr', 'add', `${host}/24`, 'dev', `${name}1`));
  sh(...inNetns('ip', 'link', 'set', `${name}1`, 'up'));
  sh(...inNetns('ip', 'link', 'set', 'lo', 'up'));
  shape('add', rate, name);
  if (!routed) return;
  // The router's own nftables and iptables, nothing of the host's touched.
  if (lossPermille > 0) setLinkLoss(lossPermille, name);
  if (delayMs > 0) {
    // nft's own queue statement is not in this kernel; iptables-nft's NFQUEUE target is.
    sh(...inRouter('iptables-nft', '-A', 'FORWARD', '-j', 'NFQUEUE', '--queue-num', '0'));
    const exe = new URL('../../../build/tests/bench/bench-delay-line', import.meta.url).pathname;
    delayLines.set(name, spawn('ip', ['netns', 'exec', router, exe, '--queue', '0', '--ms',
                                      String(delayMs)], { stdio: 'ignore' }));
  }
  // The round trip as it now is: the least of ten (the first may go before the line runs).
  const out = execFileSync('ping', ['-c', '10', '-i', '0.2', '-W', '1', host], { encoding: 'utf8' });
  console.log(`link lab: ${rate}, ${lossPermille / 10} % lost each way, ping ${
    out.match(/= ([\d.]+)\//)?.[1] ?? '?'} ms`);
}
const delayLines = new Map();

// `lossPermille` of the packets the router forwards dropped at random from now on (a link made
// `routed`); with `onlyPort`, every packet to or from another port too (a network that lets
// only the web through: no UDP, no ICE-TCP).
export function setLinkLoss(lossPermille, name = netns, { onlyPort = null } = {}) {
  const rule = (...args) => sh('ip', 'netns', 'exec', `${name}r`, 'nft', 'add', 'rule', 'inet',
                               'camcastlab', 'forward', ...args);
  const nft = (...args) => sh('ip', 'netns', 'exec', `${name}r`, 'nft', ...args);
  nft('add', 'table', 'inet', 'camcastlab');
  nft('add', 'chain', 'inet', 'camcastlab', 'forward', '{ type filter hook forward priority 0 ; }');
  nft('flush', 'chain', 'inet', 'camcastlab', 'forward');
  if (lossPermille > 0)
    rule('numgen', 'random', 'mod', '1000', '<', String(lossPermille), 'drop');
  if (onlyPort) {
    rule('tcp', 'dport', String(onlyPort), 'accept');
    rule('tcp', 'sport', String(onlyPort), 'accept');
    rule('drop');
  }
}

// A new rate for the link, in the middle of a run.
export function setLinkRate(rate, name = netns) {
  shape('change', rate, name);
}

export function removeLink(name = netns) {
  delayLines.get(name)?.kill();
  delayLines.delete(name);
  try { quietly('ip', 'netns', 'del', `${name}r`); } catch { /* none */ }
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
