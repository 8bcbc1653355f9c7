import type { AdminClient } from "../adminClient.js";
import type { EffectivePolicy, MediaHost, Policy, PolicyAssignments, Provider, Tenant, UserGrant } from "../apiTypes.js";
import { type Cell, formatJson, formatList, formatTable, relative, span } from "../format.js";
import type { CommandContext, OptionSpec } from "../spec.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const TENANT_OPTION: OptionSpec = {
  type: "string",
  required: true,
  placeholder: "TENANT",
  description: "The tenant: its Entra tenant id (GUID) or its tenant key (123456789@t.<domain>)",
};

/** A tenant id as given, or the id of the tenant a tenant key belongs to (one GET). */
export async function resolveTenantId(client: AdminClient, tenant: string): Promise<string> {
  const trimmed = tenant.trim();
  if (GUID.test(trimmed)) return trimmed;
  return (await client.getTenant(trimmed)).value.tenantId;
}

/** "none", "$null" and "null" take a grant away, as with the cmdlet's -PolicyName $null. */
export function policyNameOrNull(value: string): string | null {
  return ["none", "$null", "null"].includes(value.trim().toLowerCase()) ? null : value;
}

/** ETags are quoted strings; accept them bare too (quotes are awkward on a command line). */
export function normalizeEtag(value: string): string {
  const trimmed = value.trim();
  return trimmed === "*" || trimmed.startsWith('"') || trimmed.startsWith("W/") ? trimmed : `"${trimmed}"`;
}

export function printJson(context: CommandContext, value: unknown): void {
  context.out.stdout(formatJson(value));
}

// Views: cmdlet-style property names.

export function tenantList(tenant: Tenant): string {
  return formatList([
    ["TenantId", tenant.tenantId],
    ["Name", tenant.name],
    ["TenantKey", tenant.tenantKey],
    ["Consent", tenant.consent.status],
    ["CreatedAt", tenant.createdAt],
    ["UpdatedAt", tenant.updatedAt],
  ]);
}

export function tenantTable(tenants: readonly Tenant[]): string {
  return formatTable(tenants, [
    ["TenantId", (t) => t.tenantId],
    ["TenantKey", (t) => t.tenantKey],
    ["Consent", (t) => t.consent.status],
    ["Name", (t) => t.name],
  ]);
}

export function providerList(provider: Provider, etag: string | undefined): string {
  return formatList([
    ["Identity", provider.identity],
    ["TenantKey", provider.tenantKey],
    ["InstructionUri", provider.instructionUri],
    ["AllowAppGuestJoinsAsAuthenticated", provider.allowAppGuestJoinsAsAuthenticated],
    ["AadApplicationIds", provider.aadApplicationIds],
    ["CreatedAt", provider.createdAt],
    ["UpdatedAt", provider.updatedAt],
    ...(etag === undefined ? [] : [["ETag", etag] as const]),
  ]);
}

export function providerTable(providers: readonly Provider[]): string {
  return formatTable(providers, [
    ["Identity", (p) => p.identity],
    ["TenantKey", (p) => p.tenantKey],
    ["InstructionUri", (p) => p.instructionUri],
    ["AllowAppGuestJoinsAsAuthenticated", (p) => p.allowAppGuestJoinsAsAuthenticated],
    ["AadApplicationIds", (p) => p.aadApplicationIds],
  ]);
}

export function policyTable(policies: readonly Policy[]): string {
  return formatTable(policies, [
    ["Identity", (p) => p.identity],
    ["ProviderName", (p) => p.providerName],
    ["Enabled", (p) => p.enabled],
    ["Description", (p) => p.description],
  ]);
}

export function groupGrantsTable(assignments: PolicyAssignments): string {
  return formatTable(assignments.groups, [
    ["Rank", (g) => g.rank],
    ["GroupId", (g) => g.groupId],
    ["PolicyName", (g) => g.policyName],
  ]);
}

export function userGrantsTable(grants: readonly UserGrant[]): string {
  return formatTable(grants, [
    ["UserId", (g) => g.userId],
    ["PolicyName", (g) => g.policyName],
    ["GrantedAt", (g) => g.grantedAt],
  ]);
}

