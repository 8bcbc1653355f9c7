import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { AnswerRequest, OfferRequest } from "../../../media-host/rtpengine/ngProtocol.js";
import { newCallId, repoRoot, useRtpengine } from "./support/harness.js";
import { normaliseSdp } from "./support/sdpNormaliser.js";

/**
 * Golden files (test/integration/rtpengine/golden, see its README.md): for each case,
 * `<name>.input.sdp` is offered with the options in `<name>.flags.json`, and rtpengine's
 * rewritten SDP, normalised, must equal `<name>.expected.sdp`. When `<name>.answer.sdp`
 * exists it is then answered (with the flags file's "answer" options) and the result
 * must equal `<name>.answer.expected.sdp`. UPDATE_GOLDEN=1 rewrites the expected files
 * instead (review the diff!); the flags file's mustContain/mustNotContain lines are
 * checked either way.
 */

interface GoldenFlags {
  readonly description: string;
  readonly offer: Omit<OfferRequest, "call-id" | "from-tag" | "sdp">;
  readonly answer?: Omit<AnswerRequest, "call-id" | "from-tag" | "to-tag" | "sdp">;
  readonly mustContain?: { readonly offer?: readonly string[]; readonly answer?: readonly string[] };
  readonly mustNotContain?: { readonly offer?: readonly string[]; readonly answer?: readonly string[] };
}

const goldenDir = join(repoRoot(), "test", "integration", "rtpengine", "golden");
const update = process.env.UPDATE_GOLDEN === "1";
const read = (file: string) => readFileSync(join(goldenDir, file), "utf8");
/** Golden SDP files are LF; rtpengine gets CRLF as SIP carries it. */
const toCrlf = (sdp: string) => sdp.replace(/\r?\n/g, "\r\n");

const rtpengine = useRtpengine();

function checkStep(name: string, step: "offer" | "answer", sdp: string, flags: GoldenFlags): void {
  assert.match(sdp, /^v=0\r\n/, `${name} ${step}: not an SDP`);
  assert.ok(sdp.endsWith("\r\n") && !/[^\r]\n/.test(sdp), `${name} ${step}: rtpengine's SDP should have CRLF line endings only`);
  const normalised = normaliseSdp(sdp);
  const expectedFile = step === "offer" ? `${name}.expected.sdp` : `${name}.answer.expected.sdp`;
  if (update) writeFileSync(join(goldenDir, expectedFile), normalised);
  const lines = normalised.split("\n");
  for (const wanted of flags.mustContain?.[step] ?? []) {
    assert.ok(lines.includes(wanted), `${name} ${step}: line ${JSON.stringify(wanted)} is missing from\n${normalised}`);
  }
  for (const unwanted of flags.mustNotContain?.[step] ?? []) {
    assert.ok(!normalised.includes(unwanted), `${name} ${step}: ${JSON.stringify(unwanted)} should not occur in\n${normalised}`);
  }
  assert.equal(normalised, read(expectedFile), `${name} ${step}: differs from ${expectedFile}`);
}

describe("rtpengine golden files (test/integration/rtpengine/golden)", () => {
  const names = readdirSync(goldenDir)
    .filter((f) => f.endsWith(".input.sdp"))
    .map((f) => f.slice(0, -".input.sdp".length))
    .sort();

  it("has the expected set of cases, each complete", () => {
    for (const wanted of [
      "plain-rtp-offer",
      "sdes-srtp-device",
      "transcode-pcmu-adds-opus",
      "transcode-pcmu-to-opus-only",
      "webrtc-leg-offer",
      "webrtc-offer-to-device",
    ]) {
      assert.ok(names.includes(wanted), `golden case ${wanted} is missing`);
    }
    for (const name of names) {
      assert.ok(existsSync(join(goldenDir, `${name}.flags.json`)), `${name}.flags.json is missing`);
      if (update) continue;
      assert.ok(existsSync(join(goldenDir, `${name}.expected.sdp`)), `${name}.expected.sdp is missing`);
      if (existsSync(join(goldenDir, `${name}.answer.sdp`))) {
        assert.ok(existsSync(join(goldenDir, `${name}.answer.expected.sdp`)), `${name}.answer.expected.sdp is missing`);
      }
    }
  });

  for (const name of names) {
    it(`${name}`, async () => {
      const flags = JSON.parse(read(`${name}.flags.json`)) as GoldenFlags;
      const callId = newCallId(`golden-${name}`);
      try {
        const offered = await rtpengine().client.offer({
          ...flags.offer,
          "call-id": callId,
          "from-tag": "caller",
          sdp: toCrlf(read(`${name}.input.sdp`)),
        });
        checkStep(name, "offer", offered.sdp, flags);
        if (existsSync(join(goldenDir, `${name}.answer.sdp`))) {
          assert.ok(flags.answer, `${name}.flags.json needs "answer" options for ${name}.answer.sdp`);
          const answered = await rtpengine().client.answer({
            ...flags.answer,
            "call-id": callId,
            "from-tag": "caller",
            "to-tag": "callee",
            sdp: toCrlf(read(`${name}.answer.sdp`)),
          });
          checkStep(name, "answer", answered.sdp, flags);
        }
      } finally {
        await rtpengine().client.delete({ "call-id": callId });
      }
    });
  }
});
