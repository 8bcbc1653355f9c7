/**
 * rtpengine's media threads on a busy machine — what the media host's real-time scheduling
 * of them (RTPENGINE_REALTIME_PRIORITY) buys and costs. A stall of rtpengine is what makes
 * rtpengine 10.5 stop reading a port for good (docs/design.md, "rtpengine stalls").
 *
 * Each variant runs rtpengine afresh: ordinary scheduling (the reference), nice -10, and
 * SCHED_RR 10 (the media host's default). Meanwhile `hogs` processes spin (more runnable
 * threads than cores: an overloaded bridge), `streams` plain RTP streams at 350 packets/s
 * (1,000-byte payloads, a 1080p call's video) cross rtpengine, and its probe stream
 * (RtpengineProbe: a packet every 20 ms, in a process of its own run SCHED_RR 20 with chrt so
 * that it measures rtpengine's delay rather than its own wait for a CPU) measures its relay
 * delay. Per variant: the probe's
 * p50/p99/max delay and stalls over 50 ms, the streams' loss, and what the hogs got done
 * (iterations/s: what rtpengine's priority takes from everything else). Variants alternate
 * over `rounds` rounds (the machine is noisy); ratios are against the reference.
 *
 * Prints JSON. Usage: node dist/bench/rtpengineScheduling.js [secondsPerRound=6] [rounds=2] [hogs=4] [streams=20]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { setTimeout as sleep } from "node:timers/promises";
import { RtpengineClient } from "../media-host/rtpengine/rtpengineClient.js";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { RtpengineProcess, type RtpengineProcessOptions } from "../media-host/rtpengine/rtpengineProcess.js";
import { mediaEndpoint, parseSdp } from "../media-host/rtpengine/sdp.js";

const secondsPerRound = Number(process.argv[2] ?? 6);
const rounds = Number(process.argv[3] ?? 2);
const hogs = Number(process.argv[4] ?? 4);
const streams = Number(process.argv[5] ?? 20);

interface Variant {
  readonly name: string;
  readonly options: Partial<RtpengineProcessOptions>;
}
const variants: Variant[] = [
  { name: "ordinary", options: {} },
  { name: "nice -10", options: { extraConfig: { scheduling: "other", priority: -10 } } },
  { name: "SCHED_RR 10", options: { realtime: { policy: "rr", priority: 10 } } },
];

interface RoundResult {
  delaysMs: number[];
  stalls: number;
  sent: number;
  received: number;
  hogIterationsPerSecond: number;
}

const PROBE_CHILD = fileURLToPath(new URL("./support/probeChild.js", import.meta.url));

const HOG = `const fs=require("fs");let n=0;for(;;){for(let i=0;i<2e6;i++);n++;if(n%20===0)fs.writeSync(1,n+"\\n")}`;

function startHogs(count: number): { processes: ChildProcess[]; iterations: () => number } {
  const latest = new Array<number>(count).fill(0);
  const processes = Array.from({ length: count }, (_, i) => {
    const child = spawn(process.execPath, ["-e", HOG], { stdio: ["ignore", "pipe", "ignore"] });
    child.stdout?.on("data", (chunk: Buffer) => {
      const last = chunk.toString().trim().split("\n").at(-1);
      if (last) latest[i] = Number(last);
    });
    return child;
  });
  return { processes, iterations: () => latest.reduce((a, b) => a + b, 0) };
}

async function bind(): Promise<Socket> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return socket;
}

const sdp = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video ${port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendrecv\r\n`;

async function runRound(variant: Variant): Promise<RoundResult> {
  const rtpengine = new RtpengineProcess({ logLevel: "error", deleteDelayInMs: 0, portMin: 34000, portMax: 34999, ...variant.options });
  await rtpengine.start();
  const client = await RtpengineClient.open({ host: rtpengine.ngHost, port: rtpengine.ngPort, localAddress: "127.0.0.1" });
  const pairs: { sender: Socket; receiver: Socket; target: { address: string; port: number } }[] = [];
  let received = 0;
  for (let i = 0; i < streams; i++) {
    const sender = await bind();
    const receiver = await bind();
    receiver.on("message", () => void received++);
    const ids = { "call-id": `sched-${variant.name}-${i}-${Date.now()}`, "from-tag": "receiver" };
    const offer = await client.offer({ ...ids, sdp: sdp(receiver.address().port) });
    await client.answer({ ...ids, "to-tag": "sender", sdp: sdp(sender.address().port) });
    pairs.push({ sender, receiver, target: mediaEndpoint(parseSdp(offer.sdp), 0) });
  }
  const probe = spawn("chrt", ["--rr", "20", process.execPath, PROBE_CHILD, rtpengine.ngHost, String(rtpengine.ngPort)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let probeOutput = "";
  probe.stdout?.on("data", (chunk: Buffer) => {
    probeOutput += chunk.toString();
  });
  while (!probeOutput.includes("ready\n")) await sleep(20);
  const hogProcesses = startHogs(hogs);
  let sent = 0;
  let sequence = 0;
  const payload = Buffer.alloc(1000, 0x41);
  // 350 packets/s per stream: 7 every 20 ms.
  const timer = setInterval(() => {
    for (const pair of pairs) {
      for (let k = 0; k < 7; k++) {
        const header = Buffer.alloc(12);
        header[0] = 0x80;
        header[1] = 96;
        header.writeUInt16BE(sequence++ & 0xffff, 2);
        header.writeUInt32BE(0x5eed, 8);
        pair.sender.send([header, payload], pair.target.port, pair.target.address);
        sent++;
      }
    }
  }, 20);
  await sleep(1000); // the hogs get going
  const iterationsAtStart = hogProcesses.iterations();
  const sentAtStart = sent;
  const receivedAtStart = received;
  probe.kill("SIGUSR1"); // measure from here
  const started = Date.now();
  await sleep(secondsPerRound * 1000);
  const elapsed = (Date.now() - started) / 1000;
  const exited = once(probe, "exit");
  probe.kill("SIGTERM");
  await exited;
  const measured = JSON.parse(probeOutput.split("\n").filter(Boolean).at(-1) ?? "{}") as { delaysMs: number[]; stalls: number };
  const result: RoundResult = {
    delaysMs: measured.delaysMs,
    stalls: measured.stalls,
    sent: sent - sentAtStart,
    received: received - receivedAtStart,
    hogIterationsPerSecond: (hogProcesses.iterations() - iterationsAtStart) / elapsed,
  };
  clearInterval(timer);
  for (const hog of hogProcesses.processes) hog.kill("SIGKILL");
  for (const pair of pairs) {
    pair.sender.close();
    pair.receiver.close();
  }
  await client.close();
  await rtpengine.stop();
  return result;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const round3 = (n: number) => +n.toFixed(3);

const results = new Map<string, RoundResult[]>(variants.map((v) => [v.name, []]));
for (let r = 0; r < rounds; r++) for (const variant of variants) results.get(variant.name)?.push(await runRound(variant));

const summary = variants.map((variant) => {
  const runs = results.get(variant.name) ?? [];
  const delays = runs.flatMap((run) => run.delaysMs).sort((a, b) => a - b);
  const sent = runs.reduce((n, run) => n + run.sent, 0);
  const received = runs.reduce((n, run) => n + run.received, 0);
  return {
    variant: variant.name,
    probe: {
      packets: delays.length,
      p50Ms: round3(percentile(delays, 50)),
      p99Ms: round3(percentile(delays, 99)),
      maxMs: round3(delays.at(-1) ?? Number.NaN),
    },
    stallsOver50Ms: runs.reduce((n, run) => n + run.stalls, 0),
    streamLossPercent: round3(sent ? (100 * Math.max(0, sent - received)) / sent : 0),
    hogIterationsPerSecond: round3(runs.reduce((n, run) => n + run.hogIterationsPerSecond, 0) / Math.max(1, runs.length)),
  };
});
const reference = summary[0];
console.log(
  JSON.stringify(
    {
      benchmark: "rtpengine-scheduling",
      secondsPerRound,
      rounds,
      hogs,
      streams,
      variants: summary.map((s) => ({
        ...s,
        vsOrdinary: reference
          ? {
              probeP99: round3(s.probe.p99Ms / reference.probe.p99Ms),
              probeMax: round3(s.probe.maxMs / reference.probe.maxMs),
              hogWork: round3(s.hogIterationsPerSecond / reference.hogIterationsPerSecond),
            }
          : undefined,
      })),
    },
    null,
    2,
  ),
);
