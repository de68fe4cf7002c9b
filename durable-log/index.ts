/**
 * @iot-ingest/durable-log: one durable log, under the edge module's store and the IoT Hub emulator's
 * partitions. README.md states its invariants. Test helpers (a fault-injecting filesystem) are in
 * `@iot-ingest/durable-log/testing`.
 */
export { DurableLog } from './log.js';
export type { DurableLogOptions, LogStats, ReadFrame, ReadResult, SegmentInfo } from './log.js';
export {
  allocFrame,
  frameFor,
  FRAME_HEADER_BYTES,
  DEFAULT_MAX_PAYLOAD_BYTES,
  checkFrame,
  scanSegment,
} from './frame.js';
export type { FrameCheck, ScannedFrame, SegmentScan, UnreadableRegion } from './frame.js';
export { nodeFileSystem } from './fs.js';
export type { AppendHandle, LogFileSystem, ReadHandle } from './fs.js';
export { LogClosedError, LogStoppedError, LogWriteError, ShortWriteError } from './errors.js';
export type { WriteStep } from './errors.js';
export type { LogLogger } from './logger.js';
export { segmentFileName } from './recover.js';
