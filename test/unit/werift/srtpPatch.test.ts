import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as werift from "werift";
import {
  AEAD_AES_128_GCM,
  AES_CM_128_HMAC_SHA1_80,
  deriveSessionKeys,
  type Profile,
  protectRtcp,
  protectRtp,
  unprotectRtp,
} from "./srtpReference.js";
import {
  loadPatchScript,
  patchedFiles,
  receivingTransport,
  repoRoot,
  WERIFT_PATCH,
  WERIFT_STRIP,
  type Werift,
  type WeriftCopies,
  weriftCopies,
} from "./weriftHarness.js";

/** Each part of the patch marks the places it changed. */
const MARKERS = ["opencvi-patch(srtp-fast-path)", "opencvi-patch(long-calls)"];
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

type RtpHeader = werift.RtpHeader;
type RtpPacket = werift.RtpPacket;
type SrtpSession = werift.SrtpSession;
type DecryptWithHeader = (buf: Buffer) => [Buffer, RtpHeader];

/** The method the patch adds (reached without its type, so this file compiles against an unpatched werift too). */
function decryptWithHeader(session: SrtpSession): DecryptWithHeader | undefined {
  const method = (session as unknown as { decryptWithHeader?: DecryptWithHeader }).decryptWithHeader;
  return method?.bind(session);
}

interface Master {
  key: Buffer;
  salt: Buffer;
}
const master = (profile: Profile, seed: number): Master => ({
  key: Buffer.from(Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) & 0xff)),
  salt: Buffer.from(Array.from({ length: profile === AES_CM_128_HMAC_SHA1_80 ? 14 : 12 }, (_, i) => (seed * 17 + i * 13 + 5) & 0xff)),
});

function sessions(w: Werift, profile: Profile, m: Master) {
  const keys = { localMasterKey: m.key, localMasterSalt: m.salt, remoteMasterKey: m.key, remoteMasterSalt: m.salt };
  return { srtp: new w.SrtpSession({ keys, profile }), srtcp: new w.SrtcpSession({ keys, profile }) };
}

interface RtpSpec {
  seq: number;
  ssrc: number;
  payloadType?: number;
  marker?: boolean;
  timestamp?: number;
  csrcs?: number[];
  extension?: { profile: number; data: Buffer };
  payload: Buffer;
  padding?: number;
}

/** An RTP packet written by hand (RFC 3550 5.1), independent of werift's serializer. */
function rtp(spec: RtpSpec): Buffer {
  const csrcs = spec.csrcs ?? [];
  const fixed = Buffer.alloc(12 + 4 * csrcs.length);
  fixed[0] = 0x80 | (spec.padding ? 0x20 : 0) | (spec.extension ? 0x10 : 0) | csrcs.length;
  fixed[1] = (spec.marker ? 0x80 : 0) | (spec.payloadType ?? 96);
  fixed.writeUInt16BE(spec.seq, 2);
  fixed.writeUInt32BE(spec.timestamp ?? 0x01020304, 4);
  fixed.writeUInt32BE(spec.ssrc, 8);
  for (const [i, c] of csrcs.entries()) fixed.writeUInt32BE(c, 12 + 4 * i);
  const parts: Buffer[] = [fixed];
  if (spec.extension) {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(spec.extension.profile, 0);
    head.writeUInt16BE(spec.extension.data.length / 4, 2);
    parts.push(head, spec.extension.data);
  }
  parts.push(spec.payload);
  if (spec.padding) {
    const pad = Buffer.alloc(spec.padding);
    pad[spec.padding - 1] = spec.padding;
    parts.push(pad);
  }
  return Buffer.concat(parts);
}

// One-byte (RFC 8285 4.2) and two-byte (4.3) header extensions as Chrome sends them, and a generic one.
const oneByte = { profile: 0xbede, data: hex("10 30  22 012345  31 0a0b  00 00 00 00") };
const twoByte = { profile: 0x1000, data: hex("01 02 aabb  02 03 ccddee  00 00 00") };
const generic = { profile: 0x1234, data: hex("deadbeef 01020304") };

