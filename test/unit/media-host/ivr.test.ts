import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  DEFAULT_IVR_CONFIG,
  type IvrCommand,
  type IvrInput,
  type IvrState,
  type IvrStep,
  ivrStep,
  isGuessFailure,
  Prompt,
  REFUSAL_PROMPT,
  runIvr,
  startIvr,
} from "../../../media-host/domain/ivr.js";
import { type RefusalCode, type ResolvedMeeting, refuse } from "../../../shared/domain/resolution.js";

const KEY = "813878896@t.cvi.example.net";
const { firstDigitTimeoutMs, interDigitTimeoutMs, promptTimeoutMs, resolveTimeoutMs } = DEFAULT_IVR_CONFIG;

const meeting = (vtcId: string): ResolvedMeeting => ({
  kind: "resolved",
  tenantId: "5f0c1f4e-6d5b-4a43-9d1e-2c9e0d0b7a11",
  tenantName: "Contoso",
  vtcId,
  meeting: {
    id: "meeting-1",
    joinWebUrl: "https://teams.microsoft.com/l/meetup-join/x",
    videoTeleconferenceId: vtcId,
    organizerId: "organizer-1",
    subject: "Weekly",
    chatInfo: { threadId: "19:meeting@thread.v2", messageId: "0", replyChainMessageId: null },
  },
  joinAsGuest: true,
  instructionUri: null,
});

const digit = (d: string, atMs: number, eventId?: string): IvrInput =>
  eventId === undefined ? { type: "digit", digit: d, atMs } : { type: "digit", digit: d, atMs, eventId };
/** Keys pressed one per 100 ms from `atMs`. */
const keys = (sequence: string, atMs: number): IvrInput[] => [...sequence].map((d, i) => digit(d, atMs + i * 100));
const finished = (playId: number, atMs: number): IvrInput => ({ type: "prompt-finished", playId, atMs });
const tick = (atMs: number): IvrInput => ({ type: "tick", atMs });
const refused = (code: RefusalCode, reason: string, atMs: number): IvrInput => ({ type: "resolution", result: refuse(code, reason), atMs });
const resolved = (vtcId: string, atMs: number): IvrInput => ({ type: "resolution", result: meeting(vtcId), atMs });

/** Runs from the start and returns only the commands the last input produced, with the final state. */
function after(inputs: readonly IvrInput[], config = {}): { state: IvrState; all: readonly IvrCommand[]; last: readonly IvrCommand[] } {
  let step: IvrStep = startIvr(KEY, 0, config);
  const all = [...step.commands];
  let last: readonly IvrCommand[] = step.commands;
  for (const input of inputs) {
    step = ivrStep(step.state, input);
    all.push(...step.commands);
    last = step.commands;
  }
  return { state: step.state, all, last };
}

/** Greeting played to its end at 5 s. */
const greeted = [finished(1, 5_000)];

