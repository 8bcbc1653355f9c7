import { integerOption, stringOption } from "../args.js";
import type { CallHistoryFilters, CallRecord, CallSummary, MediaStreamQuality } from "../apiTypes.js";
import { UsageError } from "../errors.js";
import { type Cell, clean, formatList, formatTable, relative, span } from "../format.js";
import type { GroupSpec, PositionalSpec } from "../spec.js";
import { printJson } from "./common.js";

const CALL_ID: PositionalSpec = {
  name: "callId",
  required: true,
  description: "The call's id (Graph's id of the bot's call), as `cvi calls list` or `cvi calls history` shows it",
};

const HISTORY_LIMIT_DEFAULT = 50;

/** An ISO time without its milliseconds, for tables. */
const seconds = (iso: string | null) => (iso ? iso.replace(/\.\d+Z$/, "Z") : "");

const meeting = (c: Pick<CallSummary, "meetingSubject" | "vtcId">) => (c.meetingSubject ? `${c.meetingSubject} (${c.vtcId})` : c.vtcId);

/** How long from one phase to the next, if both happened. */
const between = (from: string | null, to: string | null) => (from && to ? span(Date.parse(to) - Date.parse(from)) : "");

function liveTable(calls: readonly CallSummary[], now: Date): string {
  return formatTable(calls, [
    ["CallId", (c) => c.callId],
    ["Tenant", (c) => c.tenantId],
    ["Meeting", meeting],
    ["Device", (c) => c.displayName],
    ["Address", (c) => c.deviceAddress],
    ["Dialed", (c) => c.dialForm],
    ["Host", (c) => c.mediaHostId],
    ["State", (c) => (c.inLobby ? "in lobby" : c.state)],
    ["Since", (c) => `${seconds(c.createdAt)} (${relative(c.createdAt, now)})`],
  ]);
}

function historyTable(calls: readonly CallSummary[]): string {
  return formatTable(calls, [
    ["CallId", (c) => c.callId],
    ["Tenant", (c) => c.tenantId],
    ["Device", (c) => c.displayName],
    ["Started", (c) => seconds(c.createdAt)],
    ["Lasted", (c) => between(c.createdAt, c.endedAt)],
    ["Outcome", (c) => c.outcome],
    ["EndedBy", (c) => c.endedBy],
    ["Reason", (c) => c.endReason],
  ]);
}

const lossPercent = (s: MediaStreamQuality) => {
  const expected = s.packetsReceived + s.packetsLost;
  return expected > 0 ? `${((100 * s.packetsLost) / expected).toFixed(2)}%` : "";
};

function qualityTable(quality: NonNullable<CallRecord["quality"]>): string {
  const rows = [...quality.deviceLeg.map((s) => ["device", s] as const), ...quality.meetingLeg.map((s) => ["meeting", s] as const)];
  return formatTable(rows, [
    ["Leg", ([leg]) => leg],
    ["Kind", ([, s]) => s.kind],
    ["Sent", ([, s]) => s.packetsSent],
    ["Received", ([, s]) => s.packetsReceived],
    ["Lost", ([, s]) => s.packetsLost],
    ["Loss", ([, s]) => lossPercent(s)],
    ["JitterMs", ([, s]) => s.jitterMs],
    ["RoundTripMs", ([, s]) => s.roundTripMs],
  ]);
}

function callText(call: CallRecord, now: Date): string {
  const entries: (readonly [string, Cell])[] = [
    ["CallId", call.callId],
    ["CallChainId", call.callChainId],
    ["Tenant", call.tenantId],
    ["Meeting", call.meetingSubject],
    ["MeetingId", call.meetingId],
    ["VtcId", call.vtcId],
    ["Device", call.displayName],
    ["DeviceAddress", call.deviceAddress],
    ["DialForm", call.dialForm],
    ["DeviceCallId", call.deviceCallId],
    ["MediaHost", `${call.mediaHostId} (epoch ${call.mediaHostEpoch})`],
    ["JoinedAs", call.joinAsGuest ? "guest" : "the app (authenticated)"],
    ["State", call.state],
    ["Created", `${seconds(call.createdAt)} (${relative(call.createdAt, now)})`],
    ...(call.lobbyAt ? [["Lobby", `${seconds(call.lobbyAt)} (+${between(call.createdAt, call.lobbyAt)})`] as const] : []),
    ["Established", call.establishedAt ? `${seconds(call.establishedAt)} (+${between(call.createdAt, call.establishedAt)})` : "never"],
    ["Ended", call.endedAt ? `${seconds(call.endedAt)} (+${between(call.createdAt, call.endedAt)})` : "live"],
    ["EndedBy", call.endedBy],
    ["EndReason", call.endReason],
    ["InMeeting", call.participants.filter((p) => !p.left).map((p) => p.displayName)],
  ];
  const quality = call.quality
    ? `\nQuality (measured by the media host at the end; no bitrate or resolution is measured):\n${qualityTable(call.quality)}`
    : call.endedAt
      ? "\nQuality: none recorded (no media carried, or the media host did not report).\n"
      : "\nQuality: recorded when the call ends.\n";
  return formatList(entries) + quality;
}

