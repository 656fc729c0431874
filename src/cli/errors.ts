/** An error caused by the user's input: printed as `error: <message>` with no stack, exit code 1 by default. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
