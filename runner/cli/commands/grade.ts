import { Option, type Command } from 'commander';
import { UserError } from '../../errors.ts';
import { FORMATS, formatResult, type Format } from '../../core/grade/report.ts';
import type { Lang } from '../../core/lab/types.ts';
import { readAnswers } from '../../grade/answers.ts';
import { LabCluster } from '../../grade/cluster.ts';
import { gradeLab } from '../../grade/grade.ts';
import { loadLab } from '../../lab/load.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerGrade(program: Command): void {
  program
    .command('grade <lab>')
    .description('check the lab\'s tasks against the lab cluster now; exit 0 only if every task passes')
    .option('--name <cluster>', 'the lab cluster', 'svclab')
    .option('--task <id>', 'only this task')
    .option('--answer <task=value>', 'the answer to a task that asks for one (repeatable); default: answers given in the lesson page', collect, [])
    .addOption(new Option('--format <format>', 'output: text for people; json; junit and tap for CI; github for annotations and a GitHub Classroom result').choices([...FORMATS]).default('text'))
    .addOption(new Option('--lang <lang>', 'language of the reasons').choices(['en', 'zh']).default(process.env.LANG?.startsWith('zh') ? 'zh' : 'en'))
    .action(async (id: string, opts: { name: string; task?: string; answer: string[]; format: Format; lang: Lang }) => {
      const lab = await loadLab(id);
      if (opts.task && !lab.tasks.some((t) => t.id === opts.task)) throw new UserError(`lab ${id} has no task "${opts.task}": its tasks are ${lab.tasks.map((t) => t.id).join(', ')}`);
      const answers = await readAnswers(opts.name, id);
      for (const a of opts.answer) {
        const i = a.indexOf('=');
        if (i <= 0) throw new UserError(`--answer ${JSON.stringify(a)}: use TASK=VALUE, e.g. --answer find-chain=KUBE-SVC-XXXX`);
        const task = a.slice(0, i);
        if (!lab.tasks.some((t) => t.id === task)) throw new UserError(`--answer ${task}=…: lab ${id} has no task "${task}"`);
        answers[task] = a.slice(i + 1);
      }
      const result = await gradeLab(lab, await LabCluster.open(opts.name), { task: opts.task, answers });
      process.stdout.write(formatResult(result, opts.format, opts.lang, (s) => Buffer.from(s).toString('base64')));
      if (!result.pass) process.exitCode = 1;
    });
}
