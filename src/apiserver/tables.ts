/**
 * Server-side printing (`meta.k8s.io/v1 Table`) with the columns kube-apiserver's printers register
 * (pkg/printers/internalversion) and, for Cilium's CRDs, their additionalPrinterColumns, so `kubectl get`
 * prints what it prints against a real cluster. Columns with priority 1 appear only with `-o wide`.
 */
import type { KubeObject, LabelSelector } from '../api/types.js';
import type { ResourceInfo } from './resources.js';
import { formatSelector } from './selectors.js';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t);
}

type Cells = (obj: KubeObject, now: number) => unknown[];

interface Printer {
  columns: [name: string, type: string, priority?: number, description?: string][];
  cells: Cells;
}

const NAME_DESC =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const AGE_DESC =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

// biome-ignore lint/suspicious/noExplicitAny: printers read loosely-typed wire objects
type Any = any;

function containerInfo(spec: Any): [string, string] {
  const cs: Any[] = spec?.template?.spec?.containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

function selectorString(sel: LabelSelector | undefined): string {
  const s = formatSelector(sel);
  return s === '' ? '<none>' : s;
}

function podStatus(pod: Any): { reason: string; ready: number; total: number; restarts: number; lastRestart?: string } {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  const total = (spec.containers ?? []).length;
  let reason: string = status.phase ?? 'Pending';
  if (status.reason) reason = status.reason;
  let ready = 0;
  let restarts = 0;
  let lastRestart: string | undefined;
  let initializing = false;
  const initStatuses: Any[] = status.initContainerStatuses ?? [];
  initStatuses.forEach((c, i) => {
    restarts += c.restartCount ?? 0;
    if (c.state?.terminated && c.state.terminated.exitCode === 0) return;
    if (c.state?.terminated) {
      reason = c.state.terminated.reason
        ? `Init:${c.state.terminated.reason}`
        : `Init:ExitCode:${c.state.terminated.exitCode}`;
      initializing = true;
    } else if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${c.state.waiting.reason}`;
      initializing = true;
    } else if (!c.ready) {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
      initializing = true;
    }
  });
  if (!initializing) {
    let hasRunning = false;
    const statuses: Any[] = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i];
      restarts += c.restartCount ?? 0;
      const finished = c.lastState?.terminated?.finishedAt;
      if (finished && (!lastRestart || finished > lastRestart)) lastRestart = finished;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
      else if (c.state?.terminated) {
        reason = c.state.terminated.signal
          ? `Signal:${c.state.terminated.signal}`
          : `ExitCode:${c.state.terminated.exitCode}`;
      } else if (c.ready && c.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const readyCond = (status.conditions ?? []).find((c: Any) => c.type === 'Ready');
      reason = readyCond?.status === 'True' ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata?.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return { reason, ready, total, restarts, lastRestart };
}

function servicePorts(ports: Any[] | undefined): string {
  if (!ports || ports.length === 0) return '<none>';
  return ports
    .map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`))
    .join(',');
}

function externalIP(svc: Any): string {
  const type = svc.spec?.type ?? 'ClusterIP';
  const ext: string[] = svc.spec?.externalIPs ?? [];
  const lb: string[] = (svc.status?.loadBalancer?.ingress ?? []).map((i: Any) => i.ip ?? i.hostname);
  switch (type) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const all = [...lb, ...ext];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return svc.spec?.externalName ?? '<none>';
  }
  return '<unknown>';
}

function limitList(items: string[], more: number): string {
  if (items.length === 0) return '<none>';
  const shown = items.slice(0, 3).join(',');
  const extra = items.length - 3 + more;
  return extra > 0 ? `${shown} + ${extra} more...` : shown;
}

function endpointsString(ep: Any): string {
  const out: string[] = [];
  for (const s of ep.subsets ?? []) {
    const ports: Any[] = s.ports?.length ? s.ports : [{}];
    for (const a of s.addresses ?? []) for (const p of ports) out.push(p.port ? `${a.ip}:${p.port}` : a.ip);
  }
  return limitList(out, 0);
}

