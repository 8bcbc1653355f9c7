import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type LocalStack, startLocalStack } from "../../local/stack.js";
import { StandInBot } from "../emulators/meeting/standInBot.js";
import { launchChromium } from "../support/browser.js";
import { type AccessUnit, h264Content } from "../support/media/h264Content.js";
import { adminApi, type EnabledMeeting, enabledMeeting, holdLease } from "../support/onboarding.js";
import { waitFor } from "../support/waiting.js";

// Screen sharing in the meeting emulator with real peers: two headless Chromium pages on the
// meeting page (Chromium's fake screen through getDisplayMedia) and a werift stand-in for the
// media host's bot, joined through the control plane and the Graph emulator. The bot takes
// the share with the control plane's screenSharingRole route (Graph's changeScreenSharingRole)
// and shares real H.264 (x264). The last sharer wins, both ways.

const BOT_CLIP = { width: 1280, height: 720, frames: 30, fps: 10 } as const;
const MEDIA_HOST_ID = "mh-share";

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
  leave(): Promise<void>;
  contentStats(): Promise<ContentStats>;
}
declare const window: { meeting: MeetingPageApi };

let stack: LocalStack;
let lease: Awaited<ReturnType<typeof holdLease>>;
let meeting: EnabledMeeting;
let browser: Browser;
let bot: StandInBot;
let clip: AccessUnit[];
let callId: string;
let botParticipantId: string;
const pages: { page: Page; participantId: string }[] = [];

const content = (page: Page) => page.evaluate(() => window.meeting.contentStats());
const sfu = (participantId: string) => stack.meetingMedia!.server.participants(meeting.meetingId).find((p) => p.participantId === participantId)!;

/** The page's content tile decodes new frames at this size from this sharer. */
async function decodes(page: Page, sharer: string, size: { width: number; height: number }, what: string): Promise<ContentStats> {
  const before = (await content(page)).framesDecoded;
  return waitFor(
    async () => {
      const stats = await content(page);
      return (
        stats.sharer === sharer && stats.frameWidth === size.width && stats.frameHeight === size.height && stats.framesDecoded > before + 3 && stats
      );
    },
    what,
    20_000,
  );
}

async function setBotRole(role: "viewer" | "sharer"): Promise<void> {
  const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  const answer = await adminApi(stack, "PUT", `/v1/calls/${callId}/screenSharingRole`, { role }, mediaHost);
  assert.equal(answer.status, 200, answer.text);
}

before(async () => {
  clip = await h264Content({ ...BOT_CLIP, keyframeInterval: BOT_CLIP.frames + 1 });
  stack = await startLocalStack({ logLevel: "none", meetingMedia: {} });
  lease = await holdLease(stack, MEDIA_HOST_ID);
  meeting = await enabledMeeting(stack, { lobbyScope: "everyone" });
  bot = await StandInBot.start(9);
  const mediaHost = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  const joined = await adminApi(
    stack,
    "POST",
    "/v1/calls",
    {
      tenantKey: meeting.tenant.tenantKey,
      vtcId: meeting.vtcId,
      displayName: "Boardroom 9",
      mediaHostId: MEDIA_HOST_ID,
      mediaHostEpoch: lease.epoch,
      deviceCallId: "sip-screen-share",
      mediaBlob: bot.blob({ mediaHostId: MEDIA_HOST_ID }),
    },
    mediaHost,
  );
  assert.equal(joined.status, 201, joined.text);
  callId = joined.json.callId;
  await waitFor(() => bot.connectionState === "connected", "the bot's media connected", 20_000);
  botParticipantId = stack.graph.calls().find((c) => c.id === callId)!.myParticipantId;
  bot.startSending(127);

  browser = await launchChromium();
  for (const name of ["Adele (A)", "Bianca (B)"]) {
    const page = await browser.newPage();
    await page.goto(`${stack.meetingMedia!.pageUrl(meeting.meetingId)}?name=${encodeURIComponent(name)}&autojoin=1`);
    await page.waitForFunction(() => window.meeting.state === "connected", undefined, { timeout: 20_000 });
    pages.push({ page, participantId: await page.evaluate(() => window.meeting.participantId) });
  }
});

after(async () => {
  await browser?.close();
  await bot?.close();
  await lease?.release();
  await stack?.stop();
});

