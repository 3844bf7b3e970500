// Statistic-match probabilities, formatted exactly like Go's fmt.Sprintf("%0.10f", 1.0/n).

/** Formats a finite non-negative double with 10 decimals, rounding exact ties to even like Go. */
export function formatFixed10(x: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (exp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  // x * 10^10 = mant * 10^10 * 2^e
  let num = mant * 10n ** 10n;
  let den = 1n;
  if (e >= 0) num <<= BigInt(e);
  else den <<= BigInt(-e);
  let q = num / den;
  const r2 = (num % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  const s = q.toString().padStart(11, '0');
  return `${s.slice(0, -10)}.${s.slice(-10)}`;
}

const cache: string[] = [];

export function computeProbability(n: number): string {
  return (cache[n] ??= formatFixed10(1 / n));
}
