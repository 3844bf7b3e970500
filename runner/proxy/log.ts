// Logging for the proxy: one line per event, bad-input warnings only once per key.

export type LogLine = (line: string) => void;

/** A Warn (see core/proxy/types.ts) that prints each distinct problem once. */
export function onceLogger(out: LogLine): (key: string, message: string) => void {
  const seen = new Set<string>();
  return (key, message) => {
    if (seen.has(key)) return;
    seen.add(key);
    out(message);
  };
}

export const stderrLine: LogLine = (line) => process.stderr.write(`${new Date().toISOString()} kube-proxy: ${line}\n`);
