// Transpiles the core component into an ES module under dist/core with jco. The journal
// import goes to src/journal.js; WASI imports go to @bytecodealliance/preview2-shim.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wasm = resolve(
  root,
  process.env.MAAS_CORE_WASM ?? '../../target/guest/wasm32-wasip2/release/maas_component.wasm',
);
if (!existsSync(wasm)) {
  console.error(`core component not found: ${wasm}\nbuild it with \`cargo build -p maas-host\` or set MAAS_CORE_WASM`);
  process.exit(1);
}
const out = join(root, 'dist', 'core');
rmSync(out, { recursive: true, force: true });
const jco = join(root, 'node_modules', '@bytecodealliance', 'jco', 'dist', 'jco.js');
const args = [
  jco, 'transpile', wasm, '-o', out, '--quiet',
  // Relative to the generated module in dist/core.
  '--map', 'maas:core/journal=../../src/journal.js',
];
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
console.log(`transpiled ${wasm} -> ${out}`);
