import { randomUUID } from "node:crypto";
import type { Call } from "@microsoft/microsoft-graph-types";
import { readCallChainId } from "../../../shared/domain/callSession.js";
import type { CallControl, JoinedCall, JoinMeetingRequest, ScreenSharingRole } from "../../ports.js";
import { graphFailure, isGraphNotFound, type TenantGraphClients } from "./tenantGraphClients.js";

/** Joins Teams meetings as the bot with application-hosted media, one call per room system. */
export class GraphCallControl implements CallControl {
  readonly #clients: TenantGraphClients;
  readonly #botAppId: string;

  constructor(clients: TenantGraphClients, botAppId: string) {
    this.#clients = clients;
    this.#botAppId = botAppId;
  }

  async join(request: JoinMeetingRequest): Promise<JoinedCall> {
    const { meeting } = request;
    // A guest shows under the device's name with a guest identity; an app join shows the
    // device's name on the bot's application identity (authenticated: lobby rules for the tenant apply).
    const identity = request.joinAsGuest
      ? { guest: { "@odata.type": "#microsoft.graph.identity", displayName: request.displayName, id: randomUUID() } }
      : { application: { "@odata.type": "#microsoft.graph.identity", displayName: request.displayName, id: this.#botAppId } };
    const body = {
      "@odata.type": "#microsoft.graph.call",
      callbackUri: request.callbackUri,
      requestedModalities: ["audio", "video", "videoBasedScreenSharing"],
      mediaConfig: { "@odata.type": "#microsoft.graph.appHostedMediaConfig", blob: request.mediaBlob },
      chatInfo: {
        "@odata.type": "#microsoft.graph.chatInfo",
        threadId: meeting.chatInfo.threadId,
        messageId: meeting.chatInfo.messageId,
        ...(meeting.chatInfo.replyChainMessageId ? { replyChainMessageId: meeting.chatInfo.replyChainMessageId } : {}),
      },
      meetingInfo: {
        "@odata.type": "#microsoft.graph.organizerMeetingInfo",
        organizer: {
          "@odata.type": "#microsoft.graph.identitySet",
          user: { "@odata.type": "#microsoft.graph.identity", id: meeting.organizerId, tenantId: request.tenantId },
        },
        allowConversationWithoutHost: true,
      },
      source: { "@odata.type": "#microsoft.graph.participantInfo", identity: { "@odata.type": "#microsoft.graph.identitySet", ...identity } },
      tenantId: request.tenantId,
    };
    try {
      const call = (await this.#clients.client(request.tenantId).api("/communications/calls").post(body)) as Call;
      if (!call.id) throw new Error("Microsoft Graph created a call without an id");
      return { callId: call.id, myParticipantId: call.myParticipantId ?? null, callChainId: readCallChainId(call.callChainId) };
    } catch (e) {
      throw graphFailure(e, "join");
    }
  }

  async leave(tenantId: string, callId: string): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/communications/calls/${encodeURIComponent(callId)}`)
        .delete();
    } catch (e) {
      if (!isGraphNotFound(e)) throw graphFailure(e, `leave call ${callId}`);
    }
  }

  async getCall(tenantId: string, callId: string): Promise<{ call: unknown; participants: unknown[] } | undefined> {
    const client = this.#clients.client(tenantId);
    try {
      const [call, participants] = await Promise.all([
        client.api(`/communications/calls/${encodeURIComponent(callId)}`).get(),
        client.api(`/communications/calls/${encodeURIComponent(callId)}/participants`).get() as Promise<{ value?: unknown[] }>,
      ]);
      return { call, participants: participants.value ?? [] };
    } catch (e) {
      if (isGraphNotFound(e)) return undefined;
      throw graphFailure(e, `call ${callId}`);
    }
  }

  async logDeviceQuality(tenantId: string, body: Record<string, unknown>): Promise<void> {
    try {
      await this.#clients.client(tenantId).api("/communications/calls/logTeleconferenceDeviceQuality").post(body);
    } catch (e) {
      throw graphFailure(e, "log the device's media quality");
    }
  }

  async changeScreenSharingRole(tenantId: string, callId: string, role: ScreenSharingRole): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/communications/calls/${encodeURIComponent(callId)}/changeScreenSharingRole`)
        .post({ role });
    } catch (e) {
      throw graphFailure(e, `change the screen sharing role of call ${callId} to ${role}`);
    }
  }

  async keepAlive(tenantId: string, callId: string): Promise<void> {
    try {
      await this.#clients
        .client(tenantId)
        .api(`/communications/calls/${encodeURIComponent(callId)}/keepAlive`)
        .post({});
    } catch (e) {
      throw graphFailure(e, `keep call ${callId} alive`);
    }
  }
}
