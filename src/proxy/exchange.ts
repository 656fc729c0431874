/** One request/response exchange on a client connection, from its head to the end of its response. */
import type { Decision } from './decision.js';
import type { BodyReader } from './http1/body.js';
import type { RequestHead } from './http1/request.js';

export class Exchange {
  /** Normalised path once checked (the raw target before). */
  url: string;
  /** The checked authority once checked (the Host field before). */
  host: string;
  decision: Decision | undefined = undefined;
  /** Allowed and sent upstream. */
  forward = false;
  /** The request body still being read (forwarded, or dropped after a local answer). */
  body: BodyReader | undefined = undefined;
  requestDone = false;
  responseStarted = false;
  responseDone = false;
  /** Status sent to the client. */
  status = 0;
  /** The client connection continues after this exchange. */
  keepAlive: boolean;
  /** The head sent upstream, kept for one retry on a stale keep-alive connection. */
  upstreamHead: Buffer | undefined = undefined;
  retried = false;
  reported = false;

  constructor(
    readonly head: RequestHead,
    /** performance.now() when the first byte of the head arrived. */
    readonly t0: number,
  ) {
    this.url = head.target;
    this.host = head.host;
    this.keepAlive = head.keepAlive;
  }
}
