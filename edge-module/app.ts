/**
 * Assembles one running module from a Config and its clients: engine + pump, sink, optional store,
 * inputs (MQTT listener, edgeHub inputs), twin, metrics HTTP. main.ts (IoT Edge) and devstack/edge,
 * tests and benches all start it through here.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatchingEngine, createIdGenerator } from '@iot-ingest/batching';
import { Pump } from '@iot-ingest/batching';
import type { ConnectorConfig } from '@iot-ingest/batching';
import type { Sink } from '@iot-ingest/batching';
import type { EdgeConfig } from './config.js';
import { EdgeEvents } from './events.js';
import { Ingest } from './ingest.js';
import type { MessageMeta } from './ingest.js';
import type { InputClientLike } from './inputs/edgehub.js';
import { attachEdgeHubInputs, STATUS_OUTPUT } from './inputs/edgehub.js';
import { startMqttListener } from './inputs/mqtt.js';
import type { MqttListener } from './inputs/mqtt.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { EdgeMetrics } from './metrics.js';
import { DiskStore } from './persistence/disk.js';
import type { Store } from './persistence/store.js';
import type { LogFileSystem } from '@iot-ingest/durable-log';
import { newOrigin, originOf } from './sinks/iothub/origin.js';
import { IotHubSink } from './sinks/iothub/send.js';
import type { ModuleClientLike } from './sinks/iothub/send.js';
import { createIotAnalyticsClient, IotAnalyticsSink } from './sinks/iotanalytics.js';
import type { IotAnalyticsLike } from './sinks/iotanalytics.js';
import { attachTwin, bindTwin } from './twin.js';
import type { TwinBinding, TwinLike } from './twin.js';
import azureIotDevice from 'azure-iot-device';

const { Message } = azureIotDevice;

/** The ModuleClient as the module uses it (sink, edgeHub inputs, status output, twin). */
export type EdgeModuleClient = ModuleClientLike & InputClientLike & { getTwin(): Promise<TwinLike> };

export interface EdgeModuleOptions {
  readonly config: EdgeConfig;
  readonly log?: Logger;
  /** Required for SINK=iothub; gives edgeHub inputs, the `status` output and the twin. */
  readonly moduleClient?: EdgeModuleClient;
  /** For SINK=iotanalytics; default: an SDK client from config.iotAnalytics. */
  readonly iotAnalytics?: IotAnalyticsLike;
  /** Wait for twin desired properties before taking input. Default true when a module client is given. */
  readonly useTwin?: boolean;
  /** The filesystem the disk store reaches its files through (tests inject faults). Default: the real one. */
  readonly persistenceFileSystem?: LogFileSystem;
}

export interface EdgeModule {
  readonly mqtt: MqttListener;
  readonly metricsUrl: string;
  readonly engine: BatchingEngine;
  readonly events: EdgeEvents;
  readonly twin: TwinBinding;
  /** Graceful stop: flush within SHUTDOWN_DEADLINE_SECONDS, then fail (memory only) or keep (persistence) the rest. */
  stop(): Promise<void>;
}