/** A varied stream: payload sizes across block boundaries, CSRCs, extensions, marker, crossing the sequence wrap. */
function stream(count: number, firstSeq: number, ssrc: number): RtpSpec[] {
  const sizes = [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 148, 1088, 1188, 1400];
  return Array.from({ length: count }, (_, i) => ({
    seq: (firstSeq + i) & 0xffff,
    ssrc,
    marker: i % 3 === 0,
    timestamp: (0xfffff000 + i * 3000) >>> 0,
    csrcs: i % 4 === 1 ? [0x11111111, 0x22222222] : [],
    extension: [undefined, oneByte, twoByte, generic][i % 4],
    payload: Buffer.from(Array.from({ length: sizes[i % sizes.length]! }, (_, j) => (i * 7 + j) & 0xff)),
  }));
}

/** Rollover counters of an in-order stream as a sender counts them (RFC 3711 3.3.1). */
function rocs(specs: RtpSpec[]): number[] {
  let roc = 0;
  return specs.map((s, i) => {
    if (i > 0 && s.seq < specs[i - 1]!.seq) roc++;
    return roc;
  });
}

function rtcp(ssrc: number, bodyLength: number, seed: number): Buffer {
  const packet = Buffer.alloc(8 + bodyLength);
  packet[0] = 0x81;
  packet[1] = 200;
  packet.writeUInt16BE((packet.length >> 2) - 1, 2);
  packet.writeUInt32BE(ssrc, 4);
  for (let i = 8; i < packet.length; i++) packet[i] = (seed + i * 11) & 0xff;
  return packet;
}

const profiles: [string, Profile][] = [
  ["AES_CM_128_HMAC_SHA1_80", AES_CM_128_HMAC_SHA1_80],
  ["AEAD_AES_128_GCM", AEAD_AES_128_GCM],
];

const plainHeader = (h: RtpHeader) => ({ ...h, extensions: h.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload) })) });
const plainPacket = (p: RtpPacket) => ({ header: plainHeader(p.header), payload: Buffer.from(p.payload) });

