import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { performance } from "node:perf_hooks";
import type { SipResponse } from "../../media-host/sip/message.js";
import { parseMessage } from "../../media-host/sip/parser.js";

export interface ProbeOptions {
  /** Where the INVITE goes: the edge, or a host straight. */
  readonly host: string;
  readonly port: number;
  readonly dial: string;
  readonly calls: number;
  readonly timeoutInMs?: number;
}

/**
 * A device that times its INVITEs to the 200 with the clock's full resolution (SIPp counts
 * whole milliseconds), one call at a time: INVITE → 200 → ACK → BYE → 200, the ACK and BYE
 * along the Record-Route when there is one. For what a proxy adds, in microseconds.
 */
export async function probeInvites(options: ProbeOptions): Promise<number[]> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const local = `127.0.0.1:${socket.address().port}`;
  const waiting = new Map<string, (response: SipResponse) => void>();
  socket.on("message", (data) => {
    try {
      const message = parseMessage(data);
      if (message.kind !== "response") return;
      const key = `${message.headers.callId()}|${message.headers.cseq().method}`;
      if (message.status >= 200) waiting.get(key)?.(message);
    } catch {
      // not ours to judge
    }
  });
  const send = (lines: readonly string[]) =>
    new Promise<void>((resolve, reject) =>
      socket.send(Buffer.from(lines.join("\r\n")), options.port, options.host, (e) => (e ? reject(e) : resolve())),
    );
  const final = (callId: string, method: string) =>
    new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response to ${method} of ${callId}`)), options.timeoutInMs ?? 10_000);
      waiting.set(`${callId}|${method}`, (response) => {
        clearTimeout(timer);
        waiting.delete(`${callId}|${method}`);
        resolve(response);
      });
    });
  const samples: number[] = [];
  try {
    for (let i = 0; i < options.calls; i++) {
      const callId = `probe-${randomBytes(8).toString("hex")}`;
      const from = `<sip:probe@${local}>;tag=${randomBytes(4).toString("hex")}`;
      const uri = `sip:${options.dial}@${options.host}:${options.port}`;
      const sdp = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 9 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", ""].join(
        "\r\n",
      );
      const answered = final(callId, "INVITE");
      const started = performance.now();
      await send([
        `INVITE ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${local};branch=z9hG4bK${randomBytes(6).toString("hex")};rport`,
        "Max-Forwards: 70",
        `From: ${from}`,
        `To: <${uri}>`,
        `Call-ID: ${callId}`,
        "CSeq: 1 INVITE",
        `Contact: <sip:probe@${local}>`,
        "Content-Type: application/sdp",
        `Content-Length: ${Buffer.byteLength(sdp)}`,
        "",
        sdp,
      ]);
      const ok = await answered;
      samples.push(performance.now() - started);
      if (ok.status !== 200) throw new Error(`INVITE ${callId} answered ${ok.status}`);
      // The UAC's route set is the Record-Route in reverse (RFC 3261 §12.1.2).
      const routes = ok.headers
        .getAll("Record-Route")
        .flatMap((v) => v.split(/,(?=\s*<)/))
        .map((v) => v.trim())
        .reverse();
      const contact = /<([^>]+)>/.exec(ok.headers.get("Contact") ?? "")?.[1] ?? uri;
      const inDialog = (method: string, cseq: number) => [
        `${method} ${contact} SIP/2.0`,
        `Via: SIP/2.0/UDP ${local};branch=z9hG4bK${randomBytes(6).toString("hex")};rport`,
        ...routes.map((r) => `Route: ${r}`),
        "Max-Forwards: 70",
        `From: ${from}`,
        `To: ${ok.headers.get("To")}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} ${method}`,
        "Content-Length: 0",
        "",
        "",
      ];
      await send(inDialog("ACK", 1));
      const bye = final(callId, "BYE");
      await send(inDialog("BYE", 2));
      await bye;
    }
  } finally {
    socket.close();
  }
  return samples;
}
