import type { OnlineMeeting } from "@microsoft/microsoft-graph-types";
import type { OnlineMeetingInfo } from "../../../shared/domain/meeting.js";
import type { MeetingDirectory } from "../../ports.js";
import { graphFailure, type TenantGraphClients } from "./tenantGraphClients.js";

// OData string literals double their single quotes.
const odataString = (value: string) => `'${value.replaceAll("'", "''")}'`;

export function toOnlineMeetingInfo(meeting: OnlineMeeting): OnlineMeetingInfo | undefined {
  const organizerId = meeting.participants?.organizer?.identity?.user?.id;
  const chat = meeting.chatInfo;
  if (!meeting.id || !meeting.joinWebUrl || !organizerId || !chat?.threadId) return undefined;
  return {
    id: meeting.id,
    joinWebUrl: meeting.joinWebUrl,
    videoTeleconferenceId: meeting.videoTeleconferenceId ?? null,
    organizerId,
    subject: meeting.subject ?? null,
    chatInfo: { threadId: chat.threadId, messageId: chat.messageId ?? "0", replyChainMessageId: chat.replyChainMessageId ?? null },
  };
}

export class GraphMeetingDirectory implements MeetingDirectory {
  readonly #clients: TenantGraphClients;

  constructor(clients: TenantGraphClients) {
    this.#clients = clients;
  }

  async findByVideoTeleconferenceId(tenantId: string, vtcId: string): Promise<OnlineMeetingInfo | undefined> {
    return this.#first(tenantId, "/communications/onlineMeetings", `VideoTeleconferenceId eq ${odataString(vtcId)}`, `VTC ID ${vtcId}`);
  }

  async findByJoinWebUrl(tenantId: string, organizerId: string, joinWebUrl: string): Promise<OnlineMeetingInfo | undefined> {
    return this.#first(
      tenantId,
      `/users/${encodeURIComponent(organizerId)}/onlineMeetings`,
      `JoinWebUrl eq ${odataString(joinWebUrl)}`,
      "meeting by join URL",
    );
  }

  async #first(tenantId: string, path: string, filter: string, what: string): Promise<OnlineMeetingInfo | undefined> {
    try {
      const page = (await this.#clients.client(tenantId).api(path).filter(filter).get()) as { value?: OnlineMeeting[] };
      const meeting = page.value?.[0];
      return meeting ? toOnlineMeetingInfo(meeting) : undefined;
    } catch (e) {
      throw graphFailure(e, what);
    }
  }
}
