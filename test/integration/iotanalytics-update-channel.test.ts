import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateChannelCommand,
  DescribeChannelCommand,
  IoTAnalyticsClient,
  UpdateChannelCommand,
} from '@aws-sdk/client-iotanalytics';
import { startIotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';
import type { IotAnalyticsEmulator } from '../../devstack/iotanalytics/index.js';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

describe('IoT Analytics emulator UpdateChannel, with the real @aws-sdk/client-iotanalytics', () => {
  let dir = '';
  let emulator: IotAnalyticsEmulator | undefined;
  let client: IoTAnalyticsClient | undefined;

  async function start(): Promise<IoTAnalyticsClient> {
    client?.destroy();
    await emulator?.stop();
    emulator = await startIotAnalyticsEmulator({ dir, port: 0 });
    client = new IoTAnalyticsClient({ endpoint: emulator.connection.endpoint, region: 'us-east-1', credentials });
    return client;
  }

  afterEach(async () => {
    client?.destroy();
    await emulator?.stop();
    client = undefined;
    emulator = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('saves the new retention period: DescribeChannel shows it, also after a restart on the same directory', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-iota-update-'));
    let sdk = await start();
    await sdk.send(new CreateChannelCommand({ channelName: 'kept', retentionPeriod: { unlimited: true } }));
    const created = (await sdk.send(new DescribeChannelCommand({ channelName: 'kept' }))).channel;
    await new Promise((resolve) => setTimeout(resolve, 20));

    await sdk.send(
      new UpdateChannelCommand({ channelName: 'kept', retentionPeriod: { unlimited: false, numberOfDays: 7 } }),
    );
    const updated = (await sdk.send(new DescribeChannelCommand({ channelName: 'kept' }))).channel;
    expect(updated?.retentionPeriod).toEqual({ unlimited: false, numberOfDays: 7 });
    expect(updated?.lastUpdateTime?.getTime()).toBeGreaterThan(created?.lastUpdateTime?.getTime() ?? Infinity);

    sdk = await start();
    const afterRestart = (await sdk.send(new DescribeChannelCommand({ channelName: 'kept' }))).channel;
    expect(afterRestart?.retentionPeriod).toEqual({ unlimited: false, numberOfDays: 7 });
    expect(afterRestart?.lastUpdateTime).toEqual(updated?.lastUpdateTime);
  });

  it('refuses an unknown channel (ResourceNotFoundException) and a bad retention (InvalidRequestException), changing nothing', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'iot-ingest-iota-update-'));
    const sdk = await start();
    await sdk.send(
      new CreateChannelCommand({ channelName: 'kept', retentionPeriod: { unlimited: false, numberOfDays: 3 } }),
    );
    await expect(
      sdk.send(new UpdateChannelCommand({ channelName: 'missing', retentionPeriod: { unlimited: true } })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(
      sdk.send(
        new UpdateChannelCommand({ channelName: 'kept', retentionPeriod: { unlimited: false, numberOfDays: 0 } }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidRequestException' });
    const described = (await sdk.send(new DescribeChannelCommand({ channelName: 'kept' }))).channel;
    expect(described?.retentionPeriod).toEqual({ unlimited: false, numberOfDays: 3 });
  });
});
