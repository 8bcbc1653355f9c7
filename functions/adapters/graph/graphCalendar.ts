import type { Event } from "@microsoft/microsoft-graph-types";
import type { Calendar, CalendarEventInfo } from "../../ports.js";
import { graphFailure, isGraphNotFound, type TenantGraphClients } from "./tenantGraphClients.js";

export class GraphCalendar implements Calendar {
  readonly #clients: TenantGraphClients;

  constructor(clients: TenantGraphClients) {
    this.#clients = clients;
  }

  async getEvent(tenantId: string, userId: string, eventId: string): Promise<CalendarEventInfo | undefined> {
    let event: Event & { "@odata.etag"?: string };
    try {
      event = await this.#clients
        .client(tenantId)
        .api(`/users/${encodeURIComponent(userId)}/events/${encodeURIComponent(eventId)}`)
        .select(["id", "subject", "body", "isCancelled", "isOnlineMeeting", "onlineMeeting", "isOrganizer"])
        .get();
    } catch (e) {
      if (isGraphNotFound(e)) return undefined;
      throw graphFailure(e, `event ${eventId}`);
    }
    return {
      id: event.id ?? eventId,
      organizerId: userId,
      subject: event.subject ?? "",
      bodyHtml: event.body?.content ?? "",
      etag: event["@odata.etag"] ?? "",
      isCancelled: event.isCancelled === true,
      joinWebUrl: event.isOnlineMeeting ? (event.onlineMeeting?.joinUrl ?? null) : null,
    };
  }

  async listEventIds(tenantId: string, userId: string): Promise<string[]> {
    const ids: string[] = [];
    try {
      let page = (await this.#clients
        .client(tenantId)
        .api(`/users/${encodeURIComponent(userId)}/events`)
        .select(["id"])
        .top(100)
        .get()) as {
        value?: Event[];
        "@odata.nextLink"?: string;
      };
      for (let pages = 0; pages < 100; pages++) {
        for (const e of page.value ?? []) if (e.id) ids.push(e.id);
        const next = page["@odata.nextLink"];
        if (!next) break;
        page = await this.#clients.client(tenantId).api(next).get();
      }
    } catch (e) {
      throw graphFailure(e, `events of ${userId}`);
    }
    return ids;
  }

  async replaceEventBody(tenantId: string, userId: string, eventId: string, bodyHtml: string, etag: string): Promise<void> {
    try {
      const request = this.#clients.client(tenantId).api(`/users/${encodeURIComponent(userId)}/events/${encodeURIComponent(eventId)}`);
      // Conditional on the version we read, so an organizer's edit in between is never overwritten.
      if (etag) request.header("If-Match", etag);
      await request.patch({ body: { contentType: "html", content: bodyHtml } });
    } catch (e) {
      throw graphFailure(e, `event ${eventId}`);
    }
  }
}
