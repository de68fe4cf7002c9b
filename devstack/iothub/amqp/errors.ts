/**
 * AMQP error conditions the emulator returns, with the names the Event Hubs client maps them to
 * (PROTOCOLS.md §2.6). A refusal is thrown as `AmqpConditionError` and turned into a link close or a
 * request-response status by the caller.
 */
export const Condition = {
  /** → UnauthorizedError (retryable). */
  unauthorized: 'amqp:unauthorized-access',
  /** → MessagingEntityNotFoundError when the description says "… could not be found". */
  notFound: 'amqp:not-found',
  /** → ArgumentOutOfRangeError (not retryable). */
  argumentOutOfRange: 'com.microsoft:argument-out-of-range',
  /** → ArgumentError (not retryable). */
  argument: 'com.microsoft:argument-error',
  /** → ReceiverDisconnectedError (owner-level rules). */
  linkStolen: 'amqp:link:stolen',
  /** → MessageTooLargeError. */
  messageSizeExceeded: 'amqp:link:message-size-exceeded',
  notImplemented: 'amqp:not-implemented',
  internal: 'amqp:internal-error',
} as const;

export type ConditionName = (typeof Condition)[keyof typeof Condition];

export class AmqpConditionError extends Error {
  constructor(
    readonly condition: ConditionName,
    description: string,
  ) {
    super(description);
    this.name = 'AmqpConditionError';
  }

  toAmqpError(): { condition: string; description: string } {
    return { condition: this.condition, description: this.message };
  }
}

export function entityNotFound(entity: string): AmqpConditionError {
  return new AmqpConditionError(Condition.notFound, `The messaging entity '${entity}' could not be found.`);
}

/** How a request/response node (`$cbs`, `$management`) or a refused link reports an error. */
export interface Status {
  readonly code: number;
  readonly description: string;
  readonly condition?: string;
}

const STATUS_CODES: Partial<Record<ConditionName, number>> = {
  [Condition.unauthorized]: 401,
  [Condition.notFound]: 404,
  [Condition.notImplemented]: 501,
  [Condition.internal]: 500,
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A refusal keeps its condition (400 unless named above); anything else is an internal error. */
export function statusFor(error: unknown): Status {
  if (error instanceof AmqpConditionError) {
    return { code: STATUS_CODES[error.condition] ?? 400, description: error.message, condition: error.condition };
  }
  return { code: 500, description: errorMessage(error), condition: Condition.internal };
}
