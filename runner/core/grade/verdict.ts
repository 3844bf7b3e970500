import type { Bilingual } from '../lab/types.ts';

/** The outcome of one check: passed, or failed with a sentence for the learner in both languages. */
export interface Verdict {
  pass: boolean;
  reason?: Bilingual;
}

export const pass = (): Verdict => ({ pass: true });
export const fail = (en: string, zh: string): Verdict => ({ pass: false, reason: { en, zh } });

/** "3 pods" / "1 pod" — English plural for small counts. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "app=web,tier=front" as kubectl prints a selector. */
export function selectorText(sel: Record<string, string> | undefined): string {
  return Object.entries(sel ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
