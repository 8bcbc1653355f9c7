import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The Lync / Skype for Business INVITE shapes of test/integration/mediaHost/golden/multipart (see its README). */
export const MULTIPART_GOLDEN_DIR = join(process.cwd(), "test", "integration", "mediaHost", "golden", "multipart");

export const LYNC_INVITES = ["lync-alternative", "lync-call-context"] as const;
export type LyncInvite = (typeof LYNC_INVITES)[number];

export interface InviteValues {
  readonly requestUri: string;
  readonly deviceIp: string;
  readonly sipPort: number;
  readonly branch: string;
  readonly callId: string;
  readonly audioPort: number;
  readonly audioRtcpPort: number;
}

export const EXAMPLE_VALUES: InviteValues = {
  requestUri: "sip:123456789.1234567890@192.0.2.1",
  deviceIp: "192.0.2.10",
  sipPort: 5061,
  branch: "z9hG4bK-lync-1",
  callId: "lync-1@contoso.example",
  audioPort: 50010,
  audioRtcpPort: 50011,
};

/**
 * One of the fixtures as the datagram a client sends: placeholders filled in, LF turned
 * into CRLF, Content-Length counted over the body's octets.
 */
export function lyncInvite(name: LyncInvite, values: InviteValues = EXAMPLE_VALUES): Buffer {
  const template = readFileSync(join(MULTIPART_GOLDEN_DIR, `${name}.invite.sip`), "utf8");
  const filled = template
    .replaceAll("{{REQUEST_URI}}", values.requestUri)
    .replaceAll("{{DEVICE_IP}}", values.deviceIp)
    .replaceAll("{{SIP_PORT}}", String(values.sipPort))
    .replaceAll("{{BRANCH}}", values.branch)
    .replaceAll("{{CALL_ID}}", values.callId)
    .replaceAll("{{AUDIO_PORT}}", String(values.audioPort))
    .replaceAll("{{AUDIO_RTCP_PORT}}", String(values.audioRtcpPort))
    .replace(/\r?\n/g, "\r\n");
  const split = filled.indexOf("\r\n\r\n");
  const body = filled.slice(split + 4);
  return Buffer.from(filled.replace("{{CONTENT_LENGTH}}", String(Buffer.byteLength(body))));
}
