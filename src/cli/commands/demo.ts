/**
 * `podwall demo`: the walkthrough of shared/seed/TUTORIAL.md for a person. Starts podwall if it is not running,
 * applies the seed manifests step by step with the real kubectl, shows each command and its output, and after the
 * drops and the 403 shows the matching `podwall observe` lines and a `podwall policy trace` explanation computed from
 * the live objects. Removes what it applied at the end unless --keep (podwall itself keeps running). Needs root.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { homePaths, resolveHome, runningDaemon } from '../../agent/lifecycle.js';
import type { KubeObject } from '../../api/types.js';
import { KubeClient, loadKubeconfig } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { formatCompact } from '../../observer/compact.js';
import type { FlowFilter } from '../../observer/filter.js';
import type { Flow } from '../../observer/flow.js';
import { fetchFlows, fetchObserverStatus } from '../../observer/server.js';
import { clusterFromObjects } from '../../policy/manifests.js';
import { compile } from '../../policy/resolve/compile.js';
import { parsePortProto, resolveEndpoint, traceFlow } from '../../policy/trace.js';
import { UserError } from '../errors.js';
import { observeSocket } from './observe.js';
import { renderTrace } from './policy.js';

interface DemoOptions {
  home?: string;
  seed?: string;
  keep?: boolean;
  kubectl: string;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The package root: the nearest ancestor of this file with podwall's package.json. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'podwall') return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return resolve(from, '../../..');
    dir = up;
  }
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', (e) => {
      clearTimeout(t);
      res({ code: 127, stdout, stderr: String(e) });
    });
    p.on('close', (code) => {
      clearTimeout(t);
      res({ code: code ?? 1, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the Star Wars walkthrough (shared/seed/TUTORIAL.md) step by step on this machine (needs root)')
    .option('--home <dir>', 'state directory (default $PODWALL_HOME or /var/lib/podwall)')
    .option('--seed <dir>', 'directory with app.yaml, native/ and cilium/ (default: ../shared/seed of the package)')
    .option('--keep', 'leave the demo objects in place at the end')
    .option('--kubectl <path>', 'kubectl binary', 'kubectl')
    .action(async (o: DemoOptions) => {
      if (process.getuid?.() !== 0)
        throw new UserError('podwall demo runs pods and kernel rules: run it as root (sudo npm run demo)');
      const seed = resolve(o.seed ?? join(packageRoot(), '../shared/seed'));
      for (const f of [
        'app.yaml',
        'native/networkpolicy.yaml',
        'cilium/networkpolicy-L4.yaml',
        'cilium/networkpolicy-L7.yaml',
      ])
        if (!existsSync(join(seed, f))) throw new UserError(`${join(seed, f)} not found (use --seed DIR)`);
      const home = resolveHome(o.home);
      const out = (s = '') => process.stdout.write(`${s}\n`);
      const step = (title: string, text: string) => {
        out();
        out(`== ${title} ==`);
        for (const l of text.split('\n')) out(`   ${l}`);
        out();
      };
      const env = { ...process.env, PODWALL_HOME: home, KUBECONFIG: homePaths(home).kubeconfig };
      const show = (r: Run) => {
        const text = `${r.stdout}${r.stderr}`.trimEnd();
        if (text) for (const l of text.split('\n')) out(`   ${l}`);
      };
      const kubectl = async (args: string[], opts: { quiet?: boolean; note?: (r: Run) => string } = {}) => {
        out(`$ kubectl ${args.map((a) => (/[\s"'$]/.test(a) ? `'${a}'` : a)).join(' ')}`);
        const r = await run(o.kubectl, args, env);
        if (!opts.quiet) show(r);
        if (opts.note) out(`   ${opts.note(r)}`);
        return r;
      };
      const curl = (ship: string, method: string, path: string, extra: string[] = []) =>
        kubectl(
          ['exec', ship, '--', 'curl', '-s', ...extra, `-X${method}`, `deathstar.default.svc.cluster.local${path}`],
          {
            note: (r) =>
              r.code === 0
                ? `(exit code 0)`
                : `(exit code ${r.code}${r.code === 28 ? ': no answer, the packets were dropped' : ''})`,
          },
        );

      step(
        'Step 0: start podwall and deploy the demo app',
        'podwall up replaces "install K3s + a CNI"; the app is the deathstar Service with 2 replicas, and the tiefighter and xwing ships.',
      );
      let state = await runningDaemon(home);
      if (!state) {
        out(`$ podwall up --home ${home}`);
        const r = await run(process.execPath, [process.argv[1]!, 'up', '--home', home], env, 180_000);
        show(r);
        if (r.code !== 0) throw new UserError('podwall up failed');
        state = await runningDaemon(home);
      } else out(`podwall is already running (pid ${state.pid}, API ${state.url})`);
      out(`$ export KUBECONFIG=${homePaths(home).kubeconfig}`);
      const applied: string[] = [];
      const socket = observeSocket(home);
      const revision = async () =>
        Number((await fetchObserverStatus(socket).catch(() => ({}) as Record<string, unknown>)).revision ?? 0);
      /** Waits (briefly) until the node has applied everything it has seen since revision `r0`. */
      const settle = async (r0: number) => {
        for (let i = 0; i < 100; i++) {
          const st = await fetchObserverStatus(socket).catch(() => undefined);
          if (!st || (Number(st.revision) > r0 && st.pending === false)) return;
          await sleep(20);
        }
      };
      const apply = async (file: string) => {
        const r0 = await revision();
        const r = await kubectl(['apply', '-f', join(seed, file)]);
        if (r.code !== 0) throw new UserError(`kubectl apply -f ${file} failed`);
        if (!applied.includes(file)) applied.push(file);
        await settle(r0);
      };
      const cleanup = async () => {
        if (o.keep) {
          out();
          out('--keep: the demo objects stay; remove them with kubectl delete -f on the seed files.');
          return;
        }
        step('Clean up', 'Removing what the demo applied (podwall keeps running; stop it with: podwall down).');
        for (const f of [...applied].reverse()) await kubectl(['delete', '--ignore-not-found', '-f', join(seed, f)]);
      };
      try {
        await apply('app.yaml');
        out('$ kubectl wait --for=condition=Ready pod --all --timeout=120s');
        const w = await run(
          o.kubectl,
          ['wait', '--for=condition=Ready', 'pod', '--all', '--timeout=120s'],
          env,
          150_000,
        );
        show(w);
        await kubectl(['get', 'pods,svc', '-o', 'wide']);

        step('Step 1: no policy, every ship lands', 'Pods can all talk to each other by default.');
        await curl('tiefighter', 'POST', '/v1/request-landing');
        await curl('xwing', 'POST', '/v1/request-landing');

        step(
          'Step 2: Kubernetes NetworkPolicy (L3/L4)',
          'Only pods labelled org=empire may reach the deathstar on TCP 80.',
        );
        await apply('native/networkpolicy.yaml');
        await curl('tiefighter', 'POST', '/v1/request-landing');
        await curl('xwing', 'POST', '/v1/request-landing', ['--connect-timeout', '2']);
        await showFlows(home, out, "xwing's SYNs dropped in the kernel, with the policy that isolates the deathstar", {
          fromPod: ['default/xwing'],
          verdict: ['DROPPED'],
          type: ['policy-verdict'],
        });
        await showTrace(home, out, 'default/xwing', 'default/deathstar');

        step(
          'Step 3: L3/L4 is not enough',
          'The empire may reach port 80, so a tiefighter can also call the management endpoint.',
        );
        await curl('tiefighter', 'PUT', '/v1/exhaust-port');
        out('   (the deathstar container that served the request crashes and is restarted)');
        await sleep(3500);
        await kubectl(['get', 'pods', '-l', 'class=deathstar']);
        await run(
          o.kubectl,
          ['wait', '--for=condition=Ready', 'pod', '-l', 'class=deathstar', '--timeout=60s'],
          env,
          90_000,
        );

        step(
          'Step 4: CiliumNetworkPolicy, L3/L4',
          'The same rule as a CiliumNetworkPolicy; both kinds are enforced by the same node.',
        );
        const r0 = await revision();
        await kubectl(['delete', '-f', join(seed, 'native/networkpolicy.yaml')]);
        await settle(r0);
        applied.splice(applied.indexOf('native/networkpolicy.yaml'), 1);
        await apply('cilium/networkpolicy-L4.yaml');
        await curl('tiefighter', 'POST', '/v1/request-landing');
        await curl('xwing', 'POST', '/v1/request-landing', ['--connect-timeout', '2']);

        step(
          'Step 5: CiliumNetworkPolicy, L7',
          'rule1 now only lets the empire POST /v1/request-landing; HTTP goes through the L7 proxy.',
        );
        await apply('cilium/networkpolicy-L7.yaml');
        await curl('tiefighter', 'PUT', '/v1/exhaust-port');
        await curl('tiefighter', 'POST', '/v1/request-landing');
        await curl('xwing', 'POST', '/v1/request-landing', ['--connect-timeout', '2']);
        await showFlows(home, out, "the proxy's HTTP requests: the PUT was answered 403 by the proxy", {
          protocol: ['http'],
          fromPod: ['default/tiefighter'],
        });
        await showTrace(home, out, 'default/tiefighter', 'default/deathstar', {
          method: 'PUT',
          path: '/v1/exhaust-port',
        });
      } finally {
        await cleanup();
      }
      out();
      out('Done. Watch verdicts live with: podwall observe -f --print-policy-names');
    });
}

