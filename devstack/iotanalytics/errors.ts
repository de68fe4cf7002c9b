/**
 * AWS IoT Analytics errors as the REST (restJson1) protocol carries them: the status code of the
 * error's `httpError` trait, the name in `x-amzn-errortype`, and `{"message": …}` in the body —
 * what `@aws-sdk/client-iotanalytics` reads to build its exception (PROTOCOLS.md §3.3).
 */
export type AwsErrorName =
  | 'InvalidRequestException'
  | 'ResourceNotFoundException'
  | 'ResourceAlreadyExistsException'
  | 'ThrottlingException'
  | 'InternalFailureException'
  | 'ServiceUnavailableException'
  | 'UnknownOperationException';

const STATUS: Record<AwsErrorName, number> = {
  InvalidRequestException: 400,
  ResourceNotFoundException: 404,
  ResourceAlreadyExistsException: 409,
  ThrottlingException: 429,
  InternalFailureException: 500,
  ServiceUnavailableException: 503,
  UnknownOperationException: 404,
};

export class AwsError extends Error {
  readonly statusCode: number;
  /** Extra body fields some errors carry (e.g. ResourceAlreadyExistsException's resourceId). */
  readonly fields: Record<string, string>;

  constructor(
    readonly errorType: AwsErrorName,
    message: string,
    fields: Record<string, string> = {},
  ) {
    super(message);
    this.statusCode = STATUS[errorType];
    this.fields = fields;
  }

  body(): Record<string, string> {
    return { ...this.fields, message: this.message };
  }
}

export const invalidRequest = (message: string): AwsError => new AwsError('InvalidRequestException', message);

/** The text the real service (and so the Greengrass connector's status) gives for a missing channel. */
export const RESOURCE_NOT_FOUND_MESSAGE = 'A resource with the specified name could not be found.';
export const resourceNotFound = (): AwsError => new AwsError('ResourceNotFoundException', RESOURCE_NOT_FOUND_MESSAGE);
