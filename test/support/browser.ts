import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import type { TestHost } from "./netns.js";

export const CHROMIUM = "/usr/bin/chromium";

export interface ChromiumOptions {
  /** The fake microphone plays this WAV (a 400 Hz beep without it). */
  readonly fakeMicrophoneWav?: string;
  /**
   * Run Chromium on this test host (in its network namespace), as a person's browser on another
   * machine: without --allow-loopback-in-peer-connection, so WebRTC uses the host's own address.
   */
  readonly host?: TestHost;
  /** A CA Chromium trusts, as a person adds one: in an NSS database of its own ($HOME/.pki/nssdb, with certutil). */
  readonly trustedCaFile?: string;
}

/**
 * Headless Chromium (Debian's `chromium`, which scripts/setup.sh installs) driven by
 * playwright-core, with fake camera and microphone (the microphone from a WAV when
 * given). On this machine loopback ICE candidates are allowed, so WebRTC stays on
 * 127.0.0.1; on a test host it runs through a small wrapper (`ip netns exec`, a HOME of
 * its own) passed as the executable, with the host's address only.
 */
export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: it is Debian's chromium package, which scripts/setup.sh installs`);
  let home: string | undefined;
  let executablePath = CHROMIUM;
  if (options.host || options.trustedCaFile) {
    home = mkdtempSync(join(tmpdir(), "opencvi-chromium-"));
    if (options.trustedCaFile) trustCa(home, options.trustedCaFile);
    executablePath = join(home, "chromium");
    // exec all the way down: the process Playwright started is Chromium itself, which its close() ends.
    const run = options.host ? `exec ip netns exec ${options.host.namespace} ${CHROMIUM} "$@"` : `exec ${CHROMIUM} "$@"`;
    writeFileSync(executablePath, `#!/bin/sh\nexport HOME='${home}'\n${run}\n`);
    chmodSync(executablePath, 0o755);
  }
  try {
    const browser = await chromium.launch({
      executablePath,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        ...(options.host ? [] : ["--allow-loopback-in-peer-connection"]),
        "--autoplay-policy=no-user-gesture-required",
        ...(options.fakeMicrophoneWav ? [`--use-file-for-fake-audio-capture=${options.fakeMicrophoneWav}`] : []),
      ],
    });
    if (home) {
      const dir = home;
      browser.on("disconnected", () => rmSync(dir, { recursive: true, force: true }));
    }
    return browser;
  } catch (e) {
    if (home) rmSync(home, { recursive: true, force: true });
    throw e;
  }
}

/** What a person does on Linux: the CA into their NSS database, trusted for TLS servers. */
function trustCa(home: string, caFile: string): void {
  const db = join(home, ".pki", "nssdb");
  mkdirSync(db, { recursive: true });
  const certutil = (...args: string[]) => execFileSync("certutil", args, { stdio: "pipe" });
  try {
    certutil("-N", "-d", `sql:${db}`, "--empty-password");
    certutil("-A", "-d", `sql:${db}`, "-n", "OpenCVI local CA", "-t", "C,,", "-i", caFile);
  } catch (e) {
    throw new Error(`certutil could not trust ${caFile} (Debian's libnss3-tools, which scripts/setup.sh installs): ${(e as Error).message}`);
  }
}
