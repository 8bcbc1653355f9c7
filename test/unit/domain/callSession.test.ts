import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type CallObservation,
  type CallSessionRecord,
  type CallSessionState,
  type CallState,
  INITIAL_CALL_SESSION,
  type Participant,
  type ResultInfo,
  applyCallObservation,
  callLabel,
  isCallState,
  isInLobby,
  mediaHostView,
  observeCall,
  presentParticipants,
  readCallChainId,
} from "../../../shared/domain/callSession.js";

const NUM_RUNS = 400;
const ME = "me-0b7c";
const CHAIN = "d8217646-3110-40b1-bae6-e9ac6c3a9f74";

const state = (
  s: CallState,
  resultInfo: ResultInfo | null = null,
  myParticipantId: string | null = ME,
  callChainId: string | null = CHAIN,
): CallObservation => ({
  kind: "state",
  state: s,
  resultInfo,
  myParticipantId,
  callChainId,
});

const participant = (over: Partial<Participant> & { id: string }): Participant => ({
  displayName: over.id,
  isInLobby: false,
  isMuted: false,
  sequence: 1,
  left: false,
  ...over,
});

const participants = (...updated: Participant[]): CallObservation => ({ kind: "participants", updated });

const apply = (observations: readonly CallObservation[], from: CallSessionState = INITIAL_CALL_SESSION): CallSessionState =>
  observations.reduce(applyCallObservation, from);

/** The merged state, without anything else a record may carry. */
const core = (s: CallSessionState) => ({
  state: s.state,
  myParticipantId: s.myParticipantId,
  callChainId: s.callChainId,
  participants: s.participants,
  resultInfo: s.resultInfo,
});

const REMOVED: ResultInfo = { code: 200, subcode: 5300, message: "Removed from the meeting" };
const ENDED: ResultInfo = { code: 200, subcode: 4097, message: "The meeting ended" };