/** The tenant-wide grant, then the group grants by rank. */
export function assignmentsText(assignments: PolicyAssignments): string {
  const groups = assignments.groups.length === 0 ? "Group grants: none\n" : `Group grants (rank 1 wins):\n${groupGrantsTable(assignments)}`;
  return `${formatList([["Global", assignments.global]])}\n${groups}`;
}

export function userGrantList(grant: UserGrant): string {
  return formatList([
    ["UserId", grant.userId],
    ["PolicyName", grant.policyName],
    ["GrantedAt", grant.grantedAt],
  ]);
}

export function effectivePolicyList(userId: string, effective: EffectivePolicy): string {
  const source = effective.source;
  const from =
    source.kind === "user"
      ? "user (the user's own grant)"
      : source.kind === "group"
        ? `group ${source.groupId} (rank ${source.rank})`
        : "global (the tenant-wide grant)";
  return formatList([
    ["UserId", userId],
    ["PolicyName", effective.policy.name],
    ["Identity", effective.policy.identity],
    ["ProviderName", effective.policy.providerName],
    ["Enabled", effective.policy.enabled],
    ["Source", from],
  ]);
}

// Media hosts: times are the API's; "4 s ago" and "in 30 min" are seen from `now`.

/** "renewed 1 s ago" while the lease is live, "lapsed 4 s ago" once it is not. */
export function leaseText(host: MediaHost, now: Date): string {
  const lapsed = host.status === "unresponsive" || host.status === "dead";
  return lapsed
    ? `lapsed ${span(now.getTime() - Date.parse(host.leaseUntil))} ago`
    : `renewed ${span(now.getTime() - Date.parse(host.renewedAt))} ago`;
}

/** The drain's deadline, or when and why the host died, with how far its clean-up got. */
function hostDetails(host: MediaHost, now: Date): string {
  if (host.death) {
    const { at, reason, callsEndedAt, queueClearedAt } = host.death;
    const cleanUp = callsEndedAt === null ? "; ending its calls" : queueClearedAt === null ? "; clearing its queue" : "";
    return `died ${seconds(at)} (${relative(at, now)}): ${reason}${cleanUp}`;
  }
  const parts: string[] = [];
  if (host.status === "unresponsive") parts.push("being declared dead");
  if (host.drain) {
    const by = host.drain.by === "host" ? ", its own drain" : "";
    parts.push(`deadline ${seconds(host.drain.deadline)} (${relative(host.drain.deadline, now)})${by}`);
  }
  return parts.join("; ");
}

/** An ISO time without its milliseconds, for tables. */
function seconds(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

export function hostTable(hosts: readonly MediaHost[], now: Date): string {
  return formatTable(hosts, [
    ["HostId", (h) => h.hostId],
    ["Status", (h) => h.status],
    ["Calls", (h) => `${h.activeCalls}/${h.capacity}`],
    ["Load", (h) => `${Math.round(h.load * 100)}%`],
    ["Epoch", (h) => h.epoch],
    ["Version", (h) => h.version],
    ["SipUri", (h) => h.sipUri],
    ["Lease", (h) => leaseText(h, now)],
    ["Details", (h) => hostDetails(h, now)],
  ]);
}

export function hostList(host: MediaHost, now: Date): string {
  const entries: (readonly [string, Cell])[] = [
    ["HostId", host.hostId],
    ["Status", host.status],
    ["Epoch", host.epoch],
    ["SipUri", host.sipUri],
    ["Version", host.version],
    ["ActiveCalls", host.activeCalls],
    ["Capacity", host.capacity],
    ["Load", `${Math.round(host.load * 100)}%`],
    ["RegisteredAt", host.registeredAt],
    ["RenewedAt", host.renewedAt],
    ["LeaseUntil", host.leaseUntil],
    ["Lease", leaseText(host, now)],
  ];
  if (host.drain) {
    entries.push(
      ["DrainRequestedAt", host.drain.requestedAt],
      ["DrainDeadline", `${host.drain.deadline} (${relative(host.drain.deadline, now)})`],
      ["DrainedBy", host.drain.by],
    );
  }
  if (host.death) {
    entries.push(
      ["DiedAt", `${host.death.at} (${relative(host.death.at, now)})`],
      ["DeathReason", host.death.reason],
      ["CallsEndedAt", host.death.callsEndedAt ?? "pending"],
      ["QueueClearedAt", host.death.queueClearedAt ?? "pending"],
    );
  }
  return formatList(entries);
}
