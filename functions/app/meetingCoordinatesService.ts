import type { RandomInt } from "../../shared/domain/tenantKey.js";
import { fillInstructionUri, removeVtcBlocks, upsertVtcBlock } from "../../shared/domain/vtcBlock.js";
import { generateVtcId } from "../../shared/domain/vtcId.js";
import { PreconditionFailedError } from "../../shared/errors.js";
import type { Calendar, CalendarEventInfo, MeetingDirectory, MeetingMappingRepository, TenantRepository } from "../ports.js";
import { Organizers } from "./organizers.js";

export interface MeetingCoordinatesOptions {
  readonly randomInt: RandomInt;
  readonly now: () => Date;
  readonly log: (line: string) => void;
}

const MAX_ID_DRAWS = 20;

/**
 * Keeps the "Join with a video conferencing device" block of enabled organizers'
 * Teams invites right: exactly one block with the meeting's VTC ID, through updates
 * and replayed notifications; gone when the organizer loses the policy; the ID
 * retired when the meeting is cancelled.
 */
export class MeetingCoordinatesService {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly calendar: Calendar,
    private readonly directory: MeetingDirectory,
    private readonly mappings: MeetingMappingRepository,
    private readonly organizers: Organizers,
    private readonly options: MeetingCoordinatesOptions,
  ) {}

  /** Brings one event in line with the organizer's policy. Idempotent, so replays are harmless. */
  async reconcileEvent(tenantId: string, userId: string, eventId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#reconcile(tenantId, userId, eventId);
        return;
      } catch (e) {
        // The organizer edited the invite while we wrote it: redo on the fresh version.
        if (!(e instanceof PreconditionFailedError) || attempt === 2) throw e;
      }
    }
  }

  /** Every event of the organizer, e.g. after their policy changed or notifications were missed. */
  async reconcileOrganizer(tenantId: string, userId: string): Promise<void> {
    for (const eventId of await this.calendar.listEventIds(tenantId, userId)) await this.reconcileEvent(tenantId, userId, eventId);
  }

  /** The event is gone: its VTC ID is retired. */
  async eventDeleted(tenantId: string, userId: string, eventId: string): Promise<void> {
    const vtcId = await this.mappings.findVtcIdForEvent(tenantId, userId, eventId);
    if (vtcId) await this.mappings.retire(vtcId, this.options.now());
  }

  async #reconcile(tenantId: string, userId: string, eventId: string): Promise<void> {
    const event = await this.calendar.getEvent(tenantId, userId, eventId);
    if (!event || event.isCancelled) return this.eventDeleted(tenantId, userId, eventId);
    if (!event.joinWebUrl) return; // not a Teams meeting
    const tenant = (await this.tenants.get(tenantId))?.value;
    const provider = tenant && Organizers.mayWriteInvites(tenant) ? await this.organizers.enabledProvider(tenant.tenantId, userId) : undefined;
    if (!provider) {
      const stripped = removeVtcBlocks(event.bodyHtml);
      if (stripped !== event.bodyHtml) await this.calendar.replaceEventBody(tenantId, userId, eventId, stripped, event.etag);
      // Coordinates once sent stop working: a policy revoked means no more devices in that meeting.
      await this.eventDeleted(tenantId, userId, eventId);
      return;
    }
    const vtcId = await this.#vtcIdFor(tenantId, userId, event);
    if (!vtcId) return;
    const body = upsertVtcBlock(event.bodyHtml, {
      tenantKey: provider.tenantKey,
      vtcId,
      instructionUri: fillInstructionUri(provider.instructionUri, vtcId),
    });
    if (body !== event.bodyHtml) {
      await this.calendar.replaceEventBody(tenantId, userId, eventId, body, event.etag);
      this.options.log(`coordinates ${vtcId} written to event ${eventId} of ${userId}`);
    }
  }

  /** The event's VTC ID: the one it has, else Teams' own for the meeting, else a fresh random one. */
  async #vtcIdFor(tenantId: string, userId: string, event: CalendarEventInfo): Promise<string | undefined> {
    const linked = await this.mappings.findVtcIdForEvent(tenantId, userId, event.id);
    if (linked) {
      const mapping = await this.mappings.get(linked);
      if (mapping?.status === "active") return linked;
      // Its ID was retired (policy revoked, then granted again): the meeting gets a new one.
      await this.mappings.unlinkEvent(tenantId, userId, event.id);
    }
    const meeting = await this.directory.findByJoinWebUrl(tenantId, userId, event.joinWebUrl ?? "");
    if (!meeting) {
      this.options.log(`no online meeting found for event ${event.id} of ${userId}; no coordinates`);
      return undefined;
    }
    const candidates = meeting.videoTeleconferenceId ? [meeting.videoTeleconferenceId] : [];
    for (let draw = 0; draw < MAX_ID_DRAWS; draw++) candidates.push(generateVtcId(this.options.randomInt));
    for (const vtcId of candidates) {
      const claimed = await this.mappings.claim({
        vtcId,
        tenantId,
        organizerId: userId,
        eventId: event.id,
        meeting,
        status: "active",
        createdAt: this.options.now().toISOString(),
        retiredAt: null,
      });
      if (!claimed) continue;
      const holder = await this.mappings.linkEvent(tenantId, userId, event.id, vtcId);
      // Another notification linked the event first: give our claim back as retired (never reused) and use theirs.
      if (holder !== vtcId) await this.mappings.retire(vtcId, this.options.now());
      return holder;
    }
    throw new Error(`no free VTC ID after ${candidates.length} draws`);
  }
}
