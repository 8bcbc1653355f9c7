import { EventEmitter } from "node:events";
import { BlockList, isIPv6 } from "node:net";
import { cpus, loadavg } from "node:os";
import type { TlsOptions } from "node:tls";
import type { Logger } from "pino";
import type { MessageSubscriber } from "../shared/bus/messageBus.js";
import { CallController } from "./calls/callController.js";
import { MeetingLegServer } from "./meeting/meetingLegServer.js";
import { PortAllocator } from "./meeting/portAllocator.js";
import type { ControlPlaneClient } from "./controlPlane/controlPlaneClient.js";
import { PoolMembership } from "./pool/poolMembership.js";
import { FailedAttemptLimiter } from "./domain/failedAttemptLimiter.js";
import { HealthServer } from "./observability/healthServer.js";
import { MediaHostMetrics } from "./observability/metrics.js";
import { DtmfEventListener } from "./rtpengine/dtmfEventListener.js";
import { BRIDGE_ADDRESS, BRIDGE_INTERFACE, mediaHostInterfaces } from "./rtpengine/interfaces.js";
import { RtpengineClient } from "./rtpengine/rtpengineClient.js";
import { RtpengineProcess } from "./rtpengine/rtpengineProcess.js";
import { PROBE_CALL_ID_PREFIX, RtpengineProbe } from "./rtpengine/rtpengineProbe.js";
import { parseRtpengineComplaint } from "./rtpengine/rtpengineComplaints.js";
import { StreamWatch } from "./calls/streamWatch.js";
import { readFile } from "node:fs/promises";
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
  /**
   * The host in this host's Contact and in the SIP URI the pool registers (where the SIP edge
   * sends its calls): the address the edge reaches it at, often a private one. Default: the advertised host.
   */
  readonly sipContactHost?: string;
  /** How the edge reaches this host (default udp). */
  readonly edgeTransport?: "udp" | "tcp";
  /** Addresses or CIDR blocks of the SIP edge: their requests carry the device's own address in the next Via. */
  readonly trustedProxies?: readonly string[];
  /** Names and addresses devices dial that are this service (the edge's public address and DNS names). */
  readonly serviceHosts?: readonly string[];
  /** Calls this host takes at most (the edge's maxload for it; more get 503). */
  readonly capacity: number;
  readonly version?: string;
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
  /** rtpengine's media threads real-time (SCHED_RR) at this priority (default 10; 0: ordinary scheduling). */
  readonly rtpengineRealtimePriority?: number;
  /** How often the calls' ports in rtpengine are checked for deafness (default 2 s). */
  readonly streamWatchIntervalInMs?: number;
  readonly promptsDirectory: string;
  readonly controlPlane: Pick<
    ControlPlaneClient,
    "resolve" | "join" | "leave" | "reportQuality" | "changeScreenSharingRole" | "renewLease" | "releaseLease"
  >;
  /** Content sharing with devices that offer BFCP (default on); off declines their BFCP and slides lines. */
  readonly contentSharing?: boolean;
  /** Where calls' BFCP binds (UDP or TCP, a port per call with a floor); any free port without one. */
  readonly bfcpPortRange?: readonly [number, number];
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

export interface MediaHostEvents {
  /** Drained (by the operator, or its own SIGTERM) and out of the pool: the process may end. */
  drained: [];
}

/** Why calls still up at a drain's deadline end: the device's BYE and the call record carry it. */
export const DRAIN_DEADLINE_REASON = "the media host is being taken out of service";
export const FENCED_REASON = "the media host lost its place in the pool";

/**
 * One media host: rtpengine (its own supervised instance), the SIP stack on UDP/TCP/TLS,
 * the calls, its lease in the pool, and /healthz + /metrics. `main.ts` runs it on a VM;
 * the local stack runs its hosts in-process.
 */
export class MediaHost extends EventEmitter<MediaHostEvents> {
  readonly metrics: MediaHostMetrics;
  readonly #options: MediaHostOptions;
  #rtpengine: RtpengineProcess | undefined;
  #client: RtpengineClient | undefined;
  #probe: RtpengineProbe | undefined;
  #streamWatch: StreamWatch | undefined;
  #dtmf: DtmfEventListener | undefined;
  #transports: SipTransport[] = [];
  #stack: SipStack | undefined;
  #controller: CallController | undefined;
  #health: HealthServer | undefined;
  #meetingLegs: MeetingLegServer | undefined;
  #membership: PoolMembership | undefined;
  /** Set while draining: when the calls still up are ended. */
  #drainDeadline: Date | undefined;
  #drainWatch: NodeJS.Timeout | undefined;
  #drained: Promise<void> | undefined;