describe("IVR: the happy path", () => {
  it("greets with the welcome prompt and waits for it to end", () => {
    const { state, commands } = startIvr(KEY, 1_000);
    assert.deepEqual(commands, [{ type: "play", playId: 1, prompt: "welcome-enter-id" }]);
    assert.equal(state.phase, "greeting");
    assert.equal(state.deadlineMs, 1_000 + promptTimeoutMs);
  });

  it("collects digits after the prompt, resolves on #, joins when resolved", () => {
    const entered = after([...greeted, ...keys("1127180739#", 6_000)]);
    assert.equal(entered.state.phase, "resolving");
    assert.deepEqual(entered.last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }]);
    assert.equal(entered.state.deadlineMs, 7_000 + resolveTimeoutMs);

    const joined = after([...greeted, ...keys("1127180739#", 6_000), resolved("1127180739", 7_500)]);
    assert.equal(joined.state.phase, "joined");
    assert.equal(joined.state.deadlineMs, undefined);
    assert.deepEqual(joined.last, [
      { type: "play", playId: 2, prompt: "joining" },
      { type: "join", meeting: meeting("1127180739") },
    ]);
  });

  it("sets the first-digit deadline when the prompt ends and the inter-digit deadline after each key", () => {
    const waiting = after(greeted);
    assert.equal(waiting.state.phase, "collecting");
    assert.equal(waiting.state.deadlineMs, 5_000 + firstDigitTimeoutMs);
    const typing = after([...greeted, digit("1", 7_000)]);
    assert.equal(typing.state.deadlineMs, 7_000 + interDigitTimeoutMs);
    assert.deepEqual(typing.last, []);
  });

  it("barge-in: a key during the greeting stops the prompt and counts", () => {
    const { state, last } = after([digit("1", 2_000)]);
    assert.deepEqual(last, [{ type: "stop-prompt", playId: 1 }]);
    assert.equal(state.phase, "collecting");
    if (state.phase === "collecting") assert.equal(state.digits, "1");
    const done = after([digit("1", 2_000), ...keys("127180739#", 2_100)]);
    assert.deepEqual(done.last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }]);
    // The stopped prompt's end, reported late, changes nothing.
    assert.deepEqual(after([digit("1", 2_000), finished(1, 2_050)]).last, []);
  });

  it("* clears the entry", () => {
    const { last } = after([...greeted, ...keys("999*1127180739#", 6_000)]);
    assert.deepEqual(last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }]);
    const cleared = after([...greeted, ...keys("999*", 6_000)]);
    assert.equal(cleared.state.phase === "collecting" && cleared.state.digits, "");
    assert.equal(cleared.state.deadlineMs, 6_300 + firstDigitTimeoutMs);
  });

  it("keeps at most 16 digits and ignores the extra ones", () => {
    const { last } = after([...greeted, ...keys("12345678901234567890#", 6_000)]);
    assert.deepEqual(last, [{ type: "resolve", tenantKey: KEY, vtcId: "1234567890123456", attempt: 1 }]);
  });

  it("ignores keys that are not DTMF digits (A-D, anything else)", () => {
    const { last } = after([...greeted, ...keys("11A27B180C739D#", 6_000)]);
    assert.deepEqual(last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }]);
    assert.deepEqual(after([digit("A", 1_000)]).last, [], "no barge-in on a non-digit");
  });

  it("a timeout after some keys submits them (the caller forgot #)", () => {
    const { last, state } = after([...greeted, ...keys("1127180739", 6_000), tick(6_900 + interDigitTimeoutMs - 1)]);
    assert.deepEqual(last, []);
    assert.equal(state.phase, "collecting");
    const submitted = after([...greeted, ...keys("1127180739", 6_000), tick(6_900 + interDigitTimeoutMs)]);
    assert.deepEqual(submitted.last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }]);
  });

  it("a greeting whose end is never reported counts as finished at its deadline", () => {
    assert.equal(after([tick(promptTimeoutMs - 1)]).state.phase, "greeting");
    const { state } = after([tick(promptTimeoutMs)]);
    assert.equal(state.phase, "collecting");
    assert.equal(state.deadlineMs, promptTimeoutMs + firstDigitTimeoutMs);
  });
});

