import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Real packet captures for tests: dumpcap (Debian `tshark`) on a local interface
 * with a capture filter, and tshark to dissect the file. Only loopback traffic
 * of the test's own ports is captured; the files go to a temporary directory.
 */

export interface LoopbackCapture {
  readonly path: string;
  /** Stops dumpcap (its own PID only) and waits until the file is complete. */
  stop(): Promise<string>;
  /** Removes the temporary directory. */
  dispose(): void;
}

export async function captureOnLoopback(filter: string, timeoutInMs = 10_000): Promise<LoopbackCapture> {
  const dir = mkdtempSync(join(tmpdir(), "opencvi-capture-"));
  const path = join(dir, "capture.pcapng");
  const child: ChildProcess = spawn("dumpcap", ["-i", "lo", "-f", filter, "-w", path, "-q"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // dumpcap names its file on stderr once the capture runs: only then is traffic sure to be seen.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dumpcap did not start within ${timeoutInMs} ms: ${stderr}`)), timeoutInMs);
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes("File:")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dumpcap exited (${code}) before capturing: ${stderr}`));
    });
  });
  return {
    path,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      return path;
    },
    dispose() {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `tshark -r file <args>` and its standard output. */
export async function tshark(file: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run("tshark", ["-r", file, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
