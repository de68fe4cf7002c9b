import { describe, expect, it } from 'vitest';
import { createProgress, renderProgress } from '../../../cli/progress.js';

describe('cli/progress', () => {
  it('renders a bar with counts and bytes', () => {
    expect(renderProgress(1, 4, 2048, 8)).toBe('[##------] 1/4 blobs, 2.0 KB');
    expect(renderProgress(0, 0, 0, 4)).toBe('[####] 0/0 blobs, 0 B');
  });

  it('draws in place on a TTY and erases the line when done', () => {
    const written: string[] = [];
    const p = createProgress({ isTTY: true, write: (t: string) => written.push(t) }, 2);
    p.advance(100);
    p.advance(3 * 1024 * 1024);
    p.done();
    expect(written[0]).toMatch(/^\rdownloading \[-+\] 0\/2 blobs/);
    expect(written[2]).toMatch(/^\rdownloading \[#+\] 2\/2 blobs, 3\.0 MB$/);
    expect(written[3]).toBe('\r\x1b[2K');
  });

  it('writes nothing when the stream is not a TTY', () => {
    const written: string[] = [];
    const p = createProgress({ isTTY: false, write: (t: string) => written.push(t) }, 3);
    p.advance(1);
    p.done();
    expect(written).toEqual([]);
  });
});
