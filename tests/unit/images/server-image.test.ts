// docker-compose.yml and the server image's Dockerfile name images by hand: they must stay
// the ones svclab builds, or `docker compose up --build` fails on a machine with no registry.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { debianBaseRef } from '../../../runner/images/debian-base.ts';
import { repoRoot } from '../../support/cli.ts';

const dockerfile = () => readFile(join(repoRoot, 'runner/images/server/Dockerfile'), 'utf8');

test('the compose file builds from the Debian base svclab builds offline', async () => {
  const compose = parse(await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8')) as {
    services: { svclab: { build: { context: string; dockerfile: string; args: Record<string, string> }; network_mode: string; volumes: string[]; command: string } };
  };
  const svc = compose.services.svclab;
  assert.equal(svc.build.dockerfile, 'runner/images/server/Dockerfile');
  assert.equal(svc.build.args.DEBIAN_IMAGE, `\${SVCLAB_DEBIAN_IMAGE:-${debianBaseRef('offline')}}`);
  assert.match(await dockerfile(), new RegExp(`^ARG DEBIAN_IMAGE=${debianBaseRef('offline').replace(/[.]/g, '\\.')}$`, 'm'));
  assert.equal(svc.network_mode, 'host', 'kind publishes API servers on the host\'s 127.0.0.1');
  assert.ok(svc.volumes.includes('/var/run/docker.sock:/var/run/docker.sock'));
  assert.match(svc.command, /^serve --host \$\{SVCLAB_HOST:-127\.0\.0\.1\} /, 'loopback unless told otherwise');
});

test('the server image runs a Node.js that package.json allows', async () => {
  const node = /^ARG NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(await dockerfile());
  assert.ok(node, 'the Dockerfile pins NODE_VERSION');
  const engines = (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
  const min = /^>=(\d+)\.(\d+)$/.exec(engines);
  assert.ok(min, `engines.node is ">=MAJOR.MINOR" (${engines})`);
  const [maj, minr] = [Number(node[1]), Number(node[2])];
  assert.ok(maj > Number(min[1]) || (maj === Number(min[1]) && minr >= Number(min[2])), `Node.js ${node.slice(1).join('.')} satisfies ${engines}`);
});
