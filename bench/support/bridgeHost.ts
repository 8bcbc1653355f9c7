/**
 * The gateway's media path alone, in a process of its own, for bench/media.ts: an
 * rtpengine client, the MeetingLegServer and its WebRTC legs (BridgedStream ⇄ werift),
 * as on a media host, with nothing else in the process. The bench drives it over IPC
 * (child_process.fork) and reads its CPU time and RSS from /proc.
 *
 *   create {callId, deviceOffer} → {deviceAnswer, blob}    close {callId}
 *   path {path} → the packet path of legs opened from then on (BridgedStream.path)
 *   present {callId, presenter} → who presents content on that call's leg (forked with "content")
 *   stats → {legs, counters, authenticationFailures, rssBytes, heapUsedBytes, cpuMicros}
 *   gc → {rssBytes, heapUsedBytes, externalBytes} after a full collection (forked with --expose-gc)
 *   profile {ms, heap} → top self-time functions (V8 CPU profiler), and optionally
 *     allocations by function (V8 sampling heap profiler, collected objects included)
 *
 * Usage (by the bench): fork(bridgeHost.js, [ngHost, ngPort, "content"?]); with "content"
 * the legs take the device's slides m-line (MeetingLegServer's acceptContent).
 */
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { pino } from "pino";
import { anchorMedia } from "../../media-host/calls/anchorMedia.js";
import { BridgedStream } from "../../media-host/meeting/bridgedStream.js";
import { MeetingLegServer } from "../../media-host/meeting/meetingLegServer.js";
import type { ContentBridgeCounters, ContentPresenter } from "../../media-host/meeting/contentBridge.js";
import type { WebRtcMeetingLeg } from "../../media-host/meeting/webRtcMeetingLeg.js";
import { RtpengineClient } from "../../media-host/rtpengine/rtpengineClient.js";

export type BridgeRequest =
  | { readonly id: number; readonly op: "create"; readonly callId: string; readonly deviceOffer: string }
  | { readonly id: number; readonly op: "close"; readonly callId: string }
  | { readonly id: number; readonly op: "stats" }
  /** A full garbage collection (the process runs with --expose-gc), then its memory: what is live, not what awaits collection. */
  | { readonly id: number; readonly op: "gc" }
  /** The packet path of legs opened from now on (BridgedStream.path): the hot path before/after. */
  | { readonly id: number; readonly op: "path"; readonly path: "direct" | "track" }
  /** Who presents content on a call's leg (the floor's holder; a process forked with "content"). */
  | { readonly id: number; readonly op: "present"; readonly callId: string; readonly presenter: ContentPresenter }
  | { readonly id: number; readonly op: "profile"; readonly ms: number; readonly heap: boolean; readonly saveTo?: string }
  | { readonly id: number; readonly op: "exit" };

export interface BridgeStats {
  readonly legs: number;
  /** Packets the bridge forwarded, summed over its legs (both kinds). */
  readonly fromDevice: number;
  readonly toDevice: number;
  readonly droppedFromDevice: number;
  readonly rtcpFromDevice: number;
  /** Content packets, summed over the legs that take content. */
  readonly content: ContentBridgeCounters;
  /** Legs that ended by themselves (ICE consent, media timeout, …) rather than by a "close". */
  readonly endedLegs: readonly { readonly callId: string; readonly reason: string; readonly afterSeconds: number }[];
  /** SRTP/SRTCP packets from the meeting side that failed authentication on the legs' transports. */
  readonly authenticationFailures: { readonly srtp: number; readonly srtcp: number };
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly cpuMicros: number;
}

export interface ProfileEntry {
  readonly function: string;
  readonly where: string;
  /** Of all samples, idle ones included. */
  readonly selfPercent: number;
  /** Of the samples where the process was doing something (not "(idle)"). */
  readonly selfPercentOfBusy: number;
}

export interface AllocationEntry {
  readonly function: string;
  readonly where: string;
  readonly bytes: number;
  readonly percent: number;
}

export interface BridgeProfile {
  readonly samples: number;
  readonly top: readonly ProfileEntry[];
  /** Self time by where the code lives, of all samples and of the busy ones. */
  readonly byArea: Readonly<Record<string, number>>;
  readonly byAreaOfBusy: Readonly<Record<string, number>>;
  readonly allocations?: {
    readonly totalBytes: number;
    readonly byArea: Readonly<Record<string, number>>;
    readonly top: readonly AllocationEntry[];
  };
}

export type BridgeReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

