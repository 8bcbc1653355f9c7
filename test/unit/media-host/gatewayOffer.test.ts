import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SessionOrigin } from "../../../media-host/domain/sessionOrigin.js";
import { offerTowardsRtpengine, readRtpengineAnswer } from "../../../media-host/meeting/plainSideOffer.js";
import { parseSdp } from "../../../media-host/rtpengine/sdp.js";

const sdp = (origin: string, body = "m=audio 4000 RTP/AVP 0\r\n") => `v=0\r\no=${origin}\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n${body}`;

describe("SessionOrigin: the o= line of what the gateway sends one device (RFC 3264 §8)", () => {
  it("keeps the first SDP's username, session id and address, and counts the version up by one for every later SDP", () => {
    const origin = new SessionOrigin();
    assert.equal(origin.stamp(sdp("room 4242 7 IN IP4 192.0.2.1")), sdp("room 4242 7 IN IP4 192.0.2.1"), "the first goes as it is");
    assert.equal(
      origin.stamp(sdp("OpenCVI 1 3 IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0 8\r\n")),
      sdp("room 4242 8 IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0 8\r\n"),
    );
    assert.equal(origin.stamp(sdp("OpenCVI 1 4 IN IP4 192.0.2.1")), sdp("room 4242 9 IN IP4 192.0.2.1"));
  });

  it("counts past 2^53 (NTP-sized versions) and leaves an SDP without o= alone", () => {
    const origin = new SessionOrigin();
    origin.stamp(sdp("- 3913000000 9007199254740993 IN IP4 192.0.2.1"));
    assert.match(origin.stamp(sdp("- 1 1 IN IP4 192.0.2.1")), /^o=- 3913000000 9007199254740994 IN IP4 192\.0\.2\.1\r$/m);
    assert.equal(origin.stamp("v=0\r\ns=-\r\n"), "v=0\r\ns=-\r\n");
  });
});

describe("the bridge's own offer towards rtpengine, and its answer", () => {
  it("offers Opus with telephone-event and H.264 (level 4.0, packetization mode 1, RTCP keyframe feedback) on the bridge's ports", () => {
    const offer = parseSdp(offerTowardsRtpengine({ address: "127.0.0.1", audioPort: 41000, videoPort: 41002 }, 3));
    assert.equal(offer.media.length, 2);
    assert.deepEqual(
      offer.media.map((m) => [m.media, m.port, m.protocol, m.formats.join(" ")]),
      [
        ["audio", 41000, "RTP/AVP", "111 101"],
        ["video", 41002, "RTP/AVP", "109"],
      ],
    );
    const text = offerTowardsRtpengine({ address: "127.0.0.1", audioPort: 41000, videoPort: 41002 }, 3);
    assert.match(text, /^o=OpenCVI 1 3 IN IP4 127\.0\.0\.1\r$/m);
    assert.match(text, /^a=fmtp:109 profile-level-id=42e028;packetization-mode=1\r$/m);
    assert.match(text, /^a=rtcp-fb:109 nack pli\r$/m);
  });

  it("reads the device's answer: Opus, its H.264 level (what it may be sent), keyframes the way it answered, declined video, recvonly", () => {
    const answer = (video: string, direction = "sendrecv") =>
      parseSdp(
        `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\na=${direction}\r\n${video}`,
      );
    const withVideo = readRtpengineAnswer(
      answer(
        "m=video 30002 RTP/AVP 109\r\na=rtpmap:109 H264/90000\r\na=fmtp:109 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:109 nack pli\r\n",
      ),
    );
    assert.equal(withVideo.choice.audioPayloadType, 111);
    assert.equal(withVideo.choice.video?.payloadType, 109);
    assert.equal(withVideo.choice.video?.deviceReceives.maxFs, 3600, "level 3.1: 720p at most towards it");
    assert.equal(withVideo.choice.deviceKeyframes, "pli");
    assert.deepEqual([withVideo.audioIndex, withVideo.videoIndex, withVideo.deviceSending], [0, 1, true]);
    const declined = readRtpengineAnswer(answer("m=video 0 RTP/AVP 109\r\n", "recvonly"));
    assert.deepEqual([declined.videoIndex, declined.deviceSending, declined.choice.deviceKeyframes], [-1, false, "sip-info"]);
  });
});
