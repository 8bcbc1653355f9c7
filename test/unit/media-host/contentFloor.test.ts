import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_CONTENT_SILENCE_MS,
  deviceFloorGone,
  type FloorEffect,
  type FloorEvent,
  type FloorHolder,
  NO_HOLDER,
  nextFloor,
} from "../../../media-host/domain/contentFloor.js";

const device = (floorRequestId: number): FloorHolder => ({ kind: "device", floorRequestId });
const meeting = (sourceId: string): FloorHolder => ({ kind: "meeting", sourceId });

describe("the content floor", () => {
  const table: [string, FloorHolder, FloorEvent, FloorHolder, FloorEffect[]][] = [
    [
      "the device asks with nobody sharing: granted, the bot becomes the meeting's sharer, its content goes to the meeting from a keyframe",
      NO_HOLDER,
      { type: "deviceRequested", floorRequestId: 7 },
      device(7),
      [
        { type: "answerDevice", floorRequestId: 7, status: "granted" },
        { type: "sharingRole", role: "sharer" },
        { type: "forward", direction: "device-to-meeting" },
        { type: "requestKeyframe", from: "device" },
      ],
    ],
    [
      "the device asks while someone in the meeting shares: the last sharer wins",
      meeting("src-1"),
      { type: "deviceRequested", floorRequestId: 8 },
      device(8),
      [
        { type: "answerDevice", floorRequestId: 8, status: "granted" },
        { type: "sharingRole", role: "sharer" },
        { type: "forward", direction: "device-to-meeting" },
        { type: "requestKeyframe", from: "device" },
      ],
    ],
    [
      "a new request while holding: the old id is released, the new one holds, nothing else changes",
      device(7),
      { type: "deviceRequested", floorRequestId: 9 },
      device(9),
      [
        { type: "answerDevice", floorRequestId: 7, status: "released" },
        { type: "answerDevice", floorRequestId: 9, status: "granted" },
      ],
    ],
    [
      "the same request again (a retransmission the transport did not catch): granted again, nothing else",
      device(7),
      { type: "deviceRequested", floorRequestId: 7 },
      device(7),
      [{ type: "answerDevice", floorRequestId: 7, status: "granted" }],
    ],
    [
      "the device releases: forwarding stops and the bot gives up sharing",
      device(7),
      { type: "deviceReleased", floorRequestId: 7 },
      NO_HOLDER,
      [
        { type: "answerDevice", floorRequestId: 7, status: "released" },
        { type: "forward", direction: "none" },
        { type: "sharingRole", role: "viewer" },
      ],
    ],
    [
      "a release of a request the device does not hold changes nothing (BFCP error 7)",
      meeting("src-1"),
      { type: "deviceReleased", floorRequestId: 7 },
      meeting("src-1"),
      [{ type: "unknownFloorRequest", floorRequestId: 7 }],
    ],
    [
      "a device that vanishes while presenting loses the floor",
      device(7),
      { type: "deviceGone", reason: "content-silent" },
      NO_HOLDER,
      [
        { type: "forward", direction: "none" },
        { type: "sharingRole", role: "viewer" },
      ],
    ],
    ["a device that vanishes without the floor changes nothing", meeting("src-1"), { type: "deviceGone", reason: "hung-up" }, meeting("src-1"), []],
    [
      "someone in the meeting shares while the device presents: the device is revoked and told the gateway holds the floor",
      device(7),
      { type: "meetingShareStarted", sourceId: "src-2" },
      meeting("src-2"),
      [
        { type: "answerDevice", floorRequestId: 7, status: "revoked" },
        { type: "tellDeviceFloor", heldBy: "gateway" },
        { type: "forward", direction: "meeting-to-device" },
        { type: "requestKeyframe", from: "meeting", sourceId: "src-2" },
      ],
    ],
    [
      "a second person takes over sharing in the meeting: the device gets the new source from its keyframe",
      meeting("src-1"),
      { type: "meetingShareStarted", sourceId: "src-2" },
      meeting("src-2"),
      [
        { type: "tellDeviceFloor", heldBy: "gateway" },
        { type: "forward", direction: "meeting-to-device" },
        { type: "requestKeyframe", from: "meeting", sourceId: "src-2" },
      ],
    ],
    ["the same share announced twice changes nothing", meeting("src-1"), { type: "meetingShareStarted", sourceId: "src-1" }, meeting("src-1"), []],
    [
      "the meeting's sharer stops: the device is told the floor is free",
      meeting("src-1"),
      { type: "meetingShareStopped", sourceId: "src-1" },
      NO_HOLDER,
      [
        { type: "tellDeviceFloor", heldBy: "nobody" },
        { type: "forward", direction: "none" },
      ],
    ],
    [
      "a share that was already taken over stops: nothing changes for the one now sharing",
      device(7),
      { type: "meetingShareStopped", sourceId: "src-1" },
      device(7),
      [],
    ],
  ];
  for (const [name, before, event, after, effects] of table) {
    it(name, () => {
      const next = nextFloor(before, event);
      assert.deepEqual(next.holder, after);
      assert.deepEqual(next.effects, effects);
    });
  }

  it("over random event sequences the effects keep the world consistent with the holder", () => {
    // What the effects have done so far, replayed: who the streams forward for, whether the bot is the meeting's sharer.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const events = (): FloorEvent => {
      const pick = random(5);
      if (pick === 0) return { type: "deviceRequested", floorRequestId: 1 + random(3) };
      if (pick === 1) return { type: "deviceReleased", floorRequestId: 1 + random(3) };
      if (pick === 2) return { type: "deviceGone", reason: "bfcp-silent" };
      if (pick === 3) return { type: "meetingShareStarted", sourceId: `src-${random(3)}` };
      return { type: "meetingShareStopped", sourceId: `src-${random(3)}` };
    };
    let holder = NO_HOLDER;
    let forwarding: string = "none";
    let botSharing = false;
    const granted = new Set<number>();
    for (let step = 0; step < 5_000; step++) {
      const event = events();
      const next = nextFloor(holder, event);
      for (const effect of next.effects) {
        if (effect.type === "forward") forwarding = effect.direction;
        if (effect.type === "sharingRole") botSharing = effect.role === "sharer";
        if (effect.type === "answerDevice") {
          if (effect.status === "granted") granted.add(effect.floorRequestId);
          else granted.delete(effect.floorRequestId);
        }
      }
      if (event.type === "deviceGone") granted.clear();
      holder = next.holder;
      const expected = holder.kind === "device" ? "device-to-meeting" : holder.kind === "meeting" ? "meeting-to-device" : "none";
      assert.equal(forwarding, expected, `step ${step}: ${JSON.stringify(event)} → ${JSON.stringify(holder)}`);
      // The bot is the meeting's sharer exactly while the device presents, except that a meeting share ends it by itself.
      if (holder.kind === "device") assert.equal(botSharing, true, `step ${step}`);
      if (holder.kind === "none") assert.equal(botSharing, false, `step ${step}`);
      assert.deepEqual([...granted], holder.kind === "device" ? [holder.floorRequestId] : [], `step ${step}: the device's view of its grants`);
      if (holder.kind === "meeting") botSharing = false;
    }
  });
});

