// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does:
// one controller pod (the holder) writes Service statuses; the others wait until the
// holder stops renewing. Expiry is judged by the local clock from when this pod last saw
// the record change (not from renewTime), so clock skew between nodes does not matter.

export interface LeaseSpecLike {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: Date | string | null;
  renewTime?: Date | string | null;
  leaseTransitions?: number | null;
}

/** What this pod last saw of the lease, and when (local milliseconds). */
export interface Observation {
  holder: string;
  renew: string;
  at: number;
}

export type LeaseAction = 'acquire' | 'renew' | 'follow';

const stamp = (t: Date | string | null | undefined): string => (t instanceof Date ? t.toISOString() : typeof t === 'string' ? t : '');

/** Updates the observation: its time only moves when holder or renewTime changed. */
export function observe(prev: Observation | undefined, spec: LeaseSpecLike | undefined, now: number): Observation {
  const holder = spec?.holderIdentity ?? '';
  const renew = stamp(spec?.renewTime);
  if (prev && prev.holder === holder && prev.renew === renew) return prev;
  return { holder, renew, at: now };
}

/** What to do with the lease: take it (free or expired), renew it (ours), or follow its holder. */
export function leaseAction(spec: LeaseSpecLike | undefined, seen: Observation, me: string, now: number, defaultDurationSeconds: number): LeaseAction {
  const holder = spec?.holderIdentity ?? '';
  if (holder === me) return 'renew';
  if (!holder) return 'acquire';
  const d = spec?.leaseDurationSeconds;
  const duration = typeof d === 'number' && d > 0 ? d : defaultDurationSeconds;
  return now - seen.at > duration * 1000 ? 'acquire' : 'follow';
}

/** The spec to write for acquire/renew (or for release: holder cleared, 1 s duration). */
export function nextLeaseSpec(spec: LeaseSpecLike | undefined, action: 'acquire' | 'renew' | 'release', me: string, now: Date, durationSeconds: number): LeaseSpecLike {
  const transitions = typeof spec?.leaseTransitions === 'number' ? spec.leaseTransitions : 0;
  if (action === 'release') return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: spec?.acquireTime ?? now, renewTime: now, leaseTransitions: transitions };
  const changedHands = action === 'acquire' && (spec?.holderIdentity ?? '') !== me;
  return {
    holderIdentity: me,
    leaseDurationSeconds: durationSeconds,
    acquireTime: changedHands || !spec?.acquireTime ? now : spec.acquireTime,
    renewTime: now,
    leaseTransitions: changedHands && spec?.holderIdentity ? transitions + 1 : transitions,
  };
}
