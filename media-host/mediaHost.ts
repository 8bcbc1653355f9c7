import type { TlsOptions } from "node:tls";
import type { Logger } from "pino";
import type { MessageSubscriber } from "../shared/bus/messageBus.js";
import { CallController } from "./calls/callController.js";
import { MeetingLegServer } from "./meeting/meetingLegServer.js";
import type { ControlPlaneClient } from "./controlPlane/controlPlaneClient.js";
import { FailedAttemptLimiter } from "./domain/failedAttemptLimiter.js";
import { HealthServer } from "./observability/healthServer.js";
import { MediaHostMetrics } from "./observability/metrics.js";
import { DtmfEventListener } from "./rtpengine/dtmfEventListener.js";
import { RtpengineClient } from "./rtpengine/rtpengineClient.js";
import { RtpengineProcess } from "./rtpengine/rtpengineProcess.js";
import { Dialogs } from "./sip/dialogs.js";
import { SipStack } from "./sip/sipStack.js";
import type { SipTransport } from "./sip/transport/flow.js";
import { StreamTransport } from "./sip/transport/streamTransport.js";
import { UdpTransport } from "./sip/transport/udpTransport.js";

export interface MediaHostOptions {
  readonly mediaHostId: string;
  readonly serviceDomain: string;
  /** Where SIP and media bind, and the address written into Via, Contact and SDP. */
  readonly bindHost: string;
  readonly advertisedHost: string;
  readonly sipUdpPort: number;
  readonly sipTcpPort: number;
  /** TLS needs a certificate; without one no TLS listener starts. */
  readonly sipTls?: { readonly port: number; readonly options: TlsOptions };
  readonly healthPort: number;
  /** The meeting leg (WebRTC): its session endpoint and ICE ports. */
  readonly meetingLeg?: {
    readonly port?: number;
    readonly publicBaseUrl?: string;
    readonly webRtcPortRange?: readonly [number, number];
    readonly mediaTimeoutInMs?: number;
    readonly answerTimeoutInMs?: number;
  };
  readonly rtpPortMin: number;
  readonly rtpPortMax: number;
  readonly promptsDirectory: string;
  readonly controlPlane: Pick<ControlPlaneClient, "resolve" | "join" | "leave" | "reportQuality">;
  readonly bus: MessageSubscriber;
  readonly logger: Logger;
}

export interface ListeningPorts {
  readonly sipUdp: number;
  readonly sipTcp: number;
  readonly sipTls: number | undefined;
  readonly health: number;
  readonly meetingLeg: number;
}

/**
 * One media host: rtpengine (its own supervised instance), the SIP stack on UDP/TCP/TLS,
 * the calls, and /healthz + /metrics. `main.ts` runs it on a VM; the local stack runs
 * one in-process.
 */
export class MediaHost {
  readonly metrics: MediaHostMetrics;
  readonly #options: MediaHostOptions;
  #rtpengine: RtpengineProcess | undefined;
  #client: RtpengineClient | undefined;
  #dtmf: DtmfEventListener | undefined;
  #transports: SipTransport[] = [];
  #stack: SipStack | undefined;
  #controller: CallController | undefined;
  #health: HealthServer | undefined;
  #meetingLegs: MeetingLegServer | undefined;
  #draining = false;

  constructor(options: MediaHostOptions) {
    this.#options = options;
    this.metrics = new MediaHostMetrics({ mediaHostId: options.mediaHostId });
  }

