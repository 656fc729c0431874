/**
 * Image `cilium/starwars`: the deathstar HTTP server on port 80 (`--port`, `--host` as the original's go-swagger
 * flags). After `PUT /v1/exhaust-port` it panics like the original: exit code 2 after a delay
 * (`DEATHSTAR_EXPLODE_DELAY_MS`, default 2000 ms as in cilium/starwars-docker).
 */
import { createDeathstarServer, EXHAUST_PORT_PANIC } from '../deathstar.js';
import { parseFlags } from '../flags.js';

const p = parseFlags(process.argv.slice(2), { strings: ['port', 'host', 'scheme'] });
if (p.error) {
  process.stderr.write(`${p.error}\n`);
  process.exit(1);
}
const port = Number(p.flags.get('port') ?? process.env.PORT ?? 80);
const host = String(p.flags.get('host') ?? '0.0.0.0');
const delay = Number(process.env.DEATHSTAR_EXPLODE_DELAY_MS ?? 2000);
let exploding = false;

const server = createDeathstarServer({
  log: (line) => process.stdout.write(`${line}\n`),
  onExplode: () => {
    if (exploding) return;
    exploding = true;
    setTimeout(() => {
      process.stderr.write(`panic: deathstar exploded\n\n${EXHAUST_PORT_PANIC.split('\n').slice(2).join('\n')}`);
      process.exit(2);
    }, delay);
  },
});
server.listen(port, host, () => {
  const bound = (server.address() as { port: number }).port;
  process.stdout.write(`Serving deathstar at http://${host}:${bound}\n`);
});
process.on('SIGTERM', () => {
  process.stdout.write('Shutting down...\n');
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