describe("a device holding the floor that has vanished", () => {
  const holder = device(3);
  it("is gone once no content came for the silence limit, counted from the grant when none came at all", () => {
    assert.equal(deviceFloorGone(holder, { nowMs: 10_000 + DEFAULT_CONTENT_SILENCE_MS - 1, grantedAtMs: 10_000 }), undefined);
    assert.equal(deviceFloorGone(holder, { nowMs: 10_000 + DEFAULT_CONTENT_SILENCE_MS, grantedAtMs: 10_000 }), "content-silent");
    assert.equal(deviceFloorGone(holder, { nowMs: 20_000, grantedAtMs: 10_000, lastContentAtMs: 19_000 }), undefined);
  });
  it("within 10 s of its last packet with the default limit and a check every 2 s", () => {
    const lastContentAtMs = 50_000;
    let noticedAt: number | undefined;
    for (let nowMs = 50_000; nowMs <= 70_000 && noticedAt === undefined; nowMs += 2_000)
      if (deviceFloorGone(holder, { nowMs, grantedAtMs: 0, lastContentAtMs, lastBfcpAtMs: nowMs })) noticedAt = nowMs;
    assert.ok(noticedAt !== undefined && noticedAt - lastContentAtMs <= 10_000, `noticed at +${(noticedAt ?? Number.NaN) - lastContentAtMs} ms`);
  });
  it("is gone when BFCP went silent for its limit even while content flows", () => {
    assert.equal(
      deviceFloorGone(holder, { nowMs: 100_000, grantedAtMs: 0, lastContentAtMs: 99_900, lastBfcpAtMs: 30_000 }, { bfcpSilenceInMs: 60_000 }),
      "bfcp-silent",
    );
  });
  it("is never judged when the device does not hold the floor", () => {
    assert.equal(deviceFloorGone(NO_HOLDER, { nowMs: 1e9, grantedAtMs: 0 }), undefined);
    assert.equal(deviceFloorGone(meeting("x"), { nowMs: 1e9, grantedAtMs: 0 }), undefined);
  });
});
