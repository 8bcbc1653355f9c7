/**
 * werift SRTP per packet, unpatched against patched (patches/werift+0.25.2.patch) in the same run:
 * packets per second per core for protect (SrtpSession.encrypt, what RTCDtlsTransport.sendRtp
 * calls), unprotect (SrtpSession.decrypt) and the transport's whole receive path (the onData
 * handler: unprotect and the RtpPacket handed to onRtp) for 1,100- and 160-byte RTP packets, both
 * profiles werift offers, and SRTCP. Both variants are copies of node_modules/werift in a temporary
 * directory (the patch reverted on one, applied on the other), loaded as `import "werift"` loads it
 * (the ESM bundle), measured interleaved in short slices over several rounds: the machine is noisy, the ratio is
 * what counts. The floor is Node's crypto alone per packet (createCipheriv + createHmac, as
 * unpatched werift does it), with raw keys and with KeyObjects; the primitives split it up.
 * Cost is process CPU time per packet (process.cpuUsage), so packets/s/core = 1e9 / ns.
 * Prints JSON. Usage: node dist/bench/srtp.js [rounds=9] [msPerMeasurement=150]
 */
import { createCipheriv, createHmac, createSecretKey, type KeyObject } from "node:crypto";
import os from "node:os";
import { receivingTransport, type Werift, weriftCopies } from "../test/unit/werift/weriftHarness.js";

const rounds = Number(process.argv[2] ?? 9);
const msPerMeasurement = Number(process.argv[3] ?? 150);
/** Each measurement is this many interleaved slices. */
const SLICES = 6;

const AES_CM_128_HMAC_SHA1_80 = 0x0001;
const AEAD_AES_128_GCM = 0x0007;
const profiles = [
  { name: "AES_CM_128_HMAC_SHA1_80", id: AES_CM_128_HMAC_SHA1_80, saltLength: 14 },
  { name: "AEAD_AES_128_GCM", id: AEAD_AES_128_GCM, saltLength: 12 },
];
const packetSizes = [1100, 160];
const RTCP_BYTES = 100;
const RING = 4096;

interface Sample {
  cpuNs: number;
  wallNs: number;
}

function timeOps(op: () => unknown, n: number): Sample {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op();
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { cpuNs: ((cpu.user + cpu.system) * 1000) / n, wallNs: wall / n };
}

/** Warms up, then the number of calls that take about ms. */
function calibrate(op: () => unknown, ms: number): number {
  let n = 64;
  let t = timeOps(op, n);
  while (t.wallNs * n < (ms * 1e6) / 4) {
    n *= 2;
    t = timeOps(op, n);
  }
  return Math.max(1, Math.round((ms * 1e6) / t.wallNs));
}

/**
 * Unpatched and patched interleaved in short slices (the order alternating), so that load from
 * elsewhere on the machine hits both alike: CPU ns per call of each over the round.
 */
function pairedRound(a: () => unknown, b: () => unknown, na: number, nb: number, first: 0 | 1) {
  let cpuA = 0;
  let cpuB = 0;
  for (let slice = 0; slice < SLICES; slice++) {
    const aFirst = (slice + first) % 2 === 0;
    if (aFirst) cpuA += timeOps(a, na).cpuNs;
    cpuB += timeOps(b, nb).cpuNs;
    if (!aFirst) cpuA += timeOps(a, na).cpuNs;
  }
  return { a: cpuA / SLICES, b: cpuB / SLICES };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round = (x: number, digits = 0) => Number(x.toFixed(digits));
const quantile = (v: number[], q: number) => {
  const s = [...v].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  return s[Math.floor(at)]! + (s[Math.ceil(at)]! - s[Math.floor(at)]!) * (at - Math.floor(at));
};
const rate = (ns: number, best: number) => ({
  nsPerPacket: round(ns),
  packetsPerSecondPerCore: round(1e9 / ns),
  bestNsPerPacket: round(best),
  bestPacketsPerSecondPerCore: round(1e9 / best),
});

function masterKeys(saltLength: number) {
  const key = Buffer.from(Array.from({ length: 16 }, (_, i) => (i * 29 + 3) & 0xff));
  const salt = Buffer.from(Array.from({ length: saltLength }, (_, i) => (i * 41 + 7) & 0xff));
  return { key, salt, keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt } };
}

