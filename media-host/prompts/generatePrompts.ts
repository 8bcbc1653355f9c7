#!/usr/bin/env node
// Set-up step: speaks every IVR prompt to a WAV file with espeak-ng (Debian), once per
// text: a prompt is remade only when its text changed. Usage: generatePrompts.js [dir]
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PROMPT_TEXTS } from "./promptTexts.js";

const run = promisify(execFile);

export interface GeneratePromptsOptions {
  readonly directory: string;
  /** espeak-ng voice; a neutral English one by default. */
  readonly voice?: string;
  readonly wordsPerMinute?: number;
}

/** Writes `<prompt id>.wav` for every prompt into the directory; returns the ids it (re)made. */
export async function generatePrompts(options: GeneratePromptsOptions): Promise<string[]> {
  mkdirSync(options.directory, { recursive: true });
  const voice = options.voice ?? "en-us";
  const speed = String(options.wordsPerMinute ?? 155);
  const made: string[] = [];
  await Promise.all(
    Object.entries(PROMPT_TEXTS).map(async ([id, text]) => {
      const wav = join(options.directory, `${id}.wav`);
      const stamp = join(options.directory, `${id}.sha256`);
      const digest = createHash("sha256").update(`${voice}|${speed}|${text}`).digest("hex");
      if (existsSync(wav) && existsSync(stamp) && readFileSync(stamp, "utf8") === digest) return;
      await run("espeak-ng", ["-v", voice, "-s", speed, "-w", `${wav}.tmp`, text]);
      renameSync(`${wav}.tmp`, wav);
      writeFileSync(stamp, digest);
      made.push(id);
    }),
  );
  return made.sort();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const directory = process.argv[2] ?? ".local/prompts";
  generatePrompts({ directory }).then(
    (made) => process.stdout.write(made.length ? `prompts: made ${made.join(", ")} in ${directory}\n` : ""),
    (e: Error) => {
      process.stderr.write(`prompts: ${e.message} (espeak-ng is installed by scripts/setup.sh)\n`);
      process.exit(1);
    },
  );
}
