import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Primitive, RequestStatus } from "../../media-host/bfcp/constants.js";
import { seedDemo, type SeededDemo } from "../../local/demo.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { launchChromium } from "../support/browser.js";
import { type AccessUnit, h264Content } from "../support/media/h264Content.js";
import { RoomSystem, type RoomSystemOptions, readFloorRequest } from "../support/peers/roomSystem.js";
import { waitFor } from "../support/waiting.js";

// Content sharing through the whole product with real peers: a test room system (SIP, BFCP,
// x264's 1080p slides on its slides m-line) dials the demo meeting through the media host
// (rtpengine, the WebRTC meeting leg, the control plane's Graph calls), and headless Chromium
// on the meeting emulator's page shows the content tile and shares its own (fake) screen.

const SLIDES = { width: 1920, height: 1080, fps: 5, frames: 10 } as const;

interface ContentStats {
  sharer: string | null;
  framesDecoded: number;
  keyFramesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  packets: number;
}

/** What the meeting page exposes for tests (test/emulators/meeting/meetingPage.ts). */
interface MeetingPageApi {
  state?: string;
  participantId: string;
  sharer: string | null;
  sharing: { width: number; height: number } | null;
  shareScreen(): Promise<{ width: number; height: number }>;
  stopSharing(): Promise<void>;
  contentStats(): Promise<ContentStats>;
}
declare const window: { meeting: MeetingPageApi };

let stack: LocalStack;
let demo: SeededDemo;
let browser: Browser;
let page: Page;
let slides: AccessUnit[];
const rooms: RoomSystem[] = [];

const content = () => page.evaluate(() => window.meeting.contentStats());

async function dial(
  displayName: string,
  bfcp: RoomSystemOptions["bfcp"],
  shape: RoomSystemOptions["shape"] = "cisco",
  keyframes: RoomSystemOptions["keyframes"] = "rtcp",
): Promise<{ room: RoomSystem; botParticipantId: string; answer: string }> {
  const { room, response } = await RoomSystem.dial({
    gatewayPort: stack.mediaHost!.ports.sipUdp,
    dial: `${demo.tenantKey.split("@")[0]}.${demo.vtcId}`,
    displayName,
    bfcp,
    shape,
    keyframes,
  });
  rooms.push(room);
  assert.equal(response.status, 200, `${response.status} ${response.reason}`);
  const bot = await waitFor(
    () => stack.graph.calls().find((c) => c.identity.displayName === displayName && c.state === "established"),
    "the room's bot in the meeting",
    20_000,
  );
  return { room, botParticipantId: bot.myParticipantId, answer: response.body.toString() };
}

/** The page's content tile decodes new frames of this size while Graph names this sharer. */
async function pageDecodes(sharer: string, size: { width: number; height: number }, what: string): Promise<ContentStats> {
  const before = (await content()).framesDecoded;
  return waitFor(
    async () => {
      const stats = await content();
      return (
        stack.graph.screenSharer(demo.meetingId) === sharer &&
        stats.sharer !== null &&
        stats.frameWidth === size.width &&
        stats.frameHeight === size.height &&
        stats.framesDecoded > before + 3 &&
        stats
      );
    },
    what,
    30_000,
  );
}