describe("IVR: failed attempts", () => {
  it("an empty entry (# alone) asks again", () => {
    const { last, state } = after([...greeted, digit("#", 6_000)]);
    assert.deepEqual(last, [
      { type: "attempt-failed", attempt: 1, reason: "empty" },
      { type: "play", playId: 2, prompt: "no-entry-try-again" },
    ]);
    assert.equal(state.phase, "retry-prompt");
  });

  it("# during the greeting stops it and counts as an empty entry", () => {
    assert.deepEqual(after([digit("#", 1_000)]).last, [
      { type: "stop-prompt", playId: 1 },
      { type: "attempt-failed", attempt: 1, reason: "empty" },
      { type: "play", playId: 2, prompt: "no-entry-try-again" },
    ]);
  });

  it("silence until the first-digit deadline counts as a timeout", () => {
    assert.deepEqual(after([...greeted, tick(5_000 + firstDigitTimeoutMs - 1)]).last, []);
    assert.deepEqual(after([...greeted, tick(5_000 + firstDigitTimeoutMs)]).last, [
      { type: "attempt-failed", attempt: 1, reason: "timeout" },
      { type: "play", playId: 2, prompt: "no-entry-try-again" },
    ]);
  });

  it("too few digits is refused without asking the control plane", () => {
    assert.deepEqual(after([...greeted, ...keys("12345#", 6_000)]).last, [
      { type: "attempt-failed", attempt: 1, reason: "invalid-format" },
      { type: "play", playId: 2, prompt: "invalid-id-try-again" },
    ]);
    assert.deepEqual(after([...greeted, ...keys("12345", 6_000), tick(6_400 + interDigitTimeoutMs)]).last[0], {
      type: "attempt-failed",
      attempt: 1,
      reason: "invalid-format",
    });
  });

  it("an unknown ID is spoken and asked again; the second entry can succeed", () => {
    const sentence = "there is no meeting with this conference ID";
    const first = [...greeted, ...keys("1111111111#", 6_000), refused("unknown-vtc-id", sentence, 8_000)];
    const { last, state } = after(first);
    assert.deepEqual(last, [
      { type: "attempt-failed", attempt: 1, reason: "unknown-vtc-id" },
      { type: "play-refusal", playId: 2, prompt: "invalid-id-try-again", code: "unknown-vtc-id", sentence },
    ]);
    assert.equal(state.phase, "retry-prompt");
    // Barge-in on the retry prompt, then the right ID.
    const second = after([...first, ...keys("1127180739#", 9_000)]);
    assert.deepEqual(second.last, [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 2 }]);
    assert.deepEqual(
      second.all.filter((c) => c.type === "stop-prompt"),
      [{ type: "stop-prompt", playId: 2 }],
    );
    assert.equal(after([...first, ...keys("1127180739#", 9_000), resolved("1127180739", 9_500)]).state.phase, "joined");
  });

  it("a retired ID and an organizer not enabled get their own prompts and allow another try", () => {
    const cases: [RefusalCode, string][] = [
      ["retired-vtc-id", "meeting-unavailable-try-again"],
      ["organizer-not-enabled", "organizer-not-enabled-try-again"],
    ];
    for (const [code, prompt] of cases) {
      const { last, state } = after([...greeted, ...keys("1111111111#", 6_000), refused(code, "sentence", 8_000)]);
      assert.deepEqual(last[1], { type: "play-refusal", playId: 2, prompt, code, sentence: "sentence" });
      assert.equal(state.phase, "retry-prompt");
      assert.equal(REFUSAL_PROMPT[code], prompt);
    }
  });

  it("the retry prompt played to its end restarts the first-digit wait", () => {
    const { state } = after([...greeted, digit("#", 6_000), finished(2, 8_000)]);
    assert.equal(state.phase, "collecting");
    assert.equal(state.deadlineMs, 8_000 + firstDigitTimeoutMs);
  });

  it("three failed attempts of any kind: goodbye, then hang up when it has played", () => {
    const inputs = [
      ...greeted,
      digit("#", 6_000), // empty
      finished(2, 8_000),
      tick(8_000 + firstDigitTimeoutMs), // timeout
      ...keys("1111111111#", 20_000),
      refused("unknown-vtc-id", "there is no meeting with this conference ID", 21_500),
    ];
    const { last, state } = after(inputs);
    assert.deepEqual(last, [
      { type: "attempt-failed", attempt: 3, reason: "unknown-vtc-id" },
      { type: "play", playId: 4, prompt: "goodbye" },
    ]);
    assert.equal(state.phase, "goodbye");
    // Keys during goodbye are ignored; a stale prompt end (the retry prompt) does not cut it short.
    assert.deepEqual(after([...inputs, digit("1", 22_000), finished(3, 22_100)]).last, []);
    const hangUp = { type: "hang-up", code: "attempts-exhausted", sipStatus: 404, text: "no meeting found after 3 attempts" };
    const ended = after([...inputs, finished(4, 24_000)]);
    assert.deepEqual(ended.last, [hangUp]);
    assert.equal(ended.state.phase, "ended");
    assert.equal(ended.state.deadlineMs, undefined);
    // A goodbye whose end is never reported still hangs up at its deadline.
    assert.deepEqual(after([...inputs, tick(21_500 + promptTimeoutMs)]).last, [hangUp]);
    // Nothing happens after the end.
    const afterEnd = after([...inputs, finished(4, 24_000), ...keys("1127180739#", 25_000), tick(1e9), resolved("1127180739", 1e9)]);
    assert.equal(afterEnd.all.filter((c) => c.type === "hang-up").length, 1);
    assert.deepEqual(afterEnd.all.at(-1), hangUp);
  });

  it("the number of attempts is configurable", () => {
    assert.deepEqual(after([...greeted, digit("#", 6_000)], { maxAttempts: 1 }).last, [
      { type: "attempt-failed", attempt: 1, reason: "empty" },
      { type: "play", playId: 2, prompt: "goodbye" },
    ]);
  });
});

