/** How a message body is delimited (RFC 9112 §6.3). */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
/** Responses only: the body ends when the server closes the connection. */
export const BODY_UNTIL_CLOSE = 3;

export type BodyKind = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED | typeof BODY_UNTIL_CLOSE;
