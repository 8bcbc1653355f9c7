import { randomBytes, randomInt, randomUUID } from "node:crypto";
import type { CallState, Modality, ResultInfo } from "@microsoft/microsoft-graph-types";
import { escapeHtml } from "./graphHttp.js";

/**
 * The emulator's state and the JSON it shows for it. Property names and @odata.type
 * values follow the Graph v1.0 reference (checked against @microsoft/microsoft-graph-types);
 * the builders return plain objects so the wire shape is visible in one place.
 */

export type LobbyScope = "organizer" | "organization" | "organizationAndFederated" | "everyone" | "invited" | "organizationExcludingGuests";
export const LOBBY_SCOPES: readonly LobbyScope[] = [
  "organizer",
  "organization",
  "organizationAndFederated",
  "everyone",
  "invited",
  "organizationExcludingGuests",
];

export interface EmulatedUser {
  readonly id: string;
  readonly displayName: string;
  readonly userPrincipalName: string;
  readonly mail: string | null;
}

export interface HumanParticipant {
  readonly id: string;
  readonly displayName: string;
  /** Set when the human is a user of the meeting's tenant; otherwise they show as a guest. */
  readonly userId: string | null;
  readonly isMuted: boolean;
  readonly sourceIds: readonly string[];
  rosterSequenceNumber: number;
}

export interface MeetingState {
  readonly id: string;
  readonly tenantId: string;
  readonly organizer: EmulatedUser;
  readonly threadId: string;
  readonly joinWebUrl: string;
  readonly creationDateTime: string;
  readonly joinMeetingId: string;
  readonly passcode: string;
  subject: string | null;
  startDateTime: string;
  endDateTime: string;
  videoTeleconferenceId: string | null;
  lobbyScope: LobbyScope;
  isDialInBypassEnabled: boolean;
  eventId: string | null;
  /** The organizer cancelled or deleted the calendar event: the meeting can no longer be found or joined. */
  cancelled: boolean;
  humans: HumanParticipant[];
  rosterSequence: number;
  nextSourceId: number;
  /** The participant (a person's id, or a bot's myParticipantId) whose screen share the meeting shows; at most one, the last to start. */
  screenSharer: string | null;
}

export type RosterPlace = "none" | "lobby" | "joined";

export interface CallRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly appId: string;
  readonly meetingId: string;
  readonly callbackUri: string;
  readonly myParticipantId: string;
  readonly callChainId: string;
  readonly createdDateTime: string;
  readonly identity: { readonly kind: "application" | "guest"; readonly id: string; readonly displayName: string };
  /** Guest joins and app joins differ in who waits in the lobby. */
  readonly joinedAsGuest: boolean;
  readonly requestedModalities: readonly Modality[];
  readonly mediaConfig: Record<string, unknown>;
  readonly chatInfo: Record<string, unknown> | null;
  readonly meetingInfo: Record<string, unknown>;
  readonly requestTenantId: string | null;
  readonly sourceIds: readonly string[];
  state: CallState;
  roster: RosterPlace;
  rosterSequenceNumber: number;
  resultInfo: ResultInfo | null;
  /** Virtual-clock milliseconds. */
  lastKeepAlive: number;
  lobbyDeadline: number | null;
}

export interface EventRecord {
  readonly tenantId: string;
  readonly userId: string;
  data: Record<string, unknown>;
  changeKey: string;
  meetingId: string | null;
}

export interface VideoInteropProvider {
  /** What the invite shows to dial, e.g. "813878896@t.plcm.vc" (the tenant key). */
  readonly tenantKey: string;
  /** Shown as "Alternate VTC instructions"; `{ConfId}` is replaced by the meeting's VTC id. */
  readonly instructionUri?: string;
  /** Bots whose guest joins count as authenticated (`-AllowAppGuestJoinsAsAuthenticated` with `-AadApplicationIds`). */
  readonly aadApplicationIds?: readonly string[];
  readonly allowAppGuestJoinsAsAuthenticated?: boolean;
  /** Organizers with the CVI policy: their new meetings get a videoTeleconferenceId. Default: every organizer. */
  readonly enabledOrganizerIds?: readonly string[];
}

// ---------------------------------------------------------------- ids

export const newGuid = (): string => randomUUID();

export function digits(count: number): string {
  let out = String(randomInt(1, 10));
  while (out.length < count) out += String(randomInt(0, 10));
  return out;
}

/** Teams thread ids look like `19:meeting_<base64 of a GUID>@thread.v2`. */
export function newMeetingThreadId(): string {
  return `19:meeting_${Buffer.from(randomUUID()).toString("base64").replace(/=+$/, "")}@thread.v2`;
}

