import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";
import { startDialInStack } from "./dialInStack.js";

/** What a dial-in stack in a child process tells its parent. */
export interface DialInStackProcess {
  readonly dialStrings: readonly string[];
  readonly sip: { readonly udp: number; readonly tcp: number };
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
const READY = "dial-in stack ready ";

/**
 * The dial-in stack (local stack, demo, meetings, media host) in a process of its own, as
 * `npm start` runs it: a load run then measures the stack, not the test runner, whose
 * async-resource tracking in its own process roughly halves what an in-process stack
 * sustains.
 */
export async function startDialInStackProcess(options: { meetings: number; mediaHostProcess: boolean }): Promise<DialInStackProcess> {
  const child = spawn(process.execPath, [SELF, "--run", String(options.meetings), String(options.mediaHostProcess)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr.push(chunk.toString());
    if (stderr.length > 50) stderr.splice(0, 25);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = await new Promise<{ dialStrings: string[]; sip: { udp: number; tcp: number } }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the dial-in stack did not start in time:\n${stderr.join("")}`)), 90_000);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith(READY)) return;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(READY.length)));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the dial-in stack exited (${code}) while starting:\n${stderr.join("")}`));
    });
  });
  return {
    ...ready,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

// Run as a script: start the stack, say where it is, stop on SIGTERM.
if (isMainThread && process.argv[1] === SELF && process.argv[2] === "--run") {
  const load = await startDialInStack({ meetings: Number(process.argv[3]), mediaHostProcess: process.argv[4] === "true" });
  process.stdout.write(`${READY}${JSON.stringify({ dialStrings: load.dialStrings, sip: load.sip })}\n`);
  process.once("SIGTERM", () => {
    load.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
