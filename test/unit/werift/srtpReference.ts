// SRTP/SRTCP written straight from RFC 3711 (AES_CM_128_HMAC_SHA1_80) and RFC 7714
// (AEAD_AES_128_GCM) with Node's crypto, one cipher per packet: the reference the patched
// werift must match byte for byte. Nothing here comes from werift.
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";

export const AES_CM_128_HMAC_SHA1_80 = 0x0001;
export const AEAD_AES_128_GCM = 0x0007;
export type Profile = typeof AES_CM_128_HMAC_SHA1_80 | typeof AEAD_AES_128_GCM;

export interface SessionKeys {
  key: Buffer;
  salt: Buffer;
  auth: Buffer;
}

/** AES in counter mode from a 16-byte initial counter block (RFC 3711 4.1.1). */
export function aesCm(key: Buffer, counter: Buffer, data: Buffer): Buffer {
  return createCipheriv("aes-128-ctr", key, counter).update(data);
}

/**
 * RFC 3711 4.3.1 and 4.3.3 with a key derivation rate of 0: x = (label || 0^48) XOR master salt,
 * output = AES-CM(master key, x * 2^16). A 96-bit (GCM) master salt is zero-padded to 112 bits
 * (RFC 7714 11, as libsrtp does).
 */
export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer): { rtp: SessionKeys; rtcp: SessionKeys } {
  const salt = Buffer.alloc(14);
  masterSalt.copy(salt);
  const prf = (label: number, length: number) => {
    const iv = Buffer.alloc(16);
    salt.copy(iv);
    iv[7]! ^= label;
    return aesCm(masterKey, iv, Buffer.alloc(length));
  };
  return {
    rtp: { key: prf(0, 16), auth: prf(1, 20), salt: prf(2, 14) },
    rtcp: { key: prf(3, 16), auth: prf(4, 20), salt: prf(5, 14) },
  };
}

/** Length of the fixed header, CSRCs and header extension (RFC 3550 5.1, 5.3.1). */
export function rtpHeaderLength(packet: Buffer): number {
  let length = 12 + 4 * (packet[0]! & 0x0f);
  if (packet[0]! & 0x10) length += 4 + 4 * packet.readUInt16BE(length + 2);
  return length;
}

function hmac80(auth: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac("sha1", auth);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, 10);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i the 48-bit packet index (RFC 3711 4.1.1). */
function aesCmIv(salt: Buffer, ssrc: number, index: bigint): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0, 0, 14);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  const shifted = index << 16n;
  for (let i = 0; i < 8; i++) iv[15 - i]! ^= Number((shifted >> BigInt(8 * i)) & 0xffn);
  return iv;
}

/** RFC 7714 8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR the 96-bit session salt. */
function gcmRtpIv(salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(roc >>> 0, 6);
  iv.writeUInt16BE(seq, 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  return iv;
}

/** RFC 7714 9.1: IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR the 96-bit session salt. */
function gcmRtcpIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(index & 0x7fffffff, 8);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  return iv;
}

/** An RTP packet (header and payload) protected with the given rollover counter. */
export function protectRtp(profile: Profile, keys: SessionKeys, packet: Buffer, roc: number): Buffer {
  const headerLength = rtpHeaderLength(packet);
  const header = packet.subarray(0, headerLength);
  const payload = packet.subarray(headerLength);
  const ssrc = packet.readUInt32BE(8);
  const seq = packet.readUInt16BE(2);
  if (profile === AES_CM_128_HMAC_SHA1_80) {
    const index = (BigInt(roc) << 16n) | BigInt(seq);
    const encrypted = aesCm(keys.key, aesCmIv(keys.salt, ssrc, index), payload);
    return Buffer.concat([header, encrypted, hmac80(keys.auth, header, encrypted, uint32(roc))]);
  }
  const cipher = createCipheriv("aes-128-gcm", keys.key, gcmRtpIv(keys.salt, ssrc, roc, seq));
  cipher.setAAD(header);
  const encrypted = Buffer.concat([cipher.update(payload), cipher.final()]);
  return Buffer.concat([header, encrypted, cipher.getAuthTag()]);
}

/** The RTP packet inside an SRTP one, or undefined when it does not authenticate. */
export function unprotectRtp(profile: Profile, keys: SessionKeys, packet: Buffer, roc: number): Buffer | undefined {
  const headerLength = rtpHeaderLength(packet);
  const header = packet.subarray(0, headerLength);
  const ssrc = packet.readUInt32BE(8);
  const seq = packet.readUInt16BE(2);
  if (profile === AES_CM_128_HMAC_SHA1_80) {
    const body = packet.subarray(headerLength, packet.length - 10);
    const tag = hmac80(keys.auth, packet.subarray(0, packet.length - 10), uint32(roc));
    if (!tag.equals(packet.subarray(packet.length - 10))) return undefined;
    const index = (BigInt(roc) << 16n) | BigInt(seq);
    return Buffer.concat([header, aesCm(keys.key, aesCmIv(keys.salt, ssrc, index), body)]);
  }
  const decipher = createDecipheriv("aes-128-gcm", keys.key, gcmRtpIv(keys.salt, ssrc, roc, seq));
  decipher.setAAD(header);
  decipher.setAuthTag(packet.subarray(packet.length - 16));
  try {
    const plain = Buffer.concat([decipher.update(packet.subarray(headerLength, packet.length - 16)), decipher.final()]);
    return Buffer.concat([header, plain]);
  } catch {
    return undefined;
  }
}

/** An RTCP compound packet protected with SRTCP index `index`; `encrypt: false` sends it authenticated only (E = 0). */
export function protectRtcp(profile: Profile, keys: SessionKeys, packet: Buffer, index: number, encrypt = true): Buffer {
  const header = packet.subarray(0, 8);
  const body = packet.subarray(8);
  const ssrc = packet.readUInt32BE(4);
  const eIndex = uint32(((encrypt ? 0x80000000 : 0) | index) >>> 0);
  if (profile === AES_CM_128_HMAC_SHA1_80) {
    const encrypted = encrypt ? aesCm(keys.key, aesCmIv(keys.salt, ssrc, BigInt(index)), body) : body;
    return Buffer.concat([header, encrypted, eIndex, hmac80(keys.auth, header, encrypted, eIndex)]);
  }
  const cipher = createCipheriv("aes-128-gcm", keys.key, gcmRtcpIv(keys.salt, ssrc, index));
  if (encrypt) {
    cipher.setAAD(Buffer.concat([header, eIndex]));
    const encrypted = Buffer.concat([cipher.update(body), cipher.final()]);
    return Buffer.concat([header, encrypted, cipher.getAuthTag(), eIndex]);
  }
  cipher.setAAD(Buffer.concat([packet, eIndex]));
  cipher.final();
  return Buffer.concat([packet, cipher.getAuthTag(), eIndex]);
}
