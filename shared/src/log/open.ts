import path from 'node:path';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { EmbeddedLog } from './embedded-log.ts';
import { KafkaLog } from './kafka-log.ts';
import { DEFAULT_TOPICS, type EventLog } from './types.ts';

export interface OpenLogOptions {
  logger?: Logger;
  /** The embedded log takes its single-writer lock now, failing fast if another process holds it. */
  forProducing?: boolean;
  /** Names the component in the Kafka client id (`<KAFKA_CLIENT_ID>-<clientId>`), so broker logs and quotas tell components apart. */
  clientId?: string;
}

/** Kafka when KAFKA_BROKERS is set, else the embedded log at `<dataDir>/log`; both with DEFAULT_TOPICS. */
export async function openEventLog(config: Config, opts: OpenLogOptions = {}): Promise<EventLog> {
  if (config.kafkaBrokers) {
    const log = new KafkaLog({
      brokers: config.kafkaBrokers,
      clientId: opts.clientId ? `${config.kafkaClientId}-${opts.clientId}` : config.kafkaClientId,
      topicPrefix: config.topicPrefix,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    // As the embedded log does on open; with a topic prefix, `services:up` has not made them.
    await log.ensureTopics(DEFAULT_TOPICS);
    return log;
  }
  return EmbeddedLog.open(path.join(config.dataDir, 'log'), opts);
}
