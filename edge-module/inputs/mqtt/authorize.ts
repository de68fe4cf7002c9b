/**
 * What a client may publish and subscribe to, as pure decisions (mqtt.ts applies them):
 * - publish only to the connector's input topics and the topics MQTT_DEFAULT_CHANNEL_TOPICS lists;
 * - never to `$…` topics (aedes' own `$SYS/` guard, moscajs/aedes#597: a forged `$SYS/<id>/new/clients`
 *   would disconnect another client), never on the status topic (a forged status), never retained;
 * - subscribe only to the status topic itself, no wildcards: each client then receives only its own
 *   statuses (status-router.ts), never other devices' telemetry.
 * MQTT 3.1.1 has no negative PUBACK: a refused input is acknowledged and answered with a `fail` status;
 * what could harm another client (`$SYS`, status topic) closes the publisher's connection instead.
 */
import { routeTopic, STATUS_TOPIC } from '../parse.js';
import type { TopicRoute } from '../parse.js';
import type { TopicFilterSet } from './topics.js';

export type InputRoute = Exclude<TopicRoute, { kind: 'status' }>;

export type PublishDecision =
  | { readonly action: 'ingest'; readonly route: InputRoute }
  /** Acknowledge, do not ingest, answer with an InvalidRequestException status. */
  | { readonly action: 'refuse'; readonly rule: 'retain' | 'topic'; readonly route: InputRoute; readonly message: string }
  /** Close the publisher's connection; nothing is forwarded. */
  | { readonly action: 'disconnect'; readonly rule: 'sys_topic' | 'status_topic'; readonly message: string };

export function decidePublish(topic: string, retain: boolean, defaultChannelTopics: TopicFilterSet): PublishDecision {
  if (topic.startsWith('$')) {
    return { action: 'disconnect', rule: 'sys_topic', message: `topic '${topic.slice(0, 128)}' is reserved for the broker ($SYS and other $ topics)` };
  }
  const route = routeTopic(topic);
  if (route.kind === 'status') {
    return { action: 'disconnect', rule: 'status_topic', message: `clients may not publish on the status topic ${STATUS_TOPIC}` };
  }
  if (route.kind === 'default' && !defaultChannelTopics.matches(topic)) {
    const configured = defaultChannelTopics.empty ? 'none are configured' : `configured: ${defaultChannelTopics.filters.join(', ').slice(0, 256)}`;
    return {
      action: 'refuse',
      rule: 'topic',
      route,
      message: `topic '${topic.slice(0, 128)}' is not a connector topic and matches no filter of MQTT_DEFAULT_CHANNEL_TOPICS (${configured})`,
    };
  }
  if (retain) {
    return { action: 'refuse', rule: 'retain', route, message: 'retained messages are not accepted (the module keeps none): publish with retain=false' };
  }
  return { action: 'ingest', route };
}

/** Only the status topic itself, at QoS 0 or 1 (granted as asked, QoS 2 as 1). */
export function grantSubscription(topic: string, qos: number): 0 | 1 | undefined {
  if (topic !== STATUS_TOPIC) return undefined;
  return qos >= 1 ? 1 : 0;
}

/** Why a CONNECT's will cannot be accepted: it would be published for the client on disconnect. */
export function willProblem(will: { topic: string; retain?: boolean } | undefined | null, defaultChannelTopics: TopicFilterSet): string | undefined {
  if (!will) return undefined;
  const decision = decidePublish(will.topic, will.retain === true, defaultChannelTopics);
  return decision.action === 'ingest' ? undefined : `the will: ${decision.message}`;
}
