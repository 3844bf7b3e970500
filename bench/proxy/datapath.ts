// Real packets for the mode benchmark: a bulk TCP source in each endpoint pod, and two
// clients run in a pod's network namespace — the time to connect and read the first byte
// of fresh connections, and the rate of one bulk transfer.
import type { Netns } from '../../tests/support/netns.ts';
import { waitForLine } from '../../tests/support/netns.ts';

export const BULK_PORT = 5001;

/** Sends 64 KiB writes to every connection, as fast as it reads, until it closes. */
const BULK_SERVER = `
import net from 'node:net';
const chunk = Buffer.alloc(1 << 16, 120);
net.createServer((c) => {
  c.on('error', () => {});
  const pump = () => { while (!c.destroyed && c.write(chunk)); };
  c.on('drain', pump);
  pump();
}).listen(${BULK_PORT}, '0.0.0.0', () => console.log('ready'));`;

/**
 * n fresh connections one after another; for each, ms from connect() to the first byte
 * (null: refused, reset or nothing within 2 s). The first 3 are left out: they warm up
 * the client, not the path.
 */
const FIRST_BYTE_CLIENT = `
import net from 'node:net';
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const one = () => new Promise((resolve) => {
  const t0 = process.hrtime.bigint();
  const s = net.connect({ host, port });
  s.setTimeout(2000, () => { s.destroy(); resolve(null); });
  s.once('data', () => { resolve(Number(process.hrtime.bigint() - t0) / 1e6); s.destroy(); });
  s.on('error', () => resolve(null));
});
const out = [];
for (let i = 0; i < n + 3; i++) out.push(await one());
console.log(JSON.stringify(out.slice(3)));`;

/** One connection, read for the given seconds; prints the bytes and the seconds measured. */
const BULK_CLIENT = `
import net from 'node:net';
const [host, port, secs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let bytes = 0; let t0 = 0n;
const s = net.connect({ host, port });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code ?? e.message })); process.exit(0); });
s.once('data', (d) => {
  t0 = process.hrtime.bigint();
  s.on('data', (d2) => (bytes += d2.length));
  setTimeout(() => { const seconds = Number(process.hrtime.bigint() - t0) / 1e9; s.destroy(); console.log(JSON.stringify({ bytes, seconds })); process.exit(0); }, secs * 1000);
});
setTimeout(() => { console.log(JSON.stringify({ error: 'no data within 5 s' })); process.exit(0); }, 5000).unref();`;

export async function startBulkServers(pods: Netns[]): Promise<void> {
  for (const ns of pods) await waitForLine(ns.spawn([process.execPath, '--input-type=module', '-e', BULK_SERVER]), /ready/, 10_000);
}

export async function firstByteTimes(from: Netns, host: string, port: number, n: number): Promise<(number | null)[]> {
  return JSON.parse(await from.node(FIRST_BYTE_CLIENT, [host, String(port), String(n)], 120_000)) as (number | null)[];
}

/** MB/s (10^6 bytes) of one bulk transfer, or an error. */
export async function bulkRate(from: Netns, host: string, port: number, seconds: number): Promise<number | { error: string }> {
  const r = JSON.parse(await from.node(BULK_CLIENT, [host, String(port), String(seconds)], (seconds + 30) * 1000)) as { bytes: number; seconds: number } | { error: string };
  return 'error' in r ? r : r.bytes / 1e6 / r.seconds;
}

/** The value at quantile q (0–1) of the numbers in xs, nearest rank; null when there are none. */
export function quantile(xs: (number | null)[], q: number): number | null {
  const ok = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (!ok.length) return null;
  return ok[Math.min(ok.length - 1, Math.max(0, Math.ceil(q * ok.length) - 1))]!;
}
