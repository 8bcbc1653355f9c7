import type { ItemDefinition } from "@azure/cosmos";
import type { MeetingMapping } from "../../../shared/domain/meeting.js";
import type { MeetingMappingRepository } from "../../ports.js";
import type { CosmosStore } from "./cosmosStore.js";
import { isStatus, withoutSystemProperties } from "./documents.js";

const eventLinkId = (organizerId: string, eventId: string) => `eventVtc:${organizerId}:${eventId}`;

/** VTC ID → meeting in `meetings` (point reads); event → VTC ID links in the tenant's partition. */
export class CosmosMeetingMappingRepository implements MeetingMappingRepository {
  readonly #store: CosmosStore;

  constructor(store: CosmosStore) {
    this.#store = store;
  }

  async claim(mapping: MeetingMapping): Promise<boolean> {
    try {
      await this.#store.meetings.items.create({ ...mapping, id: mapping.vtcId });
      return true;
    } catch (e) {
      if (isStatus(e, 409)) return false;
      throw e;
    }
  }

  async get(vtcId: string): Promise<MeetingMapping | undefined> {
    try {
      const { resource } = await this.#store.meetings.item(vtcId, vtcId).read<ItemDefinition>();
      if (!resource) return undefined;
      const { id, ...mapping } = withoutSystemProperties(resource);
      return mapping as unknown as MeetingMapping;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async retire(vtcId: string, at: Date): Promise<void> {
    try {
      await this.#store.meetings.item(vtcId, vtcId).patch([
        { op: "set", path: "/status", value: "retired" },
        { op: "set", path: "/retiredAt", value: at.toISOString() },
      ]);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async findVtcIdForEvent(tenantId: string, organizerId: string, eventId: string): Promise<string | undefined> {
    try {
      const { resource } = await this.#store.tenants.item(eventLinkId(organizerId, eventId), tenantId).read<{ vtcId?: string }>();
      return resource?.vtcId;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async unlinkEvent(tenantId: string, organizerId: string, eventId: string): Promise<void> {
    try {
      await this.#store.tenants.item(eventLinkId(organizerId, eventId), tenantId).delete();
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }

  async linkEvent(tenantId: string, organizerId: string, eventId: string, vtcId: string): Promise<string> {
    try {
      // Create, never overwrite: of two notifications racing for a new event, the first link wins.
      await this.#store.tenants.items.create({ id: eventLinkId(organizerId, eventId), tenantId, type: "eventVtc", organizerId, eventId, vtcId });
      return vtcId;
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      return (await this.findVtcIdForEvent(tenantId, organizerId, eventId)) ?? vtcId;
    }
  }
}
