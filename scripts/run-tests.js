#!/usr/bin/env node
// Runs every *.test.ts file with Node's own test runner (TypeScript through tsx). Extra arguments
// narrow the run to files whose path contains one of them: `npm test -- archiver`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const roots = ['shared', 'batch-layer', 'speed-layer', 'serving-layer', 'cli', 'test'];
const filters = process.argv.slice(2);

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = roots
  .flatMap((r) => walk(r, []))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// One file at a time: the integration tests share one Kafka broker and one Redis server. A test
// that hangs fails after ten minutes instead of holding the whole run until CI's limit. The runner
// leads a process group of its own, so that whatever a test started and left running (the child
// of a test file the runner timed out, say) is found when the run ends, killed, and fails the run:
// left alone it would outlive the job, go on using the services, and could hold an output pipe,
// and with it the CI job, open.
const runner = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...files],
  { stdio: 'inherit', detached: true },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
const [code] = await once(runner, 'exit');

const left = leftovers();
if (left.length > 0) {
  console.error(`error: tests left ${left.length} process(es) running, now killed (tests must stop what they start):\n${left.join('\n')}`);
  killGroup('SIGKILL');
  process.exit(1);
}
process.exit(code ?? 1);

function killGroup(signal) {
  try {
    process.kill(-runner.pid, signal);
  } catch {
    // The group is empty: nothing is left to stop.
  }
}

/** The processes of the runner's group still alive, from /proc. */
function leftovers() {
  const out = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name in parentheses may hold spaces: the fields after it are split. A zombie
      // has ended and only waits to be reaped.
      const [state, , pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgid) === runner.pid && state !== 'Z') out.push(`  ${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`);
    } catch {
      // The process ended while the list was read.
    }
  }
  return out;
}
