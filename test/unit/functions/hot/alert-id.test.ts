import { describe, expect, it } from 'vitest';
import { alertId, stateDocumentId } from '../../../../functions/hot/alert-id.js';

// Pinned values: these ids are already in Cosmos containers; a change would raise every open alert again.
const LONG_DEVICE = 'd'.repeat(300);

describe('alert ids', () => {
  it('spell rule, device and episode start as they are when nothing needs escaping', () => {
    expect(alertId('too-hot', 'dev-1', 'gw-1:mod:7')).toBe('too-hot:dev-1:gw-1:mod:7');
    expect(stateDocumentId('dev-1')).toBe('hot-state:dev-1');
  });

  it('escape / \\ ? # % in the device id as the record ids do', () => {
    expect(alertId('avg-hot', 'plant/7#a?b\\c%d', '2026-11-23T10:00:00.000Z')).toBe(
      'avg-hot:plant%2F7%23a%3Fb%5Cc%25d:2026-11-23T10:00:00.000Z',
    );
    expect(stateDocumentId('plant/7#a?b\\c%d')).toBe('hot-state:plant%2F7%23a%3Fb%5Cc%25d');
  });

  it("hash the device and start when the id would exceed Cosmos DB's 255-character id limit", () => {
    const id = alertId('silent', LONG_DEVICE, 'silent-since-2026-11-23T10:00:00.000Z');
    expect(id).toBe('silent:~qln9kG1VnDYc6USWGdaPrD');
    expect(stateDocumentId(LONG_DEVICE)).toBe('hot-state:~Y8KbfSI-PVgqR5vFkfJg1L');
    expect(alertId('silent', LONG_DEVICE, 'silent-since-2026-11-23T10:00:10.000Z')).not.toBe(id);
  });
});
