import type { Command } from 'commander';
import { addUpOptions, upAction } from './cluster.ts';

export function registerUp(program: Command): void {
  addUpOptions(program.command('up').description('start the lab: build or pull the images and bring up the lab cluster (same options as cluster up)')).action(upAction);
}
