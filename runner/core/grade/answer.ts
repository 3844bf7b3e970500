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

/** Any of several live values will do (e.g. the addresses of one node). */
export function evaluateAnswerAnyOf(check: AnswerCheck, given: string | undefined, expected: string[] | undefined): Verdict {
  if (!expected || expected.length === 0) return evaluateAnswer(check, given, undefined);
  const g = given === undefined ? undefined : normalizeAnswer(given);
  return evaluateAnswer(check, given, expected.find((x) => normalizeAnswer(x) === g) ?? expected[0]);
}

/**
 * A measurement the learner made (a time in ms) against the grader's own measurement of
 * the same thing just now. Timings on a shared machine wander: within `factor` either
 * way, or within `slackMs`, is the same measurement.
 */
export function evaluateMeasurement(check: AnswerCheck, given: string | undefined, measuredMs: number | undefined, factor = 3, slackMs = 0.3): Verdict {
  if (given === undefined || given.trim() === '') return evaluateAnswer(check, given, undefined);
  if (measuredMs === undefined) return evaluateAnswer(check, given, undefined);
  const g = Number(normalizeAnswer(given).replace(/\s*ms$/, ''));
  if (!Number.isFinite(g) || g < 0) return fail(`"${given.trim()}" is not a time in milliseconds, such as 0.25.`, `"${given.trim()}" 不是以毫秒为单位的时间，例如 0.25。`);
  if (Math.abs(g - measuredMs) <= slackMs || (g > 0 && g <= measuredMs * factor && g >= measuredMs / factor)) return pass();
  const dir = g > measuredMs ? { en: 'much longer', zh: '长得多' } : { en: 'much shorter', zh: '短得多' };
  return fail(`${g} ms is ${dir.en} than what the grader measures now: measure again with the task's command (time_connect is in seconds; type milliseconds).`, `${g} 毫秒比评分器现在测得的${dir.zh}：请用任务里的命令重新测量（time_connect 的单位是秒，这里要填毫秒）。`);
}
