// The answer check: what the learner typed against the value the live cluster gives.
import type { AnswerCheck } from '../lab/types.ts';
import { fail, pass, type Verdict } from './verdict.ts';

/** Whitespace trimmed, quotes dropped; chain names and IPs compare case-insensitively. */
export const normalizeAnswer = (s: string) => s.trim().replace(/^["'`]|["'`]$/g, '').trim().toLowerCase();

/** `expected` is the live value; `tolerance` a relative margin for numbers (rule counts). */
export function evaluateAnswer(check: AnswerCheck, given: string | undefined, expected: string | undefined, tolerance = 0): Verdict {
  if (given === undefined || given.trim() === '') return fail(`Not answered yet: ${check.prompt.en}`, `还没有作答：${check.prompt.zh}`);
  if (expected === undefined) return fail(`"${given.trim()}" cannot be checked yet: what the question is about does not exist in the cluster.`, `暂时无法核对"${given.trim()}"：问题所涉及的对象在集群中还不存在。`);
  const g = normalizeAnswer(given);
  const x = normalizeAnswer(expected);
  if (tolerance > 0 && /^\d+$/.test(g) && /^\d+$/.test(x)) {
    const gn = Number(g);
    const xn = Number(x);
    if (Math.abs(gn - xn) <= Math.max(1, xn * tolerance)) return pass();
    const dir = gn > xn ? { en: 'too high', zh: '偏大' } : { en: 'too low', zh: '偏小' };
    return fail(`${gn} is ${dir.en} for what the cluster shows now: count again.`, `${gn} 与集群当前的情况相比${dir.zh}，请再数一遍。`);
  }
  if (g === x) return pass();
  return fail(`"${given.trim()}" is not it; look again at the cluster.`, `"${given.trim()}" 不对，请再看一看集群。`);
}
