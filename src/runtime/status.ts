/**
 * Pod phase and conditions from container statuses, with the kubelet's rules (pkg/kubelet/kubelet_pods.go
 * getPhase and the status manager's conditions). Pure.
 */
import type { ContainerStatus, PodCondition, PodPhase, RestartPolicy } from './types.js';

export function podPhase(statuses: readonly ContainerStatus[], restartPolicy: RestartPolicy): PodPhase {
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of statuses) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.lastState.terminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** Conditions, keeping `lastTransitionTime` from `prev` when a condition's status did not change. */
export function podConditions(
  statuses: readonly ContainerStatus[],
  phase: PodPhase,
  now: string,
  prev: readonly PodCondition[] = [],
): PodCondition[] {
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const ready: Omit<PodCondition, 'type' | 'lastTransitionTime'> =
    unready.length === 0 && !completed
      ? { status: 'True' }
      : completed
        ? { status: 'False', reason: 'PodCompleted' }
        : {
            status: 'False',
            reason: 'ContainersNotReady',
            message: `containers with unready status: [${unready.join(' ')}]`,
          };
  const make = (type: PodCondition['type'], c: Omit<PodCondition, 'type' | 'lastTransitionTime'>): PodCondition => {
    const before = prev.find((p) => p.type === type);
    const lastTransitionTime = before && before.status === c.status ? before.lastTransitionTime : now;
    return { type, ...c, lastTransitionTime };
  };
  const readyMsg = ready.message;
  return [
    make('PodScheduled', { status: 'True' }),
    make('Initialized', { status: 'True' }),
    make('ContainersReady', { ...ready, ...(readyMsg ? { message: readyMsg } : {}) }),
    make('Ready', ready),
  ];
}