describe("applyCallObservation: examples", () => {
  it("starts establishing, unnamed, empty, without a result", () => {
    assert.deepEqual(INITIAL_CALL_SESSION, { state: "establishing", myParticipantId: null, callChainId: null, participants: [], resultInfo: null });
  });

  it("moves forward through the states", () => {
    assert.equal(apply([state("establishing"), state("established")]).state, "established");
    assert.equal(apply([state("established"), state("terminating"), state("terminated", REMOVED)]).state, "terminated");
  });

  it("never moves backward (establishing after established, established after terminated)", () => {
    assert.equal(apply([state("established"), state("establishing")]).state, "established");
    assert.equal(apply([state("terminated", ENDED), state("established")]).state, "terminated");
    assert.equal(apply([state("incoming")]).state, "establishing");
  });

  it("does not mutate the session it is given", () => {
    const before = apply([participants(participant({ id: "a" }))]);
    const copy = structuredClone(before);
    applyCallObservation(before, state("terminated", ENDED));
    applyCallObservation(before, participants(participant({ id: "a", sequence: 2, left: true })));
    assert.deepEqual(before, copy);
  });

  it("learns our participant id from any state observation, even a stale one", () => {
    assert.equal(apply([state("established", null, null)]).myParticipantId, null);
    assert.equal(apply([state("established", null, null), state("establishing", null, ME)]).myParticipantId, ME);
  });

  it("learns the callChainId from any state observation, even a stale one; the first one given stays", () => {
    assert.equal(apply([state("established", null, ME, null)]).callChainId, null);
    assert.equal(apply([state("established", null, ME, null), state("establishing", null, ME, CHAIN)]).callChainId, CHAIN);
    assert.equal(apply([state("terminated", ENDED, ME, null), state("established", null, ME, CHAIN)]).callChainId, CHAIN);
    const other = "0b1a1100-b174-40a0-aba7-0b405e01ed92";
    assert.equal(apply([state("establishing", null, ME, CHAIN), state("established", null, ME, other)]).callChainId, CHAIN);
    assert.equal(apply([participants(participant({ id: "a" }))], { ...INITIAL_CALL_SESSION, callChainId: CHAIN }).callChainId, CHAIN);
  });

  it("keeps the terminated resultInfo, whatever comes later", () => {
    const s = apply([state("terminated", REMOVED), state("terminated", ENDED), state("established", ENDED)]);
    assert.equal(s.state, "terminated");
    assert.deepEqual(s.resultInfo, REMOVED);
  });

  it("takes the terminated resultInfo even when a terminated without one came first (catch-up after the call was gone)", () => {
    const s = apply([state("terminated", null), state("terminated", REMOVED)]);
    assert.deepEqual(s.resultInfo, REMOVED);
  });

  it("takes resultInfo from terminated only, not from earlier states", () => {
    const early: ResultInfo = { code: 0, subcode: 0, message: "" };
    assert.equal(apply([state("establishing", early)]).resultInfo, null);
    assert.equal(apply([state("establishing", early), state("terminated", null)]).resultInfo, null);
    assert.equal(apply([state("terminated", null), state("establishing", early)]).resultInfo, null);
    assert.deepEqual(apply([state("established", early), state("terminated", ENDED)]).resultInfo, ENDED);
  });

  it("keeps participants sorted by id, one entry each", () => {
    const s = apply([
      participants(participant({ id: "c" }), participant({ id: "a" })),
      participants(participant({ id: "b" }), participant({ id: "a", sequence: 2 })),
    ]);
    assert.deepEqual(
      s.participants.map((p) => [p.id, p.sequence]),
      [
        ["a", 2],
        ["b", 1],
        ["c", 1],
      ],
    );
  });

  it("lets the newer roster entry win whatever the arrival order", () => {
    const old = participant({ id: "a", sequence: 3, isMuted: false });
    const newer = participant({ id: "a", sequence: 4, isMuted: true });
    assert.deepEqual(apply([participants(old), participants(newer)]).participants, [newer]);
    assert.deepEqual(apply([participants(newer), participants(old)]).participants, [newer]);
  });

  it("keeps a left participant as a tombstone: a late 'still here' does not bring it back", () => {
    const left = participant({ id: "a", sequence: 5, left: true });
    const stillHere = participant({ id: "a", sequence: 4 });
    const s = apply([participants(left), participants(stillHere)]);
    assert.deepEqual(s.participants, [left]);
    assert.deepEqual(presentParticipants(s), []);
  });

  it("lets 'left' win at an equal sequence, in either order", () => {
    const here = participant({ id: "a", sequence: 5 });
    const left = participant({ id: "a", sequence: 5, left: true });
    assert.deepEqual(apply([participants(here), participants(left)]).participants, [left]);
    assert.deepEqual(apply([participants(left), participants(here)]).participants, [left]);
  });

  it("lets a participant who left come back with a newer sequence", () => {
    const s = apply([participants(participant({ id: "a", sequence: 5, left: true })), participants(participant({ id: "a", sequence: 6 }))]);
    assert.deepEqual(
      presentParticipants(s).map((p) => p.id),
      ["a"],
    );
  });
});

