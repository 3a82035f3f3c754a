// What the Node benchmark scripts share: their options, percentiles, and a process's CPU time.
import { readFileSync } from 'node:fs';

// The value after --NAME on the command line (a string), or `dflt`.
export function option(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

// Count, p50, p95, p99 and max of `values` (NaN when there are none).
export function stats(values) {
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => v.length ? v[Math.min(v.length - 1, Math.floor(p * (v.length - 1)))] : NaN;
  return { n: v.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: v.length ? v[v.length - 1] : NaN };
}

// User plus system CPU seconds the process has used so far (/proc, clock ticks of 10 ms).
export function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