describe("screen sharing in the meeting emulator", () => {
  it("a page shares: the other page's content tile decodes it at the shared size, the bot receives it from a keyframe on its content video", async () => {
    const [a, b] = pages;
    const shared = await a!.page.evaluate(() => window.meeting.shareScreen());
    // Chromium's fake screen is 1920x1080 under the page's constraints (at most 1920x1080, 15 fps).
    assert.deepEqual(shared, { width: 1920, height: 1080 });
    assert.equal(stack.graph.screenSharer(meeting.meetingId), a!.participantId, "Graph's roster has the page's person as the sharer");
    const seen = await decodes(b!.page, a!.participantId, shared, "page B decoding page A's screen");
    assert.ok(seen.keyFramesDecoded >= 1);
    assert.equal(await b!.page.evaluate(() => window.meeting.sharer), a!.participantId);

    await waitFor(() => bot.received.content.length > 20, "the bot receiving page A's screen", 20_000);
    assert.equal(bot.received.content[0]?.keyframeStart, true, "the bot's first content packet starts a keyframe");
    assert.equal(sfu(callId).receivesContent, a!.participantId);
  });

  it("a bot that is not the sharer sends content: nothing is forwarded; as sharer (changeScreenSharingRole) its H.264 reaches every page, after a PLI", async () => {
    const [a, b] = pages;
    const forwardedToB = sfu(b!.participantId).sentPackets.content;
    const fromBot = () => sfu(callId).receivedPackets.content;
    bot.startSharing(clip, BOT_CLIP.fps);
    const received = fromBot();
    await waitFor(() => fromBot() > received + 30, "the SFU receiving the bot's content", 10_000);
    assert.equal(sfu(b!.participantId).receivesContent, a!.participantId, "page B still gets page A's share");
    assert.equal(sfu(callId).sharing, false);
    assert.ok(sfu(b!.participantId).sentPackets.content > forwardedToB, "page A's share kept flowing to page B");

    const requestsBefore = bot.contentKeyframeRequests.pli;
    await setBotRole("sharer");
    assert.equal(stack.graph.screenSharer(meeting.meetingId), botParticipantId);
    const size = { width: BOT_CLIP.width, height: BOT_CLIP.height };
    await decodes(b!.page, callId, size, "page B decoding the bot's share");
    await decodes(a!.page, callId, size, "page A decoding the bot's share");
    assert.ok(bot.contentKeyframeRequests.pli > requestsBefore, "the SFU asked the new sharer for a keyframe");
    assert.equal(await a!.page.evaluate(() => window.meeting.sharing), null, "page A's share stopped when the bot took over");
    assert.equal(sfu(callId).receivesContent, null, "the sharer gets no content of its own back");
  });

  it("the last sharer wins both ways: page B takes the share from the bot, the bot takes it back", async () => {
    const [a, b] = pages;
    const shared = await b!.page.evaluate(() => window.meeting.shareScreen());
    assert.equal(stack.graph.screenSharer(meeting.meetingId), b!.participantId);
    await decodes(a!.page, b!.participantId, shared, "page A decoding page B's screen");
    const fromB = bot.received.content.length;
    await waitFor(() => bot.received.content.length > fromB + 20, "the bot receiving page B's screen", 20_000);
    assert.equal(sfu(callId).receivesContent, b!.participantId);

    await setBotRole("sharer");
    await decodes(a!.page, callId, { width: BOT_CLIP.width, height: BOT_CLIP.height }, "page A decoding the bot's share again");
    assert.equal(await b!.page.evaluate(() => window.meeting.sharing), null);

    await setBotRole("viewer");
    assert.equal(stack.graph.screenSharer(meeting.meetingId), null);
    await waitFor(async () => (await content(a!.page)).sharer === null, "page A told no one shares");
    const forwarded = sfu(a!.participantId).sentPackets.content;
    const received = sfu(callId).receivedPackets.content;
    await waitFor(() => sfu(callId).receivedPackets.content > received + 30, "the bot still sending content", 10_000);
    assert.equal(sfu(a!.participantId).sentPackets.content, forwarded, "a viewer's content goes nowhere");
  });

  it("a page that leaves while sharing shares no more: Graph's roster and the other page say no one shares", async () => {
    const [a, b] = pages;
    await b!.page.evaluate(() => window.meeting.shareScreen());
    await waitFor(async () => (await content(a!.page)).sharer === b!.participantId, "page A told page B shares");
    await b!.page.evaluate(() => window.meeting.leave());
    await waitFor(async () => (await content(a!.page)).sharer === null, "page A told no one shares");
    assert.equal(stack.graph.screenSharer(meeting.meetingId), null);
    assert.equal(sfu(callId).receivesContent, null);
  });
});