before(async () => {
  slides = await h264Content({ ...SLIDES, keyframeInterval: SLIDES.frames });
  stack = await startLocalStack({ logLevel: "none", mediaHost: {}, meetingMedia: {} });
  demo = await seedDemo(stack);
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${stack.meetingMedia!.pageUrl(demo.meetingId)}?name=${encodeURIComponent("Megan (browser)")}&autojoin=1`);
  await page.waitForFunction(() => window.meeting?.state === "connected", null, { timeout: 20_000 });
});

after(async () => {
  for (const room of rooms) await room.close().catch(() => {});
  await browser?.close();
  await stack?.stop();
});

describe("content sharing between a room system and the meeting (BFCP, slides m-line, Teams screen sharing)", () => {
  it("device → meeting over UDP BFCP v2: granted, its 1080p slides decoded in the page's content tile from a keyframe; released, the tile stops", async () => {
    const { room, botParticipantId } = await dial("Boardroom UDP", { transport: "udp", versions: [2, 1] });
    try {
      assert.ok(room.floorId > 0, "the gateway named the floor in its answer");
      assert.ok(room.sip.media.contentAccepted, "the gateway took the slides line");
      const grantedAt = performance.now();
      const granted = await room.requestFloor();
      assert.equal(granted.status, RequestStatus.Granted);
      room.present(slides, SLIDES.fps);
      const keyframesBefore = (await content()).keyFramesDecoded;
      await waitFor(
        async () => (await content()).keyFramesDecoded > keyframesBefore && stack.graph.screenSharer(demo.meetingId) === botParticipantId,
        "a keyframe of the room's slides decoded in the page",
        20_000,
      );
      const keyframeMs = Math.round(performance.now() - grantedAt);
      const seen = await pageDecodes(botParticipantId, SLIDES, "the room's slides in the page's content tile at 1920x1080");
      assert.ok(seen.keyFramesDecoded >= 1, "decoded from a keyframe");
      console.log(JSON.stringify({ figure: "grant to the first keyframe decoded in the page", ms: keyframeMs }));

      await room.bfcp.floorRelease(granted.floorRequestId!);
      await waitFor(() => stack.graph.screenSharer(demo.meetingId) === null, "Graph: nobody shares", 10_000);
      await waitFor(async () => (await content()).sharer === null, "the page told nobody shares", 10_000);
      await room.stopPresenting();
    } finally {
      await room.hangUp();
    }
  });

  it("meeting → device over TCP BFCP v1: the page shares its screen; the room is told the gateway holds the floor and gets H.264 at the page's size on its slides line", async () => {
    const { room } = await dial("Boardroom TCP", { transport: "tcp", versions: [1] });
    try {
      const shared = await page.evaluate(() => window.meeting.shareScreen());
      const status = await waitFor(
        () => room.floorStatuses().find((s) => s.status === RequestStatus.Granted),
        "a FloorStatus naming the floor granted",
        10_000,
      );
      assert.ok(status.beneficiaryId !== undefined && status.beneficiaryId !== room.bfcp.options.userId, "held for the meeting, not the room");
      const size = await waitFor(
        () => {
          const s = room.receivedPictureSize();
          return s && s.width === shared.width && s.height === shared.height && s;
        },
        "the page's screen on the room's slides line",
        20_000,
      );
      assert.deepEqual(size, shared);
      await waitFor(() => room.receivedPictures().length > 3, "pictures, not a packet", 10_000);

      await page.evaluate(() => window.meeting.stopSharing());
      await waitFor(() => room.floorStatuses().at(-1)?.status === undefined, "a FloorStatus with nobody holding the floor", 10_000);
    } finally {
      await room.hangUp();
    }
  });

  it("a Poly-shaped room (TCP BFCP naming a slides stream it has not offered): the gateway's re-INVITE adds the slides line, and the page's screen reaches it there", async () => {
    const { room, answer } = await dial("Poly room", { transport: "tcp", versions: [1] }, "poly");
    try {
      assert.doesNotMatch(answer, /a=content:slides/, "no slides line in the answer to its INVITE");
      assert.match(answer, /^m=application [1-9]\d* TCP\/BFCP \*$/m, "its BFCP line taken");
      const reinvite = await waitFor(
        () => room.sip.gatewayReinvites.find((offer) => /a=content:slides/.test(offer)),
        "the gateway's re-INVITE with a slides line",
        10_000,
      );
      const media = reinvite.split(/\r?\n/).filter((l) => l.startsWith("m="));
      assert.equal(media.length, 4, `the session's three m-lines in place and the slides line after them: ${media.join(" | ")}`);
      assert.match(media[2] ?? "", /^m=application [1-9]\d* TCP\/BFCP \*$/, "our BFCP line where it was");
      assert.match(reinvite, /a=label:12/, "labelled as the device's floor names it");
      await waitFor(() => room.sip.acksReceived > 0, "the ACK of the room's answer", 5000);
      assert.ok(room.sip.media.contentAccepted, "the room took the slides line");

      const shared = await page.evaluate(() => window.meeting.shareScreen());
      await waitFor(() => room.floorStatuses().some((s) => s.status === RequestStatus.Granted), "the room told the meeting presents", 10_000);
      await waitFor(
        () => {
          const s = room.receivedPictureSize();
          return s && s.width === shared.width && s.height === shared.height;
        },
        "the page's screen on the room's new slides line",
        20_000,
      );
      await page.evaluate(() => window.meeting.stopSharing());
    } finally {
      await room.hangUp();
    }
  });

  it("hand-over both ways, then a room killed while presenting loses the floor within 10 s", async () => {
    // A room that takes keyframe requests only over SIP INFO (no RTCP feedback offered).
    const { room, botParticipantId } = await dial("Boardroom hand-over", { transport: "udp", versions: [2, 1] }, "cisco", "sip-info");
    try {
      // The page shares; the room takes over: its slides replace the page's screen.
      await page.evaluate(() => window.meeting.shareScreen());
      await waitFor(() => room.floorStatuses().some((s) => s.status === RequestStatus.Granted), "the room told the meeting presents", 10_000);
      const granted = await room.requestFloor();
      assert.equal(granted.status, RequestStatus.Granted);
      room.present(slides, SLIDES.fps);
      await pageDecodes(botParticipantId, SLIDES, "the room's slides after it took over");
      assert.equal(await page.evaluate(() => window.meeting.sharing), null, "the page's own share stopped: the last sharer wins");
      assert.ok(room.slidesKeyframeInfos().length > 0, "asked for a keyframe of its slides over SIP INFO, naming the slides line");

      // The page takes it back: the room's request is revoked and the page's screen reaches the room.
      const received = room.contentReceived.length;
      const shared = await page.evaluate(() => window.meeting.shareScreen());
      await waitFor(
        () =>
          room.bfcp.received.some(
            (r) => r.message.primitive === Primitive.FloorRequestStatus && readFloorRequest(r.message.attributes).status === RequestStatus.Revoked,
          ),
        "the room's floor request revoked",
        10_000,
      );
      await waitFor(() => room.contentReceived.length > received + 20, "the page's screen at the room", 20_000);
      assert.deepEqual(room.receivedPictureSize(), shared);

      // The room takes it again, presents, and vanishes (no BYE, no Goodbye): it loses the floor within 10 s.
      const again = await room.requestFloor();
      assert.equal(again.status, RequestStatus.Granted);
      room.present(slides, SLIDES.fps);
      await pageDecodes(botParticipantId, SLIDES, "the room presenting again");
      const vanishedAt = performance.now();
      await room.vanish();
      await waitFor(() => stack.graph.screenSharer(demo.meetingId) === null, "the floor released after the room vanished", 15_000);
      console.log(JSON.stringify({ figure: "vanished presenter to floor released", ms: Math.round(performance.now() - vanishedAt) }));
    } finally {
      await room.close();
    }
  });
});
