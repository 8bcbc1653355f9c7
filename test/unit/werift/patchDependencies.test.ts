import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Engine, loadPatchScript, type PatchDependencies, patchedFiles, repoRoot, WERIFT_PATCH, WERIFT_STRIP } from "./weriftHarness.js";

/** sha256 of the files the patch touches, as npm publishes werift 0.25.2 (npm pack werift@0.25.2). */
const PUBLISHED: Record<string, string> = {
  "lib/common/src/binary.js": "c7df31588953c8e5d45c1a3b4e79bcb99d7379c8ec9db08621175c2dc61cdae0",
  "lib/index.mjs": "0848cdde8e5507cf9fe0de6e66e5bd1c4f7e5b0e8c0dae582fcdc29b9dcec62e",
  "lib/nonstandard/index.mjs": "4d1d8c55eac3894ce3a7f0b8bbbd630f2babe54200f79b0099792fffb08f0aa6",
  "lib/polyfill/dom.mjs": "8f726fcf1da2e1060b0e082cbaf653a4bc8187ae047d78395485484f28be33fd",
  "lib/polyfill/index.mjs": "8f726fcf1da2e1060b0e082cbaf653a4bc8187ae047d78395485484f28be33fd",
  "lib/rtp/src/srtp/cipher/ctr.js": "4a621a949ecbbfb649cd3f6a52fac8592f311bbe4a96a8c87a428326e4dca184",
  "lib/rtp/src/srtp/cipher/gcm.js": "ec49797ca6da4eb3e210495b2ccb0457c2488b49a57e2009fc44cd2f915b85ad",
  "lib/rtp/src/srtp/context/context.js": "f8d3b3b83fbd798cad04b585df62aa755246d2a3838dbe8fca887bd5df0a68d8",
  "lib/rtp/src/srtp/context/srtp.js": "594a5b5b4f33847fb4eb315207b5fca88a8501006206f7da9b26f649ed25b312",
  "lib/rtp/src/srtp/srtp.d.ts": "83f6a66538d8e6c918529fadc6b9818ba67b8ee16e4b535443b4a52f6670a9cc",
  "lib/rtp/src/srtp/srtp.js": "3a3b929f7f84d2d1a2c7bbf9bea580c8c7260fac5fb44aa33fd0ff88699b00be",
  "lib/webrtc/src/media/receiver/nack.js": "8ccdf4700ab543a9661a033ca1ac610373680acbf02f16d38ccb584da98eb81a",
  "lib/webrtc/src/media/receiver/statistics.js": "f6a5df0b2ad81f9a1084341a6c269945d1e4319820a2817d5c6e161a43b25949",
  "lib/webrtc/src/media/rtpReceiver.js": "4505b0f47b37643285b044d5eea76e1d41bc43b91585d58828dcf5b4a421ca1e",
  "lib/webrtc/src/media/rtpSender.js": "8a3b9e4c27ddadfe49aad4d046cee1b0bb4480955b901a921906cb8eb9b6d931",
  "lib/webrtc/src/transport/dtls.js": "84d269e3081279fb7425c0114998b2b877c8f212da25a4dd8228aefb5f946237",
};

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const script = () => path.join(repoRoot(), "scripts", "patch-dependencies.mjs");