describe("IVR: tenant-level refusals end the call at once", () => {
  const cases: [RefusalCode, string, number][] = [
    ["tenant-not-consented", "not-consented", 403],
    ["unknown-tenant-key", "unknown-organization", 404],
  ];
  for (const [code, prompt, sipStatus] of cases) {
    it(`${code}: the sentence is spoken on the first attempt, then hang-up with ${sipStatus}, no retry`, () => {
      const sentence = "the organization has withdrawn access for video conferencing devices";
      const inputs = [...greeted, ...keys("1127180739#", 6_000), refused(code, sentence, 8_000)];
      const { last, state } = after(inputs);
      assert.deepEqual(last, [
        { type: "attempt-failed", attempt: 1, reason: code },
        { type: "play-refusal", playId: 2, prompt, code, sentence },
      ]);
      assert.equal(state.phase, "goodbye");
      assert.deepEqual(after([...inputs, ...keys("1127180739#", 9_000)]).last, [], "no new entry is taken");
      assert.deepEqual(after([...inputs, finished(2, 12_000)]).last, [{ type: "hang-up", code, sipStatus, text: sentence }]);
    });
  }
});

describe("IVR: the control plane does not answer", () => {
  const entered = [...greeted, ...keys("1127180739#", 6_000)];
  const serviceUnavailable = [{ type: "play", playId: 2, prompt: "service-unavailable" }];

  it("a failed resolution: apology, then hang-up with 503", () => {
    const { last } = after([...entered, { type: "resolution-failed", atMs: 8_000 }]);
    assert.deepEqual(last, serviceUnavailable);
    assert.deepEqual(after([...entered, { type: "resolution-failed", atMs: 8_000 }, finished(2, 10_000)]).last, [
      { type: "hang-up", code: "service-unavailable", sipStatus: 503, text: "the meeting directory could not be reached" },
    ]);
  });

  it("no answer by the resolve deadline: the same; a late answer is ignored", () => {
    assert.deepEqual(after([...entered, tick(7_000 + resolveTimeoutMs - 1)]).last, []);
    assert.deepEqual(after([...entered, tick(7_000 + resolveTimeoutMs)]).last, serviceUnavailable);
    const late = after([...entered, tick(7_000 + resolveTimeoutMs), resolved("1127180739", 7_000 + resolveTimeoutMs + 1)]);
    assert.deepEqual(late.last, []);
    assert.equal(late.state.phase, "goodbye");
  });

  it("keys while resolving are ignored; results outside resolving are ignored", () => {
    const { last, state } = after([...entered, ...keys("555#", 7_000)]);
    assert.deepEqual(last, []);
    assert.equal(state.phase, "resolving");
    assert.deepEqual(after([...greeted, resolved("1127180739", 6_000)]).last, []);
    assert.deepEqual(after([...greeted, { type: "resolution-failed", atMs: 6_000 }]).last, []);
  });
});

