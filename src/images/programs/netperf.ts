/**
 * Image `tgraf/netperf`: the ships' toolbox. It stays up doing nothing; `kubectl exec` runs this machine's
 * binaries (curl, ping, iperf3...) inside the pod's network namespace.
 */
process.stdout.write('podwall toolbox (tgraf/netperf): idle; use kubectl exec to run curl and friends\n');
const keepAlive = setInterval(() => {}, 1 << 30);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    clearInterval(keepAlive);
    process.exit(0);
  });
}
