import { Command, CommanderError } from 'commander';
import { ConfigError } from '@lambda/shared';
import { registerArchive } from './commands/archive.ts';
import { registerBatch } from './commands/batch.ts';
import { registerDemo } from './commands/demo.ts';
import { registerGenerate } from './commands/generate.ts';
import { registerIngest } from './commands/ingest.ts';
import { registerSpeed } from './commands/speed.ts';
import { registerQuery } from './commands/query.ts';
import { registerUp } from './commands/up.ts';

export function buildProgram(): Command {
  const program = new Command('lambda')
    .description(
      'Lambda-architecture reference platform. Configuration comes from environment variables ' +
        '(DATA_DIR, KAFKA_BROKERS, REDIS_URL, ...); unset means the embedded default.',
    )
    .showHelpAfterError()
    .exitOverride();
  registerUp(program);
  registerGenerate(program);
  registerIngest(program);
  registerArchive(program);
  registerSpeed(program);
  registerBatch(program);
  registerQuery(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof ConfigError) {
      console.error(`lambda: ${err.message}`);
      process.exit(2);
    }
    console.error(`lambda: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