describe("IVR: duplicate digits are dropped by event id", () => {
  it("RFC 4733 end packets (sent three times) and an INFO copy of one key press count once", () => {
    const inputs: IvrInput[] = [...greeted];
    let at = 6_000;
    for (const [i, d] of [..."1127180739"].entries()) {
      const id = `press-${i}`;
      // Same timestamp on the repeats: they are told apart by id, not by time.
      inputs.push(digit(d, at, id), digit(d, at, id), digit(d, at, id), digit(d, at + 40, id));
      at += 200;
    }
    inputs.push(digit("#", at, "press-hash"), digit("#", at, "press-hash"));
    const { all, state } = after(inputs);
    assert.deepEqual(
      all.filter((c) => c.type === "resolve"),
      [{ type: "resolve", tenantKey: KEY, vtcId: "1127180739", attempt: 1 }],
    );
    assert.equal(state.phase, "resolving");
  });

  it("the same digit pressed twice (different ids, even at the same time) counts twice", () => {
    const { state } = after([...greeted, digit("1", 6_000, "a"), digit("1", 6_000, "b")]);
    assert.equal(state.phase === "collecting" && state.digits, "11");
  });

  it("digits without an id are never de-duplicated", () => {
    const { state } = after([...greeted, digit("1", 6_000), digit("1", 6_000)]);
    assert.equal(state.phase === "collecting" && state.digits, "11");
  });

  it("a repeat during the greeting does not stop the next prompt or count twice", () => {
    const { all, state } = after([digit("1", 1_000, "x"), digit("1", 1_020, "x")]);
    assert.deepEqual(
      all.filter((c) => c.type === "stop-prompt"),
      [{ type: "stop-prompt", playId: 1 }],
    );
    assert.equal(state.phase === "collecting" && state.digits, "1");
  });

  it("a repeated # does not submit an empty entry after the first", () => {
    const { all } = after([
      ...greeted,
      ...keys("1127180739", 6_000),
      digit("#", 7_000, "h"),
      refused("unknown-vtc-id", "no", 7_100),
      digit("#", 7_200, "h"),
    ]);
    assert.deepEqual(
      all.filter((c) => c.type === "attempt-failed"),
      [{ type: "attempt-failed", attempt: 1, reason: "unknown-vtc-id" }],
    );
  });

  it("remembers a bounded number of ids (the oldest are forgotten)", () => {
    const inputs = [...greeted, ...[..."123456"].map((d, i) => digit(d, 6_000 + i, `id-${i}`))];
    const { state } = after(inputs, { rememberedEventIds: 4 });
    assert.deepEqual(state.recentEventIds, ["id-2", "id-3", "id-4", "id-5"]);
    const replayOld = after([...inputs, digit("1", 7_000, "id-0"), digit("6", 7_001, "id-5")], { rememberedEventIds: 4 });
    assert.equal(replayOld.state.phase === "collecting" && replayOld.state.digits, "1234561");
  });
});

describe("IVR: helpers", () => {
  it("isGuessFailure: wrong IDs and keys are guesses; silence and a tenant's settings are not", () => {
    assert.deepEqual(
      (
        [
          "empty",
          "timeout",
          "invalid-format",
          "unknown-tenant-key",
          "tenant-not-consented",
          "unknown-vtc-id",
          "retired-vtc-id",
          "organizer-not-enabled",
        ] as const
      ).filter(isGuessFailure),
      ["invalid-format", "unknown-tenant-key", "unknown-vtc-id", "retired-vtc-id"],
    );
  });

  it("every refusal code has a prompt, and prompt ids are distinct", () => {
    const values = Object.values(Prompt);
    assert.equal(new Set(values).size, values.length);
    for (const prompt of Object.values(REFUSAL_PROMPT)) assert.ok(values.includes(prompt));
    assert.ok(values.includes("waiting-in-lobby"));
  });

  it("runIvr is ivrStep applied in order", () => {
    const inputs = [...greeted, ...keys("1127180739#", 6_000)];
    const run = runIvr(startIvr(KEY, 0), inputs);
    const manual = after(inputs);
    assert.deepEqual(run.commands, manual.all);
    assert.deepEqual(run.state, manual.state);
  });
});

// ---------------------------------------------------------------------------
// Properties over random conversations.

const NUM_RUNS = 300;
const refusalCodes: RefusalCode[] = ["unknown-tenant-key", "tenant-not-consented", "unknown-vtc-id", "retired-vtc-id", "organizer-not-enabled"];

/** A conversation step, before time is laid out: times come from cumulative gaps so they never go backwards. */
type Event =
  | { kind: "digit"; digit: string; id: string | undefined }
  | { kind: "finished"; playId: number }
  | { kind: "tick" }
  | { kind: "resolved" }
  | { kind: "refused"; code: RefusalCode }
  | { kind: "failed" };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("digit" as const),
      digit: fc.constantFrom(..."0123456789*#A"),
      id: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("finished" as const), playId: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "tick" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "resolved" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("refused" as const), code: fc.constantFrom(...refusalCodes) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "failed" as const }) },
);

const conversationArb = fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 15_000 })), { maxLength: 60 });

function layOut(events: readonly [Event, number][]): IvrInput[] {
  let at = 0;
  return events.map(([e, gap]) => {
    at += gap;
    if (e.kind === "digit") return digit(e.digit, at, e.id);
    if (e.kind === "finished") return finished(e.playId, at);
    if (e.kind === "tick") return tick(at);
    if (e.kind === "resolved") return resolved("1127180739", at);
    if (e.kind === "refused") return refused(e.code, `refused: ${e.code}`, at);
    return { type: "resolution-failed", atMs: at };
  });
}

