import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameFor, FRAME_HEADER_BYTES, scanSegment } from '../../../durable-log/index.js';
import { sealFrame } from '../../../durable-log/frame.js';

function segmentOf(payloads: Uint8Array[]): { bytes: Buffer; starts: number[] } {
  const starts: number[] = [];
  let at = 0;
  const frames = payloads.map((payload, seq) => {
    const frame = frameFor(payload);
    sealFrame(frame, seq, 1_000 + seq);
    starts.push(at);
    at += frame.length;
    return frame;
  });
  return { bytes: Buffer.concat(frames), starts };
}

const payloads = fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 1, maxLength: 12 });

describe('durable log: frame scanner', () => {
  it('finds every frame of an undamaged segment, with its number and time', () => {
    fc.assert(
      fc.property(payloads, (list) => {
        const { bytes, starts } = segmentOf(list);
        const scan = scanSegment(bytes);
        expect(scan).toMatchObject({ tail: 'end', validBytes: bytes.length, unreadable: [] });
        expect(scan.frames.map((f) => [f.position, f.seq, f.timestampMs])).toEqual(
          starts.map((s, seq) => [s, seq, 1_000 + seq]),
        );
      }),
    );
  });

  it('one damaged byte anywhere loses only the frame it is in; every other frame is found', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), fc.integer({ min: 1, max: 255 }), (list, where, flip) => {
        const { bytes, starts } = segmentOf(list);
        const at = where % bytes.length;
        bytes.writeUInt8(bytes.readUInt8(at) ^ flip, at);
        const hit = starts.findLastIndex((s) => s <= at);
        const scan = scanSegment(bytes);
        expect(scan.frames.map((f) => f.seq)).toEqual(list.map((_, seq) => seq).filter((seq) => seq !== hit));
        if (hit === list.length - 1) expect(scan).toMatchObject({ tail: 'corrupt', validBytes: starts[hit] });
        else expect(scan.unreadable).toEqual([{ start: starts[hit], end: starts[hit + 1] }]);
      }),
      { numRuns: 500 },
    );
  });

  it('a segment cut anywhere keeps every whole frame before the cut and calls the rest a torn tail', () => {
    fc.assert(
      fc.property(payloads, fc.nat(), (list, where) => {
        const { bytes, starts } = segmentOf(list);
        const cut = where % (bytes.length + 1);
        const whole = starts.filter(
          (s, seq) => s + FRAME_HEADER_BYTES + (list[seq] as Uint8Array).length <= cut,
        ).length;
        const scan = scanSegment(bytes.subarray(0, cut));
        expect(scan.frames).toHaveLength(whole);
        expect(scan.unreadable).toEqual([]);
        const end = whole === list.length ? bytes.length : (starts[whole] as number);
        expect(scan).toMatchObject({
          validBytes: Math.min(end, cut),
          tail: cut === Math.min(end, cut) ? 'end' : 'torn',
        });
      }),
    );
  });
});
