/**
 * The hot path's app settings (docs/contracts.md §6), parsed with the others by functions/config.ts.
 *
 * - `HOT_RULES` (the rules as JSON text, what infra sets) or `HOT_RULES_FILE` (a path, what `npm start`
 *   sets); neither: no rules, the hot path only counts events.
 * - `HOT_WEBHOOK_URL`: where alerts are POSTed (a Logic App trigger URL, a Key Vault reference in Azure);
 *   absent: alerts are only stored. https, or http to a loopback address only. The URL holds a secret
 *   (`sig=`), so errors never echo it.
 * - `COSMOS_ALERTS_CONTAINER` (default `alerts`), `HOT_WEBHOOK_TIMEOUT_SECONDS` (per attempt, default 10),
 *   `HOT_WEBHOOK_MAX_ATTEMPTS` (default 12, about an hour of retries), `HOT_WINDOW_GRACE_SECONDS` (how long
 *   after its end the sweep closes a window a device stopped feeding, default 120: more than host.json's
 *   maxWaitTime, or a window would close before its last readings arrive).
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_ALERTS_CONTAINER } from '@iot-ingest/contracts';
import type { RuleSet } from './rules.js';
import { EMPTY_RULE_SET, parseRulesText } from './rules.js';

export const HOT_DEFAULTS = Object.freeze({
  COSMOS_ALERTS_CONTAINER: DEFAULT_ALERTS_CONTAINER,
  /** Seconds. */
  HOT_WEBHOOK_TIMEOUT_SECONDS: '10',
  HOT_WEBHOOK_MAX_ATTEMPTS: '12',
  /** Seconds. */
  HOT_WINDOW_GRACE_SECONDS: '120',
});

export interface HotSettings {
  readonly ruleSet: RuleSet;
  /** Where the rules came from, for logs (`HOT_RULES`, a file path, or `none`). */
  readonly rulesSource: string;
  readonly webhookUrl: string | undefined;
  readonly webhookTimeoutMs: number;
  readonly webhookMaxAttempts: number;
  readonly windowGraceMs: number;
  readonly alertsContainer: string;
}

export interface HotSettingIssue {
  readonly setting: string;
  readonly message: string;
}

const COSMOS_CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/;

export function parseHotSettings(get: (name: string) => string | undefined): {
  settings: HotSettings;
  issues: HotSettingIssue[];
} {
  const issues: HotSettingIssue[] = [];
  let ruleSet = EMPTY_RULE_SET;
  let rulesSource = 'none';
  const inline = get('HOT_RULES');
  const file = get('HOT_RULES_FILE');
  if (inline !== undefined && file !== undefined) {
    issues.push({
      setting: 'HOT_RULES',
      message: 'HOT_RULES and HOT_RULES_FILE are both set; give one (the rules text, or the path of a rules file)',
    });
  } else if (inline !== undefined || file !== undefined) {
    const setting = inline !== undefined ? 'HOT_RULES' : 'HOT_RULES_FILE';
    let text: string | undefined = inline;
    if (file !== undefined) {
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        issues.push({
          setting,
          message: `HOT_RULES_FILE: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        });
      }
    }
    if (text !== undefined) {
      rulesSource = file ?? 'HOT_RULES';
      const parsed = parseRulesText(text, rulesSource);
      if (parsed.ok) ruleSet = parsed.ruleSet;
      else for (const issue of parsed.issues) issues.push({ setting, message: `${setting}: ${issue.message}` });
    }
  }

  const webhookUrl = get('HOT_WEBHOOK_URL');
  if (webhookUrl !== undefined) {
    const problem = webhookUrlProblem(webhookUrl);
    if (problem) issues.push({ setting: 'HOT_WEBHOOK_URL', message: `HOT_WEBHOOK_URL ${problem}` });
  }
  const whole = (name: keyof typeof HOT_DEFAULTS, min: number, max: number, unit: string): number => {
    const text = get(name) ?? HOT_DEFAULTS[name];
    if (!/^[0-9]{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
      issues.push({
        setting: name,
        message: `${name} must be a whole number of ${unit} from ${min} to ${max}, got '${text}'`,
      });
      return min;
    }
    return Number(text);
  };
  const webhookTimeoutSeconds = whole('HOT_WEBHOOK_TIMEOUT_SECONDS', 1, 120, 'seconds');
  const webhookMaxAttempts = whole('HOT_WEBHOOK_MAX_ATTEMPTS', 1, 100, 'attempts');
  const windowGraceSeconds = whole('HOT_WINDOW_GRACE_SECONDS', 0, 3600, 'seconds');
  const alertsContainer = get('COSMOS_ALERTS_CONTAINER') ?? HOT_DEFAULTS.COSMOS_ALERTS_CONTAINER;
  if (!COSMOS_CONTAINER_NAME.test(alertsContainer)) {
    issues.push({
      setting: 'COSMOS_ALERTS_CONTAINER',
      message: `COSMOS_ALERTS_CONTAINER '${alertsContainer}' is not a valid Cosmos DB container name`,
    });
  }
  return {
    settings: {
      ruleSet,
      rulesSource,
      webhookUrl: issues.some((i) => i.setting === 'HOT_WEBHOOK_URL') ? undefined : webhookUrl,
      webhookTimeoutMs: webhookTimeoutSeconds * 1000,
      webhookMaxAttempts,
      windowGraceMs: windowGraceSeconds * 1000,
      alertsContainer,
    },
    issues,
  };
}

/** Why the URL is not acceptable (without echoing it: it holds a secret), or undefined. */
function webhookUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:')
    return isLoopback(url.hostname)
      ? undefined
      : `must be https (http only to a loopback address; got http to ${url.hostname})`;
  return `must be an https URL (got ${url.protocol})`;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