/** onlineMeeting ids are base64 of `1*{organizerId}*0**{threadId}` (they start with "MSo"). */
export function onlineMeetingId(organizerId: string, threadId: string): string {
  return Buffer.from(`1*${organizerId}*0**${threadId}`).toString("base64");
}

export function joinWebUrl(threadId: string, tenantId: string, organizerId: string): string {
  const context = encodeURIComponent(JSON.stringify({ Tid: tenantId, Oid: organizerId })).toLowerCase();
  return `https://teams.microsoft.com/l/meetup-join/${encodeURIComponent(threadId).replace(/%3A/g, "%3a").replace(/%40/g, "%40")}/0?context=${context}`;
}

/** Outlook item ids are long base64url strings; some end in "=", which clients must encode in paths. */
export const newOutlookId = (): string => `AAMkA${randomBytes(66).toString("base64url")}=`;
export const newChangeKey = (): string => randomBytes(21).toString("base64");
export const newPasscode = (): string => randomBytes(6).toString("base64url").replace(/[-_]/g, "x").slice(0, 6);

/** "1127180739" → "112 718 073 9", the grouping invites use. */
export const groupDigits = (value: string): string => value.replace(/(\d{3})(?=\d)/g, "$1 ");

// ---------------------------------------------------------------- dates