/** The operations measured for one werift variant, one profile and one packet size. */
function operations(w: Werift, profile: (typeof profiles)[number], packetBytes: number) {
  const m = masterKeys(profile.saltLength);
  const config = { keys: m.keys, profile: profile.id };
  const payload = Buffer.from(Array.from({ length: packetBytes - 12 }, (_, i) => (i * 13) & 0xff));
  const header = new w.RtpHeader({ payloadType: 96, ssrc: 0x2a2b2c2d, timestamp: 123456, sequenceNumber: 0 });

  // A ring of consecutive SRTP packets (sequence 0…RING-1); a fresh receiver per lap keeps its ROC at 0.
  const sender = new w.SrtpSession(config);
  const ring = Array.from({ length: RING }, (_, i) => {
    header.sequenceNumber = i;
    return sender.encrypt(payload, header);
  });
  const rtcpSender = new w.SrtcpSession(config);
  const report = Buffer.alloc(RTCP_BYTES, 0x5a);
  report[0] = 0x81;
  report[1] = 200;
  report.writeUInt16BE(RTCP_BYTES / 4 - 1, 2);
  report.writeUInt32BE(0x2a2b2c2d, 4);
  const rtcpRing = Array.from({ length: RING }, () => rtcpSender.encrypt(report));

  const tx = new w.SrtpSession(config);
  let seq = 0;
  const protect = () => {
    header.sequenceNumber = seq++ & 0xffff;
    return tx.encrypt(payload, header);
  };
  let rx = new w.SrtpSession(config);
  let i = 0;
  const unprotect = () => {
    if ((i & (RING - 1)) === 0) rx = new w.SrtpSession(config);
    return rx.decrypt(ring[i++ & (RING - 1)]!);
  };
  let handed = 0;
  const onRtp = () => void handed++;
  let transport = receivingTransport(w, profile.id, m, onRtp);
  let j = 0;
  const receive = () => {
    if ((j & (RING - 1)) === 0) transport = receivingTransport(w, profile.id, m, onRtp);
    transport.deliver(ring[j++ & (RING - 1)]!);
  };
  const txc = new w.SrtcpSession(config);
  const rxc = new w.SrtcpSession(config);
  let k = 0;
  const rtcpProtect = () => txc.encrypt(report);
  const rtcpUnprotect = () => rxc.decrypt(rtcpRing[k++ & (RING - 1)]!);
  return { ring, rtcpRing, protect, unprotect, receive, rtcpProtect, rtcpUnprotect, handed: () => handed };
}

/** Node's crypto alone, per packet, the way unpatched werift calls it (and with KeyObjects instead of raw keys). */
function floors(packetBytes: number) {
  const key = Buffer.alloc(16, 7);
  const authKey = Buffer.alloc(20, 9);
  const keyObject: KeyObject = createSecretKey(key);
  const authKeyObject: KeyObject = createSecretKey(authKey);
  const header = Buffer.alloc(12, 1);
  const payload = Buffer.alloc(packetBytes - 12, 2);
  const roc = Buffer.alloc(4);
  const iv = Buffer.alloc(16, 3);
  iv[14] = 0;
  iv[15] = 0;
  const iv12 = iv.subarray(0, 12);
  const ctrHmac = (k: Buffer | KeyObject, a: Buffer | KeyObject) => () => {
    const encrypted = createCipheriv("aes-128-ctr", k, iv).update(payload);
    return createHmac("sha1", a).update(header).update(encrypted).update(roc).digest();
  };
  const gcm = (k: Buffer | KeyObject) => () => {
    const cipher = createCipheriv("aes-128-gcm", k, iv12);
    cipher.setAAD(header);
    cipher.update(payload);
    cipher.final();
    return cipher.getAuthTag();
  };
  // The patch's AES-CM: counter blocks through one long-lived AES-ECB cipher (then XORed in JS).
  const ecb = createCipheriv("aes-128-ecb", key, null);
  ecb.setAutoPadding(false);
  const blocks = Buffer.alloc(Math.ceil(payload.length / 16) * 16);
  return {
    floor: {
      "aes-128-ctr createCipheriv+update, sha1 createHmac+update+digest (raw keys, as unpatched werift)": ctrHmac(key, authKey),
      "aes-128-ctr createCipheriv+update, sha1 createHmac+update+digest (KeyObjects)": ctrHmac(keyObject, authKeyObject),
      "aes-128-gcm createCipheriv+setAAD+update+final+getAuthTag (raw key)": gcm(key),
      "aes-128-gcm createCipheriv+setAAD+update+final+getAuthTag (KeyObject)": gcm(keyObject),
    } as Record<string, () => unknown>,
    primitives: {
      "createCipheriv('aes-128-ctr') alone (raw key)": () => createCipheriv("aes-128-ctr", key, iv),
      "createCipheriv('aes-128-ctr') alone (KeyObject)": () => createCipheriv("aes-128-ctr", keyObject, iv),
      "createCipheriv('aes-128-ctr') + update(payload), per packet (unpatched)": () => createCipheriv("aes-128-ctr", key, iv).update(payload),
      "update(counter blocks) on one long-lived AES-ECB cipher, per packet (patched; without its JS XOR)": () => ecb.update(blocks),
      "createHmac('sha1')+digest alone (raw key)": () => createHmac("sha1", authKey).digest(),
      "createHmac('sha1')+digest alone (KeyObject)": () => createHmac("sha1", authKeyObject).digest(),
      "createHmac('sha1')+update(packet)+digest (raw key)": () => createHmac("sha1", authKey).update(header).update(payload).update(roc).digest(),
    } as Record<string, () => unknown>,
  };
}

