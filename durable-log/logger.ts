/** What the log writes its lines to: pino's Logger fits, and so does anything with these three methods. */
export interface LogLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const silentLogger: LogLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
