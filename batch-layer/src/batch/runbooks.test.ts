import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readManifest, type BatchManifest } from './manifest.ts';
import { repoRoot, runLambda, spawnLambda, tempDataDir } from './test-support.ts';

/**
 * Every command in docs/runbooks/*.md runs, in order, against a data dir prepared as in
 * production (generate -> archive --once -> a first batch run), and does what the runbook says it does.
 */
const RUNBOOKS_DIR = path.join(repoRoot, 'docs', 'runbooks');
// The order an operator meets them: backfill and rollback need published versions.
const ORDER = ['nightly-recompute.md', 'backfill.md', 'rollback.md'];

function commandsOf(markdown: string): string[][] {
  const out: string[][] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n').map((l) => l.trim())) {
      if (line === '' || line.startsWith('#')) continue;
      const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      const args = words[0] === 'npx' ? words.slice(1) : words;
      assert.equal(args[0], 'lambda', `runbook commands are lambda commands: ${line}`);
      out.push(args.slice(1));
    }
  }
  return out;
}

test('every runbook command runs and does what the runbook says', { timeout: 300_000 }, async (t) => {
  assert.deepEqual((await readdir(RUNBOOKS_DIR)).filter((f) => f.endsWith('.md')).sort(), [...ORDER].sort());
  const dataDir = await tempDataDir(t, 'runbooks-');
  const gen = await runLambda(dataDir, ['generate', '--events', '20000', '--rate', '5', '--start', '2024-05-01T00:00:00Z', '--late-share', '0.05', '--duplicate-share', '0.02']);
  assert.equal(gen.code, 0, gen.stderr);
  const archive = await runLambda(dataDir, ['archive', '--once']);
  assert.equal(archive.code, 0, archive.stderr);
  // The state the runbooks start from: a night has run.
  const night = await runLambda(dataDir, ['batch', 'run']);
  assert.equal(night.code, 0, night.stderr);

  let ran = 0;
  for (const file of ORDER) {
    for (const args of commandsOf(await readFile(path.join(RUNBOOKS_DIR, file), 'utf8'))) {
      const before = await readManifest(dataDir);
      const label = `${file}: lambda ${args.join(' ')}`;
      if (args[0] === 'batch' && args[1] === 'schedule') {
        const child = spawnLambda(dataDir, args);
        await child.stderrMatches(/scheduled/);
        child.child.kill('SIGTERM');
        const r = await child.exited;
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        assert.match(r.stderr, /stopped/, label);
      } else {
        const r = await runLambda(dataDir, args);
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        await checkOutcome(args, before, (await readManifest(dataDir))!, r.stdout, label);
      }
      ran++;
    }
  }
  assert.ok(ran >= 10, `ran ${ran} commands`);
});

async function checkOutcome(args: string[], before: BatchManifest | null, after: BatchManifest, stdout: string, label: string): Promise<void> {
  const json = args.includes('--json');
  const [cmd, sub] = args;
  if (cmd === 'batch' && sub === 'run') {
    assert.notEqual(after.current.runId, before?.current.runId, `${label}: a new version is current`);
    if (args.includes('--from')) {
      assert.equal(after.current.kind, 'backfill', label);
      assert.equal(after.current.highWaterMark, before!.current.highWaterMark, `${label}: the hwm is kept`);
    } else {
      assert.ok(after.current.highWaterMark !== null, label);
    }
    const views = args.includes('--views') ? args[args.indexOf('--views') + 1]!.split(',') : Object.keys(after.current.views);
    for (const v of views) assert.equal(after.current.views[v]?.computed, true, `${label}: ${v} recomputed`);
    if (json) assert.equal((JSON.parse(stdout) as { runId: string }).runId, after.current.runId, label);
  } else if (cmd === 'batch' && sub === 'rollback') {
    const previous = before!.versions.find((v) => v.runId < before!.current.runId)!;
    assert.equal(after.current.runId, previous.runId, `${label}: the previous version is current`);
  } else if (cmd === 'batch' && (sub === 'status' || sub === 'versions')) {
    assert.deepEqual(after, before, `${label}: read-only`);
    if (json) assert.equal((JSON.parse(stdout) as BatchManifest).current.runId, after.current.runId, label);
    else assert.ok(stdout.includes(after.current.runId), label);
  } else if (cmd === 'query') {
    assert.deepEqual(after, before, `${label}: read-only`);
    if (json) {
      const answer = JSON.parse(stdout) as { runId: string; rows: unknown[] };
      assert.equal(answer.runId, after.current.runId, label);
      assert.ok(answer.rows.length > 0, `${label}: rows`);
    } else {
      assert.ok(stdout.trim().split('\n').length > 1, `${label}: rows`);
    }
  } else {
    assert.fail(`${label}: no outcome check for this command`);
  }
}
