import type { RefusalCode, Resolution, ResolutionRefusal, ResolvedMeeting } from "../../shared/domain/resolution.js";
import { normalizeVtcId } from "../../shared/domain/vtcId.js";

/**
 * The IVR a caller hears after dialing a tenant key alone (`813878896@t.<domain>`):
 * greeting → collecting → resolving → joined | retry prompt | goodbye.
 *
 * A pure reducer: `ivrStep(state, input)` returns the next state and the commands the
 * SIP side executes (play, stop, resolve, join, hang up). The SIP side owns the clock,
 * the media and the HTTP calls; it feeds back what happened (digits, prompt ends,
 * timer ticks, resolution results). A reducer rather than a class with events because
 * every transition is then a value in, values out — replayable from a log, testable
 * as input sequences (and as properties over random ones), no listener lifecycle —
 * and the state is plain data the SIP side can keep next to its dialog.
 *
 * Time is only ever what the inputs say (`atMs`, any monotonic clock). Each state
 * carries `deadlineMs`: the SIP side arranges a `tick` at that time (or later).
 */

/** Prompt ids; the audio files (one per id) come later. */
export const Prompt = {
  WelcomeEnterId: "welcome-enter-id",
  InvalidIdTryAgain: "invalid-id-try-again",
  NoEntryTryAgain: "no-entry-try-again",
  MeetingUnavailableTryAgain: "meeting-unavailable-try-again",
  OrganizerNotEnabledTryAgain: "organizer-not-enabled-try-again",
  UnknownOrganization: "unknown-organization",
  NotConsented: "not-consented",
  ServiceUnavailable: "service-unavailable",
  Goodbye: "goodbye",
  Joining: "joining",
  WaitingInLobby: "waiting-in-lobby",
  NotAdmitted: "not-admitted",
} as const;
export type PromptId = (typeof Prompt)[keyof typeof Prompt];

/** What a refusal makes the caller hear. Tenant-level refusals end the call; the others invite another try. */
export const REFUSAL_PROMPT: Readonly<Record<RefusalCode, PromptId>> = {
  "unknown-tenant-key": Prompt.UnknownOrganization,
  "tenant-not-consented": Prompt.NotConsented,
  "unknown-vtc-id": Prompt.InvalidIdTryAgain,
  "retired-vtc-id": Prompt.MeetingUnavailableTryAgain,
  "organizer-not-enabled": Prompt.OrganizerNotEnabledTryAgain,
};

/** Refusals about the dialed tenant, which no other VTC ID can fix: spoken, then the call ends. */
export const TENANT_LEVEL_REFUSALS: ReadonlySet<RefusalCode> = new Set<RefusalCode>(["unknown-tenant-key", "tenant-not-consented"]);

export type DtmfDigit = "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "*" | "#";
const DTMF_DIGITS: ReadonlySet<string> = new Set(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]);

export interface IvrConfig {
  /** Failed entries (unknown/retired ID, malformed, empty, timeout) before goodbye. */
  readonly maxAttempts: number;
  /** Digits kept per entry; further ones are ignored (VTC IDs have at most 16). */
  readonly maxDigits: number;
  /** After a prompt ends, how long the caller may take to press a first key. */
  readonly firstDigitTimeoutMs: number;
  /** Between two keys: after that long, what was entered is submitted as if `#` was pressed. */
  readonly interDigitTimeoutMs: number;
  /** A prompt whose end is never reported counts as finished after this long. */
  readonly promptTimeoutMs: number;
  /** How long a resolution may take before the call is ended as "service unavailable". */
  readonly resolveTimeoutMs: number;
  /** How many digit event ids are remembered for de-duplication. */
  readonly rememberedEventIds: number;
}

export const DEFAULT_IVR_CONFIG: IvrConfig = {
  maxAttempts: 3,
  maxDigits: 16,
  firstDigitTimeoutMs: 10_000,
  interDigitTimeoutMs: 5_000,
  promptTimeoutMs: 60_000,
  resolveTimeoutMs: 10_000,
  rememberedEventIds: 64,
};

export type IvrPhase = "greeting" | "collecting" | "resolving" | "retry-prompt" | "goodbye" | "joined" | "ended";

/** Why an entry led nowhere. */
export type FailureReason = "empty" | "timeout" | "invalid-format" | RefusalCode;

