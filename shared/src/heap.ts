import v8 from 'node:v8';

/**
 * Archiving allocates a short-lived object graph per record (parsed JSON, the validated event, its
 * NDJSON line); with V8's default 16 MiB semi-space most of the CPU goes to scavenges that promote
 * records still buffered. A larger young generation measured 25-30% more throughput. It is a
 * process-wide setting, so only entry points that run the archiver call this.
 */
export function enlargeYoungGeneration(semiSpaceMiB = 64): void {
  v8.setFlagsFromString(`--max-semi-space-size=${semiSpaceMiB}`);
}
