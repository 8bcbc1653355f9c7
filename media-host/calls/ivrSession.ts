import { join } from "node:path";
import type { Logger } from "pino";
import type { ResolvedMeeting } from "../../shared/domain/resolution.js";
import { type IvrCommand, type IvrInput, type IvrState, isGuessFailure, ivrStep, startIvr } from "../domain/ivr.js";
import type { FailedAttemptLimiter } from "../domain/failedAttemptLimiter.js";
import type { ControlPlaneClient } from "../controlPlane/controlPlaneClient.js";
import type { RtpengineClient } from "../rtpengine/rtpengineClient.js";
import type { ServerDialog } from "../sip/serverDialog.js";

export interface IvrSessionOptions {
  readonly dialog: ServerDialog;
  readonly tenantKey: string;
  readonly source: string;
  readonly rtpengine: RtpengineClient;
  readonly controlPlane: Pick<ControlPlaneClient, "resolve">;
  readonly limiter: FailedAttemptLimiter;
  readonly promptsDirectory: string;
  readonly log: Logger;
  /** Called with the meeting once the caller's ID resolved: the controller joins it. */
  readonly join: (meeting: ResolvedMeeting) => void;
  readonly now?: () => number;
}

/**
 * Runs the IVR reducer (media-host/domain/ivr.ts) for one call: executes its commands
 * (prompts through rtpengine's play media, look-ups through the control plane, hang-up)
 * and feeds it the world's events (digits, prompt ends, deadlines, look-up results).
 */
export class IvrSession {
  readonly #options: IvrSessionOptions;
  #state: IvrState | undefined;
  #timer: NodeJS.Timeout | undefined;
  #promptTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: IvrSessionOptions) {
    this.#options = options;
  }

  start(): void {
    const step = startIvr(this.#options.tenantKey, this.#now());
    this.#state = step.state;
    this.#execute(step.commands);
    this.#arm();
  }

  digit(digit: string, eventId: string): void {
    this.#input({ type: "digit", digit, eventId, atMs: this.#now() });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#promptTimer);
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #input(input: IvrInput): void {
    if (this.#closed || !this.#state) return;
    const step = ivrStep(this.#state, input);
    this.#state = step.state;
    this.#execute(step.commands);
    this.#arm();
  }

  /** One timer for the reducer's next deadline. */
  #arm(): void {
    clearTimeout(this.#timer);
    const state = this.#state;
    const deadline = state && "deadlineMs" in state ? state.deadlineMs : undefined;
    if (this.#closed || deadline === undefined) return;
    this.#timer = setTimeout(() => this.#input({ type: "tick", atMs: this.#now() }), Math.max(0, deadline - this.#now()));
  }

  #execute(commands: readonly IvrCommand[]): void {
    const { dialog, rtpengine, log } = this.#options;
    const participant = { "call-id": dialog.callId, "from-tag": dialog.remoteTag ?? "device" };
    for (const command of commands) {
      switch (command.type) {
        case "play":
        case "play-refusal": {
          const file = join(this.#options.promptsDirectory, `${command.prompt}.wav`);
          rtpengine.playMedia({ ...participant, file }).then(
            (played) => {
              clearTimeout(this.#promptTimer);
              const at = played.duration ?? 0;
              this.#promptTimer = setTimeout(() => this.#input({ type: "prompt-finished", playId: command.playId, atMs: this.#now() }), at);
            },
            (e: Error) => {
              log.warn({ err: e.message, prompt: command.prompt }, "prompt could not be played");
              this.#input({ type: "prompt-finished", playId: command.playId, atMs: this.#now() });
            },
          );
          break;
        }
        case "stop-prompt":
          clearTimeout(this.#promptTimer);
          rtpengine.stopMedia(participant).catch(() => {});
          break;
        case "resolve":
          this.#options.controlPlane.resolve(command.tenantKey, command.vtcId).then(
            (result) => this.#input({ type: "resolution", result, atMs: this.#now() }),
            () => this.#input({ type: "resolution-failed", atMs: this.#now() }),
          );
          break;
        case "attempt-failed":
          if (isGuessFailure(command.reason)) this.#options.limiter.recordFailure(this.#options.source, this.#now());
          log.info({ attempt: command.attempt, reason: command.reason }, "IVR attempt failed");
          break;
        case "join":
          this.close();
          this.#options.join(command.meeting);
          break;
        case "hang-up":
          this.close();
          void dialog.bye(command.text).catch(() => {});
          break;
      }
    }
  }
}
