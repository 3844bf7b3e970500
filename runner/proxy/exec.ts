// How the proxy runs programs: directly, or inside a network namespace (tests, `svclab
// proxy run --netns`), so every command the proxy runs can be redirected in one place.
import { run, type RunOptions, type RunResult } from '../exec.ts';

export type Exec = (cmd: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

export const hostExec: Exec = (cmd, args, opts) => run(cmd, args, opts);

/** Runs every command through a prefix, e.g. ["ip", "netns", "exec", "node1"]. */
export function prefixedExec(prefix: string[]): Exec {
  if (prefix.length === 0) return hostExec;
  return (cmd, args, opts) => run(prefix[0]!, [...prefix.slice(1), cmd, ...args], opts);
}