const [ngHost = "127.0.0.1", ngPort = "0", withContent] = process.argv.slice(2);
const rtpengine = await RtpengineClient.open({ host: ngHost, port: Number(ngPort), localAddress: "127.0.0.1", requestTimeoutInMs: 5000 });
const legs = new MeetingLegServer({
  mediaHostId: "mh-bench",
  host: "127.0.0.1",
  port: 0,
  ice: { bindAddress: "127.0.0.1", advertisedAddress: "127.0.0.1" },
  // The bench pauses media between its steps (and while it sets up more calls).
  mediaTimeoutInMs: 120_000,
  answerTimeoutInMs: 120_000,
  acceptContent: withContent === "content",
  logger: pino({ level: "silent" }),
});
await legs.listen();
const byCall = new Map<string, WebRtcMeetingLeg>();
/** Legs that ended on their own (not by a "close" request), with why: a bench must see a call it lost. */
const endedLegs: { callId: string; reason: string; afterSeconds: number }[] = [];
const startedAt = Date.now();

async function handle(request: BridgeRequest): Promise<unknown> {
  switch (request.op) {
    case "create": {
      const leg = (await legs.create(request.callId)) as WebRtcMeetingLeg;
      byCall.set(request.callId, leg);
      const { callId } = request;
      leg.on("ended", (reason: string) => {
        if (byCall.get(callId) !== leg) return;
        endedLegs.push({ callId, reason, afterSeconds: Math.round((Date.now() - startedAt) / 1000) });
        process.stderr.write(`[bridge host] the leg of ${callId} ended: ${reason}\n`);
      });
      const deviceAnswer = await anchorMedia(rtpengine, leg, request.deviceOffer, {
        callId: request.callId,
        deviceTag: "device",
        gatewayTag: "gateway",
      });
      return { deviceAnswer, blob: await leg.mediaBlob() };
    }
    case "close": {
      const leg = byCall.get(request.callId);
      byCall.delete(request.callId);
      await leg?.close();
      await rtpengine.delete({ "call-id": request.callId }).catch(() => {});
      return {};
    }
    case "stats":
      return stats();
    case "gc": {
      (globalThis as { gc?: () => void }).gc?.();
      const memory = process.memoryUsage();
      return { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, externalBytes: memory.external };
    }
    case "path":
      BridgedStream.path = request.path;
      return {};
    case "present": {
      const leg = byCall.get(request.callId);
      if (!leg) throw new Error(`no leg for ${request.callId}`);
      leg.presentContent(request.presenter);
      return {};
    }
    case "profile":
      return profile(request.ms, request.heap, request.saveTo);
    case "exit":
      setImmediate(async () => {
        await legs.close();
        await rtpengine.close();
        process.exit(0);
      });
      return {};
  }
}

function stats(): BridgeStats {
  let fromDevice = 0;
  let toDevice = 0;
  let droppedFromDevice = 0;
  let rtcpFromDevice = 0;
  const authenticationFailures = { srtp: 0, srtcp: 0 };
  const content: ContentBridgeCounters = { fromDevice: 0, intoMeeting: 0, fromMeeting: 0, toDevice: 0, heldForKeyframe: 0 };
  for (const leg of byCall.values()) {
    for (const key of Object.keys(content) as (keyof ContentBridgeCounters)[]) content[key] += leg.counters.content[key];
    authenticationFailures.srtp += leg.authenticationFailures.srtp;
    authenticationFailures.srtcp += leg.authenticationFailures.srtcp;
    const c = leg.counters;
    fromDevice += c.audio.fromDevice + c.video.fromDevice;
    toDevice += c.audio.toDevice + c.video.toDevice;
    droppedFromDevice += c.audio.droppedFromDevice + c.video.droppedFromDevice;
    rtcpFromDevice += c.audio.rtcpFromDevice + c.video.rtcpFromDevice;
  }
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    legs: byCall.size,
    fromDevice,
    toDevice,
    droppedFromDevice,
    rtcpFromDevice,
    content,
    endedLegs,
    authenticationFailures,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    cpuMicros: cpu.user + cpu.system,
  };
}

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

