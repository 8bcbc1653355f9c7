#!/usr/bin/env node
// Applies every patches/<name>+<version>.patch (patch-package naming; paths a/node_modules/<name>/…)
// to node_modules/<name>. Run by scripts/setup.sh after `npm install` and as the npm `postinstall`.
//
// - Idempotent: a patch that is already applied (it reverse-applies cleanly) is skipped.
// - Loud: the installed version must be the patch's version, and the patch must apply exactly
//   (no fuzz); otherwise it exits 1 and says why, having changed nothing for that patch.
// - Uses GNU patch when it is on PATH, else an equivalent unified-diff applier in this file
//   (Debian 12 images without the `patch` package, e.g. the media host VMs). --engine=js|patch forces one.
// - A patched package missing from node_modules is an error, unless it is only a devDependency
//   (`npm install --omit=dev`): then it is skipped with a note.
//
// Plain Node (18+, no dependencies): `npm install` runs it with whatever `node` is on PATH.
//
//   node scripts/patch-dependencies.mjs [--root <dir>] [--engine=auto|patch|js] [--check]
//   --check  report each patch's state and change nothing; exit 1 unless all are applied.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export class PatchError extends Error {}

/** "werift+0.25.2.patch" → { name: "werift", version: "0.25.2" }; "@scope+pkg+1.0.0.patch" → "@scope/pkg". */
export function parsePatchFileName(fileName) {
  const m = /^(.+)\+([^+]+)\.patch$/.exec(fileName);
  if (!m) return undefined;
  let name = m[1];
  if (name.includes("++")) throw new PatchError(`${fileName}: patches of nested dependencies are not supported`);
  if (name.startsWith("@")) name = name.replace("+", "/");
  if (name.includes("+")) throw new PatchError(`${fileName}: cannot read a package name from this file name`);
  return { name, version: m[2] };
}

// ---------------------------------------------------------------------------------------------
// Unified diffs in JS (exact context, no fuzz; a hunk may sit at an offset, as with GNU patch).

/** Lines with their "\n" (the last one without, when the text does not end with a newline). */
function toLines(text) {
  const parts = text.split("\n");
  const lines = parts.slice(0, -1).map((l) => `${l}\n`);
  if (parts[parts.length - 1] !== "") lines.push(parts[parts.length - 1]);
  return lines;
}

/** [{ oldPath, newPath, hunks: [{ oldStart, oldCount, newStart, newCount, oldLines, newLines }] }] */
export function parseUnifiedDiff(text) {
  const lines = text.split("\n");
  const files = [];
  let i = 0;
  const stripTimestamp = (p) => p.split("\t")[0].trim();
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("--- ") && i + 1 < lines.length && lines[i + 1].startsWith("+++ ")) {
      const file = { oldPath: stripTimestamp(line.slice(4)), newPath: stripTimestamp(lines[i + 1].slice(4)), hunks: [] };
      files.push(file);
      i += 2;
      while (i < lines.length && lines[i].startsWith("@@ ")) {
        const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(lines[i]);
        if (!m) throw new PatchError(`malformed hunk header: ${lines[i]}`);
        const hunk = {
          oldStart: Number(m[1]),
          oldCount: m[2] === undefined ? 1 : Number(m[2]),
          newStart: Number(m[3]),
          newCount: m[4] === undefined ? 1 : Number(m[4]),
          oldLines: [],
          newLines: [],
        };
        i++;
        let oldSeen = 0;
        let newSeen = 0;
        while (oldSeen < hunk.oldCount || newSeen < hunk.newCount || lines[i]?.startsWith("\\")) {
          if (i >= lines.length) throw new PatchError(`truncated hunk in ${file.newPath}`);
          const body = lines[i];
          if (body.startsWith("\\")) {
            // "\ No newline at end of file": the line before has no "\n".
            const prev = lines[i - 1];
            if (prev.startsWith("-") || prev.startsWith(" ") || prev === "") hunk.oldLines[hunk.oldLines.length - 1] = prev.slice(1);
            if (prev.startsWith("+") || prev.startsWith(" ") || prev === "") hunk.newLines[hunk.newLines.length - 1] = prev.slice(1);
            i++;
            continue;
          }
          const kind = body === "" ? " " : body[0];
          const content = `${body.slice(1)}\n`;
          if (kind === " ") {
            hunk.oldLines.push(content);
            hunk.newLines.push(content);
            oldSeen++;
            newSeen++;
          } else if (kind === "-") {
            hunk.oldLines.push(content);
            oldSeen++;
          } else if (kind === "+") {
            hunk.newLines.push(content);
            newSeen++;
          } else {
            throw new PatchError(`malformed hunk line in ${file.newPath}: ${body}`);
          }
          if (oldSeen > hunk.oldCount || newSeen > hunk.newCount) throw new PatchError(`hunk longer than its header in ${file.newPath}`);
          i++;
        }
        file.hunks.push(hunk);
      }
      continue;
    }
    i++;
  }
  return files;
}

function stripPath(p, strip) {
  const parts = p.split("/");
  if (parts.length <= strip) throw new PatchError(`cannot strip ${strip} components from ${p}`);
  return parts.slice(strip).join("/");
}

