/**
 * Normalises an SDP written by rtpengine so it can be compared with a golden file.
 *
 * rtpengine picks ports, ICE credentials, DTLS certificates and SRTP keys at run time;
 * everything else it writes is deterministic for a given input and set of flags. The
 * run-time values are replaced by placeholders named as in rtpengine's own test suite
 * (t/auto-daemon-tests.pl, perl/NGCP/Rtpengine/AutoTest.pm), which turns the same names
 * into regular expressions the other way round:
 *
 * | line                                   | replaced                         | placeholder                       |
 * |----------------------------------------|----------------------------------|-----------------------------------|
 * | `o=user <id> <version> IN IP4 x`       | session id and version           | `SDP_VERSION`                     |
 * | `m=audio <port> …`                     | the port (0 = rejected, kept)    | `PORT`                            |
 * | `a=rtcp:<port> [IN IP4 x]`             | the port                         | `PORT`                            |
 * | `a=candidate:<foundation> … <port> …`  | foundation, port, rport          | `ICEBASE`, `PORT`                 |
 * | `a=ice-ufrag:` / `a=ice-pwd:`          | the value                        | `ICEUFRAG` / `ICEPWD`             |
 * | `a=fingerprint:sha-256 <hex>`          | the hex digest                   | `FINGERPRINT256` (sha-1: `FINGERPRINT`, others `FINGERPRINT_<HASH>`) |
 * | `a=crypto:<tag> <suite> inline:<key>`  | the key (by its base64 length)   | `CRYPTO128`, `CRYPTO128S`, `CRYPTO192`, `CRYPTO256`, `CRYPTO256S` (else `CRYPTO`) |
 * | `a=ssrc:<n>` / `a=ssrc-group:<sem> <n>…` | the SSRCs                      | `SSRC`                            |
 * | `a=tls-id:` / `a=rtpengine:`           | the value                        | `TLS_ID` / `LOOPER`               |
 *
 * Addresses stay: the tests run rtpengine on a fixed interface (127.0.0.1), so a
 * rewritten address is checked literally. Line endings become LF (golden files are
 * LF for readability); the test checks rtpengine's CRLF separately.
 */
export function normaliseSdp(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return `${lines.map(normaliseLine).join("\n")}\n`;
}

const CRYPTO_BY_KEY_LENGTH: Readonly<Record<number, string>> = {
  38: "CRYPTO128S",
  40: "CRYPTO128",
  51: "CRYPTO192",
  59: "CRYPTO256S",
  62: "CRYPTO256",
};

function normaliseLine(line: string): string {
  if (line.startsWith("o=")) {
    const parts = line.slice(2).split(" ");
    if (parts.length >= 6) return `o=${parts[0]} SDP_VERSION ${parts.slice(3).join(" ")}`;
    return line;
  }
  if (line.startsWith("m=")) {
    return line.replace(/^(m=\S+ )(\d+)((?:\/\d+)? )/, (all, head: string, port: string, tail: string) =>
      port === "0" ? all : `${head}PORT${tail}`,
    );
  }
  if (!line.startsWith("a=")) return line;
  const attr = line.slice(2);
  const colon = attr.indexOf(":");
  const name = colon < 0 ? attr : attr.slice(0, colon);
  const value = colon < 0 ? "" : attr.slice(colon + 1);
  switch (name) {
    case "rtcp":
      return `a=rtcp:${value.replace(/^\d+/, "PORT")}`;
    case "candidate": {
      // foundation component transport priority address port typ type [raddr a rport p] [ext…]
      const f = value.split(" ");
      if (f.length >= 6) {
        f[0] = "ICEBASE";
        f[5] = "PORT";
        const rport = f.indexOf("rport");
        if (rport >= 0 && rport + 1 < f.length) f[rport + 1] = "PORT";
      }
      return `a=candidate:${f.join(" ")}`;
    }
    case "ice-ufrag":
      return "a=ice-ufrag:ICEUFRAG";
    case "ice-pwd":
      return "a=ice-pwd:ICEPWD";
    case "fingerprint": {
      const [hash = ""] = value.split(" ");
      const placeholder =
        hash.toLowerCase() === "sha-256" ? "FINGERPRINT256" : hash.toLowerCase() === "sha-1" ? "FINGERPRINT" : `FINGERPRINT_${hash.toUpperCase()}`;
      return `a=fingerprint:${hash} ${placeholder}`;
    }
    case "crypto":
      return `a=crypto:${value.replace(/inline:([A-Za-z0-9+/=]+)/g, (_all, key: string) => `inline:${CRYPTO_BY_KEY_LENGTH[key.length] ?? "CRYPTO"}`)}`;
    case "ssrc":
      return `a=ssrc:${value.replace(/^\d+/, "SSRC")}`;
    case "ssrc-group": {
      const [semantics, ...ssrcs] = value.split(" ");
      return `a=ssrc-group:${[semantics, ...ssrcs.map(() => "SSRC")].join(" ")}`;
    }
    case "tls-id":
      return "a=tls-id:TLS_ID";
    case "rtpengine":
      return "a=rtpengine:LOOPER";
    default:
      return line;
  }
}
