#!/usr/bin/env node
// The svclab CLI. Runs the TypeScript sources directly (through tsx) so that a
// checkout is always runnable without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../runner/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
