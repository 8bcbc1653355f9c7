import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import type { OfferRequest } from "../../../media-host/rtpengine/ngProtocol.js";
import { mediaEndpoint, parseSdp, payloadTypeOf } from "../../../media-host/rtpengine/sdp.js";
import {
  decodeMuLaw,
  estimateFrequency,
  newCallId,
  PCMU,
  plainAudioSdp,
  RtpPeer,
  sineWav,
  sleep,
  useRtpengine,
  TELEPHONE_EVENT,
} from "./support/harness.js";

const rtpengine = useRtpengine();
let mediaDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  mediaDir = await mkdtemp(join(tmpdir(), "opencvi-rtpengine-media-"));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(async () => {
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

interface Call {
  readonly callId: string;
  readonly caller: RtpPeer;
  readonly callee: RtpPeer;
  /** Where the caller sends (rtpengine's port in the answer). */
  readonly callerSendsTo: { address: string; port: number };
  /** Where the callee sends (rtpengine's port in the offer). */
  readonly calleeSendsTo: { address: string; port: number };
  readonly offerSdp: string;
  readonly answerSdp: string;
}

/**
 * Two test endpoints on loopback and one call between them through rtpengine. The
 * caller's SDP may advertise another address than the one it sends from (as baresip
 * does): rtpengine has to learn the real one from the caller's packets.
 */
async function setUpCall(
  options: {
    readonly offer?: Partial<OfferRequest>;
    readonly callerAdvertises?: { address: string; port: number };
    readonly calleeCodecs?: readonly { pt: number; rtpmap: string; fmtp?: string }[];
  } = {},
): Promise<Call> {
  const caller = await RtpPeer.open();
  const callee = await RtpPeer.open();
  const callId = newCallId("media");
  cleanups.push(
    () => rtpengine().client.delete({ "call-id": callId }),
    () => caller.close(),
    () => callee.close(),
  );
  const advertised = options.callerAdvertises ?? { address: caller.address, port: caller.port };
  const offer = await rtpengine().client.offer({
    flags: ["trust-address"],
    replace: ["origin", "session-connection"],
    ...options.offer,
    "call-id": callId,
    "from-tag": "caller",
    sdp: plainAudioSdp({ address: advertised.address, port: advertised.port, user: "caller" }),
  });
  const answer = await rtpengine().client.answer({
    "call-id": callId,
    "from-tag": "caller",
    "to-tag": "callee",
    sdp: plainAudioSdp({
      address: callee.address,
      port: callee.port,
      user: "callee",
      codecs: options.calleeCodecs ?? [PCMU, TELEPHONE_EVENT],
    }),
    flags: ["trust-address"],
    replace: ["origin", "session-connection"],
  });
  return {
    callId,
    caller,
    callee,
    callerSendsTo: mediaEndpoint(parseSdp(answer.sdp)),
    calleeSendsTo: mediaEndpoint(parseSdp(offer.sdp)),
    offerSdp: offer.sdp,
    answerSdp: answer.sdp,
  };
}

describe("media through rtpengine", () => {
  it("relays RTP both ways, from the ports it advertised, unchanged (plain relay)", async () => {
    const call = await setUpCall();
    assert.equal(call.callerSendsTo.address, "127.0.0.1");

    const payload = Buffer.from(Array.from({ length: 160 }, (_, i) => i & 0xff));
    await call.caller.sendAudio(call.callerSendsTo, 25, { payload });
    await call.callee.waitFor("25 packets at the callee", (r) => r.length >= 25);
    const atCallee = call.callee.received;
    assert.ok(
      atCallee.every((p) => p.payloadType === 0 && p.ssrc === call.caller.ssrc && p.payload.equals(payload)),
      "payload type, SSRC and payload pass through",
    );
    assert.ok(
      atCallee.every((p) => p.from.port === call.calleeSendsTo.port),
      "rtpengine sends from the port it advertised to the callee (symmetric RTP)",
    );
    const sequences = atCallee.map((p) => p.sequence);
    assert.deepEqual(
      sequences,
      sequences.map((_, i) => (sequences[0]! + i) & 0xffff),
      "in order, none lost",
    );

    await call.callee.sendAudio(call.calleeSendsTo, 25);
    await call.caller.waitFor("25 packets at the caller", (r) => r.length >= 25);
    assert.ok(call.caller.received.every((p) => p.ssrc === call.callee.ssrc && p.from.port === call.callerSendsTo.port));

    const query = await rtpengine().client.query({ "call-id": call.callId });
    assert.ok(query.totals.RTP.packets >= 50, `rtpengine counted ${query.totals.RTP.packets} RTP packets`);
    const callerStream = query.tags.caller?.medias[0]?.streams[0];
    assert.equal(callerStream?.stats.packets, 25, "the caller's 25 packets arrived on the caller's stream");
    assert.equal(callerStream?.SSRC, call.caller.ssrc);
  });

  it("learns the caller's real address from its packets when the SDP advertised another (latching)", async () => {
    const call = await setUpCall({ callerAdvertises: { address: "192.0.2.10", port: 20000 } });
    // The caller speaks first; rtpengine latches onto where those packets come from.
    await call.caller.sendAudio(call.callerSendsTo, 5);
    await call.callee.waitFor("the caller's packets at the callee", (r) => r.length >= 5);
    await call.callee.sendAudio(call.calleeSendsTo, 10);
    await call.caller.waitFor("the callee's packets at the caller's real address", (r) => r.length >= 5);
    const stream = (await rtpengine().client.query({ "call-id": call.callId })).tags.caller?.medias[0]?.streams[0];
    assert.deepEqual(stream?.endpoint, { family: "IPv4", address: "127.0.0.1", port: call.caller.port });
    assert.deepEqual(stream?.["advertised endpoint"], { family: "IPv4", address: "192.0.2.10", port: 20000 });
  });

  it("transcodes: the caller sends PCMU, the callee (offered opus only) receives opus", async () => {
    const call = await setUpCall({
      offer: { codec: { transcode: ["opus"], mask: ["PCMU"] } },
      calleeCodecs: [
        { pt: 96, rtpmap: "opus/48000/2", fmtp: "useinbandfec=1" },
        { pt: 97, rtpmap: "telephone-event/48000", fmtp: "0-15" },
      ],
    });
    const offered = parseSdp(call.offerSdp).media[0]!;
    assert.equal(payloadTypeOf(offered, "opus"), 96);
    assert.equal(payloadTypeOf(offered, "PCMU"), undefined);

    // Loud, not silence (μ-law 0x10 and 0x90 are large positive and negative samples).
    const pcmu = Buffer.from(Array.from({ length: 160 }, (_, i) => (i % 8 < 4 ? 0x10 : 0x90)));
    await call.caller.sendAudio(call.callerSendsTo, 20, { payload: pcmu });
    await call.callee.waitFor("opus packets at the callee", (r) => r.filter((p) => p.payloadType === 96).length >= 10);
    assert.ok(
      call.callee.received.every((p) => p.payloadType === 96 && p.ssrc !== call.caller.ssrc),
      "only opus arrives, with rtpengine's own SSRC (a new stream, not a relay)",
    );
    assert.ok(
      call.callee.received.every((p) => p.payload.length < 160),
      "opus frames, not 160-byte PCMU",
    );
  });

  it("plays a wav file towards the participant named by from-tag", async () => {
    const file = join(mediaDir, "tone-440.wav");
    await writeFile(file, sineWav({ frequency: 440, durationInMs: 400 }));
    const call = await setUpCall();

    const played = await rtpengine().client.playMedia({ "call-id": call.callId, "from-tag": "caller", file });
    assert.equal(played.duration, 400);
    await call.caller.waitFor("20 packets of the file at the caller", (r) => r.length >= 20);
    await sleep(100);
    assert.equal(call.callee.received.length, 0, "the callee hears nothing");

    const packets = call.caller.received;
    assert.ok(
      packets.every((p) => p.payloadType === 0 && p.payload.length === 160),
      "PCMU, the caller's preferred codec, 20 ms per packet",
    );
    assert.ok(packets.length <= 21, `about 400 ms of packets, got ${packets.length}`);
    const samples = packets.flatMap((p) => [...p.payload].map(decodeMuLaw));
    const frequency = estimateFrequency(samples, 8000);
    assert.ok(Math.abs(frequency - 440) < 25, `the tone arrives at about 440 Hz (measured ${frequency.toFixed(1)} Hz)`);
  });

  it("stop media ends a playback early", async () => {
    const file = join(mediaDir, "tone-long.wav");
    await writeFile(file, sineWav({ frequency: 440, durationInMs: 3000 }));
    const call = await setUpCall();
    await rtpengine().client.playMedia({ "call-id": call.callId, "from-tag": "callee", file });
    await call.callee.waitFor("the start of the file at the callee", (r) => r.length >= 5);
    await rtpengine().client.stopMedia({ "call-id": call.callId, "from-tag": "callee" });
    await sleep(100);
    const afterStop = call.callee.received.length;
    await sleep(300);
    assert.ok(call.callee.received.length - afterStop <= 1, "no more packets after stop media");
    assert.ok(afterStop < 60, `stopped long before the file's 150 packets (got ${afterStop})`);
  });

  it("rejects play media for an unknown call or a missing file with RtpengineError", async () => {
    await assert.rejects(
      rtpengine().client.playMedia({ "call-id": newCallId(), "from-tag": "x", file: join(mediaDir, "tone-440.wav") }),
      /Unknown call-id/i,
    );
    const call = await setUpCall();
    await assert.rejects(rtpengine().client.playMedia({ "call-id": call.callId, "from-tag": "caller", file: join(mediaDir, "missing.wav") }), {
      name: "RtpengineError",
    });
  });
});
