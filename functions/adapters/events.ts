import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { RetryableError } from '../core/errors.ts';
import type { Events, RunEvent } from '../core/ports.ts';
import { EVENT_SOURCE } from '../names.ts';

export { EVENT_SOURCE };

/** Run outcomes on an EventBridge bus ("Run Succeeded" / "Run Failed"). */
export class EventBridgeEvents implements Events {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  /** Resolves only once EventBridge accepted the entry: PutEvents answers 200 with FailedEntryCount > 0 when it did not. */
  async publish(event: RunEvent): Promise<void> {
    const { type, ...detail } = event;
    const result = await this.client.send(
      new PutEventsCommand({ Entries: [{ EventBusName: this.busName, Source: EVENT_SOURCE, DetailType: type, Detail: JSON.stringify(detail) }] }),
    );
    if (result.FailedEntryCount) {
      const entry = result.Entries?.find((e) => e.ErrorCode);
      throw new RetryableError(`the event bus ${this.busName} refused ${type} of run ${event.runId}: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
    }
  }
}
