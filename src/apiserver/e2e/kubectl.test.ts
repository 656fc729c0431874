/**
 * End-to-end: the real kubectl (1.32 and 1.33) drives the podwall control plane over HTTPS. Covers the
 * walkthrough's manifests (create and re-apply with changes), get/describe in table, wide, yaml, json and
 * jsonpath forms, label/annotate, patch, scale, delete with cascade, namespace deletion, watch, validation
 * errors, strict field validation, exec/logs with and without a node backend, and unauthenticated access.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePki, renderKubeconfig } from '../certs.js';
import type { NodeBackend } from '../node-backend.js';
import {
  kubectlBinary,
  removeHome,
  runKubectl,
  SEED,
  spawnKubectl,
  startTestCluster,
  type TestCluster,
  waitFor,
} from './harness.js';

const VERSIONS = ['1.32', '1.33'].filter((v) => kubectlBinary(v) !== undefined);

/** A node backend that runs nothing: `exit N` exits with N, `cat` echoes stdin, anything else echoes its argv. */
const fakeBackend: NodeBackend = {
  async exec(req, streams) {
    const [cmd, ...args] = req.command;
    if (cmd === 'exit') return { exitCode: Number(args[0]) };
    if (cmd === 'cat' && streams.stdin) {
      for await (const chunk of streams.stdin) streams.stdout.write(chunk);
      return { exitCode: 0 };
    }
    if (cmd === 'stderr') {
      streams.stderr.write(`${args.join(' ')}\n`);
      return { exitCode: 0 };
    }
    streams.stdout.write(`${req.namespace}/${req.pod}/${req.container}: ${req.command.join(' ')}\n`);
    return { exitCode: 0 };
  },
  async logs(req) {
    return Readable.from([`log of ${req.pod}/${req.container}${req.previous ? ' (previous)' : ''}\n`]);
  },
};

