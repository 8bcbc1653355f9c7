import type { DispatcherDestination } from "./kamailioRpc.js";

/** A media host as the pool wants the edge to see it. */
export interface WantedHost {
  readonly hostId: string;
  /** Where the edge sends its calls, e.g. sip:10.0.0.5:5060;transport=tcp. */
  readonly sipUri: string;
  /** Calls it takes at most (the dispatcher's maxload). */
  readonly capacity: number;
  /** Draining hosts keep their calls and get no new ones (dispatcher state "disabled"). */
  readonly draining: boolean;
}

export type DispatcherAction =
  | { readonly kind: "add"; readonly hostId: string; readonly uri: string; readonly attributes: string; readonly disabled: boolean }
  | { readonly kind: "remove"; readonly hostId: string | undefined; readonly uri: string }
  | { readonly kind: "disable"; readonly hostId: string }
  | { readonly kind: "enable"; readonly hostId: string };

/** add and remove rebuild the dispatcher's list, which Kamailio allows at most once a second. */
export const isReload = (action: DispatcherAction): boolean => action.kind === "add" || action.kind === "remove";

/**
 * What to change so the dispatcher's host set matches the pool: hosts added with their id
 * and capacity, hosts gone from the pool (dead, deregistered) removed, draining hosts
 * disabled and undrained ones enabled again. Probe results are the dispatcher's own: a host
 * it found dead (inactive) is not forced back to active here. Removals come before
 * additions, so a host that moved to a new address is never listed twice.
 */
export function planDispatcher(wanted: readonly WantedHost[], current: readonly DispatcherDestination[]): DispatcherAction[] {
  const removals: DispatcherAction[] = [];
  const additions: DispatcherAction[] = [];
  const states: DispatcherAction[] = [];
  const wantedById = new Map(wanted.map((host) => [host.hostId, host]));
  const present = new Map<string, DispatcherDestination>();
  for (const destination of current) {
    const host = destination.hostId ? wantedById.get(destination.hostId) : undefined;
    const same = host && sameUri(host.sipUri, destination.uri) && host.capacity === destination.maxLoad && !present.has(host.hostId);
    if (host && same) present.set(host.hostId, destination);
    else removals.push({ kind: "remove", hostId: destination.hostId, uri: destination.uri });
  }
  for (const host of wanted) {
    const destination = present.get(host.hostId);
    if (!destination) {
      // A draining host is listed too (disabled): its calls' in-dialog requests still pass the edge.
      additions.push({
        kind: "add",
        hostId: host.hostId,
        uri: host.sipUri,
        attributes: `duid=${host.hostId};maxload=${host.capacity}`,
        disabled: host.draining,
      });
    } else if (host.draining && destination.state !== "disabled") {
      states.push({ kind: "disable", hostId: host.hostId });
    } else if (!host.draining && destination.state === "disabled") {
      states.push({ kind: "enable", hostId: host.hostId });
    }
  }
  // Draining first: it must take effect at once, while list changes are rate-limited.
  return [...states, ...removals, ...additions];
}

/** Kamailio lists a URI as it was added; compare case-insensitively on scheme and host. */
function sameUri(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
