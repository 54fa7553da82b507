// A small static file server for guest/web on 127.0.0.1, for the demo page and its tests.
// Usage: node scripts/serve.mjs [port]   (or PORT=...; 0 picks a free port)
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * What the demo needs and no more: its own scripts (and the inline import map, by hash,
 * see `policy`), WebAssembly compiled from them, and fetches to itself or a loopback
 * `maas serve` (the browser test calls one from the page).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' http://127.0.0.1:* http://localhost:*",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
];

const HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': CSP.join('; '),
};

/** The policy for an HTML page: `CSP`, its inline scripts (the import map) allowed by hash. */
function policy(html) {
  const hashes = [...html.matchAll(/<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`,
  );
  return CSP.map((d) => (d.startsWith('script-src ') ? [d, ...hashes].join(' ') : d)).join('; ');
}

/** Starts the server; resolves to the listening http.Server. */
export function serve(port = 0, host = '127.0.0.1') {
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(HEADERS)) res.setHeader(name, value);
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      return;
    }
    const file = normalize(join(ROOT, path));
    if (file !== ROOT && !file.startsWith(ROOT + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    let target = file;
    try {
      if (statSync(target).isDirectory()) {
        if (!path.endsWith('/')) {
          // Built from the file found, never from the request's text: a path such as
          // `//evil.example/../demo` would otherwise send the browser to another site.
          const segments = relative(ROOT, file).split(sep).filter(Boolean).map(encodeURIComponent);
          res.writeHead(301, { location: `/${segments.map((s) => `${s}/`).join('')}` }).end();
          return;
        }
        target = join(target, 'index.html');
      }
      statSync(target);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const headers = { 'content-type': TYPES[extname(target)] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (extname(target) === '.html') {
      const html = readFileSync(target, 'utf8');
      res.writeHead(200, { ...headers, 'content-security-policy': policy(html) }).end(html);
      return;
    }
    res.writeHead(200, headers);
    createReadStream(target).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
  const server = await serve(port);
  const { address, port: bound } = server.address();
  console.log(`serving ${ROOT} at http://${address}:${bound}/ (demo: http://${address}:${bound}/demo/)`);
}