/** How the call ends: the SIP side sends BYE with `Reason: SIP;cause=<sipStatus>;text="<text>"`. */
export type EndCode = "attempts-exhausted" | "service-unavailable" | "unknown-tenant-key" | "tenant-not-consented";

export type IvrCommand =
  | { readonly type: "play"; readonly playId: number; readonly prompt: PromptId }
  /** Play the refusal: `prompt` is its recording, `sentence` the control plane's words for it (TTS, captions, logs). */
  | { readonly type: "play-refusal"; readonly playId: number; readonly prompt: PromptId; readonly code: RefusalCode; readonly sentence: string }
  /** Barge-in: the caller pressed a key while a prompt played. */
  | { readonly type: "stop-prompt"; readonly playId: number }
  | { readonly type: "resolve"; readonly tenantKey: string; readonly vtcId: string; readonly attempt: number }
  /** An entry failed (for logs and the failed-attempt limiter; see `isGuessFailure`). */
  | { readonly type: "attempt-failed"; readonly attempt: number; readonly reason: FailureReason }
  | { readonly type: "join"; readonly meeting: ResolvedMeeting }
  | { readonly type: "hang-up"; readonly code: EndCode; readonly sipStatus: number; readonly text: string };

export type HangUpCommand = Extract<IvrCommand, { type: "hang-up" }>;

export type IvrInput =
  /** A key, from RFC 4733 or SIP INFO. `eventId`: the caller's id for this key press; repeats of a seen id are ignored. */
  | { readonly type: "digit"; readonly digit: string; readonly atMs: number; readonly eventId?: string }
  /** The prompt started by the play command with this `playId` has ended (or was stopped). */
  | { readonly type: "prompt-finished"; readonly playId: number; readonly atMs: number }
  /** The clock moved; due deadlines fire. */
  | { readonly type: "tick"; readonly atMs: number }
  | { readonly type: "resolution"; readonly result: Resolution; readonly atMs: number }
  /** The control plane could not answer (network error, 5xx). */
  | { readonly type: "resolution-failed"; readonly atMs: number };

interface Common {
  readonly config: IvrConfig;
  readonly tenantKey: string;
  /** Failed entries so far. */
  readonly failures: number;
  /** The last `rememberedEventIds` digit event ids, oldest first. */
  readonly recentEventIds: readonly string[];
  /** The playId the next play command gets. */
  readonly nextPlayId: number;
}

export type IvrState =
  | (Common & { readonly phase: "greeting"; readonly playId: number; readonly deadlineMs: number })
  | (Common & { readonly phase: "collecting"; readonly digits: string; readonly deadlineMs: number })
  | (Common & { readonly phase: "resolving"; readonly vtcId: string; readonly deadlineMs: number })
  | (Common & { readonly phase: "retry-prompt"; readonly playId: number; readonly deadlineMs: number })
  /** Playing a last message (goodbye, a refusal); the hang-up follows its end. */
  | (Common & { readonly phase: "goodbye"; readonly playId: number; readonly deadlineMs: number; readonly hangUp: HangUpCommand })
  | (Common & { readonly phase: "joined"; readonly meeting: ResolvedMeeting; readonly deadlineMs: undefined })
  | (Common & { readonly phase: "ended"; readonly hangUp: HangUpCommand; readonly deadlineMs: undefined });

export interface IvrStep {
  readonly state: IvrState;
  readonly commands: readonly IvrCommand[];
}

/** Whether a failure looks like guessing (an ID or key that leads nowhere), as opposed to silence or a tenant's own settings. */
export function isGuessFailure(reason: FailureReason): boolean {
  return reason === "invalid-format" || reason === "unknown-vtc-id" || reason === "retired-vtc-id" || reason === "unknown-tenant-key";
}

/** Answers the call's IVR: plays the welcome prompt. */
export function startIvr(tenantKey: string, atMs: number, config: Partial<IvrConfig> = {}): IvrStep {
  const common: Common = { config: { ...DEFAULT_IVR_CONFIG, ...config }, tenantKey, failures: 0, recentEventIds: [], nextPlayId: 1 };
  return play(common, atMs, Prompt.WelcomeEnterId, (c, playId, deadlineMs) => ({ ...c, phase: "greeting", playId, deadlineMs }));
}