function run(root: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [script(), "--root", root, ...args], { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("scripts/patch-dependencies.mjs", () => {
  let patch: PatchDependencies;
  let files: string[];
  let tmp: string;
  /** The touched files and package.json of werift as published: the installed ones with the patch reverted. */
  let published: string;

  before(async () => {
    patch = await loadPatchScript();
    files = patchedFiles(patch);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "patch-dependencies-"));
    published = path.join(tmp, "published");
    const installed = path.join(repoRoot(), "node_modules", "werift");
    for (const file of [...files, "package.json"]) {
      fs.mkdirSync(path.dirname(path.join(published, file)), { recursive: true });
      fs.copyFileSync(path.join(installed, file), path.join(published, file));
    }
    if (patch.patchState(published, path.join(repoRoot(), WERIFT_PATCH), { strip: WERIFT_STRIP }) === "applied") {
      patch.revertPatchFile(published, path.join(repoRoot(), WERIFT_PATCH), { engine: "js" });
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A project root with the repository's patches/ and a node_modules/werift as published. */
  function project(name: string, dependencies: Record<string, Record<string, string>> = { dependencies: { werift: "0.25.2" } }): string {
    const root = path.join(tmp, name);
    fs.mkdirSync(path.join(root, "patches"), { recursive: true });
    fs.copyFileSync(path.join(repoRoot(), WERIFT_PATCH), path.join(root, WERIFT_PATCH));
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name, ...dependencies }));
    fs.cpSync(published, path.join(root, "node_modules", "werift"), { recursive: true });
    return root;
  }
  const snapshot = (root: string) => Object.fromEntries(files.map((f) => [f, sha256(path.join(root, "node_modules", "werift", f))]));

  it("the patch touches exactly the files listed, and reverting it gives werift 0.25.2 as published", () => {
    assert.deepEqual([...files].sort(), Object.keys(PUBLISHED).sort());
    for (const file of files) assert.equal(sha256(path.join(published, file)), PUBLISHED[file], file);
  });

  const engines: Engine[] = ["js", "patch"];
  for (const engine of engines) {
    it(`${engine === "js" ? "JS applier" : "GNU patch"}: applies once, is a no-op the second time, and gives the installed (patched) files`, () => {
      // scripts/setup.sh installs Debian's patch when missing, so both engines always run here.
      if (engine === "patch") assert.ok(patch.hasGnuPatch(), "GNU patch is on PATH (Debian package patch, installed by scripts/setup.sh)");
      const root = project(`idempotent-${engine}`);
      const first = run(root, `--engine=${engine}`);
      assert.equal(first.status, 0, first.out);
      assert.match(first.out, /werift@0\.25\.2: applied/);
      const afterFirst = snapshot(root);
      const second = run(root, `--engine=${engine}`);
      assert.equal(second.status, 0, second.out);
      assert.match(second.out, /werift@0\.25\.2: already applied/);
      assert.deepEqual(snapshot(root), afterFirst, "the second run changed nothing");
      for (const file of files) {
        assert.equal(afterFirst[file], sha256(path.join(repoRoot(), "node_modules", "werift", file)), `${file} as in node_modules/werift`);
      }
      const check = run(root, "--check", `--engine=${engine}`);
      assert.equal(check.status, 0, check.out);
    });
  }

  it("--check fails on an unpatched tree and changes nothing", () => {
    const root = project("check-unpatched");
    const before = snapshot(root);
    const r = run(root, "--check");
    assert.equal(r.status, 1);
    assert.match(r.out, /not applied/);
    assert.deepEqual(snapshot(root), before);
  });

  it("fails loudly when the installed werift is another version", () => {
    const root = project("other-version");
    const pkgJson = path.join(root, "node_modules", "werift", "package.json");
    fs.writeFileSync(pkgJson, fs.readFileSync(pkgJson, "utf8").replace('"version": "0.25.2"', '"version": "0.25.3"'));
    const before = snapshot(root);
    const r = run(root);
    assert.equal(r.status, 1);
    assert.match(r.out, /werift\+0\.25\.2\.patch is for werift 0\.25\.2, but 0\.25\.3 is installed/);
    assert.deepEqual(snapshot(root), before);
  });

  for (const engine of engines) {
    it(`${engine === "js" ? "JS applier" : "GNU patch"}: fails loudly, writing nothing, when a file does not match the patch`, () => {
      // scripts/setup.sh installs Debian's patch when missing, so both engines always run here.
      if (engine === "patch") assert.ok(patch.hasGnuPatch(), "GNU patch is on PATH (Debian package patch, installed by scripts/setup.sh)");
      const root = project(`conflict-${engine}`);
      const ctr = path.join(root, "node_modules", "werift", "lib", "rtp", "src", "srtp", "cipher", "ctr.js");
      fs.writeFileSync(
        ctr,
        fs.readFileSync(ctr, "utf8").replace("const enc = cipher.update(payload);", "const enc = cipher.update(payload); // local edit"),
      );
      const before = snapshot(root);
      const r = run(root, `--engine=${engine}`);
      assert.equal(r.status, 1);
      assert.match(r.out, /FAILED[\s\S]*werift\+0\.25\.2\.patch does not apply/);
      assert.match(r.out, /ctr\.js/);
      assert.deepEqual(snapshot(root), before);
    });
  }

  it("skips a patched devDependency that `npm install --omit=dev` left out, but not a missing dependency", () => {
    const dev = project("dev-only", { devDependencies: { werift: "0.25.2" } });
    fs.rmSync(path.join(dev, "node_modules", "werift"), { recursive: true });
    const skipped = run(dev);
    assert.equal(skipped.status, 0, skipped.out);
    assert.match(skipped.out, /werift: not installed \(a devDependency\)/);

    const prod = project("missing");
    fs.rmSync(path.join(prod, "node_modules", "werift"), { recursive: true });
    const failed = run(prod);
    assert.equal(failed.status, 1);
    assert.match(failed.out, /werift is not installed/);
  });
});
