/**
 * Static checks of infra/ (no Bicep compiler or Azure CLI runs here): the Function app's settings match what
 * functions/ reads, names agree between Bicep and code, modules are wired to parameters and outputs that exist,
 * Azure Verified Modules are pinned, and nothing secret is written down or has a default.
 */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { entry, literalEntry, literalOf, objectEntries, parseBicep, textOf } from './bicep.js';
import type { BicepFile, Literal } from './bicep.js';
import {
  sourceFiles,
  consumerGroupsInFunctions,
  contractConsumerGroups,
  contractSettings,
  exists,
  listFiles,
  read,
  settingsReadByFunctions,
} from './sources.js';
import { DEFAULTS as FUNCTION_DEFAULTS } from '../../functions/config.js';
import { CONNECTOR_DEFAULTS, isValidChannelName, parseConnectorConfig } from '../../batching/config.js';

/**
 * Settings functions/ reads that Azure deliberately does not set, each with its reason.
 */
const LOCAL_ONLY_SETTINGS: Readonly<Record<string, string>> = {
  COSMOS_KEY: 'keys are disabled on the Cosmos account; absent → managed identity',
  COSMOS_CA_CERT_PATH: 'trusts the devstack CA for the local Cosmos server only',
  COLD_STORAGE_CONNECTION_STRING: 'shared keys are disabled; Azure uses COLD_STORAGE_ACCOUNT_URL + managed identity',
  AWS_ENDPOINT_URL_IOTANALYTICS: 'points the client at the local IoT Analytics emulator',
  HOT_RULES_FILE: 'npm start points at a rules file; Azure gets the rules text itself (HOT_RULES, from hot-rules.json)',
};

/** Settings the platform reads (not functions/ code), allowed in Bicep beside the functions' own. */
const PLATFORM_SETTINGS = /^(AzureWebJobsStorage(__\w+)?|APPLICATIONINSIGHTS_CONNECTION_STRING|APPLICATIONINSIGHTS_AUTHENTICATION_STRING)$/;

/** Settings whose value is a secret: only ever a Key Vault reference. */
const SECRET_SETTINGS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'HOT_WEBHOOK_URL'];

/**
 * Parameters and outputs of the pinned Azure Verified Modules we call, from their main.bicep at the release tag
 * (Azure/bicep-registry-modules, tags avm/res/<module>/<version>). Bumping a version means re-reading these.
 */
const AVM_INTERFACES: Readonly<Record<string, { params: string[]; required: string[]; outputs: string[] }>> = {
  'br/public:avm/res/web/serverfarm:0.7.0': {
    params: ['name', 'location', 'skuName', 'skuCapacity', 'kind', 'reserved', 'appServiceEnvironmentResourceId', 'workerTierName', 'perSiteScaling', 'elasticScaleEnabled', 'maximumElasticWorkerCount', 'targetWorkerCount', 'targetWorkerSize', 'zoneRedundant', 'hyperV', 'virtualNetworkSubnetId', 'isCustomMode', 'rdpEnabled', 'installScripts', 'planDefaultIdentity', 'registryAdapters', 'storageMounts', 'managedIdentities', 'lock', 'roleAssignments', 'tags', 'diagnosticSettings', 'enableTelemetry'],
    required: ['name'],
    outputs: ['resourceGroupName', 'name', 'resourceId', 'location', 'systemAssignedMIPrincipalId'],
  },
  'br/public:avm/res/operational-insights/workspace:0.16.1': {
    params: ['name', 'location', 'skuName', 'skuCapacityReservationLevel', 'storageInsightsConfigs', 'linkedServices', 'linkedStorageAccounts', 'savedSearches', 'dataExports', 'dataSources', 'tables', 'gallerySolutions', 'onboardWorkspaceToSentinel', 'dataRetention', 'dailyQuotaGb', 'defaultDataCollectionRuleResourceId', 'publicNetworkAccessForIngestion', 'publicNetworkAccessForQuery', 'managedIdentities', 'features', 'replication', 'diagnosticSettings', 'forceCmkForQuery', 'lock', 'roleAssignments', 'tags', 'enableTelemetry'],
    required: ['name'],
    outputs: ['resourceId', 'resourceGroupName', 'name', 'logAnalyticsWorkspaceId', 'location', 'systemAssignedMIPrincipalId', 'primarySharedKey', 'secondarySharedKey'],
  },
  'br/public:avm/res/insights/component:0.8.0': {
    params: ['name', 'applicationType', 'workspaceResourceId', 'disableIpMasking', 'disableLocalAuth', 'forceCustomerStorageForProfiler', 'linkedStorageAccountResourceId', 'publicNetworkAccessForIngestion', 'publicNetworkAccessForQuery', 'retentionInDays', 'samplingPercentage', 'flowType', 'requestSource', 'kind', 'immediatePurgeDataOn30Days', 'ingestionMode', 'location', 'lock', 'roleAssignments', 'tags', 'enableTelemetry', 'diagnosticSettings'],
    required: ['name', 'workspaceResourceId'],
    outputs: ['name', 'resourceId', 'resourceGroupName', 'applicationId', 'location', 'instrumentationKey', 'connectionString'],
  },
};