export function ivrStep(state: IvrState, input: IvrInput): IvrStep {
  switch (input.type) {
    case "digit":
      return onDigit(state, input.digit, input.atMs, input.eventId);
    case "prompt-finished":
      return onPromptFinished(state, input.playId, input.atMs);
    case "tick":
      return onTick(state, input.atMs);
    case "resolution":
      return state.phase === "resolving" ? onResolution(state, input.result, input.atMs) : same(state);
    case "resolution-failed":
      return state.phase === "resolving" ? serviceUnavailable(state, input.atMs) : same(state);
  }
}

/** Applies inputs in order, collecting every command: for tests and replaying a log. */
export function runIvr(start: IvrStep, inputs: readonly IvrInput[]): IvrStep {
  let state = start.state;
  const commands = [...start.commands];
  for (const input of inputs) {
    const step = ivrStep(state, input);
    state = step.state;
    commands.push(...step.commands);
  }
  return { state, commands };
}

const same = (state: IvrState): IvrStep => ({ state, commands: [] });

function onDigit(state: IvrState, digit: string, atMs: number, eventId: string | undefined): IvrStep {
  if (eventId !== undefined) {
    if (state.recentEventIds.includes(eventId)) return same(state);
    const keep = Math.max(1, state.config.rememberedEventIds);
    state = { ...state, recentEventIds: [...state.recentEventIds, eventId].slice(-keep) };
  }
  if (!DTMF_DIGITS.has(digit)) return same(state);
  switch (state.phase) {
    case "greeting":
    case "retry-prompt": {
      // Barge-in: the key counts, the prompt stops.
      const collecting: IvrState = { ...commonOf(state), phase: "collecting", digits: "", deadlineMs: atMs + state.config.firstDigitTimeoutMs };
      const next = collect(collecting, digit as DtmfDigit, atMs);
      return { state: next.state, commands: [{ type: "stop-prompt", playId: state.playId }, ...next.commands] };
    }
    case "collecting":
      return collect(state, digit as DtmfDigit, atMs);
    default:
      return same(state);
  }
}

function collect(state: Extract<IvrState, { phase: "collecting" }>, digit: DtmfDigit, atMs: number): IvrStep {
  const { config } = state;
  if (digit === "#") return submit(state, state.digits, atMs);
  if (digit === "*") return { state: { ...state, digits: "", deadlineMs: atMs + config.firstDigitTimeoutMs }, commands: [] };
  const digits = state.digits.length < config.maxDigits ? state.digits + digit : state.digits;
  return { state: { ...state, digits, deadlineMs: atMs + config.interDigitTimeoutMs }, commands: [] };
}

function submit(state: IvrState, digits: string, atMs: number): IvrStep {
  if (digits === "") return fail(state, "empty", atMs);
  const vtcId = normalizeVtcId(digits);
  if (!vtcId) return fail(state, "invalid-format", atMs);
  const attempt = state.failures + 1;
  return {
    state: { ...commonOf(state), phase: "resolving", vtcId, deadlineMs: atMs + state.config.resolveTimeoutMs },
    commands: [{ type: "resolve", tenantKey: state.tenantKey, vtcId, attempt }],
  };
}

function onPromptFinished(state: IvrState, playId: number, atMs: number): IvrStep {
  switch (state.phase) {
    case "greeting":
    case "retry-prompt":
      return state.playId === playId ? awaitFirstDigit(state, atMs) : same(state);
    case "goodbye":
      return state.playId === playId ? end(state) : same(state);
    default:
      return same(state);
  }
}

function onTick(state: IvrState, atMs: number): IvrStep {
  if (state.deadlineMs === undefined || atMs < state.deadlineMs) return same(state);
  switch (state.phase) {
    case "greeting":
    case "retry-prompt":
      // The prompt's end was never reported: carry on as if it had been.
      return awaitFirstDigit(state, atMs);
    case "collecting":
      // Keys but no `#`: take what was entered. Nothing at all: a failed attempt.
      return state.digits === "" ? fail(state, "timeout", atMs) : submit(state, state.digits, atMs);
    case "resolving":
      return serviceUnavailable(state, atMs);
    case "goodbye":
      return end(state);
  }
}

