import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type InviteOutcome = "answered" | "refused" | "cancelled" | "failed" | "rejected-malformed" | "unavailable";

/**
 * What an operator watches on a media host (Prometheus): calls in progress, how
 * INVITEs ended, how long setup took, and how quickly rtpengine answers.
 */
export class MediaHostMetrics {
  readonly registry = new Registry();
  readonly activeCalls: Gauge;
  readonly newInvites: Counter;
  readonly invites: Counter<"outcome">;
  readonly setupSeconds: Histogram;
  /** Where a direct dial's set-up time goes, phase by phase (see CallController: SetupPhase). */
  readonly setupPhaseSeconds: Histogram<"phase">;
  readonly rtpengineSeconds: Histogram<"command">;
  readonly keyframeRequests: Counter<"towards" | "via">;
  readonly meetingLegsEnded: Counter<"reason">;
  readonly rtpengineProbeSeconds: Histogram;
  readonly rtpengineStalls: Counter;
  readonly rtpengineComplaints: Counter<"kind">;
  readonly deafStreams: Counter<"party" | "kind">;
  readonly deafStreamsNow: Gauge;

  constructor(labels: { mediaHostId: string }) {
    this.registry.setDefaultLabels({ media_host: labels.mediaHostId });
    collectDefaultMetrics({ register: this.registry, prefix: "cvi_media_host_" });
    this.activeCalls = new Gauge({ name: "cvi_active_calls", help: "Device calls in progress on this media host", registers: [this.registry] });
    this.newInvites = new Counter({
      name: "cvi_new_invites_total",
      help: "INVITEs for new calls that reached this host, taken or refused (a drained host sees none)",
      registers: [this.registry],
    });
    this.invites = new Counter({
      name: "cvi_invites_total",
      help: "INVITEs received, by outcome",
      labelNames: ["outcome"],
      registers: [this.registry],
    });
    this.setupSeconds = new Histogram({
      name: "cvi_call_setup_seconds",
      help: "INVITE to 200 OK (direct dial) or to joining (IVR)",
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21],
      registers: [this.registry],
    });
    this.setupPhaseSeconds = new Histogram({
      name: "cvi_call_setup_phase_seconds",
      help: "A direct dial's set-up by phase: meeting-leg (its sockets), anchor (rtpengine offer, the leg's answer, rtpengine answer), meeting-offer (the WebRTC offer and its ICE gathering), join-request (the control plane's join, Graph's POST included), until-established (Graph's establishing until the call update reaches this host)",
      labelNames: ["phase"],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.rtpengineSeconds = new Histogram({
      name: "cvi_rtpengine_request_seconds",
      help: "rtpengine ng request latency, by command",
      labelNames: ["command"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [this.registry],
    });
    this.keyframeRequests = new Counter({
      name: "cvi_keyframe_requests_total",
      help: "Keyframe requests passed on, towards the device or the meeting, by how (RTCP PLI/FIR or SIP INFO)",
      labelNames: ["towards", "via"],
      registers: [this.registry],
    });
    this.meetingLegsEnded = new Counter({
      name: "cvi_meeting_legs_failed_total",
      help: "Calls ended by their meeting leg: the device's media timeout, never connected, ICE/DTLS failure, the media server gone (ICE consent), ended by the meeting's media server",
      labelNames: ["reason"],
      registers: [this.registry],
    });
    this.rtpengineProbeSeconds = new Histogram({
      name: "cvi_rtpengine_probe_delay_seconds",
      help: "How long rtpengine took to relay each packet of the host's probe stream (20 ms apart): its responsiveness, calls or none",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    this.rtpengineStalls = new Counter({
      name: "cvi_rtpengine_stalls_total",
      help: "Times rtpengine held the probe stream's packets longer than 50 ms (or lost them): a stall of its media threads",
      registers: [this.registry],
    });
    this.rtpengineComplaints = new Counter({
      name: "cvi_rtpengine_receive_queue_overflows_total",
      help: "rtpengine's own log: a port's receive queue held more than 50 datagrams at one wake-up (queue-full), or it stopped reading a port (port-given-up)",
      labelNames: ["kind"],
      registers: [this.registry],
    });
    this.deafStreams = new Counter({
      name: "cvi_media_streams_deaf_total",
      help: "Streams rtpengine stopped reading while their sender went on (datagrams queued or dropped by the kernel, rtpengine's count standing still), by whose media and its kind",
      labelNames: ["party", "kind"],
      registers: [this.registry],
    });
    const deafNow = () => this.deafStreamsNowSource();
    this.deafStreamsNow = new Gauge({
      name: "cvi_media_streams_deaf",
      help: "Streams of calls in progress that rtpengine is not reading (deaf, not recovered)",
      registers: [this.registry],
      collect() {
        this.set(deafNow());
      },
    });
  }

  /** Set by the host: how many streams are deaf now (see calls/streamWatch.ts). */
  deafStreamsNowSource: () => number = () => 0;

  countKeyframeRequest(towards: "device" | "meeting", via: "rtcp" | "sip-info"): void {
    this.keyframeRequests.inc({ towards, via });
  }

  /** A meeting leg that failed, by kind of failure (the text of the reason stays in the logs). */
  countMeetingLegEnded(reason: string): void {
    const kind = /consent/.test(reason)
      ? "media-server-gone"
      : /timeout/.test(reason)
        ? "media-timeout"
        : /never connected/.test(reason)
          ? "never-connected"
          : /ICE|DTLS|closed/.test(reason)
            ? "connection-failed"
            : /media server ended/.test(reason)
              ? "ended-by-meeting"
              : "other";
    this.meetingLegsEnded.inc({ reason: kind });
  }

  countInvite(outcome: InviteOutcome): void {
    this.invites.inc({ outcome });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
