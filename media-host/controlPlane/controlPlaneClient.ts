import type { CallQuality } from "../../shared/domain/callQuality.js";
import type { TokenCredential } from "@azure/identity";
import { workloadCredential } from "../../shared/identity/workloadCredential.js";
import type { LeaseGrant, LeaseRequest } from "../../shared/domain/pool.js";
import type { Resolution, ResolutionRefusal, ResolvedMeeting } from "../../shared/domain/resolution.js";
import type { MediaHostConfig } from "../config.js";
import { CachedTokenCredential } from "../../shared/identity/cachedTokenCredential.js";

export interface JoinMeetingOptions {
  /** The epoch of this host's lease: the control plane refuses a host that no longer holds it. */
  readonly mediaHostEpoch: number;
  readonly tenantKey: string;
  readonly vtcId: string;
  readonly displayName: string;
  readonly deviceCallId: string;
  readonly mediaBlob: string;
  /** How the device dialled (for the operator's call lists). */
  readonly dialForm?: "ivr" | "direct" | "direct-by-domain";
  /** Where the device's requests come from (its own address behind the edge). */
  readonly deviceAddress?: string;
  readonly abortSignal?: AbortSignal;
}

/** What the registry answered a lease request. */
export type LeaseAnswer =
  | { readonly kind: "granted"; readonly grant: LeaseGrant }
  | { readonly kind: "refused"; readonly code: "lease-lost" | "host-id-in-use"; readonly reason: string; readonly retryAfterInMs: number };

export type JoinResult =
  | {
      readonly kind: "joined";
      /** Graph's id of the bot's call. */
      readonly callId: string;
      /** Microsoft's id of the call (support, call quality dashboard); null when Graph has not named it. */
      readonly callChainId: string | null;
      readonly joinAsGuest: boolean;
      readonly meetingSubject: string | null;
    }
  | ResolutionRefusal;

/** The control plane could not be reached or answered unexpectedly: the call fails with a 5xx, not a refusal. */
export class ControlPlaneUnavailableError extends Error {
  override readonly name = "ControlPlaneUnavailableError";
  readonly sipStatus = 503;
}

/**
 * How long a control-plane request may take. A join includes Microsoft's own call set-up,
 * which takes seconds when Teams is busy; the device meanwhile rings, and room systems
 * ring for 30 s or more before giving up (SIP's INVITE timeout is 32 s).
 */
const TIMEOUT_IN_MS = 20_000;

/** The media host's own identity: managed identity in Azure, a client secret where there is none. */
export function mediaHostCredential(config: MediaHostConfig): TokenCredential {
  return workloadCredential({
    tenantId: config.AZURE_TENANT_ID,
    clientId: config.AZURE_CLIENT_ID,
    clientSecret: config.AZURE_CLIENT_SECRET,
    authorityHost: config.AZURE_AUTHORITY_HOST,
  });
}

/**
 * What a media host asks of the control plane: which meeting a dial string leads
 * to, join it as the bot, leave it. Graph credentials never leave the control plane.
 */
export class ControlPlaneClient {
  readonly #baseUrl: string;
  readonly #scope: string;
  readonly #credential: TokenCredential;
  readonly #mediaHostId: string;

  constructor(config: Pick<MediaHostConfig, "CONTROL_PLANE_URL" | "CONTROL_PLANE_SCOPE" | "MEDIA_HOST_ID">, credential: TokenCredential) {
    this.#baseUrl = config.CONTROL_PLANE_URL;
    this.#scope = config.CONTROL_PLANE_SCOPE;
    this.#credential = new CachedTokenCredential(credential);
    this.#mediaHostId = config.MEDIA_HOST_ID;
  }

  async resolve(tenantKey: string, vtcId: string, options: { abortSignal?: AbortSignal } = {}): Promise<Resolution> {
    const query = new URLSearchParams({ tenantKey, vtcId });
    const answer = await this.#send("GET", `/v1/resolve?${query}`, undefined, options.abortSignal);
    if (answer.status === 200) return answer.body as ResolvedMeeting;
    return this.#refusalOrThrow(answer);
  }

  async join(options: JoinMeetingOptions): Promise<JoinResult> {
    const body = {
      tenantKey: options.tenantKey,
      vtcId: options.vtcId,
      displayName: options.displayName,
      mediaHostId: this.#mediaHostId,
      mediaHostEpoch: options.mediaHostEpoch,
      deviceCallId: options.deviceCallId,
      mediaBlob: options.mediaBlob,
      ...(options.dialForm ? { dialForm: options.dialForm } : {}),
      ...(options.deviceAddress ? { deviceAddress: options.deviceAddress } : {}),
    };
    const answer = await this.#send("POST", "/v1/calls", body, options.abortSignal);
    if (answer.status === 201) return answer.body as JoinResult;
    return this.#refusalOrThrow(answer);
  }