async function showFlows(home: string, out: (s?: string) => void, what: string, filter: FlowFilter): Promise<void> {
  const args = [
    ...(filter.fromPod ?? []).map((p) => `--from-pod ${p}`),
    ...(filter.verdict ?? []).map((v) => `--verdict ${v}`),
    ...(filter.protocol ?? []).map((p) => `--protocol ${p}`),
    ...(filter.type ?? []).map((t) => `--type ${t}`),
  ];
  out();
  out(`-- ${what}:`);
  out(`$ podwall observe ${args.join(' ')} --last 4 --print-policy-names`);
  const flows: Flow[] = [];
  try {
    await fetchFlows({ socketPath: observeSocket(home), filter, last: 4, onFlow: (r) => flows.push(r.flow) });
  } catch (e) {
    out(`   (observe API unavailable: ${(e as Error).message})`);
    return;
  }
  if (flows.length === 0) out('   (no matching flows yet)');
  for (const f of flows) out(`   ${formatCompact(f, { printPolicyNames: true })}`);
}

async function showTrace(
  home: string,
  out: (s?: string) => void,
  from: string,
  to: string,
  http?: { method: string; path: string },
): Promise<void> {
  out();
  out('-- why: the same resolver, offline, on the objects in the cluster right now:');
  out(
    `$ podwall policy trace --from ${from} --to ${to} --port 80/TCP${http ? ` --http-method ${http.method} --http-path ${http.path}` : ''}`,
  );
  const client = new KubeClient(loadKubeconfig({ path: homePaths(home).kubeconfig }));
  try {
    const objects: KubeObject[] = [];
    for (const ref of [
      RESOURCE_REFS.namespaces,
      RESOURCE_REFS.pods,
      RESOURCE_REFS.services,
      RESOURCE_REFS.networkpolicies,
      RESOURCE_REFS.ciliumnetworkpolicies,
      RESOURCE_REFS.ciliumclusterwidenetworkpolicies,
    ])
      objects.push(...(await client.listAll(ref)).items);
    const { cluster } = clusterFromObjects(objects);
    const compiled = compile(cluster);
    const f = resolveEndpoint(cluster, from, false);
    const t = resolveEndpoint(cluster, to, true);
    const pp = parsePortProto('80/TCP');
    if (typeof f === 'string' || typeof t === 'string' || typeof pp === 'string') {
      out(`   ${[f, t, pp].filter((x) => typeof x === 'string').join('; ')}`);
      return;
    }
    for (const l of renderTrace(traceFlow(cluster, compiled, f, t, pp, http)).split('\n')) out(`   ${l}`);
  } finally {
    client.close();
  }
}