  async start(): Promise<ListeningPorts> {
    const o = this.#options;
    this.#dtmf = await DtmfEventListener.open({ host: "127.0.0.1", port: 0 });
    this.#rtpengine = new RtpengineProcess({
      interfaces: [{ address: o.bindHost, ...(o.advertisedHost !== o.bindHost ? { advertisedAddress: o.advertisedHost } : {}) }],
      portMin: o.rtpPortMin,
      portMax: o.rtpPortMax,
      // rtpengine keeps a deleted call's ports 30 s by default; at tens of calls a second
      // that exhausts a port range. A second absorbs late packets all the same.
      deleteDelayInMs: 1000,
      dtmfLogDest: this.#dtmf.address,
      logLevel: "warning",
      onLogLine: (line) => o.logger.debug({ rtpengine: line }),
    });
    await this.#rtpengine.start();
    this.#client = await RtpengineClient.open({
      host: this.#rtpengine.ngHost,
      port: this.#rtpengine.ngPort,
      localAddress: "127.0.0.1",
      requestTimeoutInMs: 3000,
    });
    const m = o.meetingLeg ?? {};
    this.#meetingLegs = new MeetingLegServer({
      mediaHostId: o.mediaHostId,
      host: o.bindHost,
      advertisedHost: o.advertisedHost,
      port: m.port ?? 0,
      ...(m.publicBaseUrl ? { publicBaseUrl: m.publicBaseUrl } : {}),
      ...(o.sipTls ? { tls: o.sipTls.options } : {}),
      ice: { bindAddress: o.bindHost, advertisedAddress: o.advertisedHost, ...(m.webRtcPortRange ? { portRange: m.webRtcPortRange } : {}) },
      ...(m.mediaTimeoutInMs ? { mediaTimeoutInMs: m.mediaTimeoutInMs } : {}),
      ...(m.answerTimeoutInMs ? { answerTimeoutInMs: m.answerTimeoutInMs } : {}),
      logger: o.logger,
    });
    const meetingLeg = await this.#meetingLegs.listen();
    const udp = new UdpTransport();
    const tcp = new StreamTransport({ protocol: "tcp" });
    this.#transports = [udp, tcp];
    const sipUdp = await udp.listen(o.bindHost, o.sipUdpPort);
    const sipTcp = await tcp.listen(o.bindHost, o.sipTcpPort);
    let sipTls: number | undefined;
    if (o.sipTls) {
      const tls = new StreamTransport({ protocol: "tls", tls: o.sipTls.options });
      this.#transports.push(tls);
      sipTls = await tls.listen(o.bindHost, o.sipTls.port);
    }
    this.#stack = new SipStack({ transports: this.#transports, serverName: "OpenCVI", advertisedHost: o.advertisedHost });
    this.#stack.on("malformed", () => this.metrics.countInvite("rejected-malformed"));
    const dialogs = new Dialogs(this.#stack, { contact: `sip:gateway@${o.advertisedHost}:${sipUdp}` });
    this.#controller = new CallController(dialogs, o.bus, {
      mediaHostId: o.mediaHostId,
      dialPlan: { serviceDomain: o.serviceDomain, ownHosts: [...new Set([o.advertisedHost, o.bindHost].map((h) => h.toLowerCase()))] },
      controlPlane: o.controlPlane,
      rtpengine: this.#client,
      meetingLegs: this.#meetingLegs,
      limiter: new FailedAttemptLimiter(),
      logger: o.logger,
      metrics: this.metrics,
      promptsDirectory: o.promptsDirectory,
      dtmf: this.#dtmf,
    });
    this.#health = new HealthServer({
      host: o.bindHost,
      port: o.healthPort,
      metrics: this.metrics,
      health: () => ({
        draining: this.#draining,
        activeCalls: this.#controller?.activeCalls ?? 0,
        problems: this.#rtpengine?.state === "running" ? [] : ["rtpengine not running"],
      }),
    });
    const health = await this.#health.listen();
    return { sipUdp, sipTcp, sipTls, health, meetingLeg };
  }

  get activeCalls(): number {
    return this.#controller?.activeCalls ?? 0;
  }

  /**
   * SIGTERM: take no new calls (503 + Retry-After; OPTIONS says so, so load balancers
   * move on), let calls finish for up to `graceInMs`, then stop.
   */
  async drain(graceInMs: number): Promise<void> {
    this.#draining = true;
    this.#stack?.setUnavailable({ retryAfterSeconds: 60 });
    const until = Date.now() + graceInMs;
    while (this.activeCalls > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 250));
  }

  /** Ends the calls still up (after the drain grace): bots leave, devices get a BYE. */
  async endCalls(reason: string): Promise<void> {
    await this.#controller?.endAll(reason);
  }

  async stop(): Promise<void> {
    await this.#controller?.close();
    for (const transport of this.#transports) await transport.close().catch(() => {});
    await this.#health?.close();
    await this.#meetingLegs?.close();
    await this.#client?.close().catch(() => {});
    await this.#rtpengine?.stop().catch(() => {});
    await this.#dtmf?.close().catch(() => {});
  }
}
