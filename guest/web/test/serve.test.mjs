// The demo's static server (scripts/serve.mjs): where it redirects, and the headers it sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { serve } from '../scripts/serve.mjs';

async function get(path) {
  const server = await serve(0);
  try {
    return await new Promise((resolve, reject) => {
      // node:http sends the path as written, as a hostile client would.
      const req = request({ host: '127.0.0.1', port: server.address().port, path }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

test('a directory is redirected to its own path on this server, never elsewhere', async () => {
  assert.equal((await get('/demo')).headers.location, '/demo/');
  const hostile = await get('/%2Fevil.example%2F..%2Fdemo');
  assert.equal(hostile.statusCode, 301);
  assert.equal(hostile.headers.location, '/demo/');
});

test('every answer forbids sniffing and framing and carries a content security policy', async () => {
  for (const path of ['/demo/', '/demo/demo.js', '/nowhere', '/demo']) {
    const res = await get(path);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    assert.equal(res.headers['x-frame-options'], 'DENY', path);
    assert.match(res.headers['content-security-policy'] ?? '', /default-src 'self'/, path);
  }
  // The page's inline import map is allowed by its hash, nothing else inline.
  const page = await get('/demo/');
  assert.match(page.headers['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval' 'sha256-[A-Za-z0-9+/]+=*'/);
  assert.doesNotMatch(page.headers['content-security-policy'], /'unsafe-inline'|'unsafe-eval'/);
});