const copies = await weriftCopies();
try {
  const pristine = await copies.load(copies.pristine);
  const patched = await copies.load(copies.patched);

  type Ops = ReturnType<typeof operations>;
  const cases: { profile: string; packetBytes: number; op: string; run: { pristine: () => unknown; patched: () => unknown } }[] = [];
  for (const profile of profiles) {
    for (const packetBytes of packetSizes) {
      const a = operations(pristine, profile, packetBytes);
      const b = operations(patched, profile, packetBytes);
      // Same bytes on the wire, or the comparison means nothing.
      if (a.ring.some((p, n) => !p.equals(b.ring[n]!)) || a.rtcpRing.some((p, n) => !p.equals(b.rtcpRing[n]!))) {
        throw new Error(`${profile.name} ${packetBytes} B: the patched werift protects differently`);
      }
      const ops: (keyof Ops)[] = ["protect", "unprotect", "receive"];
      for (const op of ops) {
        cases.push({
          profile: profile.name,
          packetBytes,
          op: op === "receive" ? "receive (transport: unprotect + RtpPacket)" : op,
          run: { pristine: a[op] as () => unknown, patched: b[op] as () => unknown },
        });
      }
      if (packetBytes === packetSizes[0]) {
        cases.push({ profile: profile.name, packetBytes: RTCP_BYTES, op: "SRTCP protect", run: { pristine: a.rtcpProtect, patched: b.rtcpProtect } });
        cases.push({
          profile: profile.name,
          packetBytes: RTCP_BYTES,
          op: "SRTCP unprotect",
          run: { pristine: a.rtcpUnprotect, patched: b.rtcpUnprotect },
        });
      }
    }
  }
  const reference = packetSizes.flatMap((packetBytes) => {
    const f = floors(packetBytes);
    return [
      ...Object.entries(f.floor).map(([name, run]) => ({ kind: "floor" as const, name, packetBytes, run })),
      ...Object.entries(f.primitives).map(([name, run]) => ({ kind: "primitive" as const, name, packetBytes, run })),
    ];
  });

  // Iterations per slice, per variant, fixed for the whole run.
  const sliceMs = msPerMeasurement / SLICES;
  const counts = cases.map((c) => ({ pristine: calibrate(c.run.pristine, sliceMs), patched: calibrate(c.run.patched, sliceMs) }));
  const refCounts = reference.map((r) => calibrate(r.run, msPerMeasurement));
  const samples = cases.map(() => ({ pristine: [] as number[], patched: [] as number[], ratio: [] as number[] }));
  const refSamples = reference.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    cases.forEach((c, n) => {
      const { a, b } = pairedRound(c.run.pristine, c.run.patched, counts[n]!.pristine, counts[n]!.patched, (r % 2) as 0 | 1);
      samples[n]!.pristine.push(a);
      samples[n]!.patched.push(b);
      samples[n]!.ratio.push(a / b);
    });
    reference.forEach((ref, n) => {
      refSamples[n]!.push(timeOps(ref.run, refCounts[n]!).cpuNs);
    });
    process.stderr.write(`srtp bench: round ${r + 1}/${rounds}\n`);
  }

  const result = {
    benchmark: "werift SRTP/SRTCP per packet, unpatched vs patches/werift+0.25.2.patch",
    werift: '0.25.2, ESM bundle (lib/index.mjs, what `import "werift"` loads)',
    node: process.version,
    openssl: process.versions.openssl,
    cpu: `${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}`,
    rounds,
    msPerMeasurement,
    cost: "process CPU time per packet, median (and best) over rounds; packetsPerSecondPerCore = 1e9 / nsPerPacket",
    speedup: "median unpatched ns / median patched ns; pairedSpeedup: median and quartiles of the per-round ratios (each round interleaves both)",
    control: "AEAD_AES_128_GCM protect is code the patch leaves alone: its speedup shows the noise",
    srtp: cases.map((c, n) => {
      const s = samples[n]!;
      return {
        profile: c.profile,
        packetBytes: c.packetBytes,
        op: c.op,
        unpatched: rate(median(s.pristine), Math.min(...s.pristine)),
        patched: rate(median(s.patched), Math.min(...s.patched)),
        speedup: round(median(s.pristine) / median(s.patched), 2),
        pairedSpeedup: { median: round(median(s.ratio), 2), q1: round(quantile(s.ratio, 0.25), 2), q3: round(quantile(s.ratio, 0.75), 2) },
      };
    }),
    floor: reference.flatMap((r, n) =>
      r.kind === "floor" ? [{ name: r.name, packetBytes: r.packetBytes, ...rate(median(refSamples[n]!), Math.min(...refSamples[n]!)) }] : [],
    ),
    primitives: reference.flatMap((r, n) =>
      r.kind === "primitive"
        ? [{ name: r.name, packetBytes: r.packetBytes, nsPerCall: round(median(refSamples[n]!)), bestNsPerCall: round(Math.min(...refSamples[n]!)) }]
        : [],
    ),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  copies.cleanup();
}