function httpsGet(
  url: string,
  opts: { ca?: string; cert?: string; key?: string } = {},
): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, rejectUnauthorized: opts.ca !== undefined }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(VERSIONS.length === 0)('kubectl end-to-end', () => {
  describe.each(VERSIONS)('kubectl %s', (version) => {
    const bin = kubectlBinary(version) ?? '';
    let c: TestCluster;
    const k = (args: string[], stdin?: string) => runKubectl(bin, c, args, stdin);
    const ok = async (args: string[], stdin?: string) => {
      const r = await k(args, stdin);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    };

    beforeAll(async () => {
      c = await startTestCluster({});
    });
    afterAll(async () => {
      await c?.stop();
      if (c) removeHome(c.home);
    });

    it('reports the server version and serves discovery with short names and categories', async () => {
      const v = JSON.parse(await ok(['version', '-o', 'json']));
      expect(v.serverVersion.gitVersion).toMatch(/^v1\.32\./);
      const res = await ok(['api-resources', '--no-headers']);
      expect(res).toMatch(/^ciliumnetworkpolicies\s+cnp,ciliumnp\s+cilium\.io\/v2\s+true\s+CiliumNetworkPolicy/m);
      expect(res).toMatch(
        /^ciliumclusterwidenetworkpolicies\s+ccnp\s+cilium\.io\/v2\s+false\s+CiliumClusterwideNetworkPolicy/m,
      );
      expect(res).toMatch(/^networkpolicies\s+netpol\s+networking\.k8s\.io\/v1\s+true\s+NetworkPolicy/m);
      expect(res).toMatch(/^namespaces\s+ns\s+v1\s+false\s+Namespace/m);
      const ns = await ok(['get', 'ns', '--show-labels']);
      for (const n of ['default', 'kube-system', 'kube-public'])
        expect(ns).toMatch(new RegExp(`^${n}\\s+Active\\s+\\S+\\s+kubernetes.io/metadata.name=${n}$`, 'm'));
    });

    it('applies the walkthrough manifests, re-applies unchanged and with changes', async () => {
      const first = await ok(['apply', '-f', join(SEED, 'app.yaml')]);
      expect(first).toBe(
        'service/deathstar created\ndeployment.apps/deathstar created\npod/tiefighter created\npod/xwing created\n',
      );
      const again = await ok(['apply', '-f', join(SEED, 'app.yaml')]);
      expect(again).toBe(
        'service/deathstar unchanged\ndeployment.apps/deathstar unchanged\npod/tiefighter unchanged\npod/xwing unchanged\n',
      );
      const changed = readFileSync(join(SEED, 'app.yaml'), 'utf8')
        .replace('replicas: 2', 'replicas: 3')
        .replace('image: docker.io/cilium/starwars', 'image: docker.io/cilium/starwars:v2');
      const f = join(c.home, 'app-changed.yaml');
      writeFileSync(f, changed);
      const third = await ok(['apply', '-f', f]);
      expect(third).toContain('deployment.apps/deathstar configured');
      expect(third).toContain('service/deathstar unchanged');
      const d = JSON.parse(await ok(['get', 'deployment', 'deathstar', '-o', 'json']));
      expect(d.spec.replicas).toBe(3);
      expect(d.spec.template.spec.containers).toHaveLength(1);
      expect(d.spec.template.spec.containers[0].image).toBe('docker.io/cilium/starwars:v2');
      expect(d.metadata.generation).toBe(2);
      expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"replicas":3');
    });

    it('prints tables like a real cluster: pods, wide, services, all', async () => {
      const pods = await ok(['get', 'pods']);
      expect(pods.split('\n')[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
      expect(pods).toMatch(/^tiefighter\s+0\/1\s+Pending\s+0\s+\d+s$/m);
      const wide = await ok(['get', 'pods', '-o', 'wide']);
      expect(wide.split('\n')[0]).toMatch(
        /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/,
      );
      expect(wide).toMatch(/^xwing\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>\s+<none>\s+<none>$/m);
      const svc = await ok(['get', 'svc']);
      expect(svc.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
      expect(svc).toMatch(/^deathstar\s+ClusterIP\s+10\.(9[6-9]|10\d|11[01])\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);
      expect(svc).toMatch(/^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP/m);
      const all = await ok(['get', 'all']);
      expect(all).toContain('pod/tiefighter');
      expect(all).toContain('service/deathstar');
      expect(all).toContain('deployment.apps/deathstar');
      const deploy = await ok(['get', 'deploy', '-o', 'wide']);
      expect(deploy.split('\n')[0]).toMatch(
        /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$/,
      );
      expect(deploy).toMatch(
        /deathstar\s+0\/3\s+0\s+0\s+\S+\s+deathstar\s+docker.io\/cilium\/starwars:v2\s+class=deathstar,org=empire/,
      );
    });

    it('prints yaml, json and jsonpath with server-set metadata and defaults', async () => {
      const y = await ok(['get', 'svc', 'deathstar', '-o', 'yaml']);
      expect(y).toMatch(/clusterIP: 10\./);
      expect(y).toContain('targetPort: 80');
      expect(y).toContain('protocol: TCP');
      const p = JSON.parse(await ok(['get', 'pod', 'xwing', '-o', 'json']));
      expect(p.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number(p.metadata.resourceVersion)).toBeGreaterThan(0);
      expect(p.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(p.status.phase).toBe('Pending');
      expect(p.spec.restartPolicy).toBe('Always');
      const names = await ok(['get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}']);
      expect(names).toBe('tiefighter xwing');
      const sel = await ok(['get', 'pods', '-l', 'org=empire', '-o', 'name']);
      expect(sel).toBe('pod/tiefighter\n');
      const fsel = await ok(['get', 'pods', '--field-selector', 'metadata.name=xwing', '-o', 'name']);
      expect(fsel).toBe('pod/xwing\n');
    });

    it('describes pods, deployments and services', async () => {
      const d = await ok(['describe', 'pod', 'tiefighter']);
      expect(d).toMatch(/^Name:\s+tiefighter$/m);
      expect(d).toMatch(/^Status:\s+Pending$/m);
      expect(await ok(['describe', 'deployment', 'deathstar'])).toMatch(/^Replicas:\s+3 desired/m);
      expect(await ok(['describe', 'svc', 'deathstar'])).toMatch(/^Selector:\s+class=deathstar,org=empire$/m);
    });

    it('applies NetworkPolicy and Cilium policies, prints their columns, replaces rule1 with the L7 version', async () => {
      expect(await ok(['apply', '-f', join(SEED, 'native/networkpolicy.yaml')])).toBe(
        'networkpolicy.networking.k8s.io/policy created\n',
      );
      const np = await ok(['get', 'netpol']);
      expect(np).toMatch(/^NAME\s+POD-SELECTOR\s+AGE$/m);
      expect(np).toMatch(/^policy\s+class=deathstar,org=empire\s+\d+s$/m);
      const npj = JSON.parse(await ok(['get', 'netpol', 'policy', '-o', 'json']));
      expect(npj.spec.policyTypes).toEqual(['Ingress']);
      expect(await ok(['describe', 'netpol', 'policy'])).toMatch(/PodSelector:\s+class=deathstar,org=empire/);
      expect(await ok(['delete', '-f', join(SEED, 'native/networkpolicy.yaml')])).toContain('deleted');
      expect(await ok(['apply', '-f', join(SEED, 'cilium/networkpolicy-L4.yaml')])).toBe(
        'ciliumnetworkpolicy.cilium.io/rule1 created\n',
      );
      expect(await ok(['apply', '-f', join(SEED, 'cilium/networkpolicy-L7.yaml')])).toBe(
        'ciliumnetworkpolicy.cilium.io/rule1 configured\n',
      );
      const cnp = await ok(['get', 'cnp']);
      expect(cnp).toMatch(/^NAME\s+AGE\s+VALID$/m);
      expect(cnp).toMatch(/^rule1\s+\d+s\s+True$/m);
      const rule = JSON.parse(await ok(['get', 'ciliumnetworkpolicy', 'rule1', '-o', 'json']));
      expect(rule.spec.ingress[0].toPorts[0].rules.http[0]).toEqual({ method: 'POST', path: '/v1/request-landing' });
      expect(rule.metadata.generation).toBe(2);
      const ccnp = `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: deny-all-egress
spec:
  endpointSelector: {}
  egress:
  - {}
`;
      expect(await ok(['apply', '-f', '-'], ccnp)).toBe(
        'ciliumclusterwidenetworkpolicy.cilium.io/deny-all-egress created\n',
      );
      expect(await ok(['get', 'ccnp'])).toMatch(/^deny-all-egress\s+\d+s\s+True$/m);
      expect(await ok(['delete', 'ccnp', 'deny-all-egress'])).toBe(
        'ciliumclusterwidenetworkpolicy.cilium.io "deny-all-egress" deleted\n',
      );
    });

    it('rejects invalid policies with field errors (422) and unknown fields (strict validation)', async () => {
      const bad = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: bad
spec:
  podSelector: {}
  ingress:
  - ports:
    - protocol: TCPX
      port: 80
`;
      const r = await k(['apply', '-f', '-'], bad);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('The NetworkPolicy "bad" is invalid');
      expect(r.stderr).toContain(
        'spec.ingress[0].ports[0].protocol: Unsupported value: "TCPX": supported values: "SCTP", "TCP", "UDP"',
      );
      const badCnp = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: bad-cnp
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports:
      - port: "6581-6586"
`;
      const rc = await k(['apply', '-f', '-'], badCnp);
      expect(rc.code).toBe(1);
      expect(rc.stderr).toContain('The CiliumNetworkPolicy "bad-cnp" is invalid');
      expect((await k(['get', 'cnp', 'bad-cnp'])).code).toBe(1);
      const unknown = `apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: c
    image: busybox
    imagePullPolicyy: Always
`;
      const ru = await k(['apply', '-f', '-'], unknown);
      expect(ru.code).toBe(1);
      expect(ru.stderr).toContain('strict decoding error: unknown field "spec.containers[0].imagePullPolicyy"');
    });

    it('labels, annotates, patches (json, merge, strategic) and scales', async () => {
      expect(await ok(['label', 'pod', 'xwing', 'team=rebels'])).toBe('pod/xwing labeled\n');
      expect(await ok(['annotate', 'pod', 'xwing', 'note=hello'])).toBe('pod/xwing annotated\n');
      expect(await ok(['get', 'pods', '-l', 'team=rebels', '-o', 'name'])).toBe('pod/xwing\n');
      expect(await ok(['label', 'pod', 'xwing', 'team-'])).toBe('pod/xwing unlabeled\n');
      await ok([
        'patch',
        'pod',
        'xwing',
        '--type=json',
        '-p',
        '[{"op":"add","path":"/metadata/labels/j","value":"1"}]',
      ]);
      await ok(['patch', 'pod', 'xwing', '--type=merge', '-p', '{"metadata":{"labels":{"m":"2"}}}']);
      await ok([
        'patch',
        'pod',
        'xwing',
        '-p',
        '{"spec":{"containers":[{"name":"spaceship","image":"docker.io/tgraf/netperf:v2"}]}}',
      ]);
      const p = JSON.parse(await ok(['get', 'pod', 'xwing', '-o', 'json']));
      expect(p.metadata.labels).toMatchObject({ j: '1', m: '2' });
      expect(p.metadata.annotations.note).toBe('hello');
      expect(p.spec.containers).toHaveLength(1);
      expect(p.spec.containers[0].image).toBe('docker.io/tgraf/netperf:v2');
      expect(await ok(['scale', 'deployment', 'deathstar', '--replicas=1'])).toBe('deployment.apps/deathstar scaled\n');
      expect(await ok(['get', 'deploy', 'deathstar', '-o', 'jsonpath={.spec.replicas}'])).toBe('1');
    });

    it('deletes with cascade through ownerReferences and deletes namespaces with their contents', async () => {
      const uid = (await ok(['get', 'deploy', 'deathstar', '-o', 'jsonpath={.metadata.uid}'])).trim();
      await ok(
        ['apply', '-f', '-'],
        `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: deathstar-6c94dcc57b
  labels: {org: empire, class: deathstar}
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: deathstar, uid: ${uid}, controller: true, blockOwnerDeletion: true}
spec:
  replicas: 1
  selector: {matchLabels: {org: empire, class: deathstar}}
  template:
    metadata: {labels: {org: empire, class: deathstar}}
    spec: {containers: [{name: deathstar, image: docker.io/cilium/starwars}]}
`,
      );
      const rsUid = (await ok(['get', 'rs', 'deathstar-6c94dcc57b', '-o', 'jsonpath={.metadata.uid}'])).trim();
      await ok(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Pod
metadata:
  name: deathstar-6c94dcc57b-x2x7k
  labels: {org: empire, class: deathstar}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: deathstar-6c94dcc57b, uid: ${rsUid}, controller: true, blockOwnerDeletion: true}
spec: {containers: [{name: deathstar, image: docker.io/cilium/starwars}]}
`,
      );
      expect(await ok(['get', 'all', '-o', 'name'])).toContain('pod/deathstar-6c94dcc57b-x2x7k');
      expect(await ok(['delete', 'deployment', 'deathstar'])).toBe('deployment.apps "deathstar" deleted\n');
      await waitFor(async () => !(await ok(['get', 'rs,pods', '-o', 'name'])).includes('deathstar'), 5000, 'cascade');
      // Namespace deletion removes its contents.
      await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n');
      await ok(['-n', 'demo', 'apply', '-f', join(SEED, 'app.yaml')]);
      expect(await ok(['-n', 'demo', 'get', 'pods', '-o', 'name'])).toBe('pod/tiefighter\npod/xwing\n');
      expect(await ok(['delete', 'namespace', 'demo'])).toBe('namespace "demo" deleted\n');
      const gone = await k(['get', 'ns', 'demo']);
      expect(gone.stderr).toContain('namespaces "demo" not found');
      expect(await ok(['get', 'pods', '-A', '-o', 'name'])).not.toContain('demo');
      const again = await k(['-n', 'demo', 'apply', '-f', join(SEED, 'app.yaml')]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('namespaces "demo" not found');
    });

    it('watches: kubectl get -w sees additions and deletions', async () => {
      const w = spawnKubectl(bin, c, ['get', 'pods', '-w', '--output-watch-events']);
      try {
        await waitFor(() => w.output().includes('tiefighter'), 10_000, 'initial watch list');
        await ok(
          ['apply', '-f', '-'],
          'apiVersion: v1\nkind: Pod\nmetadata:\n  name: watched\nspec:\n  containers: [{name: c, image: busybox}]\n',
        );
        await waitFor(() => /ADDED\s+watched/.test(w.output()), 10_000, 'ADDED event');
        await ok(['delete', 'pod', 'watched']);
        await waitFor(() => /DELETED\s+watched/.test(w.output()), 10_000, 'DELETED event');
      } finally {
        await w.stop();
      }
    });

    it('answers exec and logs for a pod that is not running like a real cluster', async () => {
      const e = await k(['exec', 'tiefighter', '--', 'ls']);
      expect(e.code).toBe(1);
      expect(e.stderr).toContain('pod tiefighter does not have a host assigned');
      const l = await k(['logs', 'tiefighter']);
      expect(l.code).toBe(1);
      expect(l.stderr).toContain('pod tiefighter does not have a host assigned');
      const missing = await k(['exec', 'nope', '--', 'ls']);
      expect(missing.stderr).toContain('pods "nope" not found');
    });

    it('runs exec over WebSocket through a node backend, with stdin and the exit code', async () => {
      c.server.setNodeBackend(fakeBackend);
      try {
        await ok(
          ['apply', '-f', '-'],
          'apiVersion: v1\nkind: Pod\nmetadata:\n  name: running\nspec:\n  nodeName: node-1\n  containers: [{name: main, image: busybox}]\n',
        );
        expect(await ok(['exec', 'running', '--', 'echo', 'hi'])).toBe('default/running/main: echo hi\n');
        const bad = await k(['exec', 'running', '--', 'exit', '3']);
        expect(bad.code).toBe(3);
        expect(bad.stderr).toContain('command terminated with exit code 3');
        expect(await ok(['exec', '-i', 'running', '--', 'cat'], 'from stdin\n')).toBe('from stdin\n');
        const se = await k(['exec', 'running', '--', 'stderr', 'oops']);
        expect(se.stderr).toContain('oops');
        expect(await ok(['logs', 'running'])).toBe('log of running/main\n');
        expect(await ok(['logs', 'running', '--previous'])).toBe('log of running/main (previous)\n');
        const wrong = await k(['logs', 'running', '-c', 'other']);
        expect(wrong.stderr).toContain('container other is not valid for pod running');
      } finally {
        c.server.setNodeBackend(undefined);
      }
    });

    it('serves server-side apply', async () => {
      const r = await ok(['apply', '--server-side', '-f', join(SEED, 'native/networkpolicy.yaml')]);
      expect(r).toBe('networkpolicy.networking.k8s.io/policy serverside-applied\n');
      expect(await ok(['get', 'netpol', 'policy', '-o', 'jsonpath={.spec.podSelector.matchLabels.org}'])).toBe(
        'empire',
      );
    });

    it('accepts the protobuf bodies of kubectl create/run/expose', async () => {
      expect(await ok(['create', 'namespace', 'proto'])).toBe('namespace/proto created\n');
      expect(
        await ok(['-n', 'proto', 'create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=2', '--port=80']),
      ).toBe('deployment.apps/web created\n');
      const d = JSON.parse(await ok(['-n', 'proto', 'get', 'deploy', 'web', '-o', 'json']));
      expect(d.spec.replicas).toBe(2);
      expect(d.spec.selector).toEqual({ matchLabels: { app: 'web' } });
      expect(d.spec.template.spec.containers[0]).toMatchObject({
        name: 'nginx',
        image: 'nginx:1.25',
        ports: [{ containerPort: 80 }],
      });
      expect(await ok(['-n', 'proto', 'expose', 'deployment', 'web', '--port=80', '--target-port=8080'])).toBe(
        'service/web exposed\n',
      );
      const svc = JSON.parse(await ok(['-n', 'proto', 'get', 'svc', 'web', '-o', 'json']));
      expect(svc.spec.ports).toEqual([{ port: 80, protocol: 'TCP', targetPort: 8080 }]);
      expect(
        await ok([
          '-n',
          'proto',
          'run',
          'box',
          '--image=busybox',
          '--labels=a=b',
          '--env=X=1',
          '--command',
          '--',
          'sleep',
          '3600',
        ]),
      ).toBe('pod/box created\n');
      const p = JSON.parse(await ok(['-n', 'proto', 'get', 'pod', 'box', '-o', 'json']));
      expect(p.metadata.labels).toEqual({ a: 'b' });
      expect(p.spec.containers[0]).toMatchObject({ command: ['sleep', '3600'], env: [{ name: 'X', value: '1' }] });
      expect(await ok(['delete', 'namespace', 'proto'])).toBe('namespace "proto" deleted\n');
    });

    it('refuses unauthenticated access except health and version', async () => {
      const url = c.server.url;
      const ca = c.pki.caCert;
      expect((await httpsGet(`${url}/api/v1/namespaces/default/pods`, { ca })).code).toBe(401);
      expect((await httpsGet(`${url}/apis`, { ca })).code).toBe(401);
      expect(await httpsGet(`${url}/healthz`, { ca })).toEqual({ code: 200, body: 'ok' });
      expect((await httpsGet(`${url}/readyz`, { ca })).code).toBe(200);
      expect((await httpsGet(`${url}/livez`, { ca })).code).toBe(200);
      expect(JSON.parse((await httpsGet(`${url}/version`, { ca })).body).gitVersion).toMatch(/^v1\.32/);
      const authed = await httpsGet(`${url}/api/v1/namespaces/default/pods`, {
        ca,
        cert: c.pki.clientCert,
        key: c.pki.clientKey,
      });
      expect(authed.code).toBe(200);
      // kubectl presenting a client certificate from another CA gets 401 (Unauthorized).
      const foreign = ensurePki(join(c.home, 'foreign-pki'));
      const noUser = join(c.home, 'foreign.kubeconfig');
      writeFileSync(noUser, renderKubeconfig({ server: url, pki: { ...foreign, caCert: c.pki.caCert } }));
      const r = await runKubectl(bin, { home: c.home, kubeconfig: noUser }, ['get', 'pods']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('error: You must be logged in to the server');
    });
  });
});
