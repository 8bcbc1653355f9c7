import { integerOption, stringOption } from "../args.js";
import type { DrainRequest, MediaHost } from "../apiTypes.js";
import { UsageError } from "../errors.js";
import { clean, relative } from "../format.js";
import type { CommandContext, GroupSpec, PositionalSpec } from "../spec.js";
import { hostList, hostTable, leaseText, printJson } from "./common.js";

const HOST_ID: PositionalSpec = {
  name: "hostId",
  required: true,
  description: "The media host's id (its MEDIA_HOST_ID), as `cvi host list` shows it",
};

const STATUSES =
  "Status: active (takes calls); draining (no new calls, its calls go on until they end or the deadline); " +
  "unresponsive (its lease lapsed: it is being declared dead); dead (its calls were ended for it; it comes back by registering " +
  "again, as a new epoch). Dead hosts stay listed for a day.";

/** An ISO 8601 date-time with its time zone (Z or ±hh:mm), as the ECMAScript date-time format has it. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** --deadline as the API takes it (UTC); a date-time without a time zone, or no real date, is a usage error. */
function parseDeadline(value: string, commandLine: string): string {
  const text = value.trim();
  const match = ISO_DATE_TIME.exec(text);
  if (match) {
    const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] = match
      .slice(1)
      .map((part) => Number(part ?? 0));
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const real =
      month >= 1 &&
      month <= 12 &&
      day >= 1 &&
      day <= daysInMonth &&
      hour <= 23 &&
      minute <= 59 &&
      second <= 59 &&
      offsetHours <= 23 &&
      offsetMinutes <= 59;
    if (real) return new Date(text).toISOString();
  }
  throw new UsageError(
    `option --deadline takes an ISO 8601 date-time with its time zone, e.g. 2030-06-01T18:00:00Z or 2030-06-01T20:00+02:00, not '${clean(value)}'`,
    commandLine,
  );
}

function drainRequest(context: CommandContext): DrainRequest {
  const deadline = stringOption(context.options, "deadline");
  const minutes = integerOption(context.options, "in-minutes", context.commandLine);
  if (deadline !== undefined && minutes !== undefined) throw new UsageError("give --deadline or --in-minutes, not both", context.commandLine);
  if (minutes !== undefined) {
    if (minutes < 0) throw new UsageError("option --in-minutes must be 0 or more", context.commandLine);
    return { deadlineInMinutes: minutes };
  }
  return deadline === undefined ? {} : { deadline: parseDeadline(deadline, context.commandLine) };
}

/** What a drain means for the host, in the words an operator needs. */
function drainedText(host: MediaHost, now: Date): string {
  const id = clean(host.hostId);
  if (host.status === "unresponsive") {
    return `Host ${id} is marked draining, but its lease ${leaseText(host, now)}: it is being declared dead, and its calls are ended for it.\n`;
  }
  const deadline = clean(host.drain?.deadline ?? "");
  const calls = `${host.activeCalls === 0 ? "none" : host.activeCalls} at its last renewal`;
  const lines = [`Host ${id} is draining: it takes no new calls within ~2 s.`];
  if (Date.parse(deadline) <= now.getTime()) {
    lines.push(`Its deadline, ${deadline}, has passed: its calls (${calls}) are ended at once (bots leave, devices get a BYE).`);
    lines.push("Then it leaves the pool.");
  } else {
    lines.push(
      `Its calls (${calls}) go on until they end, or until the deadline, ${deadline} (${relative(deadline, now)}), when those still up are ended (bots leave, devices get a BYE).`,
    );
    lines.push(`Then it leaves the pool; until then 'cvi host undrain ${id}' puts it back into rotation.`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

function undrainedText(host: MediaHost, now: Date): string {
  const id = clean(host.hostId);
  if (host.status === "unresponsive") return `Host ${id} is no longer draining, but its lease ${leaseText(host, now)}: it is being declared dead.\n`;
  return `Host ${id} is back in rotation: it takes new calls again within ~2 s.\n`;
}

export const hostCommands: GroupSpec = {
  name: "host",
  summary: "Show the media hosts of the pool; drain and undrain them",
  commands: [
    {
      name: "list",
      summary: "List the pool's media hosts with their status, calls, load and lease",
      description:
        "Lists every media host of the pool: its status, calls against its capacity, CPU load, epoch (which registration of the host " +
        "this is), version, SIP URI and lease; for a draining host its deadline, for a dead one when and why it died. " +
        "Ages and countdowns are seen from the control plane's clock.",
      options: {},
      notes: [STATUSES, "With --json: the API's answer, the hosts and the control plane's clock (now)."],
      examples: ["cvi host list", "cvi host list --json"],
      async run(context) {
        const hosts = await context.client().listHosts();
        if (context.json) {
          printJson(context, hosts);
          return;
        }
        const now = new Date(hosts.now);
        const sorted = [...hosts.value].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
        context.out.stdout(
          sorted.length === 0 ? "No media hosts in the pool.\n" : hostTable(sorted, Number.isNaN(now.getTime()) ? context.now() : now),
        );
      },
    },
    {
      name: "get",
      summary: "Show a media host: its lease, load, drain and death",
      options: {},
      positionals: [HOST_ID],
      notes: [STATUSES],
      examples: ["cvi host get mh-1", "cvi host get mh-1 --json"],
      async run(context) {
        const host = await context.client().getHost(context.positionals[0] ?? "");
        if (context.json) printJson(context, host);
        else context.out.stdout(hostList(host, context.now()));
      },
    },
    {
      name: "drain",
      summary: "Take a media host out of rotation; its calls end by the deadline",
      description:
        "The host takes no new calls within ~2 s (at its next lease renewal; the SIP edge sends new calls to the other hosts). " +
        "Its calls go on until they end, or until the deadline, when those still up are ended (bots leave, devices get a BYE); " +
        "then it leaves the pool. Draining a draining host again moves its deadline.",
      options: {
        deadline: { type: "string", placeholder: "ISO", description: "End its calls at this time, e.g. 2030-06-01T18:00:00Z (with a time zone)" },
        "in-minutes": { type: "string", placeholder: "N", description: "End its calls N minutes from now (0: at once)" },
      },
      positionals: [HOST_ID],
      notes: [
        "Without --deadline or --in-minutes the deadline is the API's default, 60 minutes from now.",
        "With --json: the host as the API answers.",
      ],
      examples: ["cvi host drain mh-1", "cvi host drain mh-1 --in-minutes 15", "cvi host drain mh-1 --deadline 2030-06-01T18:00:00Z"],
      async run(context) {
        const request = drainRequest(context);
        const host = await context.client().drainHost(context.positionals[0] ?? "", request);
        if (context.json) printJson(context, host);
        else context.out.stdout(`${hostList(host, context.now())}\n${drainedText(host, context.now())}`);
      },
    },
    {
      name: "undrain",
      summary: "Put a draining media host back into rotation",
      description:
        "The host takes new calls again within ~2 s. A dead host cannot be undrained (exit 5): it comes back by registering again. " +
        "A host that has finished draining has left the pool (exit 4).",
      options: {},
      positionals: [HOST_ID],
      notes: [
        "A host that drains itself (on SIGTERM, or when scaled in) says so at each lease renewal: undraining it does not stop that.",
        "With --json: the host as the API answers.",
      ],
      examples: ["cvi host undrain mh-1"],
      async run(context) {
        const host = await context.client().undrainHost(context.positionals[0] ?? "");
        if (context.json) printJson(context, host);
        else context.out.stdout(`${hostList(host, context.now())}\n${undrainedText(host, context.now())}`);
      },
    },
  ],
};
