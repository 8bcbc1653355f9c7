/**
 * The subset of rtpengine's ng control protocol (rtpengine 10.5, README "The ng Control
 * Protocol") the media host uses, as typed request and response dictionaries. Keys are
 * the protocol's own spellings ("call-id", "transport-protocol", "record call"), so a
 * request here is exactly what goes on the wire (bencoded) and what the golden files
 * under test/integration/rtpengine/golden hold.
 *
 * Bencode has only integers, byte strings, lists and dictionaries: numbers must be
 * integers, and there are no booleans (rtpengine uses "yes"/"no" or "on"/"off" strings).
 */

/**
 * Entries of the `flags` list. rtpengine accepts spaces or hyphens ("trust address" or
 * "trust-address"); only the hyphenated spellings are typed here, so one flag has one
 * spelling in our code. Unknown flags are only logged by rtpengine ("Unknown flag
 * encountered"), never rejected: hence the closed list (10.5 has no "symmetric", for one). The prefixed forms carry a value ("codec-strip-PCMA",
 * "SDES-no-NULL_HMAC_SHA1_32", "endpoint-learning-immediate", "from-tags-<tag>").
 */
export type NgFlag =
  | "trust-address"
  | "SIP-source-address"
  | "asymmetric"
  | "unidirectional"
  | "strict-source"
  | "media-handover"
  | "reset"
  | "port-latching"
  | "no-port-latching"
  | "record-call"
  | "no-rtcp-attribute"
  | "full-rtcp-attribute"
  | "loop-protect"
  | "always-transcode"
  | "single-codec"
  | "reuse-codecs"
  | "allow-transcoding"
  | "all"
  | "generate-mid"
  | "strip-extmap"
  | "original-sendrecv"
  | "inject-DTMF"
  | "detect-DTMF"
  | "generate-RTCP"
  | "pierce-NAT"
  | "NAT-wait"
  | "trickle-ICE"
  | "reject-ICE"
  | "debug"
  /** `delete` only: an unknown call is an error instead of a warning. */
  | "fatal"
  | `codec-${"strip" | "except" | "offer" | "transcode" | "mask" | "consume" | "accept" | "set"}-${string}`
  | `SDES-${string}`
  | `endpoint-learning-${EndpointLearning}`
  | `from-tags-${string}`;

/** Parts of the SDP rtpengine rewrites besides the media addresses and ports. */
export type NgReplace = "origin" | "session-connection" | "SDP-version" | "username" | "session-name" | "zero-address";

/** `remove` strips ICE; `force` replaces all candidates by rtpengine's own; `default` forces only if ICE was offered. */
export type NgIce = "remove" | "force" | "default" | "force-relay" | "optional";

/** `passive` prefers the DTLS server role (the peer connects); `off` disables DTLS-SRTP. */
export type NgDtls = "off" | "no" | "disable" | "passive" | "active";

/**
 * SDES options: `off` stops offering SDES (DTLS-SRTP remains), `no-<SUITE>` leaves a crypto
 * suite out, the session parameters enable or negate RFC 4568 options.
 */
export type NgSdes =
  | "off"
  | "no"
  | "disable"
  | "pad"
  | "lifetime"
  | "static"
  | "unencrypted_srtp"
  | "unencrypted_srtcp"
  | "unauthenticated_srtp"
  | "encrypted_srtp"
  | "encrypted_srtcp"
  | "authenticated_srtp"
  | `no-${string}`;

/** rtcp-mux handling: `require` advertises no separate RTCP port even in an offer (for WebRTC). */
export type NgRtcpMux = "offer" | "require" | "demux" | "accept" | "reject";

export type NgTransportProtocol = "RTP/AVP" | "RTP/AVPF" | "RTP/SAVP" | "RTP/SAVPF" | "UDP/TLS/RTP/SAVP" | "UDP/TLS/RTP/SAVPF";

export type EndpointLearning = "off" | "immediate" | "delayed" | "heuristic";

/**
 * Codec manipulation. Entries are codec names ("PCMU", "opus", "telephone-event"),
 * optionally with parameters ("opus/48000/2", "opus/48000/2/32000"), or "all"/"full"
 * for `strip` and `mask`.
 */
export interface NgCodecOptions {
  /** Removed from the SDP as if never offered. */
  readonly strip?: readonly string[];
  /** Kept although `strip`/`mask` all removed the rest (order unchanged). */
  readonly except?: readonly string[];
  /** Like `except`, and the first listed becomes the preferred codec. */
  readonly offer?: readonly string[];
  /** Added to the offer even if absent (engages the transcoder). Offers only. */
  readonly transcode?: readonly string[];
  /** Removed towards the recipient but still accepted from the offerer for transcoding. Offers only. */
  readonly mask?: readonly string[];
  /** Like `mask`, and engages the transcoder even without `transcode`. */
  readonly consume?: readonly string[];
  /** Still offered; if the peer rejects it, accepted towards the offerer and transcoded. */
  readonly accept?: readonly string[];
  /** Options (bitrate) for implicitly accepted codecs, e.g. "opus/48000/2/32000". */
  readonly set?: readonly string[];
}

