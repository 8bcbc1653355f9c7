import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedDemo, type SeededDemo } from "../../local/demo.js";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../local/stack.js";
import { generatePrompts } from "../../media-host/prompts/generatePrompts.js";
import { startMediaHostProcess } from "./mediaHostProcess.js";
import { scrape } from "./prometheus.js";

export interface DialInStack {
  readonly stack: LocalStack;
  readonly demo: SeededDemo;
  /** One direct-dial string (`<tenant digits>.<VTC ID>`) per meeting, for SIPp's injection file. */
  readonly dialStrings: readonly string[];
  /** The media host's SIP ports. */
  readonly sip: { readonly udp: number; readonly tcp: number };
  /** The media host's /metrics, as text. */
  metrics(): Promise<string>;
  /** Stops the media host and the stack. */
  stop(): Promise<void>;
}

export interface StartDialInStackOptions {
  /** Meetings to spread calls over (besides the demo's). */
  readonly meetings: number;
  /**
   * The production topology: the media host in its own process (as on its VM) and the
   * Functions in another (an instance of the Function App), call events over Service Bus;
   * the stack's process keeps the emulators. Else all in one process on the in-process bus.
   */
  readonly mediaHostProcess?: boolean;
  readonly stack?: LocalStackOptions;
}

/**
 * The local stack with its media host, the demo tenant and `meetings` more meetings of
 * its organizer, each with a known VTC ID: calls spread over many meetings, as a
 * gateway's are (in one meeting every join sends a roster update to every other bot,
 * as Teams does, which is not what load looks like).
 */
export async function startDialInStack(options: StartDialInStackOptions): Promise<DialInStack> {
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  const separate = options.mediaHostProcess === true;
  const stack = await startLocalStack({
    logLevel: "none",
    ...options.stack,
    ...(separate ? { serviceBus: true, functionsProcess: true } : { mediaHost: { promptsDirectory, ...options.stack?.mediaHost } }),
  });
  const demo = await seedDemo(stack);
  const dialStrings = addMeetings(stack, demo, options.meetings, 5_000_000_000);
  for (let i = 0; i < 3; i++) await stack.graph.idle();
  if (separate) {
    // A load run measures the path, not the host's capacity guard (MAX_CALLS).
    const host = await startMediaHostProcess(stack, { id: "mh-load", promptsDirectory, drainGraceMs: 0, env: { MAX_CALLS: "5000" } });
    return {
      stack,
      demo,
      dialStrings,
      sip: { udp: host.ports.sipUdp, tcp: host.ports.sipTcp },
      metrics: () => scrape(`http://127.0.0.1:${host.ports.health}/metrics`),
      stop: async () => {
        host.kill("SIGTERM");
        await host.exited;
        await stack.stop();
      },
    };
  }
  const ports = stack.mediaHost?.ports;
  if (!ports) throw new Error("the local stack started no media host");
  const host = stack.mediaHost?.host;
  return {
    stack,
    demo,
    dialStrings,
    sip: { udp: ports.sipUdp, tcp: ports.sipTcp },
    metrics: async () => (await host?.metrics.render())?.body ?? "",
    stop: () => stack.stop(),
  };
}

/**
 * `count` more meetings of the demo organizer, VTC IDs from `firstVtcId` on; returns their
 * direct-dial strings (`<tenant digits>.<VTC ID>`). Let the Graph emulator go idle before dialing.
 */
export function addMeetings(stack: LocalStack, demo: SeededDemo, count: number, firstVtcId: number): string[] {
  const digits = demo.tenantKey.split("@")[0] ?? "";
  const dialStrings: string[] = [];
  for (let i = 0; i < count; i++) {
    const vtcId = String(firstVtcId + i);
    stack.graph.createTeamsMeetingEvent(demo.tenantId, demo.organizerId, {
      subject: `Meeting ${i}`,
      start: new Date(),
      end: new Date(Date.now() + 8 * 3600_000),
      lobbyScope: "everyone",
      videoTeleconferenceId: vtcId,
    });
    dialStrings.push(`${digits}.${vtcId}`);
  }
  return dialStrings;
}
