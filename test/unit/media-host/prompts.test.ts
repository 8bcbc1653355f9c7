import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Prompt } from "../../../media-host/domain/ivr.js";
import { generatePrompts } from "../../../media-host/prompts/generatePrompts.js";
import { PROMPT_TEXTS } from "../../../media-host/prompts/promptTexts.js";

/** Duration in seconds of a PCM WAV file, from its header. */
function wavSeconds(path: string): { seconds: number; sampleRate: number; channels: number } {
  const data = readFileSync(path);
  assert.equal(data.toString("ascii", 0, 4), "RIFF");
  assert.equal(data.toString("ascii", 8, 12), "WAVE");
  const channels = data.readUInt16LE(22);
  const sampleRate = data.readUInt32LE(24);
  const byteRate = data.readUInt32LE(28);
  return { seconds: (data.length - 44) / byteRate, sampleRate, channels };
}

describe("IVR prompts spoken at set-up with espeak-ng", () => {
  it("every prompt id has a text and a spoken WAV; unchanged texts are not remade", async () => {
    assert.deepEqual(Object.keys(PROMPT_TEXTS).sort(), Object.values(Prompt).sort());
    const directory = mkdtempSync(join(tmpdir(), "prompts-"));
    const made = await generatePrompts({ directory });
    assert.deepEqual(made, Object.values(Prompt).sort());
    for (const id of Object.values(Prompt)) {
      const wav = wavSeconds(join(directory, `${id}.wav`));
      assert.equal(wav.channels, 1);
      assert.ok(wav.seconds > 1 && wav.seconds < 15, `${id} lasts ${wav.seconds}s`);
    }
    const before = statSync(join(directory, "goodbye.wav")).mtimeMs;
    assert.deepEqual(await generatePrompts({ directory }), []);
    assert.equal(statSync(join(directory, "goodbye.wav")).mtimeMs, before);
  });
});
