import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startLocalStack } from "../../local/stack.js";
import { createTestHost, type TestHost } from "../support/netns.js";

// The stack's one address setting (startLocalStack({ address }), OPENCVI_ADDRESS for npm start)
// and the server certificate that must cover it (scripts/dev-tls.sh <dir> <address>).

let work: string;
let lan: TestHost;

before(() => {
  work = mkdtempSync(join(tmpdir(), "opencvi-address-"));
  // An address of this machine that is not loopback: this machine's end of a test host's link.
  lan = createTestHost();
});
after(() => {
  lan?.remove();
  rmSync(work, { recursive: true, force: true });
});

const devTls = (dir: string, ...address: string[]) => spawnSync("bash", ["scripts/dev-tls.sh", dir, ...address], { encoding: "utf8" });
const certificate = (dir: string) => new X509Certificate(readFileSync(join(dir, "server.pem")));

describe("scripts/dev-tls.sh puts the stack's address in the server certificate", () => {
  it("makes a CA and a localhost certificate once; an address not covered yet remakes only the server certificate, signed by the same CA", () => {
    const dir = join(work, "tls");
    assert.equal(devTls(dir).status, 0);
    const ca = readFileSync(join(dir, "ca.pem"), "utf8");
    const first = readFileSync(join(dir, "server.pem"), "utf8");
    assert.equal(certificate(dir).checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(certificate(dir).checkIP("203.0.113.20"), undefined);
    assert.equal(devTls(dir).status, 0);
    assert.equal(readFileSync(join(dir, "server.pem"), "utf8"), first, "nothing new, nothing remade");

    assert.equal(devTls(dir, "203.0.113.20").status, 0);
    const second = readFileSync(join(dir, "server.pem"), "utf8");
    assert.notEqual(second, first, "the server certificate was made anew");
    assert.equal(readFileSync(join(dir, "ca.pem"), "utf8"), ca, "the CA a browser may trust already stays");
    const cert = certificate(dir);
    assert.equal(cert.checkIP("203.0.113.20"), "203.0.113.20");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(cert.checkHost("localhost"), "localhost");
    assert.ok(cert.verify(new X509Certificate(ca).publicKey), "signed by the local CA");
    execFileSync("openssl", ["verify", "-CAfile", join(dir, "ca.pem"), join(dir, "server.pem")], { stdio: "pipe" });
    assert.equal(devTls(dir, "203.0.113.20").status, 0);
    assert.equal(readFileSync(join(dir, "server.pem"), "utf8"), second, "covered already: kept");
  });

  it("refuses what is not an IPv4 address", () => {
    const refused = devTls(join(work, "bad"), "lan.example");
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /not an IPv4 address/);
  });
});

describe("startLocalStack({ address })", () => {
  it("refuses a wildcard, a name, an address of another machine, and an address its certificate does not cover, saying what to do", async () => {
    await assert.rejects(startLocalStack({ address: "0.0.0.0", logLevel: "none" }), /one IPv4 address of this machine/);
    await assert.rejects(startLocalStack({ address: "localhost", logLevel: "none" }), /one IPv4 address of this machine/);
    await assert.rejects(startLocalStack({ address: "203.0.113.250", logLevel: "none" }), /is not an address of this machine/);
    const dir = join(work, "loopback-only");
    assert.equal(devTls(dir).status, 0);
    await assert.rejects(
      startLocalStack({ address: lan.localAddress, tlsDirectory: dir, logLevel: "none" }),
      new RegExp(`does not cover ${lan.localAddress.replaceAll(".", "\\.")}: run \`bash scripts/dev-tls\\.sh`),
    );
  });
});