const bicepFiles = listFiles('infra', ['.bicep']);
const parsed = new Map<string, BicepFile>(bicepFiles.map((f) => [f, parseBicep(read(f))]));
const bicep = (file: string): BicepFile => {
  const b = parsed.get(file);
  if (!b) throw new Error(`${file} is missing`);
  return b;
};
const main = bicep('infra/main.bicep');

/** The keys and value spans of the Function app's settings (the `appsettings` config resource). */
function appSettings(): Map<string, string> {
  const file = bicep('infra/app/appsettings.bicep');
  const resource = file.resources.find((r) => r.type.startsWith('Microsoft.Web/sites/config@'));
  if (!resource) throw new Error('infra/app/appsettings.bicep has no Microsoft.Web/sites/config resource');
  const name = entry(file.tokens, resource.bodyStart, 'name');
  if (!name || textOf(file.tokens, name.start, name.end) !== "'appsettings'") throw new Error('the config resource is not appsettings');
  const properties = entry(file.tokens, resource.bodyStart, 'properties');
  if (!properties) throw new Error('the appsettings resource has no properties');
  return new Map(objectEntries(file.tokens, properties.start).map((e) => [e.key, textOf(file.tokens, e.start, e.end)]));
}

function sourceFilesText(dir: string): string {
  return sourceFiles(dir)
    .map((f) => read(f))
    .join('\n');
}

function mainDefault(name: string): Literal | undefined {
  const p = main.params.get(name);
  if (!p) throw new Error(`infra/main.bicep has no parameter ${name}`);
  return p.defaultValue;
}

describe('Function app settings (infra/app/appsettings.bicep)', () => {
  const settings = appSettings();
  const isSet = (name: string): boolean => settings.has(name) || [...settings.keys()].some((k) => k.startsWith(`${name}__`));

  it('every setting functions/ reads is set, except the documented local-only ones', () => {
    const used = settingsReadByFunctions();
    // The reader must see the settings reader at work, or this test would pass on nothing.
    expect(used.size).toBeGreaterThanOrEqual(15);
    const missing = [...used.keys()].filter((name) => !isSet(name) && !(name in LOCAL_ONLY_SETTINGS));
    expect(missing, `read by ${missing.map((m) => `${m} (${used.get(m)?.join(', ')})`).join('; ')}`).toEqual([]);
  });

  it('every setting in docs/contracts.md §6 is set, except the documented local-only ones', () => {
    const names = contractSettings();
    expect(names.size).toBeGreaterThanOrEqual(20);
    expect([...names].filter((n) => !isSet(n) && !(n in LOCAL_ONLY_SETTINGS))).toEqual([]);
  });

  it('the local-only allow-list names only settings that functions/ really reads', () => {
    const used = settingsReadByFunctions();
    expect(Object.keys(LOCAL_ONLY_SETTINGS).filter((n) => !used.has(n))).toEqual([]);
    expect(Object.keys(LOCAL_ONLY_SETTINGS).filter((n) => settings.has(n))).toEqual([]);
  });

  it('sets nothing that neither functions/ nor the platform reads', () => {
    const used = settingsReadByFunctions();
    expect([...settings.keys()].filter((k) => !used.has(k) && !PLATFORM_SETTINGS.test(k))).toEqual([]);
  });

  it('secrets are Key Vault references, never values', () => {
    for (const name of SECRET_SETTINGS) {
      expect(settings.get(name), name).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{[A-Za-z]+\}\)'$/);
    }
  });

  it('the host storage connection is identity-based (no AzureWebJobsStorage connection string)', () => {
    expect(settings.has('AzureWebJobsStorage')).toBe(false);
    expect(settings.has('AzureWebJobsStorage__accountName')).toBe(true);
  });

  it('is written after the role assignments, so Key Vault references resolve on first start', () => {
    const module = main.modules.find((m) => m.path === 'app/appsettings.bicep');
    expect(module).toBeDefined();
    const dependsOn = entry(main.tokens, module!.bodyStart, 'dependsOn');
    expect(dependsOn && textOf(main.tokens, dependsOn.start, dependsOn.end)).toMatch(/\brbac\b/);
  });
});

