import type { Command } from 'commander';
import { addUpOptions, upAction, type UpCliOptions } from './cluster.ts';
import { addServeOptions, serveAction, type ServeOptions } from './serve.ts';

export function registerUp(program: Command): void {
  addServeOptions(addUpOptions(program.command('up').description('start the lab: bring up the lab cluster (as cluster up), then serve the lessons with a terminal in it (as serve)')))
    .action(async (opts: UpCliOptions & ServeOptions) => {
      await upAction(opts);
      await serveAction({ ...opts, cluster: opts.name });
    });
}
