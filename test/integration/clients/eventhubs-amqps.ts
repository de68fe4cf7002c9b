/**
 * A plain Event Hubs service client, as a user without an emulator mode runs it: `@azure/event-hubs`
 * over AMQPS (TLS, no `UseDevelopmentEmulator`), pointed at the emulator with `customEndpointAddress`.
 * The client has no per-client CA option, so it runs in its own process and the parent trusts the
 * devstack CA for this process only with NODE_EXTRA_CA_CERTS (TLS verification stays on).
 *
 * Env: EVENTHUBS_CONNECTION_STRING (never on the command line), CUSTOM_ENDPOINT_ADDRESS, RUN_MARKER,
 * EXPECT_EVENTS (how many events with that marker to read back, including the 2 it sends).
 * Prints one JSON line: { partitionIds, received: [{ body, deviceId, partitionId }] } or { error }.
 */
import { EventHubConsumerClient, EventHubProducerClient, earliestEventPosition } from '@azure/event-hubs';

const connectionString = process.env.EVENTHUBS_CONNECTION_STRING ?? '';
const customEndpointAddress = process.env.CUSTOM_ENDPOINT_ADDRESS ?? '';
const marker = process.env.RUN_MARKER ?? '';
const expected = Number(process.env.EXPECT_EVENTS ?? 2);
const options = { customEndpointAddress, retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } };

async function main(): Promise<void> {
  const producer = new EventHubProducerClient(connectionString, options);
  const consumer = new EventHubConsumerClient('$Default', connectionString, options);
  try {
    const partitionIds = await consumer.getPartitionIds();
    await producer.sendBatch(
      ['one', 'two'].map((body) => ({ body, properties: { run: marker } })),
      { partitionKey: 'amqps-client' },
    );
    const received: { body: unknown; deviceId: unknown; partitionId: string }[] = [];
    const subscription = consumer.subscribe(
      {
        processEvents: async (events, context) => {
          for (const event of events) {
            if (event.properties?.run !== marker) continue;
            const body = Buffer.isBuffer(event.body) ? event.body.toString('utf8') : event.body;
            const deviceId = event.systemProperties?.['iothub-connection-device-id'];
            received.push({ body, deviceId, partitionId: context.partitionId });
          }
        },
        processError: async (error) => {
          throw error;
        },
      },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1, maxBatchSize: 50 },
    );
    const deadline = Date.now() + 20_000;
    while (received.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await subscription.close();
    process.stdout.write(`${JSON.stringify({ partitionIds, received })}\n`);
  } finally {
    await producer.close();
    await consumer.close();
  }
}

main().catch((error: unknown) => {
  const err = error as { code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
  process.exitCode = 1;
});