/** The text after applying (or reverting) the hunks, or a PatchError saying which hunk does not fit. */
export function applyHunks(text, hunks, { reverse = false, label = "file" } = {}) {
  const lines = toLines(text);
  let offset = 0;
  let floor = 0;
  hunks.forEach((hunk, n) => {
    const from = reverse ? hunk.newLines : hunk.oldLines;
    const to = reverse ? hunk.oldLines : hunk.newLines;
    const start = reverse ? hunk.newStart : hunk.oldStart;
    const count = reverse ? hunk.newCount : hunk.oldCount;
    const expected = (count === 0 ? start : start - 1) + offset;
    const fits = (at) => at >= floor && at + from.length <= lines.length && from.every((l, k) => lines[at + k] === l);
    let at = -1;
    for (let d = 0; d <= lines.length; d++) {
      if (fits(expected - d)) {
        at = expected - d;
        break;
      }
      if (fits(expected + d)) {
        at = expected + d;
        break;
      }
    }
    if (at < 0) throw new PatchError(`${label}: hunk #${n + 1} (line ${start}) does not apply`);
    lines.splice(at, from.length, ...to);
    offset += at - expected + (to.length - from.length);
    floor = at + to.length;
  });
  return lines.join("");
}

/** Applies (or reverts) a whole diff under dir; with dryRun, only checks. All files or none are written. */
export function applyDiffJs(dir, diffText, { strip, reverse = false, dryRun = false }) {
  const files = parseUnifiedDiff(diffText);
  if (files.length === 0) throw new PatchError("no file in the patch");
  const results = files.map((file) => {
    if (file.oldPath === "/dev/null" || file.newPath === "/dev/null") {
      throw new PatchError(`${file.newPath}: creating or deleting files is not supported by the JS engine`);
    }
    const rel = stripPath(file.newPath, strip);
    const target = path.join(dir, rel);
    if (!fs.existsSync(target)) throw new PatchError(`${rel}: no such file`);
    const before = fs.readFileSync(target, "utf8");
    return { target, after: applyHunks(before, file.hunks, { reverse, label: rel }) };
  });
  if (dryRun) return;
  for (const { target, after } of results) {
    const tmp = `${target}.patch-dependencies.tmp`;
    fs.writeFileSync(tmp, after);
    fs.chmodSync(tmp, fs.statSync(target).mode);
    fs.renameSync(tmp, target);
  }
}

// ---------------------------------------------------------------------------------------------
// GNU patch

export function hasGnuPatch() {
  const r = spawnSync("patch", ["--version"], { encoding: "utf8" });
  return r.status === 0 && /GNU patch/.test(r.stdout);
}