function onResolution(state: IvrState, result: Resolution, atMs: number): IvrStep {
  if (result.kind === "resolved") {
    const c = commonOf(state);
    const playId = c.nextPlayId;
    return {
      state: { ...c, nextPlayId: playId + 1, phase: "joined", meeting: result, deadlineMs: undefined },
      commands: [
        { type: "play", playId, prompt: Prompt.Joining },
        { type: "join", meeting: result },
      ],
    };
  }
  if (TENANT_LEVEL_REFUSALS.has(result.code)) {
    const attempt: IvrCommand = { type: "attempt-failed", attempt: state.failures + 1, reason: result.code };
    const code = result.code as "unknown-tenant-key" | "tenant-not-consented";
    const step = goodbye({ ...commonOf(state), failures: state.failures + 1 }, atMs, refusalPlayer(result), {
      type: "hang-up",
      code,
      sipStatus: result.sipStatus,
      text: result.reason,
    });
    return { state: step.state, commands: [attempt, ...step.commands] };
  }
  return fail(state, result.code, atMs, result);
}

/** A failed entry: try again, or after the last allowed one, goodbye. */
function fail(state: IvrState, reason: FailureReason, atMs: number, refusal?: ResolutionRefusal): IvrStep {
  const failures = state.failures + 1;
  const c: Common = { ...commonOf(state), failures };
  const reported: IvrCommand = { type: "attempt-failed", attempt: failures, reason };
  if (failures >= state.config.maxAttempts) {
    const step = goodbye(c, atMs, plainPlayer(Prompt.Goodbye), {
      type: "hang-up",
      code: "attempts-exhausted",
      sipStatus: 404,
      text: `no meeting found after ${failures} attempts`,
    });
    return { state: step.state, commands: [reported, ...step.commands] };
  }
  const player = refusal
    ? refusalPlayer(refusal)
    : plainPlayer(reason === "empty" || reason === "timeout" ? Prompt.NoEntryTryAgain : Prompt.InvalidIdTryAgain);
  const step = playWith(c, atMs, player, (next, playId, deadlineMs) => ({ ...next, phase: "retry-prompt", playId, deadlineMs }));
  return { state: step.state, commands: [reported, ...step.commands] };
}

function serviceUnavailable(state: IvrState, atMs: number): IvrStep {
  return goodbye(commonOf(state), atMs, plainPlayer(Prompt.ServiceUnavailable), {
    type: "hang-up",
    code: "service-unavailable",
    sipStatus: 503,
    text: "the meeting directory could not be reached",
  });
}

function goodbye(c: Common, atMs: number, player: Player, hangUp: HangUpCommand): IvrStep {
  return playWith(c, atMs, player, (next, playId, deadlineMs) => ({ ...next, phase: "goodbye", playId, deadlineMs, hangUp }));
}

function end(state: Extract<IvrState, { phase: "goodbye" }>): IvrStep {
  return { state: { ...commonOf(state), phase: "ended", hangUp: state.hangUp, deadlineMs: undefined }, commands: [state.hangUp] };
}

function awaitFirstDigit(state: IvrState, atMs: number): IvrStep {
  return { state: { ...commonOf(state), phase: "collecting", digits: "", deadlineMs: atMs + state.config.firstDigitTimeoutMs }, commands: [] };
}

type Player = (playId: number) => IvrCommand;
const plainPlayer =
  (prompt: PromptId): Player =>
  (playId) => ({ type: "play", playId, prompt });
const refusalPlayer =
  (refusal: ResolutionRefusal): Player =>
  (playId) => ({ type: "play-refusal", playId, prompt: REFUSAL_PROMPT[refusal.code], code: refusal.code, sentence: refusal.reason });

function play(c: Common, atMs: number, prompt: PromptId, build: (c: Common, playId: number, deadlineMs: number) => IvrState): IvrStep {
  return playWith(c, atMs, plainPlayer(prompt), build);
}

function playWith(c: Common, atMs: number, player: Player, build: (c: Common, playId: number, deadlineMs: number) => IvrState): IvrStep {
  const playId = c.nextPlayId;
  return { state: build({ ...c, nextPlayId: playId + 1 }, playId, atMs + c.config.promptTimeoutMs), commands: [player(playId)] };
}

function commonOf(state: IvrState): Common {
  return {
    config: state.config,
    tenantKey: state.tenantKey,
    failures: state.failures,
    recentEventIds: state.recentEventIds,
    nextPlayId: state.nextPlayId,
  };
}
