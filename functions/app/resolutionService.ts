import { dialInRefusal } from "../../shared/domain/consent.js";
import type { OnlineMeetingInfo } from "../../shared/domain/meeting.js";
import type { ProviderNaming } from "../../shared/domain/provider.js";
import { refuse, type Resolution } from "../../shared/domain/resolution.js";
import { parseTenantKey } from "../../shared/domain/tenantKey.js";
import { normalizeVtcId } from "../../shared/domain/vtcId.js";
import { fillInstructionUri } from "../../shared/domain/vtcBlock.js";
import { ConsentMissingError, ValidationError } from "../../shared/errors.js";
import type { MeetingDirectory, MeetingMappingRepository, TenantRepository } from "../ports.js";
import type { ConsentService } from "./consentService.js";
import type { Organizers } from "./organizers.js";

/**
 * (tenant key, VTC ID) → what a media host needs to join, or a refusal it can answer
 * with. Our own mappings first (one point read), then Teams' own coordinates through
 * Graph's VideoTeleconferenceId look-up.
 */
/** How long a dial-in may rely on an organizer's enablement decided earlier (see Organizers.recentlyEnabledProvider). */
export const ORGANIZER_DECISION_MAX_AGE_IN_MS = 30_000;

export class ResolutionService {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly mappings: MeetingMappingRepository,
    private readonly directory: MeetingDirectory,
    private readonly organizers: Organizers,
    private readonly consent: ConsentService,
    private readonly naming: ProviderNaming,
  ) {}

  async resolve(tenantKey: string, dialedVtcId: string): Promise<Resolution> {
    const vtcId = normalizeVtcId(dialedVtcId);
    if (!vtcId) throw new ValidationError([{ field: "vtcId", message: "vtcId must be 6-16 digits (spaces, dots and dashes are ignored)" }]);
    const key = parseTenantKey(tenantKey.trim(), this.naming.serviceDomain);
    const tenantId = key ? await this.tenants.findTenantIdByKeyDigits(key.digits) : undefined;
    const tenant = tenantId ? (await this.tenants.get(tenantId))?.value : undefined;
    if (!tenant) return refuse("unknown-tenant-key", "the organization you dialed is not known to this service");
    const consentRefusal = dialInRefusal(tenant.consent);
    if (consentRefusal) return refuse("tenant-not-consented", consentRefusal);

    let meeting: OnlineMeetingInfo | undefined;
    const mapping = await this.mappings.get(vtcId);
    if (mapping && mapping.tenantId === tenant.tenantId) {
      if (mapping.status === "retired") return refuse("retired-vtc-id", "this meeting has been cancelled or is no longer available to video devices");
      meeting = mapping.meeting;
    } else {
      try {
        meeting = await this.directory.findByVideoTeleconferenceId(tenant.tenantId, vtcId);
      } catch (e) {
        if (!(e instanceof ConsentMissingError)) throw e;
        // Access is gone: record it, so the next caller is refused without asking Graph.
        const consent = await this.consent.refresh(tenant.tenantId);
        return refuse("tenant-not-consented", dialInRefusal(consent) ?? "the organization's consent could not be confirmed");
      }
    }
    if (!meeting) return refuse("unknown-vtc-id", "there is no meeting with this conference ID");

    const provider = await this.organizers.recentlyEnabledProvider(tenant.tenantId, meeting.organizerId, ORGANIZER_DECISION_MAX_AGE_IN_MS);
    if (!provider) return refuse("organizer-not-enabled", "the meeting's organizer is not enabled for video conferencing devices with this service");
    return {
      kind: "resolved",
      tenantId: tenant.tenantId,
      tenantName: tenant.name,
      vtcId,
      meeting,
      joinAsGuest: !provider.allowAppGuestJoinsAsAuthenticated,
      instructionUri: fillInstructionUri(provider.instructionUri, vtcId),
    };
  }
}
