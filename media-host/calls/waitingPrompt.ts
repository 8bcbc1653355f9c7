import { join } from "node:path";
import type { Logger } from "pino";
import type { PromptId } from "../domain/ivr.js";
import type { RtpengineClient } from "../rtpengine/rtpengineClient.js";

export interface WaitingPromptOptions {
  /** rtpengine's participant: the call (SIP Call-ID) and the device's tag; the prompt plays to the device. */
  readonly callId: string;
  readonly deviceTag: string;
  readonly rtpengine: Pick<RtpengineClient, "playMedia" | "stopMedia">;
  readonly promptsDirectory: string;
  readonly log: Logger;
  /** Silence between two plays of the prompt, so a long lobby wait is not a wall of speech. */
  readonly pauseInMs?: number;
}

/**
 * Speaks to a device that waits for something it cannot see (the meeting's lobby): plays
 * a prompt, pauses, plays it again, until stopped. `playOnce` speaks a last prompt and
 * resolves when it has been heard (for the reason before a BYE).
 */
export class WaitingPrompt {
  readonly #options: WaitingPromptOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(options: WaitingPromptOptions) {
    this.#options = options;
  }

  get playing(): boolean {
    return !this.#stopped;
  }

  /** Repeats `prompt` until `stop()`. */
  loop(prompt: PromptId): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const again = async () => {
      if (this.#stopped) return;
      const durationInMs = await this.#play(prompt);
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void again(), durationInMs + (this.#options.pauseInMs ?? 8000));
    };
    void again();
  }

  /** Stops the loop and whatever is playing. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#options.rtpengine.stopMedia(this.#participant()).catch(() => {});
  }

  /** Stops any loop, plays `prompt` once and resolves after it (at most `maxWaitInMs`). */
  async playOnce(prompt: PromptId, maxWaitInMs = 10_000): Promise<void> {
    await this.stop();
    const durationInMs = await this.#play(prompt);
    await new Promise((resolve) => setTimeout(resolve, Math.min(durationInMs, maxWaitInMs)));
  }

  /** Plays the prompt's file; its duration in ms (0 when it could not be played: nothing to wait for). */
  async #play(prompt: PromptId): Promise<number> {
    const file = join(this.#options.promptsDirectory, `${prompt}.wav`);
    try {
      const played = await this.#options.rtpengine.playMedia({ ...this.#participant(), file });
      return played.duration ?? 0;
    } catch (e) {
      this.#options.log.warn({ err: (e as Error).message, prompt }, "prompt could not be played");
      return 0;
    }
  }

  #participant() {
    return { "call-id": this.#options.callId, "from-tag": this.#options.deviceTag };
  }
}