  /** The bot leaves the meeting; `endedBy` says whose the end was, for the call record (the device's BYE, or ours). */
  async leave(callId: string, reason: string, options: { abortSignal?: AbortSignal; endedBy?: "device" | "gateway" } = {}): Promise<void> {
    const answer = await this.#send(
      "DELETE",
      `/v1/calls/${encodeURIComponent(callId)}?${new URLSearchParams({ reason, by: options.endedBy ?? "device" })}`,
      undefined,
      options.abortSignal,
    );
    // 404: the control plane no longer knows the call, so there is nothing left to leave.
    if (answer.status !== 204 && answer.status !== 404)
      throw new ControlPlaneUnavailableError(`leaving call ${callId}: the control plane answered ${answer.status}`);
  }

  /** The call's media quality at its end (kept in the call record, reported to Teams once). */
  async reportQuality(callId: string, quality: CallQuality, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const answer = await this.#send("PUT", `/v1/calls/${encodeURIComponent(callId)}/quality`, { quality }, options.abortSignal);
    if (answer.status !== 200 && answer.status !== 404)
      throw new ControlPlaneUnavailableError(`reporting the quality of call ${callId}: the control plane answered ${answer.status}`);
  }

  /**
   * The bot takes (sharer) or gives up (viewer) the meeting's screen share: Teams forwards the bot's content video
   * only while it is the sharer. The same role twice changes nothing. A call the control plane no longer knows
   * (404) or that has ended (409) throws like an unreachable control plane: there is no share to take.
   */
  async changeScreenSharingRole(callId: string, role: "viewer" | "sharer", options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const answer = await this.#send("PUT", `/v1/calls/${encodeURIComponent(callId)}/screenSharingRole`, { role }, options.abortSignal);
    if (answer.status !== 200) {
      const detail = (answer.body as { detail?: string } | undefined)?.detail;
      throw new ControlPlaneUnavailableError(
        `changing the screen sharing role of call ${callId} to ${role}: the control plane answered ${answer.status}${detail ? `: ${detail}` : ""}`,
      );
    }
  }

  /** Takes (epoch null) or renews this host's lease in the pool. A refusal says what to do; an unreachable control plane throws. */
  async renewLease(request: LeaseRequest, options: { abortSignal?: AbortSignal } = {}): Promise<LeaseAnswer> {
    const answer = await this.#send("PUT", `/v1/pool/hosts/${encodeURIComponent(this.#mediaHostId)}/lease`, request, options.abortSignal);
    if (answer.status === 200) return { kind: "granted", grant: answer.body as LeaseGrant };
    const problem = answer.body as { code?: string; detail?: string } | undefined;
    if (answer.status === 409 && (problem?.code === "lease-lost" || problem?.code === "host-id-in-use")) {
      return { kind: "refused", code: problem.code, reason: problem.detail ?? problem.code, retryAfterInMs: answer.retryAfterInMs ?? 1000 };
    }
    throw new ControlPlaneUnavailableError(
      `renewing the lease: the control plane answered ${answer.status}${problem?.detail ? `: ${problem.detail}` : ""}`,
    );
  }

  /** This host leaves the pool (drained, shutting down). */
  async releaseLease(epoch: number, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const answer = await this.#send(
      "DELETE",
      `/v1/pool/hosts/${encodeURIComponent(this.#mediaHostId)}/lease?${new URLSearchParams({ epoch: String(epoch) })}`,
      undefined,
      options.abortSignal,
    );
    if (answer.status !== 204 && answer.status !== 409)
      throw new ControlPlaneUnavailableError(`leaving the pool: the control plane answered ${answer.status}`);
  }

  #refusalOrThrow(answer: { status: number; body: unknown }): ResolutionRefusal {
    const problem = answer.body as { code?: string; detail?: string; sipStatus?: number } | undefined;
    if ((answer.status === 403 || answer.status === 404) && problem?.code && typeof problem.detail === "string") {
      return { kind: "refused", code: problem.code as ResolutionRefusal["code"], reason: problem.detail, sipStatus: answer.status };
    }
    throw new ControlPlaneUnavailableError(`the control plane answered ${answer.status}${problem?.detail ? `: ${problem.detail}` : ""}`);
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    abortSignal: AbortSignal | undefined,
  ): Promise<{ status: number; body: unknown; retryAfterInMs: number | undefined }> {
    let response: Response;
    try {
      const token = await this.#credential.getToken(this.#scope, abortSignal ? { abortSignal } : {});
      if (!token) throw new Error("no token for the control plane");
      const signal = abortSignal ? AbortSignal.any([abortSignal, AbortSignal.timeout(TIMEOUT_IN_MS)]) : AbortSignal.timeout(TIMEOUT_IN_MS);
      response = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal,
      });
    } catch (e) {
      throw new ControlPlaneUnavailableError(`the control plane could not be reached: ${(e as Error).message}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const retryAfter = Number(response.headers.get("retry-after"));
    return { status: response.status, body: parsed, retryAfterInMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined };
  }
}
