#!/usr/bin/env node
// `npm run bench -- <name> [--events N] [...]` runs bench/<name>.ts; each benchmark ends by
// printing one JSON line of figures and ratios.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bench');
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();
const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h' || !existsSync(path.join(benchDir, `${name}.ts`))) {
  console.error(`usage: npm run bench -- <name> [--events N]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name && name !== '--help' && name !== '-h' ? 2 : 0);
}
// With the heap `lambda` runs with (bin/lambda.js); the baselines share the process, and the heap.
const r = spawnSync(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', path.join(benchDir, `${name}.ts`), ...rest], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
