/**
 * Static checks of infra/edge/deployment.template.json against the edge module's source: routes name inputs
 * and outputs the module really has, its environment keys are settings the module reads (or connector
 * parameters) and their values parse, ports and volumes line up with the environment, and the template
 * renders into a manifest IoT Hub accepts.
 */
import { describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-module/config.js';
import { CONNECTOR_DEFAULTS, CONNECTOR_PARAMETERS, parseConnectorConfig } from '../../batching/config.js';
import { CREATE_OPTIONS_CHUNK_CHARS, findPlaceholders, renderManifest } from '../../infra/edge/render.js';
import { edgeEnvironmentNames, edgeModuleEndpoints, read } from './sources.js';

interface ModuleSpec {
  version?: string;
  type: string;
  status?: string;
  restartPolicy?: string;
  settings: { image: string; createOptions?: CreateOptions };
  env?: Record<string, { value: string }>;
}
interface CreateOptions {
  ExposedPorts?: Record<string, object>;
  HostConfig?: {
    PortBindings?: Record<string, Array<{ HostPort: string }>>;
    Mounts?: Array<{ Type: string; Source: string; Target: string }>;
  };
}
interface Template {
  modulesContent: {
    $edgeAgent: {
      'properties.desired': {
        schemaVersion: string;
        runtime: { settings: { registryCredentials: Record<string, { address: string; username: string; password: string }> } };
        systemModules: { edgeAgent: ModuleSpec; edgeHub: ModuleSpec };
        modules: Record<string, ModuleSpec>;
      };
    };
    $edgeHub: { 'properties.desired': { schemaVersion: string; routes: Record<string, { route: string; priority: number; timeToLiveSecs: number }> } };
  };
}

const MODULE = 'iotIngest';
const template = JSON.parse(read('infra/edge/deployment.template.json')) as Template;
const agent = template.modulesContent.$edgeAgent['properties.desired'];
const routes = template.modulesContent.$edgeHub['properties.desired'].routes;
const iotIngest = agent.modules[MODULE] as ModuleSpec;
const env = Object.fromEntries(Object.entries(iotIngest.env ?? {}).map(([k, v]) => [k, v.value]));

/** `FROM <source> [WHERE <condition>] INTO <sink>`, as edgeHub writes routes. */
function parseRoute(route: string): { source: string; condition: string | undefined; sink: string } {
  const m = /^FROM\s+(\S+)(?:\s+WHERE\s+(.+?))?\s+INTO\s+(.+)$/.exec(route.trim());
  if (!m) throw new Error(`route not understood: ${route}`);
  return { source: m[1] as string, condition: m[2], sink: (m[3] as string).trim() };
}

describe('IoT Edge deployment manifest: system modules', () => {
  it('edgeAgent and edgeHub run the same supported LTS line (1.6; 1.5 LTS ended 2026-11-10)', () => {
    const agentImage = agent.systemModules.edgeAgent.settings.image;
    const hubImage = agent.systemModules.edgeHub.settings.image;
    expect(agentImage).toBe('mcr.microsoft.com/azureiotedge-agent:1.6');
    expect(hubImage).toBe('mcr.microsoft.com/azureiotedge-hub:1.6');
  });

  it('edgeHub publishes the ports leaf devices use (MQTT 8883, AMQP 5671, 443)', () => {
    const ports = Object.keys(agent.systemModules.edgeHub.settings.createOptions?.HostConfig?.PortBindings ?? {});
    expect(ports.sort()).toEqual(['443/tcp', '5671/tcp', '8883/tcp']);
  });

  it('the module image comes from ${MODULES.iotIngest} and the registry from placeholders', () => {
    expect(iotIngest.settings.image).toBe('${MODULES.iotIngest}');
    for (const cred of Object.values(agent.runtime.settings.registryCredentials)) {
      for (const value of [cred.address, cred.username, cred.password]) expect(value).toMatch(/^\$[A-Z][A-Z0-9_]*$/);
    }
  });
});

describe('IoT Edge deployment manifest: routes', () => {
  const parsedRoutes = Object.entries(routes).map(([name, r]) => ({ name, ...parseRoute(r.route) }));
  const endpoints = edgeModuleEndpoints();

  it('reads the module\'s inputs and outputs from its source (contracts §7, ARCHITECTURE edge-module)', () => {
    // UPSTREAM_OUTPUT (sinks/iothub/pack.ts), STATUS_OUTPUT and `inputName === …` (inputs/edgehub.ts).
    expect(endpoints.outputs).toEqual(new Set(['upstream', 'status']));
    expect(endpoints.inputs).toEqual(new Set(['put', 'binary']));
  });

  it('every route from the module names an output it really has', () => {
    const used = parsedRoutes.flatMap((r) => {
      const m = new RegExp(`^/messages/modules/${MODULE}/outputs/([^/*]+)$`).exec(r.source);
      return m ? [m[1] as string] : [];
    });
    expect(used.length).toBeGreaterThanOrEqual(2);
    expect(used.filter((o) => !endpoints.outputs.has(o))).toEqual([]);
  });

  it('every route into the module names an input it really has', () => {
    const used = parsedRoutes.flatMap((r) => {
      const m = new RegExp(`^BrokeredEndpoint\\("/modules/${MODULE}/inputs/([^"]+)"\\)$`).exec(r.sink);
      return m ? [m[1] as string] : [];
    });
    expect(used.length).toBeGreaterThanOrEqual(1);
    expect(used.filter((i) => !endpoints.inputs.has(i))).toEqual([]);
  });

  it('every module named in a route is deployed', () => {
    const named = parsedRoutes.flatMap((r) => [...`${r.source} ${r.sink}`.matchAll(/\/modules\/([^/"]+)\//g)].map((m) => m[1] as string));
    expect(named.filter((m) => !(m in agent.modules))).toEqual([]);
  });

  it('leaf devices (no module id) go to input put', () => {
    const leaf = parsedRoutes.find((r) => r.condition === 'NOT IS_DEFINED($connectionModuleId)');
    expect(leaf?.source).toBe('/messages/*');
    expect(leaf?.sink).toBe(`BrokeredEndpoint("/modules/${MODULE}/inputs/put")`);
  });

  it('batches on output upstream go to $upstream unconditionally', () => {
    const upstream = parsedRoutes.find((r) => r.source === `/messages/modules/${MODULE}/outputs/upstream`);
    expect(upstream?.condition).toBeUndefined();
    expect(upstream?.sink).toBe('$upstream');
  });

  it('only failed statuses go upstream (one success status per reading would multiply the hub\'s message count)', () => {
    const status = parsedRoutes.filter((r) => r.source === `/messages/modules/${MODULE}/outputs/status`);
    expect(status).toHaveLength(1);
    expect(status[0]?.condition).toBe("$body.response.status = 'fail'");
    expect(status[0]?.sink).toBe('$upstream');
  });

  it('no route sends the module\'s own output back into it', () => {
    const loops = parsedRoutes.filter((r) => r.source.startsWith(`/messages/modules/${MODULE}/`) && r.sink.includes(`/modules/${MODULE}/`));
    expect(loops).toEqual([]);
  });
});

describe('IoT Edge deployment manifest: the module\'s environment', () => {
  it('every key is a connector parameter or a setting edge-module/config.ts reads', () => {
    const known = edgeEnvironmentNames();
    expect(known.has('SINK')).toBe(true);
    // NODE_OPTIONS is read by Node.js itself (the heap for a larger MemorySize).
    const unknown = Object.keys(env).filter(
      (k) => !(CONNECTOR_PARAMETERS as readonly string[]).includes(k) && !known.has(k) && k !== 'NODE_OPTIONS',
    );
    expect(unknown).toEqual([]);
  });

  it('the connector parameters are set to the connector\'s defaults (MemorySize has none; the channel is ours)', () => {
    for (const [name, value] of Object.entries(CONNECTOR_DEFAULTS)) {
      if (name in env) expect(env[name], name).toBe(value);
    }
    expect(env.PublishInterval).toBe('1');
    expect(env.IotAnalyticsBatchSizePerChannel).toBe('5');
    expect(env.IotAnalyticsQueueSizePerChannel).toBe('2048');
    expect(env.IotAnalyticsQueueDropBehavior).toBe('DROP_NEWEST');
    expect(env.IotAnalyticsMaxActiveChannels).toBe('50');
    expect(env.MemorySize).toMatch(/^[0-9]+$/);
    expect(env.IotAnalyticsDefaultChannelName).toBeDefined();
  });

  it('the connector parameters pass batching/config.ts', () => {
    const result = parseConnectorConfig(env);
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([]);
  });

  it('the whole environment passes edge-module/config.ts', () => {
    const result = parseEdgeConfig(env);
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([]);
    if (result.ok) {
      expect(result.config.sink).toBe('iothub');
      expect(result.config.persistence?.dir).toBe(env.PERSISTENCE_DIR);
    }
  });

  it('the MQTT listener and metrics listen on all interfaces of the container, on the ports it exposes', () => {
    const options = iotIngest.settings.createOptions ?? {};
    expect(env.MQTT_HOST).toBe('0.0.0.0');
    expect(env.METRICS_HOST).toBe('0.0.0.0');
    expect(Object.keys(options.ExposedPorts ?? {}).sort()).toEqual([`${env.MQTT_PORT}/tcp`, `${env.METRICS_PORT}/tcp`].sort());
    // MQTT is published on the host for leaf devices; metrics stay on the module network (metricsCollector).
    expect(Object.keys(options.HostConfig?.PortBindings ?? {})).toEqual([`${env.MQTT_PORT}/tcp`]);
  });

  it('no plain MQTT is published: the listener is TLS on 8883 with client certificates, from a read-only mount', () => {
    const options = iotIngest.settings.createOptions ?? {};
    const bindings = options.HostConfig?.PortBindings ?? {};
    expect(env.MQTT_PORT).toBe('8883');
    expect(Object.keys(bindings)).not.toContain('1883/tcp');
    expect(Object.values(bindings).flat().map((b) => b.HostPort)).not.toContain('1883');
    // edgeHub owns 8883 on the host (leaf devices through edgeHub); the module's listener gets its own host port.
    const edgeHubHostPorts = Object.values(agent.systemModules.edgeHub.settings.createOptions?.HostConfig?.PortBindings ?? {}).flat().map((b) => b.HostPort);
    const ours = bindings[`${env.MQTT_PORT}/tcp`]?.map((b) => b.HostPort) ?? [];
    expect(ours).toHaveLength(1);
    expect(edgeHubHostPorts).not.toContain(ours[0]);
    const result = parseEdgeConfig(env);
    expect(result.ok && result.config.mqtt.tls).toBeTruthy();
    expect(result.ok && result.config.mqtt.auth.clientCaFile).toBeTruthy();
    // The certificate, its key and the device CA come from a read-only bind mount, never from the image.
    const mounts = options.HostConfig?.Mounts ?? [];
    for (const file of [env.MQTT_TLS_CERT_FILE, env.MQTT_TLS_KEY_FILE, env.MQTT_TLS_CA_FILE]) {
      const mount = mounts.find((m) => file?.startsWith(`${m.Target}/`));
      expect(mount, file).toMatchObject({ Type: 'bind', ReadOnly: true });
    }
  });

  it('the persistence directory is a volume, so a restart loses nothing acknowledged', () => {
    const mounts = iotIngest.settings.createOptions?.HostConfig?.Mounts ?? [];
    expect(mounts.filter((m) => m.Type === 'volume' && m.Target === env.PERSISTENCE_DIR)).toHaveLength(1);
  });

  it('the metrics collector scrapes the module\'s Prometheus endpoint', () => {
    const collector = Object.values(agent.modules).find((m) => m.settings.image.startsWith('mcr.microsoft.com/azureiotedge-metrics-collector:'));
    expect(collector).toBeDefined();
    const endpointsCsv = collector?.env?.MetricsEndpointsCSV?.value ?? '';
    expect(endpointsCsv.split(',')).toContain(`http://${MODULE}:${env.METRICS_PORT}/metrics`);
  });
});

describe('the module image the manifest runs (edge-module/Dockerfile.*, module.json)', () => {
  const dockerfiles = { amd64: read('edge-module/Dockerfile.amd64'), arm64v8: read('edge-module/Dockerfile.arm64v8') };
  const deploy = read('.github/workflows/deploy.yml');

  it('the workflow builds each Dockerfile for the platform its FROM lines name', () => {
    expect(deploy).toMatch(/--platform linux\/amd64 --file edge-module\/Dockerfile\.amd64/);
    expect(deploy).toMatch(/--platform linux\/arm64 --file edge-module\/Dockerfile\.arm64v8/);
    for (const [text, platform] of [
      [dockerfiles.amd64, 'linux/amd64'],
      [dockerfiles.arm64v8, 'linux/arm64'],
    ] as const) {
      const froms = [...text.matchAll(/^FROM (.*)$/gm)].map((m) => m[1]);
      expect(froms.length).toBeGreaterThanOrEqual(2);
      for (const from of froms) expect(from).toMatch(new RegExp(`^--platform=${platform} `));
    }
  });

  it('the image exposes the ports and declares the volume the manifest uses', () => {
    for (const [arch, text] of Object.entries(dockerfiles)) {
      const exposed = (/^EXPOSE (.+)$/m.exec(text)?.[1] ?? '').split(/\s+/);
      expect(exposed, arch).toEqual(expect.arrayContaining([env.MQTT_PORT, env.METRICS_PORT]));
      expect(text, arch).toContain(`VOLUME ["${env.PERSISTENCE_DIR}"]`);
    }
  });

  it('the Node.js heap fits the MemorySize budget (2 × MemorySize + 32 MB, edge-module/README.md)', () => {
    const override = /--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '')?.[1];
    for (const [arch, text] of Object.entries(dockerfiles)) {
      const heapMb = Number(override ?? /--max-old-space-size=(\d+)/.exec(text)?.[1]);
      expect(heapMb, arch).toBeGreaterThanOrEqual((2 * Number(env.MemorySize)) / 1024 + 32);
    }
  });

  it('module.json and the workflow push the same repository', () => {
    const moduleJson = JSON.parse(read('edge-module/module.json')) as { image: { repository: string } };
    const repository = moduleJson.image.repository.split('/').pop();
    expect(deploy).toMatch(new RegExp(`IMAGE_REPOSITORY: ${repository}\\b`));
  });
});

describe('rendering the template (infra/edge/render.ts)', () => {
  const variables = {
    CONTAINER_REGISTRY_ADDRESS: 'cr0example.azurecr.io',
    CONTAINER_REGISTRY_USERNAME: 'edge-pull',
    CONTAINER_REGISTRY_PASSWORD: 'not-a-real-password',
    IOTHUB_RESOURCE_ID: '/subscriptions/0/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/iot-example',
  };
  const image = 'cr0example.azurecr.io/iot-ingest-edge:0.1.0';

  it('names exactly the placeholders the deploy workflow provides', () => {
    const { variables: names, modules } = findPlaceholders(template as never);
    expect(modules).toEqual([MODULE]);
    expect(names).toEqual(Object.keys(variables).sort());
    const workflow = read('.github/workflows/deploy.yml');
    for (const name of names) expect(workflow, name).toMatch(new RegExp(`\\b${name}:`));
  });

  it('fills every placeholder, turns createOptions into strings within IoT Hub\'s 512-character limit, drops $schema-template', () => {
    const manifest = renderManifest(template as never, { images: { [MODULE]: image }, variables }) as unknown as Template & Record<string, unknown>;
    const text = JSON.stringify(manifest);
    expect(text).not.toMatch(/\$\{?[A-Z][A-Z0-9_]*\}?|\$\{MODULES\./);
    expect(text).not.toContain('$schema-template');
    const modules = manifest.modulesContent.$edgeAgent['properties.desired'].modules;
    expect(modules[MODULE]?.settings.image).toBe(image);
    const settings = modules[MODULE]?.settings as unknown as Record<string, unknown>;
    expect(typeof settings.createOptions).toBe('string');
    for (const [key, value] of Object.entries(settings)) {
      if (key.startsWith('createOptions')) expect((value as string).length).toBeLessThanOrEqual(CREATE_OPTIONS_CHUNK_CHARS);
    }
    const joined = Object.keys(settings)
      .filter((k) => k.startsWith('createOptions'))
      .sort()
      .map((k) => settings[k] as string)
      .join('');
    expect(JSON.parse(joined)).toEqual(iotIngest.settings.createOptions);
    // Routes keep their `$` words ($upstream, $body, $connectionModuleId): they are not placeholders.
    expect(manifest.modulesContent.$edgeHub['properties.desired'].routes).toEqual(routes);
  });

  it('refuses to render with a placeholder missing, naming it', () => {
    const { CONTAINER_REGISTRY_PASSWORD: _omit, ...partial } = variables;
    expect(() => renderManifest(template as never, { images: { [MODULE]: image }, variables: partial })).toThrow(
      /CONTAINER_REGISTRY_PASSWORD/,
    );
    expect(() => renderManifest(template as never, { images: {}, variables })).toThrow(/MODULES\.iotIngest/);
  });
});