/** What selects the call (and participant) a request is about. */
export interface NgCallSelector {
  readonly "call-id": string;
  readonly "from-tag"?: string;
  readonly "to-tag"?: string;
  readonly "via-branch"?: string;
  /** A participant by the label given in its offer or answer. */
  readonly label?: string;
}

/** Options shared by `offer` and `answer` (both rewrite an SDP). */
export interface NgSdpRequestBase {
  readonly "call-id": string;
  readonly "from-tag": string;
  /** The SDP to rewrite. */
  readonly sdp: string;
  readonly "via-branch"?: string;
  readonly label?: string;
  readonly flags?: readonly NgFlag[];
  readonly replace?: readonly NgReplace[];
  readonly ICE?: NgIce;
  readonly "ICE-lite"?: "forward" | "backward" | "both" | "off";
  readonly DTLS?: NgDtls;
  readonly "DTLS-reverse"?: "passive" | "active";
  readonly "DTLS-fingerprint"?: "SHA-1" | "SHA-224" | "SHA-256" | "SHA-384" | "SHA-512";
  readonly SDES?: readonly NgSdes[];
  readonly OSRTP?: readonly ("offer" | "accept")[];
  readonly "rtcp-mux"?: readonly NgRtcpMux[];
  /** The protocol towards the recipient of the rewritten SDP. `accept` (answers only) follows the answerer's change. */
  readonly "transport-protocol"?: NgTransportProtocol | "accept";
  readonly codec?: NgCodecOptions;
  /** Packetisation towards the recipient of this SDP (engages the transcoder). */
  readonly ptime?: number;
  /** Packetisation towards the sender of the offer. */
  readonly "ptime-reverse"?: number;
  /** The media address to use instead of the SDP's (or `received-from`). */
  readonly "media-address"?: string;
  readonly "address-family"?: "IP4" | "IP6";
  /** The SIP message's source: [family, address]. */
  readonly "received-from"?: readonly ["IP4" | "IP6", string];
  readonly "endpoint-learning"?: EndpointLearning;
  /** Record to PCAP (needs `recording-dir` in the daemon's configuration). */
  readonly "record call"?: "yes" | "no" | "on" | "off";
  readonly metadata?: string;
  readonly "generate RTCP"?: "on" | "off";
  readonly "media echo"?: "blackhole" | "forward" | "backwards" | "both";
  readonly "delay-buffer"?: number;
  readonly "DTMF-delay"?: number;
  /** Extensions this controller understands; with "load limit", an overload is reported as `result: "load limit"`. */
  readonly supports?: readonly "load limit"[];
}

export interface OfferRequest extends NgSdpRequestBase {
  /**
   * The logical interfaces (names configured with `interface = name/address`): the
   * offerer's side first, the recipient's second. Initial offers only.
   */
  readonly direction?: readonly [string, string];
  /** One logical interface for both sides. */
  readonly interface?: string;
  readonly "T.38"?: readonly string[];
}

export interface AnswerRequest extends NgSdpRequestBase {
  readonly "to-tag": string;
}

export interface DeleteRequest extends NgCallSelector {
  readonly flags?: readonly ("fatal" | NgFlag)[];
  /** Seconds before the call is forgotten (overrides the daemon's `delete-delay`); 0 deletes at once. */
  readonly "delete-delay"?: number;
}

export type QueryRequest = NgCallSelector;

export interface ListRequest {
  /** At most this many call ids (default 32). */
  readonly limit?: number;
}

/**
 * Participant selection for the media commands: `from-tag` (or `label`, or `address`)
 * selects one participant; the flag "all" selects everyone.
 */
export interface NgParticipantSelector {
  readonly "call-id": string;
  readonly "from-tag"?: string;
  readonly "to-tag"?: string;
  readonly label?: string;
  /** A participant by the media address advertised in its SDP. */
  readonly address?: string;
  readonly flags?: readonly NgFlag[];
}

/**
 * `play media` plays a file (anything ffmpeg reads; the daemon opens it, so the path is on
 * rtpengine's machine) to the selected participant: `from-tag` names the party that hears
 * it. A `blob` is not offered here: rtpengine-client turns the encoded message into a
 * UTF-8 string and back, which corrupts binary content ("Could not decode bencode
 * dictionary").
 */
export interface PlayMediaRequest extends NgParticipantSelector {
  readonly file?: string;
  /** A media file from the daemon's MySQL database (needs mysql-* configuration). */
  readonly "db-id"?: number;
  readonly "repeat-times"?: number;
}

export type StopMediaRequest = NgParticipantSelector;

