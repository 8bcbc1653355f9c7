import type { Directory, DirectoryUser } from "../../ports.js";
import { graphFailure, isGraphNotFound, type TenantGraphClients } from "./tenantGraphClients.js";

const MAX_PAGES = 200;

/** Users and group membership, for tenant-wide and group policy grants. */
export class GraphDirectory implements Directory {
  readonly #clients: TenantGraphClients;

  constructor(clients: TenantGraphClients) {
    this.#clients = clients;
  }

  async user(tenantId: string, idOrUserPrincipalName: string): Promise<DirectoryUser | undefined> {
    try {
      const user = (await this.#clients
        .client(tenantId)
        .api(`/users/${encodeURIComponent(idOrUserPrincipalName)}`)
        .select(["id", "userPrincipalName"])
        .get()) as { id?: string; userPrincipalName?: string };
      return user.id ? { id: user.id.toLowerCase(), userPrincipalName: user.userPrincipalName?.toLowerCase() ?? null } : undefined;
    } catch (e) {
      if (isGraphNotFound(e)) return undefined;
      throw graphFailure(e, `user ${idOrUserPrincipalName}`);
    }
  }

  groupIdsOf(tenantId: string, userId: string): Promise<string[]> {
    return this.#ids(tenantId, `/users/${encodeURIComponent(userId)}/transitiveMemberOf/microsoft.graph.group`, `groups of ${userId}`);
  }

  listUserIds(tenantId: string): Promise<string[]> {
    return this.#ids(tenantId, "/users", "users");
  }

  memberIdsOf(tenantId: string, groupId: string): Promise<string[]> {
    return this.#ids(tenantId, `/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user`, `members of ${groupId}`);
  }

  async #ids(tenantId: string, path: string, what: string): Promise<string[]> {
    const client = this.#clients.client(tenantId);
    const ids: string[] = [];
    try {
      let page = (await client.api(path).select(["id"]).top(999).get()) as { value?: { id?: string }[]; "@odata.nextLink"?: string };
      for (let pages = 1; ; pages++) {
        for (const item of page.value ?? []) if (item.id) ids.push(item.id.toLowerCase());
        const next = page["@odata.nextLink"];
        if (!next || pages >= MAX_PAGES) break;
        page = await client.api(next).get();
      }
    } catch (e) {
      // A user or group that is gone has no members and belongs to nothing.
      if (isGraphNotFound(e)) return [];
      throw graphFailure(e, what);
    }
    return ids;
  }
}