function conditionStatus(obj: Any, type: string): string {
  const c = (obj.status?.conditions ?? []).find((x: Any) => x.type === type);
  return c?.status ?? '';
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      ['Name', 'string'],
      ['Ready', 'string', 0, 'The aggregate readiness state of this pod for accepting traffic.'],
      ['Status', 'string', 0, 'The aggregate status of the containers in this pod.'],
      [
        'Restarts',
        'string',
        0,
        'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.',
      ],
      ['Age', 'string'],
      ['IP', 'string', 1, 'podIP address allocated to the pod. Routable at least within the cluster.'],
      ['Node', 'string', 1, 'NodeName indicates in which node this pod is scheduled.'],
      ['Nominated Node', 'string', 1, 'nominatedNodeName is set when this pod preempts other pods on the node.'],
      ['Readiness Gates', 'string', 1, 'If specified, all readiness gates will be evaluated for pod readiness.'],
    ],
    cells: (o: Any, now) => {
      const s = podStatus(o);
      const restarts = s.lastRestart ? `${s.restarts} (${age(s.lastRestart, now)} ago)` : String(s.restarts);
      const gates: Any[] = o.spec?.readinessGates ?? [];
      const trueConds = new Set(
        (o.status?.conditions ?? []).filter((c: Any) => c.status === 'True').map((c: Any) => c.type),
      );
      const gatesCell = gates.length
        ? `${gates.filter((g) => trueConds.has(g.conditionType)).length}/${gates.length}`
        : '<none>';
      return [
        o.metadata.name,
        `${s.ready}/${s.total}`,
        s.reason,
        restarts,
        age(o.metadata.creationTimestamp, now),
        o.status?.podIP || '<none>',
        o.spec?.nodeName || '<none>',
        o.status?.nominatedNodeName || '<none>',
        gatesCell,
      ];
    },
  },
  Service: {
    columns: [
      ['Name', 'string'],
      ['Type', 'string', 0, 'The type of the service.'],
      ['Cluster-IP', 'string', 0, 'The cluster IP of the service.'],
      ['External-IP', 'string', 0, 'The external IP of the service.'],
      ['Port(s)', 'string', 0, 'The ports of the service.'],
      ['Age', 'string'],
      ['Selector', 'string', 1, 'The label selector of the service.'],
    ],
    cells: (o: Any, now) => [
      o.metadata.name,
      o.spec?.type ?? 'ClusterIP',
      o.spec?.clusterIP || '<none>',
      externalIP(o),
      servicePorts(o.spec?.ports),
      age(o.metadata.creationTimestamp, now),
      o.spec?.selector && Object.keys(o.spec.selector).length
        ? selectorString({ matchLabels: o.spec.selector })
        : '<none>',
    ],
  },
  Endpoints: {
    columns: [
      ['Name', 'string'],
      ['Endpoints', 'string', 0, 'Endpoints of the service.'],
      ['Age', 'string'],
    ],
    cells: (o: Any, now) => [o.metadata.name, endpointsString(o), age(o.metadata.creationTimestamp, now)],
  },
  EndpointSlice: {
    columns: [
      ['Name', 'string'],
      ['AddressType', 'string', 0, 'The IP protocol for this slice.'],
      ['Ports', 'string', 0, 'The ports for this slice.'],
      ['Endpoints', 'string', 0, 'The endpoints for this slice.'],
      ['Age', 'string'],
    ],
    cells: (o: Any, now) => {
      const ports: Any[] = o.ports ?? [];
      const addrs: string[] = (o.endpoints ?? []).flatMap((e: Any) => e.addresses ?? []);
      return [
        o.metadata.name,
        o.addressType ?? '',
        ports.length
          ? ports.map((p) => (p.port === undefined || p.port === null ? '<unset>' : String(p.port))).join(',')
          : '<unset>',
        addrs.length ? limitList(addrs, 0) : '<unset>',
        age(o.metadata.creationTimestamp, now),
      ];
    },
  },
  Namespace: {
    columns: [
      ['Name', 'string'],
      ['Status', 'string', 0, 'The status of the namespace'],
      ['Age', 'string'],
    ],
    cells: (o: Any, now) => [o.metadata.name, o.status?.phase ?? 'Active', age(o.metadata.creationTimestamp, now)],
  },
  Node: {
    columns: [
      ['Name', 'string'],
      ['Status', 'string', 0, 'The status of the node'],
      ['Roles', 'string', 0, 'The roles of the node'],
      ['Age', 'string'],
      ['Version', 'string', 0, 'Kubelet Version reported by the node.'],
      [
        'Internal-IP',
        'string',
        1,
        'List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses',
      ],
      [
        'External-IP',
        'string',
        1,
        'List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses',
      ],
      [
        'OS-Image',
        'string',
        1,
        'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).',
      ],
      [
        'Kernel-Version',
        'string',
        1,
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
      ],
      [
        'Container-Runtime',
        'string',
        1,
        'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).',
      ],
    ],
    cells: (o: Any, now) => {
      const ready = conditionStatus(o, 'Ready');
      let status = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
      if (o.spec?.unschedulable) status += ',SchedulingDisabled';
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length))
        .sort();
      const addr = (t: string) => (o.status?.addresses ?? []).find((a: Any) => a.type === t)?.address ?? '<none>';
      const info = o.status?.nodeInfo ?? {};
      return [
        o.metadata.name,
        status,
        roles.length ? roles.join(',') : '<none>',
        age(o.metadata.creationTimestamp, now),
        info.kubeletVersion ?? '',
        addr('InternalIP'),
        addr('ExternalIP'),
        info.osImage ?? '<unknown>',
        info.kernelVersion ?? '<unknown>',
        info.containerRuntimeVersion ?? '<unknown>',
      ];
    },
  },
  Event: {
    columns: [
      ['Last Seen', 'string', 0, 'Time when last event occurred.'],
      ['Type', 'string', 0, 'Type of this event (Normal, Warning), new types could be added in the future.'],
      ['Reason', 'string', 0, 'Reason why action was taken. It is human-readable.'],
      ['Object', 'string', 0, 'The object that this event is about. Mapped to the involvedObject.name in the event.'],
      ['Subobject', 'string', 1, 'The subobject of the involved object.'],
      ['Source', 'string', 1, 'The component reporting this event. Should be a short machine understandable string.'],
      ['Message', 'string', 0, 'A human-readable description of the status of this operation.'],
      ['First Seen', 'string', 1, 'Time when first event occurred.'],
      ['Count', 'string', 1, 'The number of times this event has occurred.'],
      ['Name', 'string', 1],
    ],
    cells: (o: Any, now) => {
      const last = o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp;
      const first = o.firstTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp;
      const io = o.involvedObject ?? {};
      const src = o.source?.component
        ? `${o.source.component}${o.source.host ? `, ${o.source.host}` : ''}`
        : (o.reportingComponent ?? '');
      return [
        age(last, now),
        o.type ?? '',
        o.reason ?? '',
        `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`,
        io.fieldPath ?? '',
        src,
        String(o.message ?? '').trim(),
        age(first, now),
        String(o.count ?? 1),
        o.metadata.name,
      ];
    },
  },
  Deployment: {
    columns: [
      ['Name', 'string'],
      ['Ready', 'string', 0, 'Number of the pod with ready state'],
      [
        'Up-to-date',
        'string',
        0,
        'Total number of non-terminated pods targeted by this deployment that have the desired template spec.',
      ],
      [
        'Available',
        'string',
        0,
        'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.',
      ],
      ['Age', 'string'],
      ['Containers', 'string', 1, 'Names of each container in the template.'],
      ['Images', 'string', 1, 'Images referenced by each container in the template.'],
      [
        'Selector',
        'string',
        1,
        'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.',
      ],
    ],
    cells: (o: Any, now) => {
      const [names, images] = containerInfo(o.spec);
      return [
        o.metadata.name,
        `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`,
        o.status?.updatedReplicas ?? 0,
        o.status?.availableReplicas ?? 0,
        age(o.metadata.creationTimestamp, now),
        names,
        images,
        selectorString(o.spec?.selector),
      ];
    },
  },
  ReplicaSet: {
    columns: [
      ['Name', 'string'],
      ['Desired', 'integer', 0, 'Number of desired pods.'],
      ['Current', 'integer', 0, 'Number of actual pods.'],
      ['Ready', 'integer', 0, 'Number of pods ready.'],
      ['Age', 'string'],
      ['Containers', 'string', 1, 'Names of each container in the template.'],
      ['Images', 'string', 1, 'Images referenced by each container in the template.'],
      ['Selector', 'string', 1, 'Selector is a label query over pods that should match the replica count.'],
    ],
    cells: (o: Any, now) => {
      const [names, images] = containerInfo(o.spec);
      return [
        o.metadata.name,
        o.spec?.replicas ?? 1,
        o.status?.replicas ?? 0,
        o.status?.readyReplicas ?? 0,
        age(o.metadata.creationTimestamp, now),
        names,
        images,
        selectorString(o.spec?.selector),
      ];
    },
  },
  NetworkPolicy: {
    columns: [
      ['Name', 'string'],
      [
        'Pod-Selector',
        'string',
        0,
        'Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.',
      ],
      ['Age', 'string'],
    ],
    cells: (o: Any, now) => [
      o.metadata.name,
      selectorString(o.spec?.podSelector),
      age(o.metadata.creationTimestamp, now),
    ],
  },
};

