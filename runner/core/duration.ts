/**
 * Go-style durations as kube-proxy's and kube-controller-manager's flags take them:
 * "30s", "1m", "500ms", "1h30m"; null when the text is not one.
 */
export function parseDuration(raw: string): number | null {
  if (raw === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(raw))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed = re.lastIndex;
  }
  return consumed === raw.length && raw.length > 0 ? total : null;
}
