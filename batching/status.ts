/**
 * Status messages in exactly the connector's shape (manual, "Output data"):
 *   {"response":{"status":"success"},"id":"req123"}
 *   {"response":{"status":"fail","error":"ResourceNotFoundException","error_message":"..."},"id":"req123"}
 * `id` is the report's statusId (the device's id exactly); left out when the input carried no correlation
 * (binary and default-topic messages).
 */
import type { StatusReport } from './types.js';

export interface ConnectorStatus {
  response: { status: 'success' } | { status: 'fail'; error: string; error_message: string };
  id?: string;
}

export function toConnectorStatusObject(report: StatusReport): ConnectorStatus {
  const response: ConnectorStatus['response'] =
    report.status === 'success'
      ? { status: 'success' }
      : { status: 'fail', error: report.error, error_message: report.errorMessage };
  return report.statusId === undefined ? { response } : { response, id: report.statusId };
}

/** The status as the exact JSON text published on `iotanalytics/messages/put/status`. */
export function toConnectorStatus(report: StatusReport): string {
  return JSON.stringify(toConnectorStatusObject(report));
}
