/**
 * The probe stream through an rtpengine, in a process of its own (run real-time by
 * bench/rtpengineScheduling.ts, so that what it measures is rtpengine's delay, not its own
 * wait for a CPU): prints one JSON line with every probe's delay and the stalls when it gets
 * SIGTERM. Usage: node dist/bench/support/probeChild.js <ngHost> <ngPort>
 */
import { RtpengineClient } from "../../media-host/rtpengine/rtpengineClient.js";
import { RtpengineProbe } from "../../media-host/rtpengine/rtpengineProbe.js";

const [host = "127.0.0.1", port = "0"] = process.argv.slice(2);
const client = await RtpengineClient.open({ host, port: Number(port), localAddress: "127.0.0.1" });
const probe = new RtpengineProbe({ rtpengine: client, address: "127.0.0.1", callIdPrefix: "bench-probe" });
const delaysMs: number[] = [];
let stalls = 0;
probe.on("delay", (d) => delaysMs.push(d));
probe.on("stall", () => void stalls++);
await probe.start();
process.stdout.write("ready\n");
process.once("SIGUSR1", () => {
  delaysMs.length = 0;
  stalls = 0;
});
process.once("SIGTERM", async () => {
  await probe.stop();
  await client.close();
  process.stdout.write(`${JSON.stringify({ delaysMs, stalls })}\n`);
  process.exit(0);
});
