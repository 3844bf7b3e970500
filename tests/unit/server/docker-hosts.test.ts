// The Docker clients a class's --docker-host values give: what each engine is reached with.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dockerForHost } from '../../../runner/docker.ts';

type Modem = { socketPath?: string; protocol: string; host?: string; port?: number; ca?: Buffer; cert?: Buffer; key?: Buffer; sshOptions?: { agent?: string } };
const modem = (host: string) => (dockerForHost(host) as unknown as { modem: Modem }).modem;

function withEnv(env: Record<string, string | undefined>, fn: () => void) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

test('unix:// is a socket path', () => {
  assert.equal(modem('unix:///run/svclab-docker2.sock').socketPath, '/run/svclab-docker2.sock');
});

test('tcp:// with TLS carries the certificates from DOCKER_CERT_PATH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-certs-'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), `-----BEGIN CERTIFICATE-----\n${f}\n-----END CERTIFICATE-----\n`);
  withEnv({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }, () => {
    const m = modem('tcp://lab3.example:2376');
    assert.equal(m.protocol, 'https');
    assert.deepEqual([m.host, Number(m.port)], ['lab3.example', 2376]);
    assert.match(String(m.cert), /cert\.pem/);
    assert.match(String(m.key), /key\.pem/);
    assert.ok(m.ca, 'the CA is passed, so the engine\'s certificate is verified');
  });
});

test('tcp:// with TLS and no certificates is a one-line error naming the file', () => {
  withEnv({ DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(tmpdir(), 'svclab-no-such-certs') }, () => {
    assert.throws(() => dockerForHost('tcp://lab3.example:2376'), /ca\.pem cannot be read: set DOCKER_CERT_PATH/);
  });
});

test('tcp:// without TLS is plain http on 2375', () => {
  withEnv({ DOCKER_TLS_VERIFY: undefined }, () => {
    const m = modem('tcp://10.0.0.5');
    assert.deepEqual([m.protocol, Number(m.port)], ['http', 2375]);
  });
});

test('ssh:// uses the SSH agent', () => {
  withEnv({ SSH_AUTH_SOCK: '/tmp/agent.sock' }, () => {
    const m = modem('ssh://lab@lab2.example');
    assert.equal(m.protocol, 'ssh');
    assert.equal(m.sshOptions?.agent, '/tmp/agent.sock');
  });
});
