// dig (Debian's dnsutils), run the way people and the Kubernetes e2e probes run it.
import { run } from '../../runner/exec.ts';

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  raw: string;
}

/** Runs dig and parses its sections into zone-file lines with single spaces. */
export async function dig(server: string, port: number, args: string[]): Promise<DigResult> {
  const r = await run('dig', [`@${server}`, '-p', String(port), '+tries=1', '+time=3', ...args], { allowFailure: true, timeoutMs: 20_000 });
  const raw = r.stdout;
  const section = (title: string) => {
    const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(raw);
    return m ? m[1]!.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.replace(/\s+/g, ' ').trim()) : [];
  };
  const status = /status: (\w+)/.exec(raw)?.[1] ?? (raw.includes('timed out') || raw.includes('no servers') ? 'TIMEOUT' : 'UNKNOWN');
  const flags = /;; flags: ([^;]*);/.exec(raw)?.[1]?.trim().split(/\s+/) ?? [];
  return { status, flags, answer: section('ANSWER'), authority: section('AUTHORITY'), additional: section('ADDITIONAL').filter((l) => !l.includes('OPT')), raw };
}
