#!/usr/bin/env -S node --max-semi-space-size=64
// The `lambda` CLI. TypeScript sources run through tsx's loader, so there is no build step.
// The speed layer and the archiver allocate short-lived objects per record, and a batch in flight
// outlives V8's default 16 MiB semi-space: with 64 MiB, three times fewer scavenges and 3-11% less
// CPU for the speed layer. V8 sizes its young generation only at start (v8.setFlagsFromString
// comes too late), hence the flag here and in `npm start` (which runs node itself, as its test
// expects, so that a signal reaches the platform rather than a shell).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