/** Cilium's CRD printer columns: NAME, AGE (type date), VALID (.status.conditions[?(@.type=='Valid')].status). */
const CILIUM_POLICY: Printer = {
  columns: [
    ['Name', 'string'],
    ['Age', 'date'],
    ['Valid', 'string'],
  ],
  cells: (o: Any, now) => [o.metadata.name, age(o.metadata.creationTimestamp, now), conditionStatus(o, 'Valid')],
};
PRINTERS.CiliumNetworkPolicy = CILIUM_POLICY;
PRINTERS.CiliumClusterwideNetworkPolicy = CILIUM_POLICY;

/** The default printer of objects without one: NAME, AGE (like a CRD without printer columns). */
const DEFAULT: Printer = {
  columns: [
    ['Name', 'string'],
    ['Created At', 'date', 0, AGE_DESC],
  ],
  cells: (o: Any) => [o.metadata.name, o.metadata.creationTimestamp],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function columnDefs(p: Printer, isCrd: boolean): TableColumnDefinition[] {
  return p.columns.map(([name, type, priority, description]) => ({
    name,
    type,
    format: name === 'Name' ? 'name' : '',
    description: description ?? (name === 'Name' ? NAME_DESC : name === 'Age' && !isCrd ? AGE_DESC : ''),
    priority: priority ?? 0,
  }));
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

/** Converts objects to a Table for one resource. `noHeaders` drops the column definitions (later watch events). */
export function toTable(
  info: ResourceInfo,
  objects: KubeObject[],
  opts: {
    include: IncludeObject;
    resourceVersion?: string;
    continue?: string;
    remaining?: number;
    now?: number;
    noHeaders?: boolean;
  },
): Table {
  const printer = PRINTERS[info.kind] ?? DEFAULT;
  const now = opts.now ?? Date.now();
  const metadata: Table['metadata'] = {};
  if (opts.resourceVersion !== undefined) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continue) metadata.continue = opts.continue;
  if (opts.remaining !== undefined) metadata.remainingItemCount = opts.remaining;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: opts.noHeaders ? [] : columnDefs(printer, !info.strategicMerge),
    rows: objects.map((o) => {
      const row: TableRow = { cells: printer.cells(o, now) };
      const ob = rowObject(o, opts.include);
      if (ob !== undefined) row.object = ob;
      return row;
    }),
  };
}
