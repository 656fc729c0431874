/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`): the `k8s\0` magic,
 * the runtime.Unknown envelope, then the object by the field numbers of k8s.io/api's generated.proto. kubectl's
 * typed-client commands (`create namespace|deployment|service`, `run`, `expose`) send their objects this way.
 * Only the kinds and fields listed here are decoded; a body with any other field is refused (415) instead of
 * losing data, and the client is told to use JSON (`kubectl apply`). Responses are always JSON.
 */

type FieldType =
  | 'string'
  | 'int32'
  | 'int64'
  | 'bool'
  | 'time'
  | 'intOrString'
  | 'quantity'
  /** Read and discarded (status on create, deprecated fields). */
  | 'skip'
  | { map: FieldType }
  | Msg;

/** field number → [json name, type, repeated?, keepZero? (pointer fields whose 0/false is meaningful)] */
interface Msg {
  [n: number]: [string, FieldType, boolean?, boolean?];
}

export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

const str = 'string' as const;

const LABEL_SELECTOR: Msg = {
  1: ['matchLabels', { map: str }],
  2: ['matchExpressions', { 1: ['key', str], 2: ['operator', str], 3: ['values', str, true] }, true],
};

const OWNER_REF: Msg = {
  1: ['kind', str],
  3: ['name', str],
  4: ['uid', str],
  5: ['apiVersion', str],
  6: ['controller', 'bool', false, true],
  7: ['blockOwnerDeletion', 'bool', false, true],
};

const OBJECT_META: Msg = {
  1: ['name', str],
  2: ['generateName', str],
  3: ['namespace', str],
  4: ['selfLink', str],
  5: ['uid', str],
  6: ['resourceVersion', str],
  7: ['generation', 'int64'],
  8: ['creationTimestamp', 'time'],
  9: ['deletionTimestamp', 'time'],
  10: ['deletionGracePeriodSeconds', 'int64', false, true],
  11: ['labels', { map: str }],
  12: ['annotations', { map: str }],
  13: ['ownerReferences', OWNER_REF, true],
  14: ['finalizers', str, true],
  15: ['zzzDeprecatedClusterName', 'skip'],
};

const RESOURCES: Msg = {
  1: ['limits', { map: 'quantity' }],
  2: ['requests', { map: 'quantity' }],
};

const CONTAINER: Msg = {
  1: ['name', str],
  2: ['image', str],
  3: ['command', str, true],
  4: ['args', str, true],
  5: ['workingDir', str],
  6: [
    'ports',
    {
      1: ['name', str],
      2: ['hostPort', 'int32'],
      3: ['containerPort', 'int32'],
      4: ['protocol', str],
      5: ['hostIP', str],
    },
    true,
  ],
  7: ['env', { 1: ['name', str], 2: ['value', str] }, true],
  9: ['volumeMounts', { 1: ['name', str], 2: ['readOnly', 'bool'], 3: ['mountPath', str], 4: ['subPath', str] }, true],
  8: ['resources', RESOURCES],
  13: ['terminationMessagePath', str],
  14: ['imagePullPolicy', str],
  16: ['stdin', 'bool'],
  17: ['stdinOnce', 'bool'],
  18: ['tty', 'bool'],
  20: ['terminationMessagePolicy', str],
};

const POD_SPEC: Msg = {
  2: ['containers', CONTAINER, true],
  3: ['restartPolicy', str],
  4: ['terminationGracePeriodSeconds', 'int64', false, true],
  6: ['dnsPolicy', str],
  7: ['nodeSelector', { map: str }],
  8: ['serviceAccountName', str],
  9: ['serviceAccount', str],
  10: ['nodeName', str],
  11: ['hostNetwork', 'bool'],
  12: ['hostPID', 'bool'],
  13: ['hostIPC', 'bool'],
  16: ['hostname', str],
  17: ['subdomain', str],
  19: ['schedulerName', str],
  20: ['initContainers', CONTAINER, true],
  21: ['automountServiceAccountToken', 'bool', false, true],
  24: ['priorityClassName', str],
  25: ['priority', 'int32', false, true],
  30: ['enableServiceLinks', 'bool', false, true],
};

const POD_TEMPLATE: Msg = { 1: ['metadata', OBJECT_META], 2: ['spec', POD_SPEC] };

const INT_OR_STRING = 'intOrString' as const;

const KINDS: Record<string, Msg> = {
  Namespace: { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['finalizers', str, true] }], 3: ['status', 'skip'] },
  Pod: { 1: ['metadata', OBJECT_META], 2: ['spec', POD_SPEC], 3: ['status', 'skip'] },
  Deployment: {
    1: ['metadata', OBJECT_META],
    2: [
      'spec',
      {
        1: ['replicas', 'int32', false, true],
        2: ['selector', LABEL_SELECTOR],
        3: ['template', POD_TEMPLATE],
        4: [
          'strategy',
          {
            1: ['type', str],
            2: ['rollingUpdate', { 1: ['maxUnavailable', INT_OR_STRING], 2: ['maxSurge', INT_OR_STRING] }],
          },
        ],
        5: ['minReadySeconds', 'int32'],
        6: ['revisionHistoryLimit', 'int32', false, true],
        7: ['paused', 'bool'],
        9: ['progressDeadlineSeconds', 'int32', false, true],
      },
    ],
    3: ['status', 'skip'],
  },
  Service: {
    1: ['metadata', OBJECT_META],
    2: [
      'spec',
      {
        1: [
          'ports',
          {
            1: ['name', str],
            2: ['protocol', str],
            3: ['port', 'int32'],
            4: ['targetPort', INT_OR_STRING],
            5: ['nodePort', 'int32'],
            6: ['appProtocol', str],
          },
          true,
        ],
        2: ['selector', { map: str }],
        3: ['clusterIP', str],
        4: ['type', str],
        5: ['externalIPs', str, true],
        7: ['sessionAffinity', str],
        8: ['loadBalancerIP', str],
        10: ['externalName', str],
        11: ['externalTrafficPolicy', str],
        12: ['healthCheckNodePort', 'int32'],
        13: ['publishNotReadyAddresses', 'bool'],
      },
    ],
    3: ['status', 'skip'],
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new ProtobufError('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new ProtobufError('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new ProtobufError(`unsupported wire type ${wire}`);
  }
}

function signed64(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function decodeScalar(type: FieldType, wire: number, r: Reader, path: string): unknown {
  if (type === 'skip') {
    r.skip(wire);
    return undefined;
  }
  if (type === 'string') return r.bytes().toString('utf8');
  if (type === 'int32' || type === 'int64') return signed64(r.varint());
  if (type === 'bool') return r.varint() !== 0n;
  if (type === 'time') {
    const m = decodeMessage(r.bytes(), { 1: ['seconds', 'int64'], 2: ['nanos', 'int32'] }, path) as {
      seconds?: number;
    };
    if (!m.seconds) return null;
    return new Date(m.seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  if (type === 'quantity')
    return (decodeMessage(r.bytes(), { 1: ['string', str] }, path) as { string?: string }).string ?? '0';
  if (type === 'intOrString') {
    const m = decodeMessage(
      r.bytes(),
      { 1: ['type', 'int64'], 2: ['intVal', 'int32'], 3: ['strVal', str] },
      path,
      true,
    ) as {
      type?: number;
      intVal?: number;
      strVal?: string;
    };
    return m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
  }
  if (typeof type === 'object' && 'map' in type) {
    const entry = decodeMessage(r.bytes(), { 1: ['key', str], 2: ['value', type.map as FieldType] }, path, true) as {
      key?: string;
      value?: unknown;
    };
    return [entry.key ?? '', entry.value ?? ''];
  }
  if (wire !== 2) throw new ProtobufError(`${path}: expected a message`);
  return decodeMessage(r.bytes(), type as Msg, path);
}

/** Decodes one message; zero values of non-pointer scalars are dropped like Go's `omitempty`. */
function decodeMessage(buf: Buffer, schema: Msg, path: string, keepAll = false): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done) {
    const tag = r.varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const spec = schema[field];
    if (!spec) throw new ProtobufError(`${path || 'object'}: protobuf field ${field} is not supported by podwall`);
    const [name, type, repeated, keepZero] = spec;
    const value = decodeScalar(type, wire, r, path ? `${path}.${name}` : name);
    if (value === undefined) continue;
    if (typeof type === 'object' && 'map' in type) {
      const [k, v] = value as [string, unknown];
      out[name] = { ...((out[name] as Record<string, unknown>) ?? {}), [k]: v };
    } else if (repeated) {
      const list = (out[name] as unknown[] | undefined) ?? [];
      list.push(value);
      out[name] = list;
    } else {
      const zero = value === '' || value === 0 || value === false || value === null;
      if (zero && !keepZero && !keepAll) continue;
      out[name] = value;
    }
  }
  return out;
}

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/** Decodes a protobuf request body into the JSON object it stands for. Throws ProtobufError. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0')
    throw new ProtobufError('missing the k8s protobuf prefix');
  const env = decodeMessage(
    body.subarray(4),
    {
      1: ['typeMeta', { 1: ['apiVersion', str], 2: ['kind', str] }],
      2: ['raw', 'string'],
      3: ['contentEncoding', str],
      4: ['contentType', str],
    },
    '',
  );
  // `raw` was read as a string above only to find its bounds; re-read it as bytes.
  const r = new Reader(body.subarray(4));
  let raw: Buffer | undefined;
  while (!r.done) {
    const tag = r.varint();
    if (Number(tag >> 3n) === 2 && Number(tag & 7n) === 2) raw = r.bytes();
    else r.skip(Number(tag & 7n));
  }
  const tm = (env.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const schema = tm.kind ? KINDS[tm.kind] : undefined;
  if (!schema)
    throw new ProtobufError(`protobuf bodies of kind ${JSON.stringify(tm.kind)} are not supported by podwall`);
  const obj = decodeMessage(raw ?? Buffer.alloc(0), schema, '');
  return { apiVersion: tm.apiVersion, kind: tm.kind, ...obj, metadata: obj.metadata ?? {} };
}
