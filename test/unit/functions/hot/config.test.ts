import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHotSettings } from '../../../../functions/hot/config.js';

const parse = (settings: Record<string, string>) => parseHotSettings((name) => settings[name]);
const SECRET_URL = 'http://logic.example.net/workflows/x/triggers/manual/paths/invoke?sig=TOPSECRET';

describe('hot path settings', () => {
  it('no rules setting: an idle hot path with the documented defaults', () => {
    const { settings, issues } = parse({});
    expect(issues).toEqual([]);
    expect(settings).toMatchObject({
      rulesSource: 'none',
      webhookUrl: undefined,
      webhookTimeoutMs: 10_000,
      webhookMaxAttempts: 12,
      windowGraceMs: 120_000,
      alertsContainer: 'alerts',
    });
    expect(settings.ruleSet.rules).toEqual([]);
  });

  it('HOT_RULES_FILE is read; its errors are named with the setting and the rule', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hot-rules-'));
    const file = path.join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ rules: [{ id: 'a', field: 'x', op: '~', value: 1 }] }));
    expect(parse({ HOT_RULES_FILE: file }).issues).toEqual([
      { setting: 'HOT_RULES_FILE', message: 'HOT_RULES_FILE: rules[0].op: must be one of > >= < <= == !=, got "~"' },
    ]);
    writeFileSync(file, JSON.stringify({ rules: [{ id: 'a', staleSeconds: 60 }] }));
    expect(parse({ HOT_RULES_FILE: file }).settings).toMatchObject({
      rulesSource: file,
      ruleSet: { stale: [{ id: 'a' }] },
    });
    expect(parse({ HOT_RULES_FILE: path.join(dir, 'missing.json') }).issues).toEqual([
      { setting: 'HOT_RULES_FILE', message: expect.stringMatching(/cannot read .*missing\.json.*ENOENT/) },
    ]);
  });

  it('HOT_RULES and HOT_RULES_FILE together are refused', () => {
    expect(parse({ HOT_RULES: '{"rules":[]}', HOT_RULES_FILE: 'x.json' }).issues.map((i) => i.setting)).toEqual([
      'HOT_RULES',
    ]);
  });

  it('the webhook URL must be https (http to loopback only), and errors never echo it', () => {
    const { issues } = parse({ HOT_WEBHOOK_URL: SECRET_URL });
    expect(issues).toEqual([
      {
        setting: 'HOT_WEBHOOK_URL',
        message: 'HOT_WEBHOOK_URL must be https (http only to a loopback address; got http to logic.example.net)',
      },
    ]);
    expect(JSON.stringify(issues)).not.toContain('TOPSECRET');
    expect(parse({ HOT_WEBHOOK_URL: 'not a url ?sig=TOPSECRET' }).issues[0]!.message).toBe(
      'HOT_WEBHOOK_URL is not a URL',
    );
    expect(parse({ HOT_WEBHOOK_URL: 'http://127.0.0.1:9/x?sig=s' }).issues).toEqual([]);
    expect(parse({ HOT_WEBHOOK_URL: 'https://prod-00.westeurope.logic.azure.com/workflows/x?sig=s' }).issues).toEqual(
      [],
    );
  });

  it('numeric settings name themselves and their range', () => {
    expect(
      parse({
        HOT_WEBHOOK_TIMEOUT_SECONDS: '0',
        HOT_WEBHOOK_MAX_ATTEMPTS: 'many',
        HOT_WINDOW_GRACE_SECONDS: '-1',
        COSMOS_ALERTS_CONTAINER: 'a/b',
      }).issues.map((i) => i.message),
    ).toEqual([
      "HOT_WEBHOOK_TIMEOUT_SECONDS must be a whole number of seconds from 1 to 120, got '0'",
      "HOT_WEBHOOK_MAX_ATTEMPTS must be a whole number of attempts from 1 to 100, got 'many'",
      "HOT_WINDOW_GRACE_SECONDS must be a whole number of seconds from 0 to 3600, got '-1'",
      "COSMOS_ALERTS_CONTAINER 'a/b' is not a valid Cosmos DB container name",
    ]);
  });
});