export const callCommands: GroupSpec = {
  name: "calls",
  summary: "Live calls and call history; one call's phases and quality; hang up a call",
  commands: [
    {
      name: "list",
      summary: "List live calls: tenant, meeting, device, how it dialed, host, state, since when",
      description:
        "Lists every call that has not ended, newest first: its tenant, the meeting (subject and conference ID), the device's name and " +
        "address, how it dialed (ivr, direct, direct-by-domain; empty when its media host did not say), the media host carrying it, " +
        "its state (establishing, in lobby, established) and since when.",
      options: { tenant: { type: "string", placeholder: "TENANT", description: "Only this tenant's calls (a tenant id)" } },
      notes: ["With --json: the API's answer (value: the calls)."],
      examples: ["cvi calls list", "cvi calls list --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47"],
      async run(context) {
        const calls = await context.client().listLiveCalls(stringOption(context.options, "tenant"));
        if (context.json) printJson(context, { value: calls });
        else context.out.stdout(calls.length === 0 ? "No live calls.\n" : liveTable(calls, context.now()));
      },
    },
    {
      name: "history",
      summary: "List ended calls, newest first, with filters",
      description:
        "Lists calls that have ended, newest first, by when they started: by default those of the last 24 hours; the window --from..--to " +
        "may be at most 31 days. Follows the API's pages until --limit calls.",
      options: {
        tenant: { type: "string", placeholder: "TENANT", description: "Only this tenant's calls (a tenant id)" },
        from: { type: "string", placeholder: "ISO", description: "Calls that started at or after this time, e.g. 2030-06-01T00:00:00Z" },
        to: { type: "string", placeholder: "ISO", description: "Calls that started before this time (default: now)" },
        outcome: { type: "string", placeholder: "OUTCOME", description: "connected (was in the meeting) or not-connected (ended before)" },
        reason: { type: "string", placeholder: "TEXT", description: "The end reason, exactly as recorded" },
        limit: { type: "string", placeholder: "N", description: `At most N calls (default ${HISTORY_LIMIT_DEFAULT})` },
      },
      notes: [
        "EndedBy: device (it hung up), meeting (Teams ended the bot's call), gateway (the media host ended it), operator (cvi calls hangup).",
        "With --json: the calls (value), and the continuation token when more match than --limit.",
      ],
      examples: [
        "cvi calls history",
        "cvi calls history --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --from 2030-06-01T00:00:00Z --to 2030-06-08T00:00:00Z",
        "cvi calls history --outcome not-connected --limit 200",
      ],
      async run(context) {
        const limit = integerOption(context.options, "limit", context.commandLine) ?? HISTORY_LIMIT_DEFAULT;
        if (limit < 1) throw new UsageError("option --limit must be at least 1", context.commandLine);
        const filters: CallHistoryFilters = Object.fromEntries(
          (["tenant", "from", "to", "outcome", "reason"] as const)
            .map((name) => [name, stringOption(context.options, name)] as const)
            .filter(([, value]) => value !== undefined),
        );
        const history = await context.client().callHistory(filters, limit);
        if (context.json) {
          printJson(context, history);
          return;
        }
        context.out.stdout(history.value.length === 0 ? "No ended calls match.\n" : historyTable(history.value));
        if (history.continuationToken) context.out.stdout(`More calls match: raise --limit (it was ${limit}) or narrow the window.\n`);
      },
    },
    {
      name: "show",
      summary: "Show one call: its phases, who ended it and why, each leg's quality",
      options: {},
      positionals: [CALL_ID],
      notes: [
        "Quality, per leg and stream: packets each way, loss and jitter of what was received, round trip (device leg: rtpengine from the device's RTCP; meeting leg: the WebRTC stack).",
        "With --json: the call record as the API answers.",
      ],
      examples: ["cvi calls show 491f0b00-1234-4abc-9def-0123456789ab"],
      async run(context) {
        const call = await context.client().getCall(context.positionals[0] ?? "");
        if (context.json) printJson(context, call);
        else context.out.stdout(callText(call, context.now()));
      },
    },
    {
      name: "hangup",
      summary: "Hang up a live call: the device gets a BYE, the bot leaves the meeting",
      description:
        "Ends a live call for good: its media host sends the device a BYE (Reason: an operator hung up the call), the bot leaves the " +
        "meeting, and the record ends by operator. A call that has ended already is a conflict (exit 5) naming when, by whom and why.",
      options: {},
      positionals: [CALL_ID],
      notes: ["With --json: the ended call record."],
      examples: ["cvi calls hangup 491f0b00-1234-4abc-9def-0123456789ab"],
      async run(context) {
        const call = await context.client().hangUpCall(context.positionals[0] ?? "");
        if (context.json) printJson(context, call);
        else
          context.out.stdout(
            `Call ${clean(call.callId)} (${clean(call.displayName)}) is hung up: its device gets a BYE, the bot has left the meeting.\n`,
          );
      },
    },
  ],
};
