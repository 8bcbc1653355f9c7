import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { RtpPacket } from "werift";

/** scripts/patch-dependencies.mjs, loaded at run time (plain JS, no type declarations). */
export interface PatchDependencies {
  applyPatchFile(pkgDir: string, patchFile: string, options?: { engine?: Engine }): "applied" | "already applied";
  revertPatchFile(pkgDir: string, patchFile: string, options?: { engine?: Engine }): void;
  patchState(pkgDir: string, patchFile: string, options: { strip: number; engine?: Engine }): "applied" | "unapplied" | { conflict: string };
  parseUnifiedDiff(text: string): { oldPath: string; newPath: string; hunks: unknown[] }[];
  hasGnuPatch(): boolean;
}
export type Engine = "auto" | "patch" | "js";

/** The ESM bundle's exports (what `import "werift"` loads), for a copy loaded from another directory. */
export type Werift = typeof import("werift");

export const WERIFT_PATCH = "patches/werift+0.25.2.patch";
/** a/node_modules/werift/… → …: the -p of the werift patch. */
export const WERIFT_STRIP = 3;

/** The repository root: the nearest directory above this file that has scripts/patch-dependencies.mjs. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, "scripts", "patch-dependencies.mjs")) && fs.existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("repository root (with scripts/patch-dependencies.mjs) not found");
    dir = parent;
  }
}

export async function loadPatchScript(): Promise<PatchDependencies> {
  return (await import(pathToFileURL(path.join(repoRoot(), "scripts", "patch-dependencies.mjs")).href)) as PatchDependencies;
}

/** The files the werift patch changes, relative to the package directory. */
export function patchedFiles(patch: PatchDependencies): string[] {
  const text = fs.readFileSync(path.join(repoRoot(), WERIFT_PATCH), "utf8");
  return patch.parseUnifiedDiff(text).map((f) => f.newPath.split("/").slice(WERIFT_STRIP).join("/"));
}

export interface WeriftCopies {
  /** werift as published (the patch reverted on a copy of node_modules/werift). */
  pristine: string;
  /** werift with the patch (a copy too, so both load the same way). */
  patched: string;
  load(dir: string): Promise<Werift>;
  cleanup(): void;
}

/**
 * Two copies of node_modules/werift in a temporary directory, one without and one with the patch,
 * whatever node_modules/werift itself is. Each sits beside a node_modules link to the repository's,
 * so its ESM bundle resolves werift's own dependencies. Needs no network.
 */
export async function weriftCopies(): Promise<WeriftCopies> {
  const root = repoRoot();
  const patch = await loadPatchScript();
  const patchFile = path.join(root, WERIFT_PATCH);
  const installed = path.join(root, "node_modules", "werift");
  const state = patch.patchState(installed, patchFile, { strip: WERIFT_STRIP });
  if (typeof state === "object") throw new Error(`node_modules/werift is neither patched nor pristine: ${state.conflict}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "werift-copies-"));
  const copy = (variant: "pristine" | "patched") => {
    const base = path.join(tmp, variant);
    fs.mkdirSync(base);
    fs.symlinkSync(path.join(root, "node_modules"), path.join(base, "node_modules"), "dir");
    const dir = path.join(base, "werift");
    fs.cpSync(installed, dir, { recursive: true });
    if (variant === "pristine" && state === "applied") patch.revertPatchFile(dir, patchFile);
    if (variant === "patched" && state === "unapplied") patch.applyPatchFile(dir, patchFile);
    return dir;
  };
  const pristine = copy("pristine");
  const patched = copy("patched");
  return {
    pristine,
    patched,
    load: async (dir) => (await import(pathToFileURL(path.join(dir, "lib", "index.mjs")).href)) as Werift,
    cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }),
  };
}

/**
 * The RTCDtlsTransport receive path (startSrtp's onData handler) on a fake ICE connection, with
 * master key and salt m both ways. The RTP packets it hands on are collected, or given to onRtp.
 */
export function receivingTransport(w: Werift, profile: number, m: { key: Buffer; salt: Buffer }, onRtp?: (packet: RtpPacket) => void) {
  let deliver: ((data: Buffer) => void) | undefined;
  const onData = {
    subscribe: (fn: (data: Buffer) => void) => {
      deliver = fn;
    },
  };
  const ice = { connection: { onData, send: async () => {} } };
  const transport = new w.RTCDtlsTransport({} as never, ice as never, undefined as never);
  (transport as unknown as { dtls: unknown }).dtls = {
    srtp: { srtpProfile: profile },
    extractSessionKeys: () => ({ localKey: m.key, localSalt: m.salt, remoteKey: m.key, remoteSalt: m.salt }),
  };
  transport.startSrtp();
  const received: RtpPacket[] = [];
  transport.onRtp.subscribe(onRtp ?? ((packet) => void received.push(packet)));
  return { deliver: (data: Buffer) => deliver!(data), received };
}