  constructor(options: MediaHostOptions) {
    super();
    this.#options = options;
    this.metrics = new MediaHostMetrics({ mediaHostId: options.mediaHostId });
  }

  async start(): Promise<ListeningPorts> {
    const o = this.#options;
    this.#dtmf = await DtmfEventListener.open({ host: "127.0.0.1", port: 0 });
    this.#rtpengine = new RtpengineProcess({
      // Devices' media on the bound address, advertised as the public one; the bridge's side on loopback.
      interfaces: mediaHostInterfaces(o.bindHost, o.advertisedHost),
      portMin: o.rtpPortMin,
      portMax: o.rtpPortMax,
      // rtpengine keeps a deleted call's ports 30 s by default; at tens of calls a second
      // that exhausts a port range. A second absorbs late packets all the same.
      deleteDelayInMs: 1000,
      dtmfLogDest: this.#dtmf.address,
      logLevel: "warning",
      onLogLine: (line) => this.#rtpengineSaid(line),
      ...((o.rtpengineRealtimePriority ?? 10) > 0 ? { realtime: { policy: "rr", priority: o.rtpengineRealtimePriority ?? 10 } } : {}),
    });
    await this.#rtpengine.start();
    this.#client = await RtpengineClient.open({
      host: this.#rtpengine.ngHost,
      port: this.#rtpengine.ngPort,
      localAddress: "127.0.0.1",
      requestTimeoutInMs: 3000,
    });
    await this.#watchRtpengine(this.#rtpengine, this.#client);
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
    const contactHost = o.sipContactHost ?? o.advertisedHost;
    this.#stack = new SipStack({ transports: this.#transports, serverName: "OpenCVI", advertisedHost: contactHost });
    this.#stack.on("malformed", (flow, error) => {
      this.metrics.countInvite("rejected-malformed");
      o.logger.debug({ from: `${flow.remoteAddress}:${flow.remotePort}`, err: error.message }, "malformed SIP message");
    });
    this.#stack.on("newCall", () => this.metrics.newInvites.inc());
    const dialogs = new Dialogs(this.#stack, { contact: `sip:gateway@${hostForUri(contactHost)}:${sipUdp}` });
    const transport = o.edgeTransport ?? "udp";
    const membership = new PoolMembership({
      registry: o.controlPlane,
      report: {
        sipUri: `sip:${hostForUri(contactHost)}:${transport === "udp" ? sipUdp : sipTcp};transport=${transport}`,
        capacity: o.capacity,
        version: o.version ?? "",
        activeCalls: () => this.activeCalls,
        load: () => Math.min(1, (loadavg()[0] ?? 0) / Math.max(1, cpus().length)),
      },
      onError: (e) => o.logger.warn({ err: e.message }, "the pool's registry could not be reached"),
    });
    this.#membership = membership;
    const trusted = addressList(o.trustedProxies ?? []);
    this.#controller = new CallController(dialogs, o.bus, {
      mediaHostId: o.mediaHostId,
      pool: membership,
      isTrustedProxy: (address) => trusted.check(address, isIPv6(address) ? "ipv6" : "ipv4"),
      dialPlan: {
        serviceDomain: o.serviceDomain,
        ownHosts: [...new Set([o.advertisedHost, o.bindHost, contactHost, ...(o.serviceHosts ?? [])].map((h) => h.toLowerCase()))],
      },
      controlPlane: o.controlPlane,
      rtpengine: this.#client,
      meetingLegs: this.#meetingLegs,
      limiter: new FailedAttemptLimiter(),
      logger: o.logger,
      metrics: this.metrics,
      promptsDirectory: o.promptsDirectory,
      dtmf: this.#dtmf,
      ...(this.#streamWatch ? { streamWatch: this.#streamWatch } : {}),
      ...(o.contentSharing === false
        ? {}
        : {
            content: {
              bindAddress: o.bindHost,
              advertisedAddress: o.advertisedHost,
              ...(o.bfcpPortRange ? { ports: new PortAllocator(o.bfcpPortRange[0], o.bfcpPortRange[1], 2) } : {}),
            },
          }),
    });
    this.#health = new HealthServer({
      host: o.bindHost,
      port: o.healthPort,
      metrics: this.metrics,
      health: () => ({
        draining: this.#drainDeadline !== undefined,
        activeCalls: this.#controller?.activeCalls ?? 0,
        problems: [
          ...(this.#rtpengine?.state === "running" ? [] : ["rtpengine not running"]),
          ...((this.#probe?.silentForInMs ?? 0) > 5000
            ? [`rtpengine relays nothing (no probe back for ${Math.round((this.#probe?.silentForInMs ?? 0) / 1000)} s)`]
            : []),
          ...(membership.serving ? [] : ["no lease in the pool"]),
        ],
      }),
    });
    const health = await this.#health.listen();
    // New calls only with a live lease, outside a drain, below capacity; the edge moves a refused INVITE on.
    this.#stack.setAvailability(() => {
      if (!membership.serving) return { retryAfterSeconds: 5, reason: "not in the pool" };
      if (this.#drainDeadline) return { retryAfterSeconds: 60, reason: "draining" };
      if (this.activeCalls >= o.capacity) return { retryAfterSeconds: 5, reason: "at capacity" };
      return undefined;
    });
    membership.on("fenced", (reason) => {
      o.logger.error({ reason, activeCalls: this.activeCalls }, "fenced: ending every call (the control plane has ended them for this host)");
      void this.endCalls(FENCED_REASON);
    });
    membership.on("registered", (epoch) => o.logger.info({ epoch }, "in the pool"));
    membership.on("renewed", (latencyInMs) => {
      if (latencyInMs > 1000)
        o.logger.warn({ latencyInMs: Math.round(latencyInMs) }, "the lease renewal was slow (the host fences itself if none gets through for 6 s)");
    });
    membership.on("drain", (deadline) => this.#drainUntil(deadline));
    await membership.start();
    return { sipUdp, sipTcp, sipTls, health, meetingLeg };
  }

  /** The running rtpengine's pid (for operators and tests; undefined while none runs). */
  get rtpenginePid(): number | undefined {
    return this.#rtpengine?.pid;
  }

  /**
   * What tells an operator rtpengine is in trouble: a probe stream through it (stalls, as a
   * metric and a log line), the calls' ports (streams it stopped reading: rtpengine 10.5 never
   * takes such a port up again, see domain/deafStreams.ts), its own complaints about full
   * receive queues, and a kernel setting that makes such deafness likely.
   */
  async #watchRtpengine(rtpengine: RtpengineProcess, client: RtpengineClient): Promise<void> {
    const log = this.#options.logger;
    // On the bridge interface (loopback): the device one may advertise an address this VM cannot send to itself.
    const probe = new RtpengineProbe({
      rtpengine: client,
      address: BRIDGE_ADDRESS,
      interfaceName: BRIDGE_INTERFACE,
      callIdPrefix: `${PROBE_CALL_ID_PREFIX}-${this.#options.mediaHostId}`,
    });
    probe.on("delay", (delayInMs) => this.metrics.rtpengineProbeSeconds.observe(delayInMs / 1000));
    probe.on("stall", (stall) => {
      this.metrics.rtpengineStalls.inc();
      log.warn(
        { longestDelayInMs: Math.round(stall.longestDelayInMs), lateProbes: stall.lateProbes, lostProbes: stall.lostProbes },
        `rtpengine stalled: it held packets for up to ${Math.round(stall.longestDelayInMs)} ms`,
      );
    });
    probe.on("error", (e) => log.warn({ err: e.message }, "the rtpengine probe call could not be made"));
    await probe.start();
    this.#probe = probe;
    rtpengine.on("restarted", () => void probe.reset());
    const watch = new StreamWatch({
      rtpengine: client,
      ...(this.#options.streamWatchIntervalInMs ? { intervalInMs: this.#options.streamWatchIntervalInMs } : {}),
    });
    watch.on("error", (callId, e) => log.debug({ callId, err: e.message }, "a stream check failed"));
    watch.start();
    this.#streamWatch = watch;
    this.metrics.deafStreamsNowSource = () => watch.deafStreamCount;
    const rmemDefault = Number((await readFile("/proc/sys/net/core/rmem_default", "utf8").catch(() => "")).trim());
    if (rmemDefault > KERNEL_RMEM_DEFAULT)
      log.warn(
        { rmemDefault },
        "net.core.rmem_default is above the kernel's default: one stall can then queue enough datagrams on a port for rtpengine 10.5 to stop reading it for the rest of its call (keep it at 212992)",
      );
  }

  /** rtpengine's log: its complaints about full receive queues count and are said on our log; the rest at debug. */
  #rtpengineSaid(line: string): void {
    const complaint = parseRtpengineComplaint(line);
    if (!complaint) {
      this.#options.logger.debug({ rtpengine: line });
      return;
    }
    this.metrics.rtpengineComplaints.inc({ kind: complaint.kind });
    this.#options.logger.warn(
      { callId: complaint.callId, port: complaint.port, rtpengine: line },
      complaint.kind === "port-given-up"
        ? "rtpengine stopped reading a port (its receive queue overflowed repeatedly)"
        : "rtpengine found a port's receive queue full",
    );
  }

  /** The epoch of this host's lease in the pool (undefined while it holds none). */
  get epoch(): number | undefined {
    return this.#membership?.epoch;
  }

  get activeCalls(): number {
    return this.#controller?.activeCalls ?? 0;
  }

  /**
   * Where this host's rtpengine takes ng commands (loopback, once started): `list` and `query`
   * show each call's streams, with the address the SDP named and the one media came from.
   */
  get rtpengineControl(): { readonly host: string; readonly port: number } | undefined {
    return this.#rtpengine?.state === "running" ? { host: this.#rtpengine.ngHost, port: this.#rtpengine.ngPort } : undefined;
  }

  /**
   * SIGTERM (or scale-in): take no new calls (the pool and the edge hear it at once; INVITEs
   * and OPTIONS get 503), let calls go on for up to `graceInMs`, then end those left (bots
   * leave, devices get a BYE) and leave the pool. Resolves once drained.
   */
  async drain(graceInMs: number): Promise<void> {
    const deadline = new Date(Date.now() + graceInMs);
    this.#drainUntil(deadline);
    await this.#membership?.drainSelf(deadline).catch(() => {});
    await this.#drained;
  }

  /** A drain starts, moves its deadline, or is called off (undrain: null). */
  #drainUntil(deadline: Date | null): void {
    if (deadline === null) {
      if (!this.#drainDeadline) return;
      this.#options.logger.info("undrained: taking calls again");
      this.#drainDeadline = undefined;
      clearInterval(this.#drainWatch);
      return;
    }
    const first = this.#drainDeadline === undefined;
    this.#drainDeadline = deadline;
    if (!first) return;
    this.#options.logger.info({ deadline: deadline.toISOString(), activeCalls: this.activeCalls }, "draining: no new calls");
    this.#drained = new Promise<void>((resolve) => {
      this.#drainWatch = setInterval(() => {
        const until = this.#drainDeadline;
        if (!until || (this.activeCalls > 0 && Date.now() < until.getTime())) return;
        clearInterval(this.#drainWatch);
        void this.#finishDrain().then(resolve);
      }, 250);
    });
  }

  async #finishDrain(): Promise<void> {
    const o = this.#options;
    if (this.activeCalls > 0) {
      o.logger.info({ activeCalls: this.activeCalls }, "drain deadline: ending the calls still up");
      await this.endCalls(DRAIN_DEADLINE_REASON);
    }
    await this.#membership?.leave().catch((e: Error) => o.logger.warn({ err: e.message }, "leaving the pool failed (the lease lapses by itself)"));
    o.logger.info("drained: out of the pool");
    this.emit("drained");
  }

  /** Ends the calls still up (after the drain grace): bots leave, devices get a BYE. */
  async endCalls(reason: string): Promise<void> {
    await this.#controller?.endAll(reason);
  }

  async stop(): Promise<void> {
    clearInterval(this.#drainWatch);
    await this.#membership?.stop();
    await this.#controller?.close();
    for (const transport of this.#transports) await transport.close().catch(() => {});
    await this.#health?.close();
    await this.#meetingLegs?.close();
    await this.#streamWatch?.stop();
    await this.#probe?.stop();
    await this.#client?.close().catch(() => {});
    await this.#rtpengine?.stop().catch(() => {});
    await this.#dtmf?.close().catch(() => {});
  }
}

/** Linux's default net.core.rmem_default (212992 bytes); see #watchRtpengine. */
const KERNEL_RMEM_DEFAULT = 212992;

/** IP literals and CIDR blocks ("10.0.1.0/24", "203.0.113.5", "2001:db8::/32"). */
function addressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix] = entry.trim().split("/");
    const type = isIPv6(address) ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

function hostForUri(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}