/** Graph answers dateTimeTimeZone in UTC with seven fractional digits: "2026-03-01T10:00:00.0000000". */
export function normalizeDateTimeTimeZone(value: unknown): { dateTime: string; timeZone: string } | null {
  if (typeof value !== "object" || value === null) return null;
  const { dateTime, timeZone } = value as { dateTime?: unknown; timeZone?: unknown };
  if (typeof dateTime !== "string") return null;
  const zone = typeof timeZone === "string" && timeZone ? timeZone : "UTC";
  if (/^(utc|etc\/utc|gmt|z)$/i.test(zone) || /(z|[+-]\d\d:\d\d)$/i.test(dateTime)) {
    const hasOffset = /(z|[+-]\d\d:\d\d)$/i.test(dateTime);
    const ms = Date.parse(hasOffset ? dateTime : `${dateTime}Z`);
    if (Number.isNaN(ms)) return null;
    return { dateTime: new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$10000"), timeZone: "UTC" };
  }
  // Windows zone names ("Pacific Standard Time") are kept as given: the emulator does not convert them.
  if (Number.isNaN(Date.parse(`${dateTime.slice(0, 19)}Z`))) return null;
  return { dateTime, timeZone: zone };
}

export function dateTimeTimeZoneToIso(value: { dateTime: string; timeZone: string }): string {
  const ms = Date.parse(/(z|[+-]\d\d:\d\d)$/i.test(value.dateTime) ? value.dateTime : `${value.dateTime.slice(0, 23)}Z`);
  return new Date(Number.isNaN(ms) ? 0 : ms).toISOString();
}

// ---------------------------------------------------------------- online meetings

export function meetingJson(meeting: MeetingState): Record<string, unknown> {
  return {
    id: meeting.id,
    creationDateTime: meeting.creationDateTime,
    startDateTime: meeting.startDateTime,
    endDateTime: meeting.endDateTime,
    joinUrl: meeting.joinWebUrl,
    joinWebUrl: meeting.joinWebUrl,
    meetingCode: null,
    subject: meeting.subject,
    isBroadcast: false,
    autoAdmittedUsers: "everyoneInCompany",
    outerMeetingAutoAdmittedUsers: null,
    isEntryExitAnnounced: true,
    allowedPresenters: "everyone",
    allowMeetingChat: "enabled",
    shareMeetingChatHistoryDefault: "none",
    allowTeamworkReactions: true,
    allowAttendeeToEnableMic: true,
    allowAttendeeToEnableCamera: true,
    recordAutomatically: false,
    allowParticipantsToChangeName: false,
    allowRecording: true,
    allowTranscription: true,
    isEndToEndEncryptionEnabled: false,
    videoTeleconferenceId: meeting.videoTeleconferenceId,
    externalId: null,
    broadcastSettings: null,
    audioConferencing: null,
    meetingInfo: null,
    chatRestrictions: null,
    watermarkProtection: null,
    participants: {
      organizer: {
        upn: meeting.organizer.userPrincipalName,
        role: "presenter",
        identity: { user: { id: meeting.organizer.id, displayName: null, tenantId: meeting.tenantId, identityProvider: "AAD" } },
      },
      attendees: [],
      producers: [],
      contributors: [],
    },
    lobbyBypassSettings: { scope: meeting.lobbyScope, isDialInBypassEnabled: meeting.isDialInBypassEnabled },
    joinMeetingIdSettings: { isPasscodeRequired: true, joinMeetingId: meeting.joinMeetingId, passcode: meeting.passcode },
    chatInfo: { threadId: meeting.threadId, messageId: "0", replyChainMessageId: null },
    joinInformation: { content: `data:text/html,${encodeURIComponent(teamsInviteHtml(meeting, null)).replace(/%20/g, "+")}`, contentType: "html" },
  };
}

/**
 * The "Microsoft Teams meeting" block Outlook appends to a Teams event body, with the
 * "Join with a video conferencing device" part when the tenant has a CVI provider and
 * the meeting a VTC id (the layout products parse to find the VTC conference id).
 */
export function teamsInviteHtml(meeting: MeetingState, provider: VideoInteropProvider | null): string {
  const text = (s: string) => escapeHtml(s);
  const vtc =
    provider && meeting.videoTeleconferenceId
      ? [
          '<div style="margin-bottom:4px;margin-top:20px"><span style="font-size:14px;font-weight:600;color:#242424">Join with a video conferencing device</span></div>',
          `<div style="font-size:14px;color:#242424">${text(provider.tenantKey)} <span>Video Conference ID: ${text(groupDigits(meeting.videoTeleconferenceId))}</span></div>`,
          provider.instructionUri
            ? `<div style="font-size:14px;margin-bottom:20px"><a href="${text(provider.instructionUri.replace(/\{ConfId\}/g, meeting.videoTeleconferenceId))}" style="color:#5B5FC7" target="_blank" rel="noreferrer noopener">Alternate VTC instructions</a></div>`
            : "",
        ].join("\n")
      : "";
  const options = `https://teams.microsoft.com/meetingOptions/?organizerId=${meeting.organizer.id}&tenantId=${meeting.tenantId}&threadId=${encodeURIComponent(meeting.threadId.replace(/^19:/, "19_"))}&messageId=0&language=en-US`;
  return [
    '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">________________________________________________________________________________</span></div>',
    '<div class="me-email-text" lang="en-US" style="color:#242424;font-family:\'Segoe UI\',\'Helvetica Neue\',Helvetica,Arial,sans-serif">',
    '<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">Microsoft Teams meeting</span></div>',
    '<div style="margin-bottom:20px"><div style="margin-top:0px;margin-bottom:0px;font-weight:bold"><span style="font-size:14px;color:#252424">Join on your computer, mobile app or room device</span></div>',
    `<a class="me-email-headline" href="${text(meeting.joinWebUrl)}" target="_blank" rel="noreferrer noopener" style="font-size:14px;text-decoration:underline;color:#5B5FC7">Click here to join the meeting</a></div>`,
    `<div style="margin-bottom:20px;margin-top:20px"><div style="margin-bottom:4px"><span style="font-size:14px;color:#616161">Meeting ID: </span><span style="font-size:14px;color:#242424">${text(groupDigits(meeting.joinMeetingId))}</span></div>`,
    `<div style="margin-bottom:4px"><span style="font-size:14px;color:#616161">Passcode: </span><span style="font-size:14px;color:#242424">${text(meeting.passcode)}</span></div></div>`,
    vtc,
    '<div style="margin-bottom:24px;max-width:532px"><hr style="border:0;background:#D1D1D1;height:1px"></div>',
    `<div><a href="https://aka.ms/JoinTeamsMeeting?omkt=en-US" target="_blank" rel="noreferrer noopener" style="font-size:12px;color:#5B5FC7">Learn More</a> | <a href="${text(options)}" target="_blank" rel="noreferrer noopener" style="font-size:12px;color:#5B5FC7">Meeting options</a></div>`,
    "</div>",
    '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">________________________________________________________________________________</span></div>',
  ]
    .filter(Boolean)
    .join("\n");
}

// ---------------------------------------------------------------- events

export function bodyPreview(content: string, contentType: string): string {
  const plain = contentType === "html" ? content.replace(/<style[\s\S]*?<\/style>/gi, " ").replace(/<[^>]+>/g, " ") : content;
  return plain
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 255);
}

export function newEventData(id: string, organizer: EmulatedUser, now: string): Record<string, unknown> {
  const iCalUId = `040000008200E00074C5B7101A82E00800000000${randomBytes(28).toString("hex").toUpperCase()}`;
  return {
    id,
    createdDateTime: now,
    lastModifiedDateTime: now,
    categories: [],
    transactionId: null,
    originalStartTimeZone: "UTC",
    originalEndTimeZone: "UTC",
    iCalUId,
    uid: iCalUId,
    reminderMinutesBeforeStart: 15,
    isReminderOn: true,
    hasAttachments: false,
    subject: "",
    bodyPreview: "",
    importance: "normal",
    sensitivity: "normal",
    isAllDay: false,
    isCancelled: false,
    isOrganizer: true,
    responseRequested: true,
    seriesMasterId: null,
    showAs: "busy",
    type: "singleInstance",
    webLink: `https://outlook.office365.com/owa/?itemid=${encodeURIComponent(id)}&exvsurl=1&path=/calendar/item`,
    onlineMeetingUrl: null,
    isOnlineMeeting: false,
    onlineMeetingProvider: "unknown",
    allowNewTimeProposals: true,
    occurrenceId: null,
    isDraft: false,
    hideAttendees: false,
    responseStatus: { response: "organizer", time: "0001-01-01T00:00:00Z" },
    body: { contentType: "html", content: "" },
    start: null,
    end: null,
    location: { displayName: "", locationType: "default", uniqueIdType: "unknown", address: {}, coordinates: {} },
    locations: [],
    recurrence: null,
    attendees: [],
    organizer: { emailAddress: { name: organizer.displayName, address: organizer.mail ?? organizer.userPrincipalName } },
    onlineMeeting: null,
  };
}

