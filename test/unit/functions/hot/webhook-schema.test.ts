import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALERT_WEBHOOK_SCHEMA, alertWebhookBodyProblems } from '../../../../contracts/alerts.js';

describe('the alert webhook body schema', () => {
  it("the Logic App trigger's schema (infra) is the contract's", () => {
    expect(JSON.parse(readFileSync('infra/app/alert-webhook.schema.json', 'utf8'))).toEqual(ALERT_WEBHOOK_SCHEMA);
  });

  it('a body with exactly the six fields passes; a missing, extra or mistyped field is named', () => {
    const body = {
      rule: 'too-hot',
      deviceId: 'd',
      state: 'raised',
      value: 31,
      at: '2026-11-23T10:00:00.000Z',
      readingId: '0-1-0',
    };
    expect(alertWebhookBodyProblems(body)).toEqual([]);
    expect(alertWebhookBodyProblems({ ...body, value: null, readingId: null })).toEqual([]);
    const { at: _at, ...noAt } = body;
    expect(alertWebhookBodyProblems(noAt)).toEqual(['at is required']);
    expect(alertWebhookBodyProblems({ ...body, extra: 1 })).toEqual(['extra is not a property of the schema']);
    expect(alertWebhookBodyProblems({ ...body, state: 'open', value: {} })).toEqual([
      "state must be 'raised' or 'resolved'",
      'value must be a number, string, boolean or null',
    ]);
  });
});
