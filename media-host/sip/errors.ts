/**
 * Why a SIP message was refused by the message layer. Every SIP byte is hostile
 * until parsed: anything the parser cannot accept ends up here, never as a
 * TypeError or a RangeError.
 */

import type { Via } from "./headerValues.js";

/**
 * The statuses a parse refusal carries (RFC 3261 §21). Refusals of well-formed
 * requests (416 Unsupported URI Scheme, 420 Bad Extension, 405, 501, ...) are
 * not parse errors: checkRequestSanity in sanity.ts gives those (RFC 4475
 * §3.3.2: a parser must accept an unknown scheme).
 */
export type SipParseStatus =
  | 400 // Bad Request: the message breaks the grammar or a rule of RFC 3261
  | 413 // Request Entity Too Large: the body is over the configured limit
  | 505 // Version Not Supported
  | 513; // Message Too Large: the header section is over the configured limit

/**
 * The raw pieces of a broken request that RFC 3261 §8.2.6 needs to answer it:
 * the values are copied into the response verbatim (they came from one header
 * line each, so they hold no CR or LF).
 */
export interface ResponseBasis {
  /** Every Via header field value, in order (each may itself be a comma list). */
  readonly vias: readonly string[];
  /** The topmost Via element, parsed as far as needed to route the response. */
  readonly topVia: Via;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly callId: string | undefined;
  readonly cseq: string;
  /** The Request-Line method (never ACK: an ACK is never answered). */
  readonly method: string;
}

export class SipParseError extends Error {
  override readonly name = "SipParseError";
  /** The SIP status to answer with, when `respondable`. */
  readonly status: SipParseStatus;
  /** The reason phrase for that response: our own words, never bytes from the message. */
  readonly reason: string;
  /** What is needed to build the response; undefined when none can be built (responses, ACKs, garbage). */
  readonly basis: ResponseBasis | undefined;

  constructor(status: SipParseStatus, reason: string, detail?: string, basis?: ResponseBasis) {
    // Refusing hostile input is routine, not a bug: no stack trace, which would cost more than the parse.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ? `${status} ${reason}: ${detail}` : `${status} ${reason}`);
    Error.stackTraceLimit = stackTraceLimit;
    this.status = status;
    this.reason = reason;
    this.basis = basis;
  }

  /** Enough of Via, CSeq (and From, To, Call-ID when present) was understood to answer per RFC 3261 §8.2.6. */
  get respondable(): boolean {
    return this.basis !== undefined;
  }

  /** The same refusal, now knowing what the response can be built from. */
  withBasis(basis: ResponseBasis | undefined): SipParseError {
    if (basis === this.basis) return this;
    const copy = new SipParseError(this.status, this.reason, undefined, basis);
    copy.message = this.message;
    return copy;
  }
}

/** Why a re-INVITE of ours did not give us the device's answer. */
export type ReinviteFailure =
  /** The device refused it (a final 3xx–6xx; 491 after the last retry counts as `glare`). */
  | "rejected"
  /** The device crossed it with re-INVITEs of its own on every attempt (RFC 3261 §14.1). */
  | "glare"
  /** No final response in time (Timer B): 408. */
  | "timeout"
  /** A 2xx without an SDP answer (our offer got none, RFC 3264 §4). */
  | "no-answer"
  /** The dialog is not up (not yet confirmed, or ended). */
  | "dialog-not-confirmed";

/** A re-INVITE of ours failed, with the SIP status that says how (drachtio-srf style: failures carry their status). */
export class ReinviteFailedError extends Error {
  override readonly name = "ReinviteFailedError";
  readonly failure: ReinviteFailure;
  /** The device's final status; 408 for a timeout, 481 when the dialog is not up. */
  readonly sipStatus: number;

  constructor(failure: ReinviteFailure, sipStatus: number, message: string) {
    super(message);
    this.failure = failure;
    this.sipStatus = sipStatus;
  }
}
