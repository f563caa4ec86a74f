import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Events, RunEvent } from '../core/ports.ts';

/** The source name of batchsync's events; dependent jobs' rules match on it. */
export const EVENT_SOURCE = 'batchsync';

/** Run outcomes on an EventBridge bus ("Run Succeeded" / "Run Failed"). */
export class EventBridgeEvents implements Events {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(event: RunEvent): Promise<void> {
    const { type, ...detail } = event;
    await this.client.send(
      new PutEventsCommand({ Entries: [{ EventBusName: this.busName, Source: EVENT_SOURCE, DetailType: type, Detail: JSON.stringify(detail) }] }),
    );
  }
}
