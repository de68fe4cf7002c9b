/**
 * IoT Hub MQTT topic names (PROTOCOLS.md §1.6–1.8): classify what a client publishes, decide what it may
 * subscribe to, and build the topics the hub publishes. Pure; no broker types.
 */

/** The identity a connection authenticated as. */
export interface HubIdentity {
  readonly deviceId: string;
  readonly moduleId?: string;
}

export type InboundTopic =
  | { readonly kind: 'telemetry'; readonly deviceId: string; readonly moduleId?: string; readonly bag: string }
  | { readonly kind: 'twin-get'; readonly requestId: string }
  | { readonly kind: 'twin-reported'; readonly requestId: string }
  | { readonly kind: 'method-response'; readonly requestId: string; readonly status: string }
  | { readonly kind: 'unknown' };

const TELEMETRY = /^devices\/([^/]+)\/(?:modules\/([^/]+)\/)?messages\/events(?:\/(.*))?$/s;
const TWIN_GET = '$iothub/twin/GET/';
const TWIN_REPORTED = '$iothub/twin/PATCH/properties/reported/';
const METHOD_RESPONSE = /^\$iothub\/methods\/res\/([0-9]{1,3})\/\?(.*)$/s;

/** `$rid` from a `?$rid=…&…` query; undefined when absent or empty. */
export function requestIdFromQuery(query: string): string | undefined {
  for (const pair of query.split('&')) {
    if (pair.startsWith('$rid=') && pair.length > 5) return pair.slice(5);
  }
  return undefined;
}

export function classifyInboundTopic(topic: string): InboundTopic {
  const telemetry = TELEMETRY.exec(topic);
  if (telemetry) {
    const [, deviceId = '', moduleId, bag = ''] = telemetry;
    return moduleId === undefined
      ? { kind: 'telemetry', deviceId, bag }
      : { kind: 'telemetry', deviceId, moduleId, bag };
  }
  for (const [prefix, kind] of [
    [TWIN_GET, 'twin-get'],
    [TWIN_REPORTED, 'twin-reported'],
  ] as const) {
    if (topic.startsWith(`${prefix}?`)) {
      const requestId = requestIdFromQuery(topic.slice(prefix.length + 1));
      return requestId === undefined ? { kind: 'unknown' } : { kind, requestId };
    }
  }
  const method = METHOD_RESPONSE.exec(topic);
  if (method) {
    const requestId = requestIdFromQuery(method[2] ?? '');
    if (requestId !== undefined) return { kind: 'method-response', requestId, status: method[1] ?? '' };
  }
  return { kind: 'unknown' };
}

/** Whether the telemetry topic names the publishing identity itself (a client may publish only as itself). */
export function isOwnTelemetry(topic: Extract<InboundTopic, { kind: 'telemetry' }>, identity: HubIdentity): boolean {
  return topic.deviceId === identity.deviceId && topic.moduleId === identity.moduleId;
}

/** The topic filters an identity may subscribe to, exactly as the SDK sends them. */
export function allowedSubscriptions(identity: HubIdentity): readonly string[] {
  const own =
    identity.moduleId === undefined
      ? `devices/${identity.deviceId}/messages/devicebound/#`
      : `devices/${identity.deviceId}/modules/${identity.moduleId}/inputs/#`;
  return [own, '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#', '$iothub/methods/POST/#'];
}

/** Module input delivery; the `/` after the input name is mandatory (the SDK's dispatch regex needs it). */
export function moduleInputTopic(deviceId: string, moduleId: string, inputName: string, bag: string): string {
  return `devices/${deviceId}/modules/${moduleId}/inputs/${inputName}/${bag}`;
}

/** Topic prefix of an identity's module inputs (for deciding where a hub publish may be forwarded). */
export function moduleInputPrefix(deviceId: string, moduleId: string): string {
  return `devices/${deviceId}/modules/${moduleId}/inputs/`;
}

export function twinResponseTopic(status: number, requestId: string, version?: number): string {
  const versionPart = version === undefined ? '' : `&$version=${version}`;
  return `$iothub/twin/res/${status}/?$rid=${requestId}${versionPart}`;
}

export function desiredPatchTopic(version: number): string {
  return `$iothub/twin/PATCH/properties/desired/?$version=${version}`;
}

/** Names usable in a topic segment: no MQTT wildcards, no level separator, not empty. */
export function isTopicSafeName(name: string): boolean {
  return name.length > 0 && !/[/#+]/.test(name) && !name.includes(String.fromCharCode(0));
}