function runGnuPatch(dir, patchFile, { strip, reverse = false, dryRun = false }) {
  const args = ["-f", "-F0", `-p${strip}`, "-d", dir, "--no-backup-if-mismatch", "-r", "-", "-i", patchFile];
  if (reverse) args.unshift("-R");
  if (dryRun) args.unshift("--dry-run");
  const r = spawnSync("patch", args, { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new PatchError(`${r.stdout}${r.stderr}`.trim() || `patch exited with ${r.status}`);
}

// ---------------------------------------------------------------------------------------------

function engineFor(engine) {
  if (engine === "auto") return hasGnuPatch() ? "patch" : "js";
  if (engine === "patch" || engine === "js") return engine;
  throw new PatchError(`unknown engine ${engine} (auto, patch or js)`);
}

function attempt(engine, dir, patchFile, options) {
  try {
    if (engine === "patch") runGnuPatch(dir, patchFile, options);
    else applyDiffJs(dir, fs.readFileSync(patchFile, "utf8"), options);
    return undefined;
  } catch (error) {
    if (error instanceof PatchError) return error.message;
    throw error;
  }
}

/** "applied", "unapplied", or { conflict: why } for one patch file on one package directory. */
export function patchState(pkgDir, patchFile, { strip, engine = "auto" }) {
  const e = engineFor(engine);
  if (attempt(e, pkgDir, patchFile, { strip, reverse: true, dryRun: true }) === undefined) return "applied";
  const why = attempt(e, pkgDir, patchFile, { strip, dryRun: true });
  return why === undefined ? "unapplied" : { conflict: why };
}

/**
 * Applies patchFile to pkgDir unless it is already applied. Returns "applied" or "already applied";
 * throws a PatchError when the installed version differs or the patch does not apply.
 */
export function applyPatchFile(pkgDir, patchFile, { engine = "auto", expectVersion } = {}) {
  const parsed = parsePatchFileName(path.basename(patchFile));
  if (!parsed) throw new PatchError(`${patchFile}: not named <package>+<version>.patch`);
  const { name, version } = parsed;
  const pkgJson = path.join(pkgDir, "package.json");
  const installed = JSON.parse(fs.readFileSync(pkgJson, "utf8"));
  if (installed.name !== name) throw new PatchError(`${path.basename(patchFile)} is for ${name}, but ${pkgJson} is ${installed.name}`);
  const wanted = expectVersion ?? version;
  if (installed.version !== wanted) {
    throw new PatchError(
      `${path.basename(patchFile)} is for ${name} ${wanted}, but ${installed.version} is installed: ` +
        "port the patch to the new version (and rename it), or delete it if the upgrade makes it unnecessary",
    );
  }
  const strip = 2 + name.split("/").length; // a/node_modules/<name>/…
  const e = engineFor(engine);
  const state = patchState(pkgDir, patchFile, { strip, engine: e });
  if (state === "applied") return "already applied";
  if (state !== "unapplied") {
    throw new PatchError(`${path.basename(patchFile)} does not apply to ${pkgDir} (${name} ${installed.version}):\n${state.conflict}`);
  }
  const why = attempt(e, pkgDir, patchFile, { strip });
  if (why !== undefined) throw new PatchError(`${path.basename(patchFile)}: applying failed after a clean dry run:\n${why}`);
  if (patchState(pkgDir, patchFile, { strip, engine: e }) !== "applied") {
    throw new PatchError(`${path.basename(patchFile)}: applied, but does not reverse-apply: ${pkgDir} is in an unknown state`);
  }
  return "applied";
}

/** Reverts patchFile on pkgDir (tests and the benchmark use it on copies to get the published files back). */
export function revertPatchFile(pkgDir, patchFile, { engine = "auto" } = {}) {
  const parsed = parsePatchFileName(path.basename(patchFile));
  if (!parsed) throw new PatchError(`${patchFile}: not named <package>+<version>.patch`);
  const strip = 2 + parsed.name.split("/").length;
  const e = engineFor(engine);
  const why = attempt(e, pkgDir, patchFile, { strip, reverse: true });
  if (why !== undefined) throw new PatchError(`${path.basename(patchFile)} does not revert on ${pkgDir}:\n${why}`);
}

/** Every patches/*.patch under root, applied to root/node_modules. Returns one line per patch. */
export function applyPatches({ root, engine = "auto", check = false }) {
  const patchesDir = path.join(root, "patches");
  const files = fs.existsSync(patchesDir) ? fs.readdirSync(patchesDir).filter((f) => f.endsWith(".patch")) : [];
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  const e = engineFor(engine);
  const report = [];
  const failures = [];
  for (const file of files.sort()) {
    const patchFile = path.join(patchesDir, file);
    try {
      const parsed = parsePatchFileName(file);
      if (!parsed) throw new PatchError(`patches/${file}: not named <package>+<version>.patch`);
      const pkgDir = path.join(root, "node_modules", ...parsed.name.split("/"));
      if (!fs.existsSync(path.join(pkgDir, "package.json"))) {
        const devOnly = rootPkg.devDependencies?.[parsed.name] !== undefined && rootPkg.dependencies?.[parsed.name] === undefined;
        if (devOnly) {
          report.push(`${parsed.name}: not installed (a devDependency), patches/${file} skipped`);
          continue;
        }
        throw new PatchError(`patches/${file}: ${parsed.name} is not installed in ${path.join(root, "node_modules")}`);
      }
      if (check) {
        const state = patchState(pkgDir, patchFile, { strip: 2 + parsed.name.split("/").length, engine: e });
        const installed = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
        if (installed !== parsed.version) throw new PatchError(`patches/${file} is for ${parsed.version}, ${installed} is installed`);
        if (state !== "applied") throw new PatchError(`patches/${file}: ${state === "unapplied" ? "not applied" : `conflicts: ${state.conflict}`}`);
        report.push(`${parsed.name}@${parsed.version}: applied (patches/${file})`);
        continue;
      }
      const result = applyPatchFile(pkgDir, patchFile, { engine: e });
      report.push(`${parsed.name}@${parsed.version}: ${result} (patches/${file}, ${e === "patch" ? "GNU patch" : "JS"})`);
    } catch (error) {
      if (!(error instanceof PatchError)) throw error;
      failures.push(error.message);
    }
  }
  if (failures.length > 0) {
    const error = new PatchError(failures.join("\n"));
    error.report = report;
    throw error;
  }
  return report;
}

function main(argv) {
  let root = path.resolve(here, "..");
  let engine = process.env.PATCH_DEPENDENCIES_ENGINE || "auto";
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--root") root = path.resolve(argv[++i]);
    else if (arg.startsWith("--root=")) root = path.resolve(arg.slice(7));
    else if (arg.startsWith("--engine=")) engine = arg.slice(9);
    else if (arg === "--check") check = true;
    else {
      console.error(`patch-dependencies: unknown argument ${arg}`);
      return 2;
    }
  }
  try {
    for (const line of applyPatches({ root, engine, check })) console.log(`patch-dependencies: ${line}`);
    return 0;
  } catch (error) {
    if (!(error instanceof PatchError)) throw error;
    for (const line of error.report ?? []) console.log(`patch-dependencies: ${line}`);
    console.error(`patch-dependencies: FAILED\n${error.message}`);
    return 1;
  }
}

if (process.argv[1] && fs.realpathSync(path.resolve(process.argv[1])) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = main(process.argv.slice(2));
}