describe("werift SRTP patch", () => {
  it(`is applied to node_modules/werift: ${WERIFT_PATCH}`, async () => {
    const patch = await loadPatchScript();
    const pkgDir = path.join(repoRoot(), "node_modules", "werift");
    assert.equal(
      patch.patchState(pkgDir, path.join(repoRoot(), WERIFT_PATCH), { strip: WERIFT_STRIP }),
      "applied",
      "run node scripts/patch-dependencies.mjs",
    );
    for (const file of patchedFiles(patch)) {
      const text = fs.readFileSync(path.join(pkgDir, file), "utf8");
      assert.ok(
        MARKERS.some((marker) => text.includes(marker)),
        `${file} carries a marker`,
      );
    }
    // Both entry points: the ESM bundle (what `import "werift"` loads) and the CommonJS build.
    const esm = new werift.SrtpSession({
      keys: {
        localMasterKey: Buffer.alloc(16),
        localMasterSalt: Buffer.alloc(14),
        remoteMasterKey: Buffer.alloc(16),
        remoteMasterSalt: Buffer.alloc(14),
      },
      profile: 1,
    });
    assert.equal(typeof decryptWithHeader(esm), "function");
    const cjs = createRequire(import.meta.url)("werift") as Werift;
    assert.equal(typeof (cjs.SrtpSession.prototype as unknown as { decryptWithHeader?: unknown }).decryptWithHeader, "function");
    assert.equal(cjs.getBit(0b10110000, 0, 2), 2);
  });

  it("the reference reproduces RFC 3711 B.3 key derivation and libsrtp's known-answer packets, and every werift build matches them", async () => {
    const keys = deriveSessionKeys(hex("E1F97A0D3E018BE0D64FA32C06DE4139"), hex("0EC675AD498AFEEBB6960B3AABE6"));
    assert.equal(keys.rtp.key.toString("hex"), "c61e7a93744f39ee10734afe3ff7a087");
    assert.equal(keys.rtp.salt.toString("hex"), "30cbbc08863d8c85d49db34a9ae1");
    assert.equal(keys.rtp.auth.toString("hex"), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");

    const rtpPlain = hex("800f1234decafbadcafebabe abababababababababababababababab");
    const rtcpPlain = hex("81c8000bcafebabe abababababababababababababababab");
    const vectors = [
      {
        profile: AES_CM_128_HMAC_SHA1_80,
        master: { key: hex("e1f97a0d3e018be0d64fa32c06de4139"), salt: hex("0ec675ad498afeebb6960b3aabe6") },
        rtp: "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb",
        rtcp: "81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798",
      },
      {
        profile: AEAD_AES_128_GCM,
        master: { key: hex("000102030405060708090a0b0c0d0e0f"), salt: hex("a0a1a2a3a4a5a6a7a8a9aaab") },
        rtp: "800f1234decafbadcafebabec5002ede04cfdd2eb91159e0880aa06ed2976826f796b201df3131a127e8a392",
        rtcp: "81c8000bcafebabec98b8b5df0392a55852b6c21ac8e7025c52c6fbea2b3b446ea31123ba88ce61e80000001",
      },
    ] as const;
    // The patched copies of the SRTP code: the ESM bundle, the CommonJS build, werift/nonstandard's bundle.
    const builds: [string, Werift][] = [
      ["werift (ESM)", werift],
      ["werift (CommonJS)", createRequire(import.meta.url)("werift") as Werift],
      ["werift/nonstandard", (await import("werift/nonstandard")) as unknown as Werift],
    ];
    for (const v of vectors) {
      const derived = deriveSessionKeys(v.master.key, v.master.salt);
      assert.equal(protectRtp(v.profile, derived.rtp, rtpPlain, 0).toString("hex"), v.rtp);
      assert.equal(protectRtcp(v.profile, derived.rtcp, rtcpPlain, 1).toString("hex"), v.rtcp);
      for (const [build, w] of builds) {
        const { srtp, srtcp } = sessions(w, v.profile, v.master);
        const packet = w.RtpPacket.deSerialize(rtpPlain);
        assert.equal(srtp.encrypt(packet.payload, packet.header).toString("hex"), v.rtp, build);
        assert.deepEqual(srtp.decrypt(hex(v.rtp)), rtpPlain, build);
        assert.equal(srtcp.encrypt(rtcpPlain).toString("hex"), v.rtcp, build);
        assert.deepEqual(srtcp.decrypt(hex(v.rtcp)), rtcpPlain, build);
      }
    }
    // werift/polyfill's bundles carry a patched copy too, used only inside: they must still load.
    await import("werift/polyfill");
  });

  for (const [name, profile] of profiles) {
    it(`${name}: SRTP protect equals the reference byte for byte, and unprotect round-trips (sizes, CSRCs, extensions, ROC wrap)`, () => {
      const m = master(profile, 3);
      const keys = deriveSessionKeys(m.key, m.salt).rtp;
      const tx = sessions(werift, profile, m).srtp;
      const rx = sessions(werift, profile, m).srtp;
      const rxWithHeader = sessions(werift, profile, m).srtp;
      const specs = stream(70, 65500, 0xcafebabe);
      const roc = rocs(specs);
      assert.equal(roc.at(-1), 1, "the stream crosses the sequence number wrap");
      specs.forEach((spec, i) => {
        const plain = rtp(spec);
        const packet = werift.RtpPacket.deSerialize(plain);
        const protectedByWerift = tx.encrypt(packet.payload, packet.header);
        const reference = protectRtp(profile, keys, plain, roc[i]!);
        assert.equal(protectedByWerift.toString("hex"), reference.toString("hex"), `packet ${i} (seq ${spec.seq})`);
        assert.deepEqual(unprotectRtp(profile, keys, protectedByWerift, roc[i]!), plain);
        assert.deepEqual(rx.decrypt(reference), plain, `unprotect packet ${i}`);
        const [decrypted, header] = decryptWithHeader(rxWithHeader)!(reference);
        assert.deepEqual(decrypted, plain);
        assert.deepEqual(plainHeader(header), plainHeader(werift.RtpHeader.deSerialize(plain)));
      });
    });

    it(`${name}: SRTCP protect equals the reference, unprotect round-trips, an authenticated-only (E=0) packet is read`, () => {
      const m = master(profile, 5);
      const keys = deriveSessionKeys(m.key, m.salt).rtcp;
      const tx = sessions(werift, profile, m).srtcp;
      const rx = sessions(werift, profile, m).srtcp;
      [0, 4, 20, 44, 100, 1000].forEach((bodyLength, i) => {
        const plain = rtcp(0x01020304, bodyLength, i);
        const protectedByWerift = tx.encrypt(plain);
        assert.equal(protectedByWerift.toString("hex"), protectRtcp(profile, keys, plain, i + 1).toString("hex"), `SRTCP index ${i + 1}`);
        assert.deepEqual(rx.decrypt(protectedByWerift), plain);
        assert.deepEqual(rx.decrypt(protectRtcp(profile, keys, plain, 1000 + i)), plain);
        assert.deepEqual(rx.decrypt(protectRtcp(profile, keys, plain, 2000 + i, false)), plain, "E = 0");
      });
    });

    it(`${name}: tampered SRTP and SRTCP packets are rejected, and the session goes on`, () => {
      const m = master(profile, 7);
      const { srtp: tx, srtcp: txc } = sessions(werift, profile, m);
      const { srtp: rx, srtcp: rxc } = sessions(werift, profile, m);
      const specs = stream(4, 100, 0x5555aaaa);
      const packets = specs.map((s) => {
        const p = werift.RtpPacket.deSerialize(rtp(s));
        return tx.encrypt(p.payload, p.header);
      });
      const good = packets[1]!;
      const flip = (buf: Buffer, at: number) => {
        const copy = Buffer.from(buf);
        copy[at < 0 ? copy.length + at : at]! ^= 0x01;
        return copy;
      };
      const srtpError = { name: "SrtpAuthenticationError", message: "Failed to authenticate SRTP packet" };
      for (const bad of [
        flip(good, 3),
        flip(good, 8),
        flip(good, good.length - 20),
        flip(good, -1),
        good.subarray(0, 20),
        good.subarray(0, good.length - 1),
      ]) {
        assert.throws(() => rx.decrypt(bad), srtpError);
      }
      assert.deepEqual(rx.decrypt(packets[0]!), rtp(specs[0]!));
      assert.deepEqual(rx.decrypt(good), rtp(specs[1]!), "the rejected copies left the receiver's state alone");

      const plain = rtcp(0x01020304, 24, 1);
      const goodRtcp = txc.encrypt(plain);
      const srtcpError = { name: "SrtpAuthenticationError", message: "Failed to authenticate SRTCP packet" };
      const indexAt = profile === AES_CM_128_HMAC_SHA1_80 ? -14 : -1;
      for (const bad of [
        flip(goodRtcp, 1),
        flip(goodRtcp, 12),
        flip(goodRtcp, indexAt),
        flip(goodRtcp, profile === AES_CM_128_HMAC_SHA1_80 ? -1 : -5),
        goodRtcp.subarray(0, 12),
      ]) {
        assert.throws(() => rxc.decrypt(bad), srtcpError);
      }
      assert.deepEqual(rxc.decrypt(goodRtcp), plain);
    });

    it(`${name}: the transport's receive path gives the RtpPacket RtpPacket.deSerialize gives for the plaintext, and drops tampered packets`, () => {
      const m = master(profile, 9);
      const keys = deriveSessionKeys(m.key, m.salt).rtp;
      const { deliver, received } = receivingTransport(werift, profile, m);
      const specs = stream(30, 65520, 0x0badcafe);
      const roc = rocs(specs);
      specs.forEach((spec, i) => {
        const srtp = protectRtp(profile, keys, rtp(spec), roc[i]!);
        const bad = Buffer.from(srtp);
        bad[bad.length - 1]! ^= 0x80;
        deliver(bad);
        deliver(srtp);
      });
      assert.equal(received.length, specs.length, "one packet each: the tampered copies were dropped");
      for (const [i, packet] of received.entries()) assert.deepEqual(plainPacket(packet), plainPacket(werift.RtpPacket.deSerialize(rtp(specs[i]!))));
    });
  }
});

describe("werift SRTP patch: same behaviour as werift 0.25.2 as published", () => {
  let copies: WeriftCopies;
  let pristine: Werift;
  let patched: Werift;
  before(async () => {
    copies = await weriftCopies();
    pristine = await copies.load(copies.pristine);
    patched = await copies.load(copies.patched);
  });
  after(() => copies?.cleanup());

  it("the copies differ only by the patch", () => {
    assert.equal(typeof decryptWithHeader(sessions(patched, 1, master(1, 1)).srtp), "function");
    assert.equal(decryptWithHeader(sessions(pristine, 1, master(1, 1)).srtp), undefined);
  });

  it("getBit gives the same value (or the same error) for every byte and bit field, and odd arguments", () => {
    const outcome = (w: Werift, ...args: unknown[]) => {
      try {
        return (w.getBit as (...a: unknown[]) => unknown)(...args);
      } catch (error) {
        return `throws ${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    const values = [...Array.from({ length: 256 }, (_, i) => i), -1, -0, 256, 1000, 1.5, Number.NaN];
    const starts = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.5];
    const lengths = [undefined, -1, 0, 1, 2, 3, 4, 7, 8, 9, 2.5];
    for (const v of values)
      for (const s of starts)
        for (const l of lengths) assert.deepEqual(outcome(patched, v, s, l), outcome(pristine, v, s, l), `getBit(${v}, ${s}, ${l})`);
  });

  for (const [name, profile] of profiles) {
    it(`${name}: random packets (padding, extensions, CSRCs, garbage) protect, unprotect and fail identically`, () => {
      const m = master(profile, 11);
      const a = sessions(pristine, profile, m);
      const b = sessions(patched, profile, m);
      const ra = sessions(pristine, profile, m);
      const rb = sessions(patched, profile, m);
      const ta = receivingTransport(pristine, profile, m);
      const tb = receivingTransport(patched, profile, m);
      const outcome = (f: () => Buffer) => {
        try {
          return f().toString("hex");
        } catch (error) {
          return `throws ${(error as Error).name}: ${(error as Error).message}`;
        }
      };
      let seq = 65000;
      for (let i = 0; i < 400; i++) {
        seq = (seq + 1 + (i % 17 === 0 ? 3 : 0)) & 0xffff;
        const spec: RtpSpec = {
          seq,
          ssrc: i % 50 === 0 ? 0x12345678 : 0xfeedface,
          marker: (i & 1) === 1,
          payloadType: 96 + (i % 30),
          csrcs: Array.from({ length: i % 5 }, (_, k) => 0x1000 * k + i),
          extension: [undefined, oneByte, twoByte, generic, undefined][i % 5],
          payload: randomBytes((i * 37) % 1500),
          padding: i % 9 === 0 ? 1 + (i % 4) : 0,
        };
        const plain = rtp(spec);
        const pa = pristine.RtpPacket.deSerialize(plain);
        const pb = patched.RtpPacket.deSerialize(plain);
        const ea = outcome(() => a.srtp.encrypt(pa.payload, pa.header));
        assert.equal(
          outcome(() => b.srtp.encrypt(pb.payload, pb.header)),
          ea,
          `protect ${i}`,
        );
        assert.deepEqual(plainHeader(pb.header), plainHeader(pa.header), "the header after serializing");
        const wire = i % 13 === 5 ? randomBytes(40 + (i % 60)) : Buffer.from(ea, "hex");
        if (i % 11 === 3) wire[wire.length >> 1]! ^= 0x10;
        assert.equal(
          outcome(() => rb.srtp.decrypt(wire)),
          outcome(() => ra.srtp.decrypt(wire)),
          `unprotect ${i}`,
        );
        ta.deliver(Buffer.from(wire));
        tb.deliver(Buffer.from(wire));

        const report = rtcp(spec.ssrc, (i * 4) % 200, i);
        const ca = outcome(() => a.srtcp.encrypt(report));
        assert.equal(
          outcome(() => b.srtcp.encrypt(report)),
          ca,
          `SRTCP protect ${i}`,
        );
        const rtcpWire = i % 7 === 2 ? randomBytes(30 + (i % 40)) : Buffer.from(ca, "hex");
        assert.equal(
          outcome(() => rb.srtcp.decrypt(rtcpWire)),
          outcome(() => ra.srtcp.decrypt(rtcpWire)),
          `SRTCP unprotect ${i}`,
        );
      }
      assert.ok(ta.received.length > 300);
      assert.deepEqual(tb.received.map(plainPacket), ta.received.map(plainPacket), "the transport hands on the same packets");
    });
  }
});