/**
 * `play DTMF` injects a digit generated by the selected participant (`from-tag` is the
 * sender, not the receiver). Works only if the offer and the answer both had the flag
 * "inject-DTMF" and the participant has sent media already; otherwise rtpengine either
 * answers ok and sends nothing, or fails with "No SSRC context present for DTMF injection".
 */
export interface PlayDtmfRequest extends NgParticipantSelector {
  /** 0–15, or one of "0"–"9", "*", "#", "A"–"D". */
  readonly code: number | string;
  /** Milliseconds, 100–5000 (default 250). */
  readonly duration?: number;
  /** Absolute dB, 0 loudest (default -8; positive values are read as negative). */
  readonly volume?: number;
  /** Milliseconds between queued digits, 100–5000 (default 100). */
  readonly pause?: number;
}

export type DtmfSecurityMode = "drop" | "silence" | "tone" | "random" | "zero" | "DTMF" | "off";

export interface BlockDtmfRequest extends NgParticipantSelector {
  readonly "DTMF-security"?: DtmfSecurityMode;
}

export type UnblockDtmfRequest = NgParticipantSelector;

// ---------------------------------------------------------------- responses

/** Every successful response. `warning` reports a non-fatal problem. */
export interface NgResponseBase {
  readonly result: "ok" | "pong";
  readonly warning?: string;
}

export interface PingResponse extends NgResponseBase {
  readonly result: "pong";
}

export interface SdpResponse extends NgResponseBase {
  readonly result: "ok";
  /** The rewritten SDP (CRLF line endings). */
  readonly sdp: string;
}

export type OfferResponse = SdpResponse;
export type AnswerResponse = SdpResponse;

export interface NgEndpoint {
  readonly family?: "IPv4" | "IPv6";
  readonly address?: string;
  readonly port?: number;
}

export interface NgPacketStats {
  readonly packets: number;
  readonly bytes: number;
  readonly errors: number;
}

export interface NgStream {
  /** Missing for an inactive stream. */
  readonly "local port"?: number;
  readonly "local address"?: string;
  readonly family?: string;
  /** Where rtpengine sends (learned from traffic, or from the SDP). Empty until known. */
  readonly endpoint: NgEndpoint;
  /** Where the SDP said to send. */
  readonly "advertised endpoint": NgEndpoint;
  readonly "crypto suite"?: string;
  readonly "last packet"?: number;
  /** "RTP", "RTCP", "fallback RTCP", "filled", "confirmed", "kernelized", … */
  readonly flags: readonly string[];
  readonly SSRC?: number;
  readonly stats: NgPacketStats;
}

export interface NgMedia {
  readonly index: number;
  readonly type: string;
  readonly protocol?: string;
  /** "initialized", "rtcp-mux", "DTLS-SRTP", "SDES", "passthrough", "ICE", "send", "recv", … */
  readonly flags: readonly string[];
  readonly streams: readonly NgStream[];
}

export interface NgSubscription {
  readonly tag: string;
  /** "offer/answer", "pub/sub", … */
  readonly type: string;
}

export interface NgTag {
  readonly tag: string;
  readonly label?: string;
  readonly created?: number;
  /** Older versions; 10.5 reports `subscriptions`/`subscribers` instead. */
  readonly "in dialogue with"?: string;
  /** Whose media this participant receives (10.5): the other side of an offer/answer pair. */
  readonly subscriptions?: readonly NgSubscription[];
  /** Who receives this participant's media (10.5). */
  readonly subscribers?: readonly NgSubscription[];
  readonly medias: readonly NgMedia[];
}

export interface QueryResponse extends NgResponseBase {
  readonly result: "ok";
  /** Unix seconds. */
  readonly created: number;
  readonly "last signal"?: number;
  /** Participants by SIP tag; a side that has not signalled its tag yet appears as "" or "<untagged N>". */
  readonly tags: Readonly<Record<string, NgTag>>;
  readonly totals: { readonly RTP: NgPacketStats; readonly RTCP: NgPacketStats };
}

/**
 * A delete that names a `from-tag` reports the call's final statistics (same keys as a
 * query); one by call id alone reports nothing (10.5). An unknown call gives only a warning.
 */
export interface DeleteResponse extends NgResponseBase {
  readonly result: "ok";
  readonly created?: number;
  readonly tags?: Readonly<Record<string, NgTag>>;
  readonly totals?: { readonly RTP: NgPacketStats; readonly RTCP: NgPacketStats };
}

export interface ListResponse extends NgResponseBase {
  readonly result: "ok";
  readonly calls: readonly string[];
}

export interface PlayMediaResponse extends NgResponseBase {
  readonly result: "ok";
  /** Milliseconds, when the file's length could be determined. */
  readonly duration?: number;
}

export interface OkResponse extends NgResponseBase {
  readonly result: "ok";
}
