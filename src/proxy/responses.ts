/**
 * Responses the proxy writes itself. The deny is what Cilium's Envoy sends (`403 Forbidden`, `content-type:
 * text/plain`, `content-length: 15`, `Access denied\r\n`, plus a `date`); errors close the connection.
 */
export const DENY_BODY = 'Access denied\r\n';

export const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** Seconds announced in `keep-alive: timeout=` (the idle timeout of client connections, as Node's server had). */
export const KEEP_ALIVE_SECONDS = 60;

const KEEP_ALIVE = `connection: keep-alive\r\nkeep-alive: timeout=${KEEP_ALIVE_SECONDS}\r\n`;
const CLOSE = 'connection: close\r\n';

let dateSecond = -1;
let dateText = '';
/** IMF-fixdate of the current second, formatted at most once a second. */
export function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(s * 1000).toUTCString();
  }
  return dateText;
}

/** A complete `text/plain` response (or one without body when `body` is ''). */
export function textResponse(status: number, body: string, keepAlive: boolean): Buffer {
  const type = body.length > 0 ? 'content-type: text/plain\r\n' : '';
  return Buffer.from(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${type}content-length: ${Buffer.byteLength(body)}\r\n` +
      `date: ${httpDate()}\r\n${keepAlive ? KEEP_ALIVE : CLOSE}\r\n${body}`,
    'latin1',
  );
}

export function denyResponse(keepAlive: boolean): Buffer {
  return textResponse(403, DENY_BODY, keepAlive);
}

/** The interim answer to `Expect: 100-continue` (sent by the proxy, as Node's server did). */
export const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

export const UPSTREAM_ERROR_BODY = 'upstream connect error or disconnect/reset before headers\r\n';
export const UPSTREAM_UPGRADE_ERROR_BODY = 'upstream connect error\r\n';
