/**
 * The simulated calls of bench/media.ts and bench/content.ts: a plain RTP device whose offer
 * goes to the bridge process (rtpengine → BridgedStream → werift), a werift MeetingPeer in
 * the meeting's place, and their paced, stamped audio and main video (bench/support/traffic.ts)
 * both ways at 1080p30-like rates. Also the relay probe: the same streams through rtpengine
 * alone (plain device ⇄ rtpengine ⇄ plain device), the path without the bridge.
 */
import { randomInt } from "node:crypto";
import type { RtpengineClient } from "../../media-host/rtpengine/rtpengineClient.js";
import { MeetingPeer } from "../../test/support/media/meetingPeer.js";
import { DEVICE_VIDEO_PT, PlainRtpDevice } from "../../test/support/media/plainRtpDevice.js";
import type { BridgeProcess } from "./bridgeProcess.js";
import { openPlainRelay } from "./plainRelay.js";
import { AUDIO, payloadOffset, RELAY_AB, RELAY_BA, type Stream, TO_DEVICE, TO_MEETING, type Traffic, VIDEO } from "./traffic.js";

/** Per call and direction: 350 video packets/s (1,100-byte payloads, 12 per frame) and 50 audio packets/s (160 bytes, Opus). */
export const VIDEO_PPS = 350;
export const AUDIO_PPS = 50;
export const VIDEO_BYTES = 1100;
export const AUDIO_BYTES = 160;

export interface BenchCall {
  readonly index: number;
  readonly callId: string;
  readonly device: PlainRtpDevice;
  readonly peer: MeetingPeer;
}

const noop = () => {};

/** A device's audio and main video towards `direction`, added to the paced streams. */
export function deviceStreams(traffic: Traffic, index: number, device: PlainRtpDevice, direction: number): Stream[] {
  return [
    traffic.add({
      call: index,
      kind: AUDIO,
      direction,
      rate: AUDIO_PPS,
      size: AUDIO_BYTES,
      payloadType: 111,
      clockStep: 960,
      send: (p) => device.sendAudio(p),
    }),
    traffic.add({
      call: index,
      kind: VIDEO,
      direction,
      rate: VIDEO_PPS,
      size: VIDEO_BYTES,
      payloadType: DEVICE_VIDEO_PT,
      clockStep: 3000,
      packetsPerFrame: 12,
      send: (p) => device.sendVideo(p),
    }),
  ];
}

/** Counts what reaches the device's audio and main video sockets as arriving in `direction`. */
export function listen(traffic: Traffic, device: PlainRtpDevice, direction: number): void {
  for (const [kind, socket] of [
    [AUDIO, device.audioSocket],
    [VIDEO, device.videoSocket],
  ] as const)
    socket.on("message", (datagram: Buffer) => {
      const offset = payloadOffset(datagram);
      if (offset >= 0) traffic.receive(datagram.subarray(offset), kind, direction);
    });
}

export interface AddCallOptions {
  /** The device also offers a slides m-line (the bridge process must take content for it to be accepted). */
  readonly content?: boolean;
  readonly callIdPrefix?: string;
  /** Content (slides) RTP payloads the meeting peer receives. */
  readonly onContentAtMeeting?: (payload: Buffer) => void;
}

/** One call through the bridge process, its audio and main video paced both ways from the next `traffic.start()`. */
export async function addCall(bridge: BridgeProcess, traffic: Traffic, index: number, options: AddCallOptions = {}): Promise<BenchCall> {
  const callId = `${options.callIdPrefix ?? "bench-media"}-${index}-${randomInt(1e9)}`;
  const device = await PlainRtpDevice.open({ audio: "opus", content: options.content ?? false });
  const { deviceAnswer, blob } = await bridge.request<{ deviceAnswer: string; blob: string }>({ op: "create", callId, deviceOffer: device.offer() });
  device.answered(deviceAnswer);
  const peer = await MeetingPeer.answer(blob);
  await peer.connected();
  deviceStreams(traffic, index, device, TO_MEETING);
  listen(traffic, device, TO_DEVICE);
  // The meeting's side sends straight into its RTP senders (no track in between): this process's own cost stays low.
  const [audio, video] = peer.pc.getTransceivers();
  if (!audio || !video) throw new Error("the meeting peer has no audio or video transceiver");
  for (const [kind, rate, size, clockStep, sender] of [
    [AUDIO, AUDIO_PPS, AUDIO_BYTES, 960, audio.sender],
    [VIDEO, VIDEO_PPS, VIDEO_BYTES, 3000, video.sender],
  ] as const)
    traffic.add({
      call: index,
      kind,
      direction: TO_DEVICE,
      rate,
      size,
      payloadType: kind === AUDIO ? 111 : 102,
      clockStep,
      ...(kind === VIDEO ? { packetsPerFrame: 12 } : {}),
      send: (p) => void sender.sendRtp(p).catch(noop),
    });
  peer.onRtp((kind, rtp) => {
    if (kind === "content") options.onContentAtMeeting?.(rtp.payload);
    else traffic.receive(rtp.payload, kind === "audio" ? AUDIO : VIDEO, TO_MEETING);
  });
  return { index, callId, device, peer };
}

export async function closeCall(bridge: BridgeProcess, traffic: Traffic, call: BenchCall): Promise<void> {
  traffic.remove(call.index);
  await call.peer.close().catch(noop);
  await bridge.request({ op: "close", callId: call.callId }).catch(noop);
  await call.device.close();
}

/** Device A ⇄ rtpengine ⇄ device B, plain RTP both sides, the calls' rates: the path without the bridge. */
export async function relayProbe(
  rtpengine: RtpengineClient,
  traffic: Traffic,
  index: number,
): Promise<{ readonly a: PlainRtpDevice; readonly b: PlainRtpDevice; close(): Promise<unknown> }> {
  const callId = `bench-media-probe-${randomInt(1e9)}`;
  const { a, b } = await openPlainRelay(rtpengine, callId);
  deviceStreams(traffic, index, a, RELAY_AB);
  deviceStreams(traffic, index, b, RELAY_BA);
  listen(traffic, b, RELAY_AB);
  listen(traffic, a, RELAY_BA);
  return { a, b, close: () => Promise.all([a.close(), b.close()]) };
}
