import type { Subscription } from "@microsoft/microsoft-graph-types";
import type { ChangeSubscriptions, SubscriptionRequest } from "../../ports.js";
import { graphFailure, isGraphNotFound, type TenantGraphClients } from "./tenantGraphClients.js";

export class GraphChangeSubscriptions implements ChangeSubscriptions {
  readonly #clients: TenantGraphClients;

  constructor(clients: TenantGraphClients) {
    this.#clients = clients;
  }

  async create(tenantId: string, request: SubscriptionRequest): Promise<{ id: string; expirationDateTime: string }> {
    try {
      const created = (await this.#clients
        .client(tenantId)
        .api("/subscriptions")
        .post({ ...request, expirationDateTime: request.expirationDateTime.toISOString(), latestSupportedTlsVersion: "v1_2" })) as Subscription;
      if (!created.id) throw new Error("Microsoft Graph created a subscription without an id");
      return { id: created.id, expirationDateTime: created.expirationDateTime ?? request.expirationDateTime.toISOString() };
    } catch (e) {
      throw graphFailure(e, `subscribe to ${request.resource}`);
    }
  }

  async renew(tenantId: string, subscriptionId: string, expirationDateTime: Date): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/subscriptions/${encodeURIComponent(subscriptionId)}`)
        .patch({ expirationDateTime: expirationDateTime.toISOString() });
    } catch (e) {
      throw graphFailure(e, `renew subscription ${subscriptionId}`);
    }
  }

  async reauthorize(tenantId: string, subscriptionId: string): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/subscriptions/${encodeURIComponent(subscriptionId)}/reauthorize`)
        .post({});
    } catch (e) {
      throw graphFailure(e, `reauthorize subscription ${subscriptionId}`);
    }
  }

  async remove(tenantId: string, subscriptionId: string): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/subscriptions/${encodeURIComponent(subscriptionId)}`)
        .delete();
    } catch (e) {
      if (!isGraphNotFound(e)) throw graphFailure(e, `remove subscription ${subscriptionId}`);
    }
  }
}
