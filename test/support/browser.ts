import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/**
 * Headless Chromium (Debian's `chromium`, which scripts/setup.sh installs) driven by
 * playwright-core, with fake camera and microphone (the microphone from a WAV when
 * given) and loopback ICE candidates allowed, so WebRTC stays on 127.0.0.1.
 */
export async function launchChromium(options: { readonly fakeMicrophoneWav?: string } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: it is Debian's chromium package, which scripts/setup.sh installs`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--allow-loopback-in-peer-connection",
      "--autoplay-policy=no-user-gesture-required",
      ...(options.fakeMicrophoneWav ? [`--use-file-for-fake-audio-capture=${options.fakeMicrophoneWav}`] : []),
    ],
  });
}
