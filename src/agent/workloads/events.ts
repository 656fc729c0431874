/**
 * A best-effort core/v1 Event recorder (what `kubectl describe` shows under Events). Writes are fire-and-forget:
 * a failed event write never fails the controller that reported it.
 */
import type { KubeObject } from '../../api/types.js';
import type { KubeClient } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { now } from './objects.js';

export interface EventRecorder {
  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

let seq = 0n;

export function eventRecorder(client: KubeClient, component: string, host?: string): EventRecorder {
  return {
    event(obj, type, reason, message) {
      const t = now();
      const ns = obj.metadata.namespace || 'default';
      // client-go's recorder names events `<object>.<unix nanoseconds in hex>`.
      const nanos = BigInt(Date.now()) * 1_000_000n + (seq++ % 1_000_000n);
      const ev = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${obj.metadata.name}.${nanos.toString(16)}`, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        count: 1,
        firstTimestamp: t,
        lastTimestamp: t,
        source: host ? { component, host } : { component },
        reportingComponent: component,
        reportingInstance: host ?? '',
      };
      client.create(RESOURCE_REFS.events, ev as unknown as KubeObject).catch(() => {});
    },
  };
}