export function eventJson(event: EventRecord): Record<string, unknown> {
  return { "@odata.etag": `W/"${event.changeKey}"`, ...event.data, changeKey: event.changeKey };
}

// ---------------------------------------------------------------- calls and participants

function identitySet(kind: "user" | "application" | "guest", id: string, displayName: string | null, tenantId?: string): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.identitySet",
    [kind]: { "@odata.type": "#microsoft.graph.identity", displayName, id, ...(tenantId ? { tenantId } : {}) },
  };
}

/** A participant's streams; its screen-sharing stream sends only while it is the meeting's sharer, else it only receives. */
function mediaStreams(modalities: readonly string[], sourceIds: readonly string[], sharing: boolean): Record<string, unknown>[] {
  return modalities.map((mediaType, i) => ({
    "@odata.type": "#microsoft.graph.mediaStream",
    mediaType,
    label: null,
    sourceId: sourceIds[i] ?? String(i + 1),
    direction: mediaType === "videoBasedScreenSharing" ? (sharing ? "sendOnly" : "receiveOnly") : "sendReceive",
    serverMuted: false,
  }));
}

export function botParticipantJson(call: CallRecord, sharing = false): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.participant",
    id: call.myParticipantId,
    info: {
      "@odata.type": "#microsoft.graph.participantInfo",
      identity: identitySet(
        call.identity.kind,
        call.identity.id,
        call.identity.displayName,
        call.identity.kind === "application" ? undefined : call.tenantId,
      ),
      endpointType: null,
      languageId: null,
      region: null,
    },
    mediaStreams: mediaStreams(call.requestedModalities, call.sourceIds, sharing),
    isInLobby: call.roster === "lobby",
    isMuted: false,
    metadata: null,
    recordingInfo: null,
    rosterSequenceNumber: call.rosterSequenceNumber,
  };
}

export function humanParticipantJson(human: HumanParticipant, tenantId: string, sharing = false): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.participant",
    id: human.id,
    info: {
      "@odata.type": "#microsoft.graph.participantInfo",
      identity: human.userId
        ? identitySet("user", human.userId, human.displayName, tenantId)
        : identitySet("guest", `guest:${human.id}`, human.displayName),
      endpointType: "default",
      languageId: "en-US",
      region: "europe",
    },
    mediaStreams: mediaStreams(["audio", "video", "videoBasedScreenSharing"], human.sourceIds, sharing),
    isInLobby: false,
    isMuted: human.isMuted,
    metadata: null,
    recordingInfo: null,
    rosterSequenceNumber: human.rosterSequenceNumber,
  };
}

export function callJson(call: CallRecord): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.call",
    id: call.id,
    state: call.state,
    direction: "outgoing",
    callbackUri: call.callbackUri,
    callChainId: call.callChainId,
    callRoutes: [],
    source: {
      "@odata.type": "#microsoft.graph.participantInfo",
      identity: identitySet(call.identity.kind, call.identity.id, call.identity.displayName),
      countryCode: null,
      endpointType: null,
      region: null,
      languageId: null,
    },
    targets: [],
    requestedModalities: [...call.requestedModalities],
    activeModalities: call.state === "established" ? [...call.requestedModalities] : [],
    mediaConfig: call.mediaConfig,
    chatInfo: call.chatInfo ? { "@odata.type": "#microsoft.graph.chatInfo", replyChainMessageId: null, ...call.chatInfo } : null,
    meetingInfo: call.meetingInfo,
    tenantId: call.requestTenantId ?? call.tenantId,
    myParticipantId: call.myParticipantId,
    resultInfo: call.resultInfo ? { "@odata.type": "#microsoft.graph.resultInfo", ...call.resultInfo } : null,
    subject: null,
    toneInfo: null,
    transcription: null,
    mediaState: null,
    answeredBy: null,
    ringingTimeoutInSeconds: null,
    routingPolicies: [],
    terminationReason: null,
    meetingCapability: null,
    incomingContext: null,
  };
}
