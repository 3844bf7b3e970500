import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointChainName, masqueradeMark, servicePortChains } from '../../../runner/core/proxy/chains.ts';
import { base32, sha256, utf8 } from '../../../runner/core/proxy/sha256.ts';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

test('sha256 matches the FIPS 180-4 test vectors', () => {
  assert.equal(hex(sha256(utf8(''))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(sha256(utf8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  // 64-byte input: padding spills into a second block.
  assert.equal(hex(sha256(utf8('a'.repeat(64)))), 'ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb');
});

test('base32 is RFC 4648 standard encoding with padding', () => {
  const cases: [string, string][] = [['', ''], ['f', 'MY======'], ['fo', 'MZXQ===='], ['foo', 'MZXW6==='], ['foob', 'MZXW6YQ='], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI======']];
  for (const [input, out] of cases) assert.equal(base32(utf8(input)), out, input);
});

test('chain names hash "ns/name:port" + protocol (+ endpoint) like upstream', () => {
  // Values computed independently (Python hashlib + base64.b32encode).
  assert.deepEqual(servicePortChains('ns1/svc1:p80', 'tcp'), {
    svc: 'KUBE-SVC-XPGD46QRK7WJZT7O', svl: 'KUBE-SVL-XPGD46QRK7WJZT7O', ext: 'KUBE-EXT-XPGD46QRK7WJZT7O', fw: 'KUBE-FW-XPGD46QRK7WJZT7O',
  });
  assert.equal(servicePortChains('bad/svc1:http', 'tcp').svc, 'KUBE-SVC-NBKX6MPHE7FHFQQ7');
  assert.equal(endpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80'), 'KUBE-SEP-SXIVWICOYRO3J4NJ');
  assert.equal(endpointChainName('bad/svc1:http', 'tcp', '10.244.1.5:8080'), 'KUBE-SEP-A36VP3BAVRNMEF6W');
  // The protocol is part of the hash: the same port name over UDP is another chain.
  assert.notEqual(servicePortChains('ns1/svc1:p80', 'udp').svc, 'KUBE-SVC-XPGD46QRK7WJZT7O');
});

test('the masquerade mark is formatted like Go %#08x', () => {
  assert.equal(masqueradeMark(14), '0x00004000');
  assert.equal(masqueradeMark(0), '0x00000001');
  assert.equal(masqueradeMark(31), '0x80000000');
});