describe('names agree between Bicep and code', () => {
  it('the event hub\'s consumer groups are the ones the Function triggers use', () => {
    const groups = literalOf(bicep('infra/app/eventhubs.bicep').params.get('consumerGroups')?.defaultTokens ?? []);
    const used = consumerGroupsInFunctions();
    expect(used).toEqual(new Set(['warm', 'cold', 'analytics', 'hot']));
    expect(new Set(groups as string[])).toEqual(used);
    expect(contractConsumerGroups()).toEqual(used);
  });

  it('Cosmos database, container and default TTL match functions/config.ts defaults', () => {
    expect(mainDefault('cosmosDatabaseName')).toBe(FUNCTION_DEFAULTS.COSMOS_DATABASE);
    expect(mainDefault('cosmosContainerName')).toBe(FUNCTION_DEFAULTS.COSMOS_CONTAINER);
    expect(mainDefault('cosmosDefaultTtlSeconds')).toBe(Number(FUNCTION_DEFAULTS.COSMOS_DEFAULT_TTL_SECONDS));
    expect(mainDefault('cosmosDefaultTtlSeconds')).toBe(30 * 24 * 3600);
  });

  it('the Cosmos container is partitioned on /pk', () => {
    const cosmos = bicep('infra/app/cosmos.bicep');
    const container = cosmos.resources.find((r) => r.type.startsWith('Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@'));
    const text = textOf(cosmos.tokens, container!.bodyStart, cosmos.tokens.length);
    expect(text).toMatch(/partitionKey : \{ paths : \[ '\/pk' \]/);
  });

  it('the forwarder\'s time budget matches functions/config.ts', () => {
    expect(mainDefault('analyticsForwardBudgetSeconds')).toBe(FUNCTION_DEFAULTS.ANALYTICS_FORWARD_BUDGET_SECONDS);
  });

  it('blob containers match functions/config.ts defaults', () => {
    expect(mainDefault('coldContainerName')).toBe(FUNCTION_DEFAULTS.COLD_CONTAINER);
    expect(mainDefault('deadLetterContainerName')).toBe(FUNCTION_DEFAULTS.DEADLETTER_CONTAINER);
  });

  it('the forwarder parameters are valid connector parameters and match the functions defaults', () => {
    const values: Record<string, string> = {
      MemorySize: mainDefault('memorySizeKb') as string,
      PublishInterval: mainDefault('publishIntervalSeconds') as string,
      IotAnalyticsBatchSizePerChannel: mainDefault('iotAnalyticsBatchSizePerChannel') as string,
      IotAnalyticsQueueSizePerChannel: mainDefault('iotAnalyticsQueueSizePerChannel') as string,
      IotAnalyticsQueueDropBehavior: mainDefault('iotAnalyticsQueueDropBehavior') as string,
      IotAnalyticsMaxActiveChannels: mainDefault('iotAnalyticsMaxActiveChannels') as string,
      IotAnalyticsDefaultChannelName: mainDefault('iotAnalyticsDefaultChannelName') as string,
    };
    const result = parseConnectorConfig(values);
    expect(result.ok ? [] : result.issues.map((i) => i.message)).toEqual([]);
    expect(values.MemorySize).toBe(FUNCTION_DEFAULTS.MemorySize);
    expect(values.PublishInterval).toBe(FUNCTION_DEFAULTS.PublishInterval);
    expect(values.IotAnalyticsBatchSizePerChannel).toBe(FUNCTION_DEFAULTS.IotAnalyticsBatchSizePerChannel);
    expect(values.IotAnalyticsQueueSizePerChannel).toBe(CONNECTOR_DEFAULTS.IotAnalyticsQueueSizePerChannel);
    expect(values.IotAnalyticsQueueDropBehavior).toBe(CONNECTOR_DEFAULTS.IotAnalyticsQueueDropBehavior);
    expect(values.IotAnalyticsMaxActiveChannels).toBe(CONNECTOR_DEFAULTS.IotAnalyticsMaxActiveChannels);
  });

  it('the default IoT Analytics channel is a valid channel name and the same as the edge manifest\'s', () => {
    const channel = mainDefault('iotAnalyticsDefaultChannelName') as string;
    expect(isValidChannelName(channel)).toBe(true);
    const manifest = JSON.parse(read('infra/edge/deployment.template.json')) as {
      modulesContent: { $edgeAgent: { 'properties.desired': { modules: Record<string, { env: Record<string, { value: string }> }> } } };
    };
    const env = manifest.modulesContent.$edgeAgent['properties.desired'].modules.iotIngest?.env;
    expect(env?.IotAnalyticsDefaultChannelName?.value).toBe(channel);
  });

  it('azure.yaml deploys this repository root as the Functions service named by the app\'s azd-service-name tag', () => {
    const yaml = read('azure.yaml');
    expect(yaml).toMatch(/^services:\n {2}functions:\n {4}project: \.\n {4}language: ts\n {4}host: function\n {4}dist: dist\/functions$/m);
    const functionsModule = main.modules.find((m) => m.path === 'app/functions.bicep');
    const serviceName = entry(main.tokens, functionsModule!.bodyStart, 'params');
    const params = objectEntries(main.tokens, serviceName!.start);
    const given = params.find((p) => p.key === 'serviceName');
    expect(given && literalOf(main.tokens.slice(given.start, given.end))).toBe('functions');
    expect(read('infra/app/functions.bicep')).toMatch(/'azd-service-name': serviceName/);
  });

  it('azd outputs carry the names the CLI reads, so `eval "$(azd env get-values)"` points it at the deployment', () => {
    const cli = sourceFilesText('cli');
    for (const name of ['COSMOS_ENDPOINT', 'COSMOS_DATABASE', 'COSMOS_CONTAINER', 'AZURE_STORAGE_ACCOUNT_URL', 'COLD_CONTAINER']) {
      expect(main.outputs.has(name), `output ${name}`).toBe(true);
      expect(cli, `cli/ reads ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
    }
  });

  it('the Function app runs Node.js 22 on Flex Consumption with a system-assigned identity', () => {
    const text = read('infra/app/functions.bicep');
    expect(text).toMatch(/skuName: 'FC1'/);
    expect(text).toMatch(/runtime: \{\n\s+name: 'node'\n\s+version: '22'\n\s+\}/);
    expect(text).toMatch(/identity: \{ type: 'SystemAssigned' \}/);
  });
});

describe('the Function app package azd deploys (repository root)', () => {
  const hostJson = JSON.parse(read('host.json')) as {
    version: string;
    functionTimeout?: string;
    extensionBundle: { id: string; version: string };
  };

  it('package.json main is the built functions entry, and a build script produces it', () => {
    const pkg = JSON.parse(read('package.json')) as { main: string; scripts: Record<string, string> };
    expect(pkg.main).toBe('dist/functions/index.js');
    expect(pkg.scripts.build).toBeDefined();
    expect(exists('functions/index.ts')).toBe(true);
  });

  it('host.json uses extension bundle v4 (Event Hubs extension 5+, required on Flex Consumption)', () => {
    expect(hostJson.version).toBe('2.0');
    expect(hostJson.extensionBundle.id).toBe('Microsoft.Azure.Functions.ExtensionBundle');
    expect(hostJson.extensionBundle.version).toMatch(/^\[4\./);
  });

  it('the forwarder\'s time budget set by Bicep ends before host.json\'s functionTimeout', () => {
    const timeout = /^(\d+):(\d+):(\d+)$/.exec(hostJson.functionTimeout ?? '');
    // Flex Consumption's default timeout is 30 minutes when host.json sets none.
    const timeoutSeconds = timeout ? Number(timeout[1]) * 3600 + Number(timeout[2]) * 60 + Number(timeout[3]) : 1800;
    expect(Number(mainDefault('analyticsForwardBudgetSeconds'))).toBeLessThan(timeoutSeconds);
  });
});

describe('module wiring (what a Bicep build would check)', () => {
  const localModules = [...parsed.entries()].flatMap(([file, b]) =>
    b.modules.filter((m) => !m.path.startsWith('br')).map((m) => ({ file, module: m, target: path.posix.join(path.posix.dirname(file), m.path) })),
  );

  it('finds the modules', () => {
    expect(localModules.length).toBeGreaterThanOrEqual(9);
  });

  it('every local module path exists', () => {
    expect(localModules.filter((m) => !exists(m.target)).map((m) => `${m.file}: ${m.module.path}`)).toEqual([]);
  });

  it('every module call passes only parameters the module declares, and all required ones', () => {
    const problems: string[] = [];
    for (const [file, b] of parsed) {
      for (const m of b.modules) {
        const params = entry(b.tokens, m.bodyStart, 'params');
        const given = params ? objectEntries(b.tokens, params.start).map((e) => e.key) : [];
        let declared: string[];
        let required: string[];
        if (m.path.startsWith('br')) {
          const avm = AVM_INTERFACES[m.path];
          if (!avm) {
            problems.push(`${file}: ${m.path} has no recorded interface in this test`);
            continue;
          }
          declared = avm.params;
          required = avm.required;
        } else {
          const target = bicep(path.posix.join(path.posix.dirname(file), m.path));
          declared = [...target.params.keys()];
          required = [...target.params.values()].filter((p) => !p.hasDefault && !p.type.endsWith('?')).map((p) => p.name);
        }
        for (const g of given) if (!declared.includes(g)) problems.push(`${file}: ${m.symbol} passes unknown parameter ${g}`);
        for (const r of required) if (!given.includes(r)) problems.push(`${file}: ${m.symbol} misses required parameter ${r}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every <module>.outputs.<name> reference names an output the module declares', () => {
    const problems: string[] = [];
    let references = 0;
    for (const [file, b] of parsed) {
      const outputsOf = new Map<string, string[]>();
      for (const m of b.modules) {
        outputsOf.set(
          m.symbol,
          m.path.startsWith('br') ? (AVM_INTERFACES[m.path]?.outputs ?? []) : [...bicep(path.posix.join(path.posix.dirname(file), m.path)).outputs.keys()],
        );
      }
      const t = b.tokens;
      for (let i = 0; i + 4 < t.length; i++) {
        const symbol = t[i]!.value;
        if (t[i]!.kind === 'ident' && outputsOf.has(symbol) && t[i + 1]!.value === '.' && t[i + 2]!.value === 'outputs' && t[i + 3]!.value === '.') {
          references++;
          const name = t[i + 4]!.value;
          if (!outputsOf.get(symbol)!.includes(name)) problems.push(`${file}:${t[i]!.line}: ${symbol}.outputs.${name}`);
        }
      }
    }
    expect(references).toBeGreaterThanOrEqual(20);
    expect(problems).toEqual([]);
  });

  it('every parameter and variable is used (the Bicep linter\'s no-unused-params / no-unused-vars)', () => {
    const unused: string[] = [];
    for (const [file, b] of parsed) {
      const uses = new Map<string, number>();
      for (const t of b.tokens) {
        if (t.kind === 'ident') uses.set(t.value, (uses.get(t.value) ?? 0) + 1);
        // Names used inside string interpolation: '${name}'.
        if (t.kind === 'string' && t.interpolated) {
          for (const m of t.value.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) uses.set(m[0], (uses.get(m[0]) ?? 0) + 1);
        }
      }
      for (const name of [...b.params.keys(), ...b.vars.keys()]) if ((uses.get(name) ?? 0) < 2) unused.push(`${file}: ${name}`);
    }
    expect(unused).toEqual([]);
  });

  it('main.parameters.json maps only parameters main.bicep declares, and every required one', () => {
    const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    const mapped = Object.keys(file.parameters);
    expect(mapped.filter((p) => !main.params.has(p))).toEqual([]);
    const required = [...main.params.values()].filter((p) => !p.hasDefault).map((p) => p.name);
    expect(required.filter((p) => !mapped.includes(p))).toEqual([]);
  });

  it('main.bicep is subscription-scoped (azd creates the resource group)', () => {
    expect(main.targetScope).toBe('subscription');
  });

  it('every role assignment is made in rbac.bicep', () => {
    const elsewhere = [...parsed.entries()]
      .filter(([file]) => file !== 'infra/app/rbac.bicep')
      .flatMap(([file, b]) =>
        b.resources.filter((r) => !r.existing && /roleAssignments@/.test(r.type)).map((r) => `${file}: ${r.symbol}`),
      );
    expect(elsewhere).toEqual([]);
    expect(bicep('infra/app/rbac.bicep').resources.filter((r) => /roleAssignments@/.test(r.type)).length).toBeGreaterThanOrEqual(6);
  });
});

describe('Azure Verified Modules', () => {
  const references = [...parsed.entries()].flatMap(([file, b]) => b.modules.filter((m) => m.path.startsWith('br')).map((m) => ({ file, ref: m.path })));

  it('are used where one fits', () => {
    expect(references.length).toBeGreaterThanOrEqual(3);
  });

  it('every registry module reference is pinned to an exact version', () => {
    const unpinned = references.filter((r) => !/^br\/public:avm\/(res|ptn|utl)\/[a-z0-9-]+(\/[a-z0-9-]+)+:\d+\.\d+\.\d+$/.test(r.ref));
    expect(unpinned).toEqual([]);
  });
});

describe('no secrets in infra/ (or in the files that deploy it)', () => {
  const files = [...listFiles('infra', ['.bicep', '.json', '.ts']), 'azure.yaml', ...listFiles('.github/workflows', ['.yml', '.yaml'])];
  const SECRET_PATTERNS: ReadonlyArray<[string, RegExp]> = [
    ['AccountKey= with a value', /AccountKey=(?!\$)[A-Za-z0-9+/=]{8,}/],
    ['SharedAccessKey= with a value', /SharedAccessKey=(?!\$)[A-Za-z0-9+/=]{8,}/],
    ['SharedAccessSignature', /SharedAccessSignature\s+sr=/],
    ['AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
    ['private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ['password / secret / key with a literal value', /"(password|secret|[A-Za-z]*Key|token)"\s*:\s*"(?!\$)[^"]{6,}"/i],
    ['long base64 literal', /['"][A-Za-z0-9+/]{40,}={0,2}['"]/],
  ];

  it('no file holds a secret-looking literal', () => {
    expect(files.length).toBeGreaterThanOrEqual(14);
    const hits: string[] = [];
    for (const file of files) {
      read(file)
        .split('\n')
        .forEach((line, i) => {
          for (const [what, re] of SECRET_PATTERNS) if (re.test(line)) hits.push(`${file}:${i + 1}: ${what}`);
        });
    }
    expect(hits).toEqual([]);
  });

  it('secret parameters are @secure() and have no default value', () => {
    const problems: string[] = [];
    for (const [file, b] of parsed) {
      for (const p of b.params.values()) {
        // A name like awsSecretAccessKeySecretUri is the secret's address, not the secret.
        const looksSecret = /(secret|password|accesskey|sharedkey|token)/i.test(p.name) && !/(Uri|Name)$/.test(p.name);
        if (looksSecret && !p.decorators.includes('secure')) problems.push(`${file}: ${p.name} is not @secure()`);
        if (p.decorators.includes('secure') && p.hasDefault) problems.push(`${file}: @secure() ${p.name} has a default`);
      }
    }
    expect(problems).toEqual([]);
    expect(main.params.get('awsSecretAccessKey')?.decorators).toContain('secure');
  });

  it('keys are read (listKeys) only to be stored in Key Vault, and no output carries a key or a secure parameter', () => {
    const problems: string[] = [];
    for (const [file, b] of parsed) {
      const text = read(file);
      if (/\blist[A-Z]?[a-z]*Keys?\(|\.listKeys\(/i.test(text) && file !== 'infra/app/keyvault.bicep') problems.push(`${file} calls listKeys`);
      const secure = [...b.params.values()].filter((p) => p.decorators.includes('secure')).map((p) => p.name);
      for (const line of text.split('\n').filter((l) => l.startsWith('output '))) {
        if (/list[A-Za-z]*\(/.test(line)) problems.push(`${file}: output uses a list* function: ${line}`);
        for (const s of secure) if (new RegExp(`\\b${s}\\b`).test(line)) problems.push(`${file}: output exposes ${s}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('least privilege and transport security (issue 12 item 7)', () => {
  const hubFile = bicep('infra/app/iothub.bicep');
  const hubResource = hubFile.resources.find((r) => r.type.startsWith('Microsoft.Devices/IotHubs@') && !r.existing);
  const hubProperties = (): number => {
    if (!hubResource) throw new Error('infra/app/iothub.bicep declares no IoT Hub');
    const properties = entry(hubFile.tokens, hubResource.bodyStart, 'properties');
    if (!properties) throw new Error('the IoT Hub has no properties');
    return properties.start;
  };

  /** The authorization policies as { keyName, rights } (a keyName that is a parameter reads its default). */
  function hubPolicies(): { keyName: string; rights: string }[] {
    const list = entry(hubFile.tokens, hubProperties(), 'authorizationPolicies');
    if (!list) return [];
    const policies: { keyName: string; rights: string }[] = [];
    for (let i = list.start; i < list.end; i++) {
      const t = hubFile.tokens[i];
      if (t?.kind !== 'punct' || t.value !== '{') continue;
      const keySpan = entry(hubFile.tokens, i, 'keyName');
      const keyText = keySpan ? textOf(hubFile.tokens, keySpan.start, keySpan.end) : '';
      const keyName = String(literalEntry(hubFile.tokens, i, 'keyName') ?? hubFile.params.get(keyText)?.defaultValue ?? keyText);
      policies.push({ keyName, rights: String(literalEntry(hubFile.tokens, i, 'rights')) });
    }
    return policies;
  }

  it("IoT Hub refuses clients below TLS 1.2 (minTlsVersion '1.2')", () => {
    expect(literalEntry(hubFile.tokens, hubProperties(), 'minTlsVersion')).toBe('1.2');
  });

  /** The role variable (rbac.bicep `roles.<name>`) and the principal of a role assignment in rbac.bicep. */
  function assignment(symbol: string): { role: string; principal: string; scope: string } {
    const rbac = bicep('infra/app/rbac.bicep');
    const resource = rbac.resources.find((r) => r.symbol === symbol);
    if (!resource) throw new Error(`rbac.bicep has no ${symbol}`);
    const scope = entry(rbac.tokens, resource.bodyStart, 'scope');
    const properties = entry(rbac.tokens, resource.bodyStart, 'properties');
    if (!properties || !scope) throw new Error(`${symbol} has no scope or properties`);
    const role = entry(rbac.tokens, properties.start, 'roleDefinitionId');
    const principal = entry(rbac.tokens, properties.start, 'principalId');
    return {
      role: role ? textOf(rbac.tokens, role.start, role.end) : '',
      principal: principal ? textOf(rbac.tokens, principal.start, principal.end) : '',
      scope: textOf(rbac.tokens, scope.start, scope.end),
    };
  }

  it('the triggers read an event hub of our own with the managed identity and a receive-only role; no key exists', () => {
    // The setting is identity-based, and nothing stores an Event Hubs or IoT Hub connection string.
    expect(appSettings().get('IOTHUB_EVENTS__fullyQualifiedNamespace')).toBe('eventHubFullyQualifiedNamespace');
    expect(appSettings().has('IOTHUB_EVENTS')).toBe(false);
    for (const file of bicepFiles) {
      expect(read(file), file).not.toMatch(/SharedAccessKey|listKeys\(|IotHubKeys|AuthorizationRules/);
    }
    // The namespace allows no key at all, and no TLS below 1.2.
    const hubs = bicep('infra/app/eventhubs.bicep');
    const namespace = hubs.resources.find((r) => r.type.startsWith('Microsoft.EventHub/namespaces@') && !r.existing);
    if (!namespace) throw new Error('eventhubs.bicep declares no namespace');
    const properties = entry(hubs.tokens, namespace.bodyStart, 'properties');
    if (!properties) throw new Error('the namespace has no properties');
    expect(literalEntry(hubs.tokens, properties.start, 'disableLocalAuth')).toBe(true);
    expect(literalEntry(hubs.tokens, properties.start, 'minimumTlsVersion')).toBe('1.2');
    // The Function app: Azure Event Hubs Data Receiver, on the one event hub.
    const rbac = bicep('infra/app/rbac.bicep');
    const roleId = (name: string): string => {
      const roles = rbac.vars.get('roles');
      if (!roles) throw new Error('rbac.bicep has no roles');
      const span = entry(rbac.tokens, roles.start, name);
      return span ? String(literalOf(rbac.tokens.slice(span.start, span.end))) : '';
    };
    expect(roleId('eventHubsDataReceiver')).toBe('a638d3c7-ab3a-418d-83e6-5f17a39d4fde');
    expect(roleId('eventHubsDataSender')).toBe('2b629674-e913-4c01-ae53-ef4638d8f975');
    expect(assignment('appEventHubReceive')).toEqual({
      role: "subscriptionResourceId ( 'Microsoft.Authorization/roleDefinitions' , roles . eventHubsDataReceiver )",
      principal: 'functionPrincipalId',
      scope: 'eventHub',
    });
    // IoT Hub: only Data Sender, on the same event hub, for its user-assigned routing identity.
    expect(assignment('routingEventHubSend')).toEqual({
      role: "subscriptionResourceId ( 'Microsoft.Authorization/roleDefinitions' , roles . eventHubsDataSender )",
      principal: 'routingIdentityPrincipalId',
      scope: 'eventHub',
    });
    const functionAssignments = read('infra/app/rbac.bicep')
      .split(/\n(?=resource )/)
      .filter((block) => /principalId: functionPrincipalId/.test(block) && /eventHub/.test(block));
    expect(functionAssignments).toHaveLength(1);
  });

  it('IoT Hub routes every message to that event hub with its identity, and the route exists only after the role', () => {
    const text = read('infra/app/iothub.bicep');
    expect(text).toMatch(/authenticationType: 'identityBased'/);
    expect(text).toMatch(/userAssignedIdentity: routingIdentityId/);
    expect(text).toMatch(/endpointNames: \['telemetry'\]/);
    // No IoT Hub policy for the Function app: the hub's defaults only, for operators and `az iot`.
    const policies = hubPolicies();
    expect(policies.map((p) => p.keyName)).toEqual(['iothubowner', 'service', 'device', 'registryRead', 'registryReadWrite']);
    const call = main.modules.find((m) => m.path === 'app/iothub.bicep');
    if (!call) throw new Error('main.bicep does not call app/iothub.bicep');
    const dependsOn = entry(main.tokens, call.bodyStart, 'dependsOn');
    expect(dependsOn && textOf(main.tokens, dependsOn.start, dependsOn.end)).toMatch(/\brbac\b/);
  });

  it('the deploying user gets Cosmos DB Built-in Data Reader (the CLI only reads); the Function keeps Data Contributor (it writes)', () => {
    const rbac = bicep('infra/app/rbac.bicep');
    const text = read('infra/app/rbac.bicep');
    const varValue = (name: string): string | undefined => {
      const v = rbac.vars.get(name);
      return v ? String(literalOf(rbac.tokens.slice(v.start, v.end))) : undefined;
    };
    expect(varValue('cosmosDataReaderId')).toBe('00000000-0000-0000-0000-000000000001');
    expect(varValue('cosmosDataContributorId')).toBe('00000000-0000-0000-0000-000000000002');
    const roleOf = (symbol: string): string => {
      const resource = rbac.resources.find((r) => r.symbol === symbol);
      if (!resource) throw new Error(`rbac.bicep has no ${symbol}`);
      const properties = entry(rbac.tokens, resource.bodyStart, 'properties');
      const role = properties ? entry(rbac.tokens, properties.start, 'roleDefinitionId') : undefined;
      return role ? textOf(rbac.tokens, role.start, role.end) : '';
    };
    expect(roleOf('userCosmosData')).toContain('cosmosDataReaderId');
    expect(roleOf('appCosmosData')).toContain('cosmosDataContributorId');
    // No assignment to the user carries a write role.
    const userAssignments = text.split(/\n(?=resource )/).filter((block) => /principalId: userPrincipalId/.test(block));
    expect(userAssignments.length).toBeGreaterThanOrEqual(2);
    for (const block of userAssignments) expect(block).not.toMatch(/Contributor|Owner|cosmosDataContributorId/);
  });
});