describe("IVR: properties", () => {
  it("keeps its invariants over any conversation", () => {
    fc.assert(
      fc.property(conversationArb, (events) => {
        let step: IvrStep = startIvr(KEY, 0);
        const all: IvrCommand[] = [...step.commands];
        let lastPlayId = 1;
        let outstandingResolve = false;
        for (const input of layOut(events)) {
          const before = step.state;
          step = ivrStep(before, input);
          const { state } = step;
          for (const c of step.commands) {
            assert.ok(!all.some((p) => p.type === "hang-up" || p.type === "join"), "nothing follows a hang-up or a join");
            if (c.type === "play" || c.type === "play-refusal") {
              assert.equal(c.playId, lastPlayId + 1, "play ids increase one by one");
              lastPlayId = c.playId;
            }
            if (c.type === "stop-prompt") assert.equal(c.playId, lastPlayId, "only the prompt playing is stopped");
            if (c.type === "resolve") {
              assert.equal(outstandingResolve, false, "one resolution at a time");
              assert.match(c.vtcId, /^[0-9]{6,16}$/);
              assert.equal(c.tenantKey, KEY);
              outstandingResolve = true;
            }
            all.push(c);
          }
          if (before.phase === "resolving" && state.phase !== "resolving") outstandingResolve = false;
          assert.ok(state.failures <= DEFAULT_IVR_CONFIG.maxAttempts);
          assert.ok(state.recentEventIds.length <= DEFAULT_IVR_CONFIG.rememberedEventIds);
          if (state.phase === "collecting") assert.match(state.digits, /^[0-9]{0,16}$/);
          assert.equal(state.deadlineMs === undefined, state.phase === "joined" || state.phase === "ended");
          if (state.deadlineMs !== undefined && state.deadlineMs !== before.deadlineMs)
            assert.ok(state.deadlineMs >= input.atMs, "new deadlines lie ahead");
        }
        assert.ok(all.filter((c) => c.type === "resolve").length <= DEFAULT_IVR_CONFIG.maxAttempts);
        assert.ok(all.filter((c) => c.type === "attempt-failed").length <= DEFAULT_IVR_CONFIG.maxAttempts);
        assert.ok(all.filter((c) => c.type === "hang-up").length <= 1);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("repeats of a digit event (same id), anywhere later, change nothing", () => {
    // Each digit gets a unique id; then some are delivered again later at the time of their new position.
    const withDuplicates = conversationArb.chain((events) => {
      const indexed = events.map(([e, gap], i): [Event, number] => [e.kind === "digit" ? { ...e, id: `ev-${i}` } : e, gap]);
      const digitIndexes = indexed.flatMap(([e], i) => (e.kind === "digit" ? [i] : []));
      return fc.array(fc.tuple(fc.constantFrom(...(digitIndexes.length > 0 ? digitIndexes : [-1])), fc.nat()), { maxLength: 10 }).map((dups) => {
        const copies = dups.filter(([i]) => i >= 0);
        const out = [...indexed];
        for (const [i, offset] of copies) {
          const original = indexed[i];
          if (!original) continue;
          const position = out.indexOf(original) + 1 + (offset % (out.length - out.indexOf(original)));
          out.splice(position, 0, [original[0], 0]);
        }
        return { indexed, out };
      });
    });
    fc.assert(
      fc.property(withDuplicates, ({ indexed, out }) => {
        const once = runIvr(startIvr(KEY, 0), layOut(indexed));
        const repeated = runIvr(startIvr(KEY, 0), layOut(out));
        assert.deepEqual(repeated.commands, once.commands);
        assert.deepEqual(repeated.state, once.state);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("any valid ID typed (with barge-in, * corrections and extra keys) is what gets resolved", () => {
    const idArb = fc
      .integer({ min: 6, max: 16 })
      .chain((n) => fc.array(fc.constantFrom(..."0123456789"), { minLength: n, maxLength: n }).map((d) => d.join("")));
    fc.assert(
      fc.property(idArb, fc.string({ unit: fc.constantFrom(..."0123456789"), maxLength: 20 }), fc.boolean(), (id, junk, bargeIn) => {
        const start = bargeIn ? [] : greeted;
        const typed = `${junk}*${id}#`;
        const { all } = after([...start, ...keys(typed, 6_000)]);
        assert.deepEqual(
          all.filter((c) => c.type === "resolve"),
          [{ type: "resolve", tenantKey: KEY, vtcId: id, attempt: 1 }],
        );
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