describe("applyCallObservation: order-insensitive and idempotent (property)", () => {
  const STATES_BEFORE_END: CallState[] = ["incoming", "establishing", "ringing", "established", "terminating"];
  const IDS = [ME, "p-1", "p-2", "p-3"];
  const MAX_SEQUENCE = 4;

  const resultInfoArb: fc.Arbitrary<ResultInfo | null> = fc.option(
    fc.record(
      { code: fc.integer({ min: 0, max: 600 }), subcode: fc.integer({ min: 0, max: 9999 }), message: fc.string({ maxLength: 10 }) },
      { noNullPrototype: true },
    ),
    { nil: null },
  );

  /**
   * A call's observations, realistically: every state observation names our participant
   * or nothing, and the call's callChainId or nothing; a roster entry's content is fixed
   * by (id, sequence), only "left" varies.
   */
  const callArb = (terminatedCount: fc.Arbitrary<number>, terminatedResult: (i: number) => fc.Arbitrary<ResultInfo | null>) =>
    fc
      .record({
        // One roster entry's content per (id, sequence).
        content: fc.array(
          fc.record({ displayName: fc.string({ maxLength: 6 }), isInLobby: fc.boolean(), isMuted: fc.boolean() }, { noNullPrototype: true }),
          {
            minLength: IDS.length * (MAX_SEQUENCE + 1),
            maxLength: IDS.length * (MAX_SEQUENCE + 1),
          },
        ),
        states: fc.array(
          fc.record({ state: fc.constantFrom(...STATES_BEFORE_END), resultInfo: resultInfoArb, named: fc.boolean(), chained: fc.boolean() }),
          { maxLength: 6 },
        ),
        terminated: terminatedCount.chain((n) =>
          fc.tuple(
            ...Array.from({ length: n }, (_, i) => fc.record({ resultInfo: terminatedResult(i), named: fc.boolean(), chained: fc.boolean() })),
          ),
        ),
        rosters: fc.array(
          fc.array(fc.record({ id: fc.constantFrom(...IDS), sequence: fc.integer({ min: 0, max: MAX_SEQUENCE }), left: fc.boolean() }), {
            minLength: 1,
            maxLength: 4,
          }),
          { maxLength: 6 },
        ),
      })
      .map(({ content, states, terminated, rosters }): CallObservation[] => [
        ...states.map((s) => state(s.state, s.resultInfo, s.named ? ME : null, s.chained ? CHAIN : null)),
        ...terminated.map((t) => state("terminated", t.resultInfo, t.named ? ME : null, t.chained ? CHAIN : null)),
        ...rosters.map((entries) =>
          participants(
            ...entries.map((e) => ({
              id: e.id,
              sequence: e.sequence,
              left: e.left,
              ...content[IDS.indexOf(e.id) * (MAX_SEQUENCE + 1) + e.sequence]!,
            })),
          ),
        ),
      ]);

  /** The observations duplicated up to 3 times each, then shuffled. */
  const replayArb = (observations: CallObservation[]) =>
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: observations.length, maxLength: observations.length }).chain((copies) => {
      const all = observations.flatMap((o, i) => Array.from({ length: copies[i]! }, () => o));
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    });

  const assertConverges = (observationsArb: fc.Arbitrary<CallObservation[]>) =>
    fc.assert(
      fc.property(
        observationsArb.chain((observations) => fc.tuple(fc.constant(observations), replayArb(observations))),
        ([observations, replay]) => {
          assert.deepEqual(core(apply(replay)), core(apply(observations)));
        },
      ),
      { numRuns: NUM_RUNS },
    );

  it("any permutation, with duplicates, of a call's observations (at most one terminated) gives the in-order state", () => {
    assertConverges(callArb(fc.integer({ min: 0, max: 1 }), () => resultInfoArb));
  });

  it("also with several terminated observations of which at most one carries a resultInfo", () => {
    assertConverges(
      fc
        .integer({ min: 0, max: 3 })
        .chain((withResult) => callArb(fc.integer({ min: 1, max: 4 }), (i) => (i === withResult ? resultInfoArb : fc.constant(null)))),
    );
  });

  it("applying an observation a second time changes nothing", () => {
    fc.assert(
      fc.property(
        callArb(fc.integer({ min: 0, max: 1 }), () => resultInfoArb),
        (observations) => {
          const once = apply(observations);
          for (const o of observations) assert.deepEqual(core(applyCallObservation(once, o)), core(once));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("isInLobby", () => {
  const waiting = participants(participant({ id: ME, isInLobby: true }));

  it("is true while our participant waits in the lobby before the call is established", () => {
    assert.equal(isInLobby(apply([state("establishing"), waiting])), true);
    assert.equal(isInLobby(apply([waiting, state("establishing")])), true);
  });

  it("is false once the call is established, or later", () => {
    assert.equal(isInLobby(apply([state("establishing"), waiting, state("established")])), false);
    assert.equal(isInLobby(apply([waiting, state("terminated", ENDED)])), false);
  });

  it("is false when someone else, not we, waits in the lobby", () => {
    assert.equal(isInLobby(apply([state("establishing"), participants(participant({ id: "p-1", isInLobby: true }))])), false);
  });

  it("is false while Graph has not named our participant", () => {
    assert.equal(isInLobby(apply([state("establishing", null, null), waiting])), false);
  });

  it("is false when our participant was admitted (newer roster entry) or left", () => {
    assert.equal(isInLobby(apply([state("establishing"), waiting, participants(participant({ id: ME, sequence: 2 }))])), false);
    assert.equal(
      isInLobby(apply([state("establishing"), waiting, participants(participant({ id: ME, sequence: 2, isInLobby: true, left: true }))])),
      false,
    );
  });
});

describe("presentParticipants", () => {
  it("lists those who have not left", () => {
    const s = apply([
      participants(participant({ id: "a" }), participant({ id: "b" }), participant({ id: "c" })),
      participants(participant({ id: "b", sequence: 2, left: true })),
    ]);
    assert.deepEqual(
      presentParticipants(s).map((p) => p.id),
      ["a", "c"],
    );
    assert.equal(s.participants.length, 3, "the tombstone is kept");
  });
});

describe("isCallState", () => {
  it("accepts Graph's call states and nothing else", () => {
    for (const s of ["incoming", "establishing", "ringing", "established", "terminating", "terminated"]) assert.equal(isCallState(s), true, s);
    for (const v of ["Established", "hold", "", null, undefined, 3, {}]) assert.equal(isCallState(v), false, String(v));
  });
});

describe("readCallChainId and callLabel", () => {
  it("takes a GUID as Graph gives it and nothing else", () => {
    assert.equal(readCallChainId(CHAIN), CHAIN);
    assert.equal(readCallChainId(CHAIN.toUpperCase()), CHAIN.toUpperCase());
    for (const v of [undefined, null, "", "not-a-guid", `${CHAIN}\nforged line`, `{${CHAIN}}`, 42, {}])
      assert.equal(readCallChainId(v), null, String(v));
  });

  it("names a call by Graph's call id and its callChainId, or says the callChainId is unknown", () => {
    assert.equal(callLabel({ callId: "2f1a1100-b174", callChainId: CHAIN }), `call 2f1a1100-b174 (callChainId ${CHAIN})`);
    assert.equal(callLabel({ callId: "2f1a1100-b174", callChainId: null }), "call 2f1a1100-b174 (callChainId unknown)");
  });
});

const record = (over: Partial<CallSessionRecord> = {}): CallSessionRecord => ({
  ...INITIAL_CALL_SESSION,
  callId: "call-1",
  tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
  mediaHostId: "mh-1",
  mediaHostEpoch: 1,
  deviceCallId: "sip-call-1",
  displayName: "Boardroom",
  vtcId: "1127180739",
  meetingId: "meeting-1",
  organizerId: "organizer-1",
  joinAsGuest: false,
  createdAt: "2025-01-01T10:00:00.000Z",
  establishedAt: null,
  endedAt: null,
  endedBy: null,
  endReason: null,
  deliveredDigest: null,
  ...over,
});

const t = (second: number) => new Date(Date.UTC(2025, 0, 1, 10, 0, second));
const observeAll = (r: CallSessionRecord, steps: [CallObservation, Date][]) => steps.reduce((acc, [o, at]) => observeCall(acc, o, at), r);

describe("observeCall", () => {
  it("applies the observation like applyCallObservation and keeps the record's identity", () => {
    const r = observeCall(record(), state("established"), t(5));
    assert.deepEqual(core(r), core(applyCallObservation(record(), state("established"))));
    assert.equal(r.callId, "call-1");
    assert.equal(r.vtcId, "1127180739");
    assert.equal(r.deliveredDigest, null);
  });

  it("stamps establishedAt at the first established, once", () => {
    const r = observeAll(record(), [
      [state("establishing"), t(1)],
      [state("established"), t(2)],
      [state("established"), t(3)],
      [participants(participant({ id: "p-1" })), t(4)],
    ]);
    assert.equal(r.establishedAt, t(2).toISOString());
  });

  it("stamps establishedAt for an established that arrives after terminated, without reopening the call", () => {
    const r = observeAll(record(), [
      [state("terminated", ENDED), t(7)],
      [state("established"), t(8)],
    ]);
    assert.equal(r.state, "terminated");
    assert.equal(r.establishedAt, t(8).toISOString());
    assert.equal(r.endedAt, t(7).toISOString());
  });

  it("leaves establishedAt null for a call that never got established", () => {
    const r = observeAll(record(), [
      [state("establishing"), t(1)],
      [state("terminated", REMOVED), t(2)],
    ]);
    assert.equal(r.establishedAt, null);
  });

  it("stamps endedAt, endedBy and endReason at the first terminated, once", () => {
    const r = observeAll(record(), [
      [state("established"), t(1)],
      [state("terminated", REMOVED), t(9)],
      [state("terminated", ENDED), t(10)],
      [state("established"), t(11)],
    ]);
    assert.equal(r.endedAt, t(9).toISOString());
    assert.equal(r.endedBy, "meeting");
    assert.equal(r.endReason, "Removed from the meeting");
    assert.deepEqual(r.resultInfo, REMOVED);
  });

  it("says 'the meeting ended the call' when Graph gives no reason", () => {
    const r = observeCall(record(), state("terminated", null), t(3));
    assert.equal(r.endReason, "the meeting ended the call");
    assert.equal(r.endedBy, "meeting");
  });

  it("keeps who ended the call and why when the gateway said so first", () => {
    const r = observeCall(record({ endedBy: "gateway", endReason: "the device hung up" }), state("terminated", ENDED), t(4));
    assert.equal(r.endedBy, "gateway");
    assert.equal(r.endReason, "the device hung up");
    assert.equal(r.endedAt, t(4).toISOString());
  });

  it("stamps lobbyAt when our participant is first seen waiting in the lobby, once; a call that never waited has none", () => {
    const waited = observeAll(record(), [
      [state("establishing", null, ME), t(1)],
      [participants(participant({ id: ME, isInLobby: true })), t(2)],
      [participants(participant({ id: ME, isInLobby: true, sequence: 2 })), t(3)],
      [state("established", null, ME), t(4)],
    ]);
    assert.equal(waited.lobbyAt, t(2).toISOString());
    assert.equal(waited.establishedAt, t(4).toISOString());
    const straightIn = observeAll(record(), [
      [state("establishing", null, ME), t(1)],
      [state("established", null, ME), t(2)],
      [participants(participant({ id: ME })), t(3)],
    ]);
    assert.equal("lobbyAt" in straightIn, false);
  });

  it("does not stamp anything for roster updates or earlier states", () => {
    const r = observeAll(record(), [
      [state("establishing"), t(1)],
      [participants(participant({ id: ME, isInLobby: true })), t(2)],
    ]);
    assert.equal(r.establishedAt, null);
    assert.equal(r.endedAt, null);
    assert.equal(r.endedBy, null);
    assert.equal(r.endReason, null);
  });
});

describe("mediaHostView", () => {
  it("tells the media host the state, the lobby and the result; others coming and going change nothing it is told", () => {
    const r = observeAll(record(), [
      [state("establishing"), t(1)],
      [participants(participant({ id: ME, isInLobby: true }), participant({ id: "p-1" }), participant({ id: "p-2", left: true })), t(2)],
    ]);
    assert.deepEqual(mediaHostView(r), { state: "establishing", inLobby: true, resultInfo: null, screenSharer: null });
    const withMore = observeAll(r, [[participants(participant({ id: "p-3" })), t(3)]]);
    assert.deepEqual(mediaHostView(withMore), mediaHostView(r));
  });

  it("is out of the lobby and carries the result once the call ended", () => {
    const r = observeAll(record(), [
      [participants(participant({ id: ME, isInLobby: true })), t(1)],
      [state("terminated", REMOVED), t(2)],
    ]);
    const view = mediaHostView(r);
    assert.equal(view.state, "terminated");
    assert.equal(view.inLobby, false);
    assert.deepEqual(view.resultInfo, REMOVED);
  });

  it("names who shares their screen: the latest roster entry that sends, never our bot, never someone who left", () => {
    let r = observeAll(record(), [
      [state("established", null, ME), t(1)],
      [
        participants(
          participant({ id: ME, sequence: 1, sharingScreen: "bot-screen" }),
          participant({ id: "alice", sequence: 2, sharingScreen: "a-1" }),
        ),
        t(2),
      ],
    ]);
    assert.deepEqual(mediaHostView(r).screenSharer, { participantId: "alice", sourceId: "a-1" });
    // A hand-over half seen: Bob's newer entry sends while Alice's older one still does.
    r = observeAll(r, [[participants(participant({ id: "bob", sequence: 4, sharingScreen: "b-1" })), t(3)]]);
    assert.deepEqual(mediaHostView(r).screenSharer, { participantId: "bob", sourceId: "b-1" });
    r = observeAll(r, [
      [
        participants(
          participant({ id: "bob", sequence: 5, left: true, sharingScreen: null }),
          participant({ id: "alice", sequence: 6, sharingScreen: null }),
        ),
        t(4),
      ],
    ]);
    assert.equal(mediaHostView(r).screenSharer, null, "our own bot's share is not the meeting's");
  });

  it("carries nothing of the record beyond what the media host acts on", () => {
    assert.deepEqual(Object.keys(mediaHostView(record())).sort(), ["inLobby", "resultInfo", "screenSharer", "state"]);
  });
});
