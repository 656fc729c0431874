/**
 * The deathstar of the Star Wars demo (image `cilium/starwars`), reimplemented after cilium/starwars-docker:
 * `GET /v1` describes the station and its API, `POST /v1/request-landing` answers `Ship landed`,
 * `PUT /v1/exhaust-port` answers 503 with a Go panic backtrace and then the process crashes (the original panics
 * in a goroutine 2 s later), so the container restarts. One log line per request.
 */
import http from 'node:http';

export const EXHAUST_PORT_PANIC = `Panic: deathstar exploded

goroutine 1 [running]:
main.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)
        /code/src/github.com/empire/deathstar/
        temp/main.go:9 +0x64
main.main()
        /code/src/github.com/empire/deathstar/
        temp/main.go:5 +0x85
`;

export const DEATHSTAR_INFO = {
  name: 'Death Star',
  model: 'DS-1 Orbital Battle Station',
  manufacturer: 'Imperial Department of Military Research, Sienar Fleet Systems',
  cost_in_credits: '1000000000000',
  length: '120000',
  crew: '342953',
  passengers: '843342',
  cargo_capacity: '1000000000000',
  hyperdrive_rating: '4.0',
  starship_class: 'Deep Space Mobile Battlestation',
  api: [
    'GET   /v1',
    'GET   /v1/healthz',
    'POST  /v1/request-landing',
    'PUT   /v1/cargobay',
    'GET   /v1/hyper-matter-reactor/status',
    'PUT   /v1/exhaust-port',
  ],
};

const ROUTES: Record<string, string[]> = {
  '/v1': ['GET'],
  '/v1/': ['GET'],
  '/v1/healthz': ['GET'],
  '/v1/request-landing': ['POST'],
  '/v1/exhaust-port': ['PUT'],
};

export interface DeathstarOptions {
  log: (line: string) => void;
  /** Called after a PUT /v1/exhaust-port response is sent; the program exits non-zero from here. */
  onExplode: () => void;
}

export function createDeathstarServer(opts: DeathstarOptions): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const client = `${(req.socket.remoteAddress ?? '?').replace(/^::ffff:/, '')}:${req.socket.remotePort ?? 0}`;
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      opts.log(`${new Date().toISOString()} ${method} ${path} from ${client} ${status}`);
    };
    req.resume();
    req.on('end', () => {
      const allowed = ROUTES[path];
      if (!allowed) return send(404, `{"code":404,"message":"path ${path} was not found"}`, 'application/json');
      if (!allowed.includes(method)) {
        res.setHeader('Allow', allowed.join(','));
        return send(
          405,
          `{"code":405,"message":"method ${method} is not allowed, but [${allowed.join(',')}] are"}`,
          'application/json',
        );
      }
      switch (path) {
        case '/v1':
        case '/v1/':
          return send(200, `${JSON.stringify(DEATHSTAR_INFO, null, '\t')}\n`);
        case '/v1/healthz':
          return send(200, 'OK\n');
        case '/v1/request-landing':
          return send(200, 'Ship landed\n');
        case '/v1/exhaust-port':
          res.on('finish', () => opts.onExplode());
          return send(503, EXHAUST_PORT_PANIC);
      }
    });
  });
}
