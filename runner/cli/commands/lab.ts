import { Option, type Command } from 'commander';
import { UserError } from '../../errors.ts';
import { junitXml } from '../../core/grade/report.ts';
import type { Lang } from '../../core/lab/types.ts';
import { LabCluster } from '../../grade/cluster.ts';
import { labTestJUnit, labTestTable, testLab, type LabTestCase } from '../../grade/lab-test.ts';
import { cleanup, solve, startLab } from '../../grade/lifecycle.ts';
import { withClusterLock } from '../../grade/lock.ts';
import { LabInvalidError, labsDir, listLabIds, loadLab, loadLabDir } from '../../lab/load.ts';
import { join } from 'node:path';

const lang = (v: string): Lang => (v === 'zh' ? 'zh' : 'en');
const locked = <T>(cluster: string, fn: () => Promise<T>) => withClusterLock(cluster, fn, (pid) => process.stderr.write(`svclab: waiting for another lab run on cluster ${cluster} (pid ${pid}) to finish...\n`));

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('the labs: list, validate, start, solve, and prove them solvable (lab test)');

  lab
    .command('list')
    .description('the labs and their tasks')
    .addOption(new Option('--lang <lang>', 'language of the titles').choices(['en', 'zh']).default('en'))
    .action(async (opts: { lang: string }) => {
      const rows: string[][] = [['LAB', 'TASKS', 'NODES', 'TITLE']];
      for (const id of await listLabIds()) {
        const l = await loadLab(id);
        rows.push([id, String(l.tasks.length), String(l.nodes ?? 3), l.title[lang(opts.lang)]]);
      }
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      process.stdout.write(rows.map((r) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i]!))).join('   ')).join('\n') + '\n');
    });

  lab
    .command('validate [labs...]')
    .description('check lab.yaml files against labs/lab.schema.json; every problem with file and line')
    .action(async (ids: string[]) => {
      const all = ids.length ? ids : await listLabIds();
      if (all.length === 0) throw new UserError(`no labs found in ${labsDir}`);
      let bad = 0;
      for (const id of all) {
        try {
          await loadLabDir(join(labsDir, id));
          process.stdout.write(`✓ ${id}\n`);
        } catch (err) {
          bad++;
          if (err instanceof LabInvalidError) for (const p of err.problems) process.stderr.write(`${p.file}:${p.line}: ${p.message}\n`);
          else process.stderr.write(`${id}: ${(err as Error).message}\n`);
        }
      }
      if (bad) throw new UserError(`${bad} of ${all.length} labs are invalid: fix the lines above (the format is in labs/README.md)`);
    });

  lab
    .command('start <lab>')
    .description('put the lab cluster in the lab\'s starting state: remove what earlier labs left in its namespace, apply its setup')
    .option('--name <cluster>', 'the lab cluster', 'svclab')
    .action(async (id: string, opts: { name: string }) => {
      const l = await loadLab(id);
      await locked(opts.name, async () => startLab(await LabCluster.open(opts.name), l));
      process.stdout.write(`lab ${id} is ready in namespace ${l.namespace} of cluster ${opts.name}: svclab grade ${id} shows your progress\n`);
    });

  lab
    .command('solve <lab>')
    .description('run the lab\'s solution script in the toolbox pod (what `lab test` does after setup)')
    .option('--name <cluster>', 'the lab cluster', 'svclab')
    .action(async (id: string, opts: { name: string }) => {
      const l = await loadLab(id);
      await locked(opts.name, async () => solve(await LabCluster.open(opts.name), l));
      process.stdout.write(`lab ${id} solved: svclab grade ${id} should pass now\n`);
    });

  lab
    .command('cleanup <lab>')
    .description('remove what learners made in the lab\'s namespace')
    .option('--name <cluster>', 'the lab cluster', 'svclab')
    .action(async (id: string, opts: { name: string }) => {
      const l = await loadLab(id);
      await locked(opts.name, async () => cleanup(await LabCluster.open(opts.name), l.namespace));
    });

  lab
    .command('test [labs...]')
    .description('prove each lab solvable: setup, every check must fail, solution, every check must pass, cleanup')
    .option('--name <cluster>', 'the lab cluster', 'svclab')
    .addOption(new Option('--format <format>', 'output').choices(['text', 'json', 'junit']).default('text'))
    .action(async (ids: string[], opts: { name: string; format: string }) => {
      const all = ids.length ? ids : await listLabIds();
      const labs = [];
      for (const id of all) labs.push(await loadLab(id));
      const cluster = await LabCluster.open(opts.name);
      const cases: LabTestCase[] = [];
      for (const l of labs) {
        if (opts.format === 'text') process.stderr.write(`lab test ${l.id} ...\n`);
        const run = () => testLab(cluster, l, (c) => {
          if (opts.format === 'text' && !c.ok) process.stderr.write(`  FAIL ${c.task} ${c.check} (${c.phase}): ${c.message ?? ''}\n`);
        });
        cases.push(...(await locked(opts.name, run)));
      }
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify({ pass: cases.every((c) => c.ok), cases }, null, 2)}\n`);
      else if (opts.format === 'junit') process.stdout.write(junitXml(labTestJUnit(cases)));
      else process.stdout.write(labTestTable(cases));
      if (!cases.every((c) => c.ok)) process.exitCode = 1;
    });
}
