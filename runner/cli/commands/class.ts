import { readFile, writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { UserError } from '../../errors.ts';
import { readAdminToken, readServerInfo } from '../../server/server-info.ts';
import { parseRoster } from '../../server/classroom/routes.ts';
import { printTable } from './cluster.ts';

interface ServerOpt {
  server?: string;
  token?: string;
}

/** Calls the running classroom server's API with the admin token. */
async function call<T>(opts: ServerOpt, method: string, path: string, body?: unknown): Promise<T> {
  const base = opts.server ?? (await readServerInfo())?.url;
  if (!base) throw new UserError("no classroom server is running: start one with 'svclab serve --classroom' (or pass --server URL)");
  const token = opts.token ?? (await readAdminToken());
  if (!token) throw new UserError('no admin token: pass --token (it is printed by svclab serve --classroom)');
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new UserError(`the classroom server at ${base} does not answer: is 'svclab serve --classroom' running?`);
  }
  const out = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new UserError(out.error ?? `${method} ${path}: HTTP ${res.status}`);
  return out;
}

interface ClassSummary {
  id: string;
  title: string;
  labs: string[];
  joinCode: string;
  instructorToken: string;
  learners: number;
}

async function findClass(opts: ServerOpt, ref: string | undefined): Promise<ClassSummary> {
  const { classes } = await call<{ classes: ClassSummary[] }>(opts, 'GET', '/api/classes');
  if (classes.length === 0) throw new UserError("there are no classes yet: create one with 'svclab class create'");
  if (!ref) {
    if (classes.length > 1) throw new UserError(`several classes exist (${classes.map((c) => c.id).join(', ')}): pass --class ID`);
    return classes[0]!;
  }
  const c = classes.find((x) => x.id === ref || x.title === ref);
  if (!c) throw new UserError(`no class "${ref}": see 'svclab class list'`);
  return c;
}

const serverOptions = (cmd: Command) => cmd.option('--server <url>', 'the classroom server (default: the one running here)').option('--token <token>', 'the admin token (default: read from svclab\'s state)');

export function registerClass(program: Command): void {
  const cls = program.command('class').description('run a classroom: create classes, reset learners, export the gradebook (talks to svclab serve --classroom)');

  serverOptions(cls.command('create').description('create a class: its labs in order and, optionally, a roster of learners (each gets a personal link)'))
    .requiredOption('--title <title>', 'the class title')
    .requiredOption('--labs <ids>', 'comma-separated lab ids, in order')
    .option('--learners <file>', 'roster: one learner name per line')
    .action(async (opts: ServerOpt & { title: string; labs: string; learners?: string }) => {
      let roster: string | undefined;
      if (opts.learners) {
        try {
          roster = await readFile(opts.learners, 'utf8');
        } catch {
          throw new UserError(`cannot read roster ${opts.learners}: no such file or not readable`);
        }
        try {
          parseRoster(roster);
        } catch (err) {
          throw new UserError(`${opts.learners}: ${(err as Error).message}`);
        }
      }
      const labs = opts.labs.split(',').map((s) => s.trim()).filter(Boolean);
      const base = opts.server ?? (await readServerInfo())?.url ?? '';
      const r = await call<{ class: { id: string; title: string; joinCode: string }; instructorToken: string; learners: ({ name: string; token: string } | { name: string; error: string })[] }>(opts, 'POST', '/api/classes', { title: opts.title, labs, learners: roster });
      console.log(`Class "${r.class.title}" (${r.class.id}) created.`);
      console.log(`Join link:       ${base}join?code=${r.class.joinCode}   (join code ${r.class.joinCode})`);
      console.log(`Instructor link: ${base}instructor?token=${r.instructorToken}`);
      for (const l of r.learners) console.log('token' in l ? `  ${l.name}: ${base}?token=${l.token}` : `  ${l.name}: not admitted: ${l.error}`);
    });

  serverOptions(cls.command('list').description('list the classes')).action(async (opts: ServerOpt) => {
    const { classes } = await call<{ classes: ClassSummary[] }>(opts, 'GET', '/api/classes');
    printTable(['ID', 'TITLE', 'LABS', 'LEARNERS', 'JOIN-CODE'], classes.map((c) => [c.id, c.title, c.labs.join(','), String(c.learners), c.joinCode]));
  });

  serverOptions(cls.command('reset').description("reset a learner's lab to its setup state (cluster kept), or recreate their cluster"))
    .option('--class <id>', 'the class (needed when there are several)')
    .requiredOption('--learner <name>', 'the learner\'s display name')
    .option('--lab <id>', 'the lab to reset')
    .option('--recreate', 'delete and recreate the learner\'s whole cluster', false)
    .action(async (opts: ServerOpt & { class?: string; learner: string; lab?: string; recreate: boolean }) => {
      if (!opts.lab === !opts.recreate) throw new UserError('give exactly one of --lab ID or --recreate');
      const c = await findClass(opts, opts.class);
      const grid = await call<{ learners: { id: string; name: string }[] }>(opts, 'GET', `/api/class?class=${c.id}`);
      const l = grid.learners.find((x) => x.name.toLowerCase() === opts.learner.toLowerCase());
      if (!l) throw new UserError(`no learner "${opts.learner}" in ${c.title}: learners are ${grid.learners.map((x) => x.name).join(', ') || 'none yet'}`);
      await call(opts, 'POST', `/api/class/learners/${l.id}/reset?class=${c.id}`, opts.recreate ? { recreate: true } : { lab: opts.lab });
      console.log(opts.recreate ? `Recreating ${l.name}'s cluster.` : `Reset ${l.name}'s lab ${opts.lab}.`);
    });

  serverOptions(cls.command('export').description('export the gradebook: one row per learner, one column per task'))
    .option('--class <id>', 'the class (needed when there are several)')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json', 'junit']).default('csv'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (opts: ServerOpt & { class?: string; format: string; output?: string }) => {
      const c = await findClass(opts, opts.class);
      const r = await call<{ body: string }>(opts, 'GET', `/api/class/export?class=${c.id}&format=${opts.format}`);
      if (opts.output) await writeFile(opts.output, r.body);
      else process.stdout.write(r.body);
    });
}