export async function startEdgeModule(options: EdgeModuleOptions): Promise<EdgeModule> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const now = Date.now;
  const newId = createIdGenerator();
  const engine = new BatchingEngine({ config: config.connector, newId });
  let store: Store | undefined;
  let sink: Sink;

  const metrics = new EdgeMetrics(() => ({
    channels: engine.stats().channels,
    persistenceBytes: store?.usedBytes(),
    persistenceUnreadableRecords: store?.unreadableRecords(),
  }));
  const events = new EdgeEvents(log, metrics);

  if (config.sink === 'iothub' && !options.moduleClient) {
    throw new Error('SINK=iothub needs a ModuleClient (EdgeHubConnectionString or the IoT Edge environment)');
  }
  if (config.persistence) {
    store = await DiskStore.open({
      dir: config.persistence.dir,
      maxBytes: config.persistence.maxBytes,
      ttlMs: config.persistence.ttlMs,
      logger: log,
      ...(options.persistenceFileSystem ? { fs: options.persistenceFileSystem } : {}),
    });
  }

  if (config.sink === 'iothub' && options.moduleClient) {
    sink = new IotHubSink({
      client: options.moduleClient,
      pack: {
        targetBytes: config.hub.targetBytes,
        maxBytes: config.hub.maxBytes,
        // Envelope ids (contracts §4): named after the store, so a re-sent batch repeats its ids.
        origin: store ? originOf(store.storeId) : newOrigin(),
      },
      onEnvelope: (envelope) => events.envelopeSent(envelope),
      now,
    });
  } else {
    const client =
      options.iotAnalytics ??
      createIotAnalyticsClient({ region: config.iotAnalytics.region ?? 'us-east-1', ...(config.iotAnalytics.endpoint ? { endpoint: config.iotAnalytics.endpoint } : {}) });
    sink = new IotAnalyticsSink(client);
  }

  // Late-bound: statuses can only be published once the listener exists.
  const late: { mqtt?: MqttListener; ingest?: Ingest } = {};
  const moduleClient = options.moduleClient;
  const publish = (json: string, meta: MessageMeta) => {
    if (meta.source === 'mqtt') late.mqtt?.publishStatus(json, meta);
    else if (moduleClient) {
      const message = new Message(json);
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      moduleClient.sendOutputEvent(STATUS_OUTPUT, message).catch((err: unknown) => log.debug({ error: (err as Error).message }, 'status output failed'));
    }
  };

  const pump = new Pump({
    engine,
    sink,
    clock: { now },
    timer: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
    onStatus: (report) => late.ingest?.onStatus(report),
    onBatch: (batch, outcome, elapsedMs) => events.batchSettled(batch, outcome, elapsedMs),
    onSinkError: (batch, err) => events.sinkError(batch.channel, err),
  });
  const ingest = new Ingest({ pump, store, events, publish, newId });
  late.ingest = ingest;

  let connector: ConnectorConfig = config.connector;
  const twin = bindTwin({
    base: config.connectorValues,
    reconfigure: (next) => {
      connector = next;
      for (const s of engine.reconfigure(next, now())) ingest.onStatus(s);
    },
    events,
    report: async (patch) => {
      if (!twinHandle) return;
      await new Promise<void>((resolve, reject) => twinHandle?.properties.reported.update(patch, (err) => (err ? reject(err) : resolve())));
    },
  });
  let twinHandle: TwinLike | undefined;
  if (moduleClient && options.useTwin !== false) {
    twinHandle = await moduleClient.getTwin();
    attachTwin(twinHandle, twin);
  }

  const recovered = await ingest.recover();
  if (store) events.recovered(recovered.records, recovered.expiredBytes);
  pump.start();

  const mqtt = await startMqttListener({
    config: config.mqtt,
    ingest,
    connector: () => connector,
    persistenceMaxBytes: config.persistence?.maxBytes,
    log,
    registry: metrics.registry,
  });
  if (moduleClient) attachEdgeHubInputs(moduleClient, ingest, () => connector.defaultChannelName, log);

  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      metrics
        .text()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String((err as Error).message));
        });
      return;
    }
    if (req.url === '/healthz') {
      const s = engine.stats();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', sink: config.sink, queuedMessages: s.queuedMessages, activeChannels: s.activeChannels }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.port, config.metrics.host, () => resolve());
  });
  const metricsPort = (server.address() as AddressInfo).port;
  const metricsHost = config.metrics.host === '0.0.0.0' ? '127.0.0.1' : config.metrics.host;
  const metricsUrl = `http://${metricsHost}:${metricsPort}/metrics`;
  late.mqtt = mqtt;
  const listener = mqtt;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const deadline = now() + config.shutdownDeadlineMs;
      log.info({ deadlineMs: config.shutdownDeadlineMs }, 'stopping: flushing queues');
      ingest.stopAccepting();
      await listener.stopAccepting();
      await pump.flush(deadline);
      await pump.stop();
      if (!store) {
        // [memory only] what could not be sent in time is lost; say so for every message.
        for (const s of engine.failAll('shutdown', 'ShutdownException', 'the module stopped before this message could be sent')) ingest.onStatus(s);
      }
      await ingest.close();
      // Give the broker a moment to write the last statuses to connected clients.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await listener.close();
      await store?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      log.info({ stats: engine.stats() }, 'stopped');
    })());

  return { mqtt: listener, metricsUrl, engine, events, twin, stop };
}

