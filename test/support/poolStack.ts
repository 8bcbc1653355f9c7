import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedDemo, type SeededDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { generatePrompts } from "../../media-host/prompts/generatePrompts.js";
import { addMeetings } from "./dialInStack.js";
import { type MediaHostProcess, startMediaHostProcess } from "./mediaHostProcess.js";
import { adminApi } from "./onboarding.js";
import { metricValue, scrape } from "./prometheus.js";
import { waitFor } from "./waiting.js";
import { KamailioRpc } from "../../edge/agent/kamailioRpc.js";

export interface PoolStack {
  readonly stack: LocalStack;
  readonly demo: SeededDemo;
  /** One direct-dial string per meeting (`<tenant digits>.<VTC ID>`), for SIPp's injection file. */
  readonly dialStrings: readonly string[];
  /** Where devices dial: the SIP edge. */
  readonly edgeTarget: string;
  /** A media host on its own, as on its VM (`node dist/media-host/main.js`), behind the edge; waits until the edge routes to it. */
  startHost(id: string, options?: { readonly drainGraceMs?: number; readonly maxCalls?: number }): Promise<MediaHostProcess>;
  /** A host's own Prometheus figure. */
  hostMetric(host: MediaHostProcess, name: string, labels?: Readonly<Record<string, string>>): Promise<number>;
  /** The registry's view of a host (404 → undefined). */
  hostView(id: string): Promise<{ status: string; epoch: number; activeCalls: number; death: { callsEndedAt: string | null } | null } | undefined>;
  stop(): Promise<void>;
}

/** Port windows per host, so that hosts running at once never reach for the same ports. */
let nextWindow = 0;

/**
 * The pool as in production, on one machine: the control plane and the emulators in this
 * process (call events over Service Bus, the AMQP test broker), the SIP edge (Kamailio) in
 * front, and media hosts each in a process of its own, so a test can kill -9 or SIGSTOP
 * one. The demo tenant with `meetings` more meetings to spread calls over.
 */
export async function startPoolStack(options: { readonly meetings: number }): Promise<PoolStack> {
  const promptsDirectory = mkdtempSync(join(tmpdir(), "prompts-"));
  await generatePrompts({ directory: promptsDirectory });
  // The production topology: the Functions in a process of their own (as the Function App), call events over Service Bus.
  const stack = await startLocalStack({ logLevel: "none", serviceBus: true, functionsProcess: true, pool: { hosts: [], edge: {} } });
  const hosts: MediaHostProcess[] = [];
  try {
    const demo = await seedDemo(stack);
    const dialStrings = addMeetings(stack, demo, options.meetings, 6_000_000_000);
    for (let i = 0; i < 3; i++) await stack.graph.idle();
    const edge = stack.edge;
    if (!edge) throw new Error("the stack started no edge");
    const rpc = new KamailioRpc({ url: edge.endpoints.rpcUrl });
    const pool: PoolStack = {
      stack,
      demo,
      dialStrings,
      edgeTarget: `127.0.0.1:${edge.endpoints.sipPort}`,
      async startHost(id, hostOptions = {}) {
        const window = nextWindow++ % 8;
        const host = await startMediaHostProcess(stack, {
          id,
          promptsDirectory,
          drainGraceMs: hostOptions.drainGraceMs ?? 0,
          // Apart from other tests' hosts (24000-28999) and below Linux's ephemeral ports.
          rtpPortMin: 16000 + window * 500,
          rtpPortMax: 16000 + window * 500 + 499,
          env: {
            WEBRTC_PORT_MIN: String(20000 + window * 500),
            WEBRTC_PORT_MAX: String(20000 + window * 500 + 499),
            SIP_TRUSTED_PROXIES: "127.0.0.1",
            MAX_CALLS: String(hostOptions.maxCalls ?? 200),
          },
        });
        hosts.push(host);
        await waitFor(
          async () => (await rpc.dispatcherList(1)).some((d) => d.hostId === id && d.state === "active"),
          `the edge to route to ${id}`,
          20_000,
        );
        return host;
      },
      hostMetric: async (host, name, labels = {}) =>
        metricValue(await scrape(`http://127.0.0.1:${host.ports.health}/metrics`), name, { media_host: host.id, ...labels }),
      async hostView(id) {
        const answer = await adminApi(stack, "GET", `/v1/pool/hosts/${id}`);
        return answer.status === 404 ? undefined : answer.json;
      },
      async stop() {
        for (const host of hosts) host.kill("SIGKILL");
        await Promise.all(hosts.map((h) => h.exited));
        await stack.stop();
      },
    };
    return pool;
  } catch (e) {
    for (const host of hosts) host.kill("SIGKILL");
    await stack.stop();
    throw e;
  }
}
