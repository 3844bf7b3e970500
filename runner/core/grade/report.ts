// Grade results and their formats: text for people, JSON for programs, JUnit and TAP for
// CI systems, GitHub annotations plus a GitHub Classroom style result.
import type { Bilingual, CheckKind, Lang } from '../lab/types.ts';

export interface CheckResult {
  kind: CheckKind;
  /** 0-based position in the task's checks. */
  index: number;
  pass: boolean;
  reason?: Bilingual;
  ms: number;
}

export interface TaskResult {
  id: string;
  title: Bilingual;
  pass: boolean;
  checks: CheckResult[];
}

export interface LabResult {
  lab: string;
  title: Bilingual;
  pass: boolean;
  tasks: TaskResult[];
}

export const FORMATS = ['text', 'json', 'junit', 'tap', 'github'] as const;
export type Format = (typeof FORMATS)[number];

export function xmlEscape(s: string): string {
  // XML 1.0 cannot carry these control characters at all, escaped or not.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');
}

const secs = (ms: number) => (ms / 1000).toFixed(3);

export function formatText(r: LabResult, lang: Lang = 'en'): string {
  const out: string[] = [`${r.lab}: ${r.title[lang]}`];
  for (const t of r.tasks) {
    out.push(`  ${t.pass ? '✓' : '✗'} ${t.id}: ${t.title[lang]}`);
    for (const c of t.checks) if (!c.pass && c.reason) out.push(`      ${c.reason[lang]}`);
  }
  const passed = r.tasks.filter((t) => t.pass).length;
  out.push(lang === 'zh' ? `${passed}/${r.tasks.length} 个任务完成` : `${passed}/${r.tasks.length} tasks passed`);
  return `${out.join('\n')}\n`;
}

export function formatJson(r: LabResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

export interface JUnitCase {
  classname: string;
  name: string;
  ms: number;
  failure?: string;
  skipped?: string;
}

/** One <testsuite> per group, the way CI systems (Jenkins, GitLab, GitHub actions) read JUnit. */
export function junitXml(suites: { name: string; cases: JUnitCase[] }[]): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const all = suites.flatMap((s) => s.cases);
  const failures = all.filter((c) => c.failure !== undefined).length;
  const skipped = all.filter((c) => c.skipped !== undefined).length;
  lines.push(`<testsuites name="svclab" tests="${all.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${secs(all.reduce((a, c) => a + c.ms, 0))}">`);
  for (const s of suites) {
    const f = s.cases.filter((c) => c.failure !== undefined).length;
    const sk = s.cases.filter((c) => c.skipped !== undefined).length;
    lines.push(`  <testsuite name="${xmlEscape(s.name)}" tests="${s.cases.length}" failures="${f}" errors="0" skipped="${sk}" time="${secs(s.cases.reduce((a, c) => a + c.ms, 0))}">`);
    for (const c of s.cases) {
      const open = `    <testcase classname="${xmlEscape(c.classname)}" name="${xmlEscape(c.name)}" time="${secs(c.ms)}"`;
      if (c.failure !== undefined) lines.push(`${open}>`, `      <failure message="${xmlEscape(c.failure)}">${xmlEscape(c.failure)}</failure>`, '    </testcase>');
      else if (c.skipped !== undefined) lines.push(`${open}>`, `      <skipped message="${xmlEscape(c.skipped)}"/>`, '    </testcase>');
      else lines.push(`${open}/>`);
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

function checkName(t: TaskResult, c: CheckResult): string {
  return t.checks.length === 1 ? t.id : `${t.id} [${c.index + 1}: ${c.kind}]`;
}

export function formatJUnit(r: LabResult, lang: Lang = 'en'): string {
  return junitXml([{ name: r.lab, cases: r.tasks.flatMap((t) => t.checks.map((c) => ({ classname: `${r.lab}.${t.id}`, name: checkName(t, c), ms: c.ms, ...(c.pass ? {} : { failure: c.reason?.[lang] ?? 'failed' }) }))) }]);
}

export function tapText(points: { ok: boolean; name: string; diag?: string }[]): string {
  const out = ['TAP version 14', `1..${points.length}`];
  points.forEach((p, i) => {
    out.push(`${p.ok ? 'ok' : 'not ok'} ${i + 1} - ${p.name.replace(/#/g, '\\#')}`);
    if (p.diag) out.push('  ---', `  message: ${JSON.stringify(p.diag)}`, '  ...');
  });
  return `${out.join('\n')}\n`;
}

export function formatTap(r: LabResult, lang: Lang = 'en'): string {
  return tapText(r.tasks.flatMap((t) => t.checks.map((c) => ({ ok: c.pass, name: `${r.lab} ${checkName(t, c)}`, diag: c.pass ? undefined : c.reason?.[lang] }))));
}

/** GitHub's workflow-command escaping for annotation messages and properties. */
const ghData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const ghProp = (s: string) => ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** The result object GitHub Classroom's autograding reporter reads (tests with scores). */
export function classroomResult(r: LabResult) {
  return {
    version: 1,
    status: r.pass ? 'pass' : 'fail',
    max_score: r.tasks.length,
    tests: r.tasks.map((t) => ({ name: `${r.lab}/${t.id}`, status: t.pass ? 'pass' : 'fail', message: t.checks.find((c) => !c.pass)?.reason?.en ?? '', score: t.pass ? 1 : 0, max_score: 1 })),
  };
}

/** Annotations (::notice / ::error) and, last, the Classroom result as base64 JSON (`base64` is the caller's encoder). */
export function formatGithub(r: LabResult, lang: Lang, base64: (s: string) => string): string {
  const out: string[] = [];
  for (const t of r.tasks) {
    const title = ghProp(`${r.lab}/${t.id}: ${t.title[lang]}`);
    if (t.pass) out.push(`::notice title=${title}::passed`);
    else for (const c of t.checks.filter((x) => !x.pass)) out.push(`::error title=${title}::${ghData(c.reason?.[lang] ?? 'failed')}`);
  }
  out.push(`result=${base64(JSON.stringify(classroomResult(r)))}`);
  return `${out.join('\n')}\n`;
}

export function formatResult(r: LabResult, format: Format, lang: Lang, base64: (s: string) => string): string {
  switch (format) {
    case 'json':
      return formatJson(r);
    case 'junit':
      return formatJUnit(r, lang);
    case 'tap':
      return formatTap(r, lang);
    case 'github':
      return formatGithub(r, lang, base64);
    default:
      return formatText(r, lang);
  }
}
