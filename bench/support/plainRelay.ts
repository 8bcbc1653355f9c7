import type { RtpengineClient } from "../../media-host/rtpengine/rtpengineClient.js";
import { PlainRtpDevice } from "../../test/support/media/plainRtpDevice.js";

/**
 * Device A ⇄ rtpengine ⇄ device B, plain RTP (Opus) on both sides: rtpengine's own relay,
 * the reference the benches measure the whole media path against.
 */
export async function openPlainRelay(rtpengine: RtpengineClient, callId: string): Promise<{ a: PlainRtpDevice; b: PlainRtpDevice }> {
  const a = await PlainRtpDevice.open({ audio: "opus" });
  const b = await PlainRtpDevice.open({ audio: "opus" });
  const offer = await rtpengine.offer({ "call-id": callId, "from-tag": "a", sdp: a.offer(), replace: ["origin", "session-connection"] });
  const answer = await rtpengine.answer({
    "call-id": callId,
    "from-tag": "a",
    "to-tag": "b",
    sdp: b.offer(),
    replace: ["origin", "session-connection"],
  });
  a.answered(answer.sdp);
  b.answered(offer.sdp);
  return { a, b };
}
