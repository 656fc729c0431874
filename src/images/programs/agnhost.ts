/**
 * Image `registry.k8s.io/e2e-test-images/agnhost`: dispatches on args[0] (serve-hostname, porter, netexec,
 * connect, pause, ...). See ../agnhost.ts.
 */
import { runAgnhost } from '../agnhost.js';

const run = await runAgnhost(process.argv.slice(2), {
  env: process.env,
  hostname: process.env.HOSTNAME ?? 'agnhost',
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  exit: (code) => process.exit(code),
});
if (run.exitCode !== undefined) {
  process.exitCode = run.exitCode;
} else {
  const keepAlive = setInterval(() => {}, 1 << 30);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      clearInterval(keepAlive);
      void run.close().then(() => process.exit(0));
    });
  }
}