function where(frame: CallFrame): string {
  const url = frame.url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\//, "")
    .replace(/^.*\/dist\//, "");
  return url ? `${url}:${frame.lineNumber + 1}` : "";
}

function area(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith("(") ? functionName : "native";
  if (url.includes("/node_modules/werift/")) return "werift";
  if (url.includes("/node_modules/")) return "other dependencies";
  if (url.includes("/media-host/")) return "ours (media-host)";
  if (url.startsWith("node:")) return "node internals";
  return "other";
}

async function profile(ms: number, heap: boolean, saveTo: string | undefined): Promise<BridgeProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    if (heap) {
      await session.post("HeapProfiler.enable");
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    await session.post("Profiler.start");
    await new Promise((r) => setTimeout(r, ms));
    const { profile: cpu } = await session.post("Profiler.stop");
    const allocations = heap ? (await session.post("HeapProfiler.stopSampling")).profile : undefined;
    if (saveTo) await writeFile(saveTo, JSON.stringify(allocations ?? cpu));

    const hits = new Map<string, { frame: CallFrame; hits: number }>();
    const byArea: Record<string, number> = {};
    let total = 0;
    for (const node of cpu.nodes) {
      const n = node.hitCount ?? 0;
      if (n === 0) continue;
      total += n;
      const key = `${node.callFrame.functionName}@${node.callFrame.url}:${node.callFrame.lineNumber}`;
      const entry = hits.get(key) ?? { frame: node.callFrame, hits: 0 };
      entry.hits += n;
      hits.set(key, entry);
      const a = area(node.callFrame);
      byArea[a] = (byArea[a] ?? 0) + n;
    }
    const pct = (n: number, of: number) => Math.round((1000 * n) / of) / 10;
    const busy = total - (byArea["(idle)"] ?? 0);
    const top = [...hits.values()]
      .sort((a, b) => b.hits - a.hits)
      .slice(0, 25)
      .map((e) => ({
        function: e.frame.functionName || "(anonymous)",
        where: where(e.frame),
        selfPercent: pct(e.hits, total),
        selfPercentOfBusy: e.frame.functionName === "(idle)" ? 0 : pct(e.hits, busy),
      }));
    const result: {
      samples: number;
      top: ProfileEntry[];
      byArea: Record<string, number>;
      byAreaOfBusy: Record<string, number>;
      allocations?: BridgeProfile["allocations"];
    } = {
      samples: total,
      top,
      byArea: Object.fromEntries(
        Object.entries(byArea)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, pct(v, total)]),
      ),
      byAreaOfBusy: Object.fromEntries(
        Object.entries(byArea)
          .filter(([k]) => k !== "(idle)")
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, pct(v, busy)]),
      ),
    };
    if (allocations) {
      interface HeapNode {
        readonly callFrame: CallFrame;
        readonly selfSize: number;
        readonly children: readonly HeapNode[];
      }
      const bytes = new Map<string, { frame: CallFrame; bytes: number }>();
      const allocByArea: Record<string, number> = {};
      let allocTotal = 0;
      const walk = (node: HeapNode) => {
        if (node.selfSize > 0) {
          allocTotal += node.selfSize;
          const key = `${node.callFrame.functionName}@${node.callFrame.url}:${node.callFrame.lineNumber}`;
          const entry = bytes.get(key) ?? { frame: node.callFrame, bytes: 0 };
          entry.bytes += node.selfSize;
          bytes.set(key, entry);
          const a = area(node.callFrame);
          allocByArea[a] = (allocByArea[a] ?? 0) + node.selfSize;
        }
        for (const child of node.children) walk(child);
      };
      walk(allocations.head as unknown as HeapNode);
      result.allocations = {
        totalBytes: allocTotal,
        byArea: Object.fromEntries(Object.entries(allocByArea).sort((a, b) => b[1] - a[1])),
        top: [...bytes.values()]
          .sort((a, b) => b.bytes - a.bytes)
          .slice(0, 15)
          .map((e) => ({
            function: e.frame.functionName || "(anonymous)",
            where: where(e.frame),
            bytes: e.bytes,
            percent: pct(e.bytes, allocTotal),
          })),
      };
    }
    return result;
  } finally {
    await session.post("Profiler.disable").catch(() => {});
    if (heap) await session.post("HeapProfiler.disable").catch(() => {});
    session.disconnect();
  }
}

process.on("message", (request: BridgeRequest) => {
  handle(request).then(
    (result) => process.send?.({ id: request.id, ok: true, result } satisfies BridgeReply),
    (e: unknown) => process.send?.({ id: request.id, ok: false, error: (e as Error).stack ?? String(e) } satisfies BridgeReply),
  );
});
process.on("disconnect", () => process.exit(0));
process.send?.({ id: 0, ok: true, result: { ready: true, pid: process.pid } } satisfies BridgeReply);
