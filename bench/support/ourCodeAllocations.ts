/**
 * What our own packet path allocates, apart from werift and Node: one BridgedStream in
 * this process, its werift track and sender replaced by stubs that take a packet and
 * do nothing, a UDP socket in rtpengine's place sending it RTP, and fromMeeting fed a
 * fixed packet. V8's sampling heap profiler (every 32 bytes, collected objects
 * included) then attributes what is allocated per packet to the functions on top of
 * the stack; only bridgedStream.js and rtcp.js count as ours. (In the full bench the
 * bridge's own attribution is blurred: V8 charges what an inlined werift function
 * allocates to the function it was inlined into.)
 */
import { createSocket } from "node:dgram";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import type { MediaStreamTrack, RTCRtpSender, RtpPacket } from "werift";
import { BridgedStream } from "../../media-host/meeting/bridgedStream.js";

export interface OurCodeAllocations {
  readonly path: "direct" | "track";
  readonly packets: number;
  /** Bytes per packet allocated with one of our functions on top of the stack. */
  readonly bytesPerPacket: number;
  readonly byFunction: Readonly<Record<string, number>>;
}

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

export async function ourCodeAllocations(path: "direct" | "track", ms = 1000): Promise<OurCodeAllocations> {
  const previous = BridgedStream.path;
  BridgedStream.path = path;
  const stream = await BridgedStream.open("video", "127.0.0.1");
  BridgedStream.path = previous;
  const engine = createSocket("udp4");
  await new Promise<void>((resolve) => engine.bind(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => engine.connect(stream.port, "127.0.0.1", resolve));
  engine.on("message", () => {});
  const done = Promise.resolve();
  let intoMeeting = 0;
  const sender = {
    sendRtp: () => {
      intoMeeting++;
      return done;
    },
  } as unknown as RTCRtpSender;
  const track = {
    writeRtp: () => {
      intoMeeting++;
    },
  } as unknown as MediaStreamTrack;
  stream.sendIntoMeeting(track, sender);
  stream.connectToRtpengine({ address: "127.0.0.1", port: engine.address().port }, 109);
  await new Promise((r) => setTimeout(r, 50));
  const fromDevice = Buffer.alloc(12 + 1100, 0x5a);
  fromDevice[0] = 0x80;
  fromDevice[1] = 109;
  fromDevice.writeUInt32BE(0xdeadbeef, 8);
  const fromMeeting = { header: { marker: true, sequenceNumber: 1, timestamp: 3_000_000_000 }, payload: Buffer.alloc(1100) } as unknown as RtpPacket;
  const run = async (forMs: number) => {
    const end = performance.now() + forMs;
    while (performance.now() < end) {
      for (let i = 0; i < 20; i++) {
        engine.send(fromDevice);
        stream.fromMeeting(fromMeeting);
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  await run(600); // warm: optimised code, as in service
  const session = new Session();
  session.connect();
  try {
    await session.post("HeapProfiler.enable");
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 32,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const in0 = intoMeeting;
    const out0 = stream.counters.toDevice;
    await run(ms);
    const { profile } = await session.post("HeapProfiler.stopSampling");
    await new Promise((r) => setTimeout(r, 50));
    const packets = intoMeeting - in0 + stream.counters.toDevice - out0;
    const byFunction: Record<string, number> = {};
    let ours = 0;
    const walk = (node: HeapNode) => {
      const { url, functionName, lineNumber } = node.callFrame;
      if (node.selfSize > 0 && /\/media-host\/meeting\/(bridgedStream|rtcp)\.js$/.test(url)) {
        const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/dist\//, "")}:${lineNumber + 1}`;
        byFunction[key] = (byFunction[key] ?? 0) + node.selfSize;
        ours += node.selfSize;
      }
      for (const child of node.children) walk(child);
    };
    walk(profile.head as unknown as HeapNode);
    const perPacket = (bytes: number) => Math.round((10 * bytes) / Math.max(1, packets)) / 10;
    return {
      path,
      packets,
      bytesPerPacket: perPacket(ours),
      byFunction: Object.fromEntries(Object.entries(byFunction).map(([k, v]) => [k, perPacket(v)])),
    };
  } finally {
    await session.post("HeapProfiler.disable").catch(() => {});
    session.disconnect();
    await stream.close();
    engine.close();
  }
}
