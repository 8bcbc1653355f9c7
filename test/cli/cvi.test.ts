/**
 * The cvi command line end to end: the real local stack (embedded Cosmos DB, the
 * Functions handlers, the token issuer) in this process, and cvi as a child process
 * exactly as a user runs it. Nothing is mocked.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ADMIN_API_APP_ID_URI, type LocalStack, startLocalStack, TENANT_ADMIN_ROLE } from "../../local/stack.js";
import { signInAs } from "../support/userSignIn.js";

// dist/test/cli/cvi.test.js -> the repository root.
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const cviJs = join(repoRoot, "dist", "cli", "cvi.js");
const STACK_TRACE = /^\s+at\s/m;
const GUID_ERROR = "tenantId: tenantId must be a GUID";
const HOST_SIP_URI = "sip:127.0.0.1:5999;transport=udp";

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

type Env = Record<string, string | undefined>;

let stack: LocalStack;
let workDir: string;
let baseEnv: Env;
/** A tenant the error cases share (they only read it, or fail before changing it). */
let errorTenant: { tenantId: string; tenantKey: string };
/** A media host's token (role CVI.MediaHost), for playing hosts in the pool. */
let mediaHostToken: string;

// Independent runs go in parallel, but not so many at once that a small machine thrashes.
const MAX_CHILDREN = Math.max(4, availableParallelism() * 2);
let running = 0;
const waiting: (() => void)[] = [];

async function inSlot<T>(task: () => Promise<T>): Promise<T> {
  while (running >= MAX_CHILDREN) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await task();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function execute(file: string, args: readonly string[], env: Record<string, string> | undefined, cwd: string): Promise<Result> {
  return inSlot(
    () =>
      new Promise<Result>((resolve) => {
        execFile(file, args, { ...(env ? { env } : {}), cwd, timeout: 20_000 }, (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
        });
      }),
  );
}

/** Runs cvi; env values of undefined remove the variable. Asserts that no output carries a stack trace. */
async function cvi(args: readonly string[], options: { env?: Env; cwd?: string } = {}): Promise<Result> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...baseEnv, ...options.env })) if (value !== undefined) env[name] = value;
  const result = await execute(process.execPath, [cviJs, ...args], env, options.cwd ?? workDir);
  assert.doesNotMatch(`${result.stdout}\n${result.stderr}`, STACK_TRACE, `stack trace in the output of cvi ${args.join(" ")}:\n${result.stderr}`);
  return result;
}

function assertExit(result: Result, code: number, args: readonly string[] | string): void {
  const command = typeof args === "string" ? args : args.join(" ");
  assert.equal(result.code, code, `cvi ${command} exited ${result.code}, wanted ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
}

async function ok(args: readonly string[], options?: { env?: Env; cwd?: string }): Promise<string> {
  const result = await cvi(args, options);
  assertExit(result, 0, args);
  assert.equal(result.stderr, "", `cvi ${args.join(" ")} wrote to stderr`);
  return result.stdout;
}

async function okJson<T>(args: readonly string[]): Promise<T> {
  return JSON.parse(await ok([...args, "--json"])) as T;
}

/** The value of a "Label : value" line of list output. */
function field(output: string, label: string): string | undefined {
  return new RegExp(`^${label} +: ?(.*)$`, "m").exec(output)?.[1];
}

/** The cells of the table row whose first cell is `first`. */
function row(output: string, first: string): string[] | undefined {
  return output
    .split("\n")
    .map((line) => line.trim().split(/\s{2,}/))
    .find((cells) => cells[0] === first);
}

/** A media host as `cvi host get --json` and the API show it. */
interface HostJson {
  readonly hostId: string;
  readonly status: string;
  readonly epoch: number;
  readonly activeCalls: number;
  readonly capacity: number;
  readonly drain: { readonly requestedAt: string; readonly deadline: string; readonly by: string } | null;
  readonly death: { readonly at: string; readonly reason: string } | null;
}

interface PlayedHost {
  readonly hostId: string;
  readonly epoch: number;
  /** Stops renewing and leaves the pool. */
  release(): Promise<void>;
}

/**
 * Plays a media host in the pool as the real one does (role CVI.MediaHost): takes a lease for a
 * new host id and renews it every 2 s, or, with `renew: false`, lets it lapse after 6 s.
 */
async function playHost(options: { renew?: boolean; version?: string; load?: number } = {}): Promise<PlayedHost> {
  const hostId = `cvi-test-${randomUUID().slice(0, 8)}`;
  const url = `${stack.adminApiUrl}/v1/pool/hosts/${hostId}/lease`;
  const headers = { authorization: `Bearer ${mediaHostToken}`, "content-type": "application/json" };
  const extra = {
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.load === undefined ? {} : { load: options.load }),
  };
  const lease = (epoch: number | null) =>
    fetch(url, { method: "PUT", headers, body: JSON.stringify({ epoch, sipUri: HOST_SIP_URI, capacity: 40, activeCalls: 3, ...extra }) });
  const taken = await lease(null);
  const text = await taken.text();
  assert.equal(taken.status, 200, text);
  const { epoch } = JSON.parse(text) as { epoch: number };
  const timer =
    options.renew === false
      ? undefined
      : setInterval(
          () =>
            void lease(epoch).then(
              (r) => r.body?.cancel(),
              () => {},
            ),
          2000,
        );
  return {
    hostId,
    epoch,
    release: async () => {
      clearInterval(timer);
      await (await fetch(`${url}?epoch=${epoch}`, { method: "DELETE", headers })).body?.cancel();
    },
  };
}

/** Reads a host through the API every 200 ms until `done` says so; fails after `timeoutInMs`. */
async function hostWhen(hostId: string, done: (host: HostJson) => boolean, what: string, timeoutInMs = 30_000): Promise<HostJson> {
  const deadline = Date.now() + timeoutInMs;
  for (;;) {
    const response = await fetch(`${stack.adminApiUrl}/v1/pool/hosts/${hostId}`, { headers: { authorization: `Bearer ${baseEnv.CVI_TOKEN}` } });
    const host = (await response.json()) as HostJson;
    if (response.ok && done(host)) return host;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutInMs} ms waiting for ${what}; last: ${JSON.stringify(host)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("cvi", () => {
  before(async () => {
    stack = await startLocalStack({ logLevel: "none", tlsDirectory: join(repoRoot, ".local", "tls") });
    workDir = mkdtempSync(join(tmpdir(), "cvi-test-"));
    baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("CVI_") && name !== "NODE_TEST_CONTEXT"));
    Object.assign(baseEnv, {
      CVI_URL: stack.adminApiUrl,
      CVI_TOKEN: await stack.issueToken({ roles: ["CVI.Admin"] }),
      // No stack file unless a test writes one: the repository's own must not leak in.
      CVI_STACK_FILE: join(workDir, "no-such-stack.json"),
      // The children run elsewhere: a relative CA path (as npm test gives) would not load there.
      ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: resolvePath(process.env.NODE_EXTRA_CA_CERTS) } : {}),
    });
    const tenantId = randomUUID();
    errorTenant = {
      tenantId,
      tenantKey: (await okJson<{ tenantKey: string }>(["tenant", "add", "--tenant-id", tenantId, "--name", "Errors Inc"])).tenantKey,
    };
    mediaHostToken = await stack.issueToken({ roles: ["CVI.MediaHost"] });
  });

  after(async () => {
    await stack?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  // First and alone: a paged listing must not race other tests' removals.
  it("lists every tenant, following continuation tokens", async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    await Promise.all(ids.map((id, i) => ok(["tenant", "add", "--tenant-id", id, "--name", `Paged ${i}`])));
    const listed = await okJson<{ value: { tenantId: string }[]; continuationToken?: string }>(["tenant", "list", "--page-size", "1"]);
    const listedIds = listed.value.map((t) => t.tenantId);
    for (const id of ids) assert.ok(listedIds.includes(id), `tenant ${id} missing from a paged listing`);
    assert.equal(new Set(listedIds).size, listedIds.length, "a tenant listed twice");
    assert.equal(listed.continuationToken, undefined);
    const table = await ok(["tenant", "list", "--page-size", "2"]);
    for (const id of ids) assert.ok(row(table, id), `tenant ${id} missing from the table`);
  });

  // Before any test puts a host in the pool.
  it("host list says so when the pool is empty", async () => {
    assert.equal(await ok(["host", "list"]), "No media hosts in the pool.\n");
    const listed = await okJson<{ value: unknown[]; now: string }>(["host", "list"]);
    assert.deepEqual(listed.value, []);
    assert.ok(!Number.isNaN(Date.parse(listed.now)), "the control plane's clock comes along");
  });

  describe("commands", { concurrency: true }, () => {
    it("host list, get, drain and undrain: the pool's media hosts at a glance, out of rotation and back", async () => {
      const host = await playHost({ version: "1.2.3-test", load: 0.25 });
      const id = host.hostId;
      try {
        const table = await ok(["host", "list"]);
        assert.match(table, /^HostId +Status +Calls +Load +Epoch +Version +SipUri +Lease +Details\n-{6} +-{6} /);
        const listed = row(table, id);
        assert.deepEqual(listed?.slice(0, 7), [id, "active", "3/40", "25%", "1", "1.2.3-test", HOST_SIP_URI]);
        assert.match(listed?.[7] ?? "", /^renewed \d+ s ago$/);
        assert.equal(listed?.[8], undefined, "no details for an active host");

        const got = await ok(["host", "get", id]);
        for (const [label, value] of [
          ["HostId", id],
          ["Status", "active"],
          ["Epoch", "1"],
          ["SipUri", HOST_SIP_URI],
          ["Version", "1.2.3-test"],
          ["ActiveCalls", "3"],
          ["Capacity", "40"],
          ["Load", "25%"],
        ] as const) {
          assert.equal(field(got, label), value, label);
        }
        assert.match(field(got, "Lease") ?? "", /^renewed \d+ s ago$/);
        assert.ok(!Number.isNaN(Date.parse(field(got, "LeaseUntil") ?? "")));
        assert.equal(field(got, "DrainDeadline"), undefined);
        assert.equal(field(got, "DiedAt"), undefined);

        // Drained for 30 minutes: the host and what happens to it now.
        const drained = await ok(["host", "drain", id, "--in-minutes", "30"]);
        assert.equal(field(drained, "Status"), "draining");
        assert.equal(field(drained, "DrainedBy"), "operator");
        const requestedAt = field(drained, "DrainRequestedAt") ?? "";
        const [, deadline = ""] = /^(\S+) \(in \d+ min\)$/.exec(field(drained, "DrainDeadline") ?? "") ?? [];
        assert.equal(Date.parse(deadline) - Date.parse(requestedAt), 30 * 60_000);
        assert.match(drained, new RegExp(`^Host ${id} is draining: it takes no new calls within ~2 s\\.$`, "m"));
        assert.match(
          drained,
          /^Its calls \(3 at its last renewal\) go on until they end, or until the deadline, \S+ \(in \d+ min\), when those still up are ended/m,
        );
        assert.match(drained, new RegExp(`^Then it leaves the pool; until then 'cvi host undrain ${id}' puts it back into rotation\\.$`, "m"));

        // A deadline of its own (with a time zone) moves the drain's; it goes to the API in UTC.
        const moved = await okJson<HostJson>(["host", "drain", id, "--deadline", "2030-06-01T20:00+02:00"]);
        assert.equal(moved.status, "draining");
        assert.deepEqual(moved.drain, { requestedAt, deadline: "2030-06-01T18:00:00.000Z", by: "operator" });
        const drainingRow = row(await ok(["host", "list"]), id);
        assert.equal(drainingRow?.[1], "draining");
        assert.match(drainingRow?.[7] ?? "", /^renewed \d+ s ago$/, "a draining host keeps its lease");
        assert.match(drainingRow?.[8] ?? "", /^deadline 2030-06-01T18:00:00Z \(in \d+ d\)$/);
        const all = await okJson<{ value: HostJson[]; now: string }>(["host", "list"]);
        assert.equal(all.value.find((h) => h.hostId === id)?.drain?.deadline, "2030-06-01T18:00:00.000Z");

        // Back into rotation; again is no error.
        const undrained = await ok(["host", "undrain", id]);
        assert.equal(field(undrained, "Status"), "active");
        assert.equal(field(undrained, "DrainDeadline"), undefined);
        assert.match(undrained, new RegExp(`^Host ${id} is back in rotation: it takes new calls again within ~2 s\\.\n$`, "m"));
        const again = await okJson<HostJson>(["host", "undrain", id]);
        assert.deepEqual([again.status, again.drain], ["active", null]);

        // Without a deadline: the API's default, an hour.
        const byDefault = await okJson<HostJson>(["host", "drain", id]);
        assert.equal(byDefault.status, "draining");
        assert.equal(Date.parse(byDefault.drain?.deadline ?? "") - Date.parse(byDefault.drain?.requestedAt ?? ""), 60 * 60_000);
        const fetched = await okJson<HostJson>(["host", "get", id]);
        assert.deepEqual([fetched.hostId, fetched.status, fetched.epoch, fetched.drain], [id, "draining", host.epoch, byDefault.drain]);
      } finally {
        await host.release();
      }
    });

    it("host drain and undrain exit 5 for a dead host; list and get say when it died and why", async () => {
      // A host that stops renewing: its lease lapses after 6 s, and the local stack's reaper (every second) declares it dead.
      const { hostId: id } = await playHost({ renew: false, version: "1.2.3-test" });
      const dead = await hostWhen(id, (h) => h.status === "dead", `host ${id} declared dead`);
      assert.match(dead.death?.reason ?? "", /^no lease renewal since /);

      const [undrain, drain] = await Promise.all([cvi(["host", "undrain", id]), cvi(["host", "drain", id, "--in-minutes", "5"])]);
      for (const [result, what] of [
        [undrain, "undrained"],
        [drain, "drained"],
      ] as const) {
        assertExit(result, 5, `host ${what} (dead)`);
        assert.equal(result.stdout, "");
        assert.match(
          result.stderr,
          new RegExp(
            `^cvi: Conflict \\(HTTP 409\\): media host ${id} is dead \\(no lease renewal since \\S+\\): it cannot be ${what}; it comes back by registering again\n$`,
          ),
        );
      }

      const got = await ok(["host", "get", id]);
      assert.equal(field(got, "Status"), "dead");
      assert.match(field(got, "Lease") ?? "", /^lapsed \d+ (s|min) ago$/);
      assert.match(field(got, "DiedAt") ?? "", /^\S+ \(\d+ (s|min) ago\)$/);
      assert.equal(field(got, "DeathReason"), dead.death?.reason);
      assert.match(field(got, "CallsEndedAt") ?? "", /^(pending|\d{4}-\S+)$/);
      const deadRow = row(await ok(["host", "list"]), id);
      assert.equal(deadRow?.[1], "dead");
      assert.match(deadRow?.[7] ?? "", /^lapsed \d+ (s|min) ago$/);
      assert.match(deadRow?.[8] ?? "", /^died \S+ \(\d+ (s|min) ago\): no lease renewal since \S+/);
    });

    it("tenant consent-link prints a single-use admin-consent link for the tenant", async () => {
      const tenantId = randomUUID();
      await ok(["tenant", "add", "--tenant-id", tenantId, "--name", "Consenting"]);
      const text = await ok(["tenant", "consent-link", tenantId]);
      const url = new URL(text.split("\n")[0] ?? "");
      assert.equal(url.pathname, `/${tenantId}/v2.0/adminconsent`);
      assert.ok(url.searchParams.get("client_id"));
      assert.ok(url.searchParams.get("state"));
      assert.match(text, /single use/);
      const json = await okJson<{ url: string; expiresAt: string }>(["tenant", "consent-link", tenantId]);
      assert.ok(Date.parse(json.expiresAt) > Date.now());
      assert.notEqual(new URL(json.url).searchParams.get("state"), url.searchParams.get("state"), "each link is new");
    });

    it("onboards a tenant, sets up its provider, grants policies and resolves effective policies", async () => {
      const tenantId = randomUUID();
      const [group1, group2] = [randomUUID(), randomUUID()];
      const [app1, app2] = [randomUUID(), randomUUID()];

      const added = await ok(["tenant", "add", "--tenant-id", tenantId, "--name", "Contoso Ltd"]);
      assert.equal(field(added, "TenantId"), tenantId);
      assert.equal(field(added, "Name"), "Contoso Ltd");
      assert.equal(field(added, "Consent"), "none");
      const tenantKey = field(added, "TenantKey") ?? "";
      assert.match(tenantKey, /^[1-9]\d{8}@t\.cvi\.localhost$/);

      assert.equal(field(await ok(["tenant", "get", tenantKey]), "TenantId"), tenantId);
      assert.deepEqual(row(await ok(["tenant", "list"]), tenantId), [tenantId, tenantKey, "none", "Contoso Ltd"]);

      // The service's own provider, with the tenant's own key, addressing the tenant by that key.
      const created = await ok([
        "provider",
        "new",
        "--tenant",
        tenantKey,
        "--identity",
        "OpenCVI",
        "--tenant-key",
        tenantKey,
        "--instruction-uri",
        "https://cvi.example.net/join?conf={ConfId}",
        "--aad-application-ids",
        `${app1};${app2}`,
      ]);
      assert.equal(field(created, "Identity"), "OpenCVI");
      assert.equal(field(created, "TenantKey"), tenantKey);
      assert.equal(field(created, "InstructionUri"), "https://cvi.example.net/join?conf={ConfId}");
      assert.equal(field(created, "AllowAppGuestJoinsAsAuthenticated"), "False");
      assert.equal(field(created, "AadApplicationIds"), `${app1};${app2}`);
      assert.match(field(created, "ETag") ?? "", /^".+"$/);

      const allowed = await ok(["provider", "set", "--tenant", tenantId, "--identity", "opencvi", "--allow-app-guest-joins-as-authenticated"]);
      assert.equal(field(allowed, "AllowAppGuestJoinsAsAuthenticated"), "True");
      assert.equal(field(allowed, "InstructionUri"), "https://cvi.example.net/join?conf={ConfId}", "fields not given stay");
      const cleared = await ok([
        "provider",
        "set",
        "--tenant",
        tenantId,
        "--identity",
        "OpenCVI",
        "--allow-app-guest-joins-as-authenticated",
        "false",
        "--instruction-uri",
        "",
      ]);
      assert.equal(field(cleared, "AllowAppGuestJoinsAsAuthenticated"), "False");
      assert.equal(field(cleared, "InstructionUri"), "");
      assert.equal(field(cleared, "AadApplicationIds"), `${app1};${app2}`);

      const providers = await ok(["provider", "get", "--tenant", tenantId]);
      assert.match(providers, /^Identity +TenantKey +InstructionUri +AllowAppGuestJoinsAsAuthenticated +AadApplicationIds\n-{8} +-{9} /);
      assert.deepEqual(row(providers, "OpenCVI"), ["OpenCVI", tenantKey, "False", `${app1};${app2}`]);

      const policies = await ok(["policy", "get"]);
      assert.deepEqual(row(policies, "Tag:OpenCVIServiceProviderEnabled")?.slice(0, 3), ["Tag:OpenCVIServiceProviderEnabled", "OpenCVI", "True"]);
      assert.deepEqual(row(policies, "Global")?.slice(0, 3), ["Global", "DefaultProvider", "False"]);

      const global = await ok(["policy", "grant", "--tenant", tenantKey, "--policy", "OpenCVIServiceProviderEnabled", "--global"]);
      assert.equal(field(global, "Global"), "OpenCVIServiceProviderEnabled");
      const grantedGroup1 = await ok([
        "policy",
        "grant",
        "--tenant",
        tenantId,
        "--policy",
        "PexipServiceProviderEnabled",
        "--group",
        group1,
        "--rank",
        "1",
      ]);
      assert.deepEqual(row(grantedGroup1, "1"), ["1", group1, "PexipServiceProviderEnabled"]);
      // Granting at a taken rank pushes the holder down.
      const grantedGroup2 = await ok([
        "policy",
        "grant",
        "--tenant",
        tenantId,
        "--policy",
        "Tag:CiscoServiceProviderEnabled",
        "--group",
        group2,
        "--rank",
        "1",
      ]);
      assert.deepEqual(row(grantedGroup2, "1"), ["1", group2, "CiscoServiceProviderEnabled"]);
      assert.deepEqual(row(grantedGroup2, "2"), ["2", group1, "PexipServiceProviderEnabled"]);
      const grantedUser = await ok([
        "policy",
        "grant",
        "--tenant",
        tenantId,
        "--policy",
        "PolycomServiceProviderEnabled",
        "--user",
        "Alice@Contoso.com",
      ]);
      assert.equal(field(grantedUser, "UserId"), "alice@contoso.com");
      assert.equal(field(grantedUser, "PolicyName"), "PolycomServiceProviderEnabled");

      const effective = (user: string, ...groups: string[]) =>
        ok(["policy", "effective", "--tenant", tenantKey, "--user", user, ...groups.flatMap((g) => ["--group", g])]);
      const [bobInBoth, bobInGroup1, aliceInGroup1, carol] = await Promise.all([
        effective("bob@contoso.com", group1, group2),
        effective("bob@contoso.com", group1),
        effective("alice@contoso.com", group1),
        effective("carol@contoso.com"),
      ]);
      assert.equal(field(bobInBoth, "PolicyName"), "CiscoServiceProviderEnabled");
      assert.equal(field(bobInBoth, "Source"), `group ${group2} (rank 1)`);
      assert.equal(field(bobInGroup1, "PolicyName"), "PexipServiceProviderEnabled");
      assert.equal(field(bobInGroup1, "Source"), `group ${group1} (rank 2)`);
      assert.equal(field(aliceInGroup1, "PolicyName"), "PolycomServiceProviderEnabled");
      assert.match(field(aliceInGroup1, "Source") ?? "", /^user /);
      assert.equal(field(carol, "PolicyName"), "OpenCVIServiceProviderEnabled");
      assert.equal(field(carol, "ProviderName"), "OpenCVI");
      assert.equal(field(carol, "Enabled"), "True");
      assert.match(field(carol, "Source") ?? "", /^global /);

      const assignments = await ok(["policy", "assignments", "--tenant", tenantId]);
      assert.equal(field(assignments, "Global"), "OpenCVIServiceProviderEnabled");
      assert.deepEqual(row(assignments, "1"), ["1", group2, "CiscoServiceProviderEnabled"]);
      assert.deepEqual(row(assignments, "2"), ["2", group1, "PexipServiceProviderEnabled"]);
      assert.deepEqual(row(assignments, "alice@contoso.com")?.slice(0, 2), ["alice@contoso.com", "PolycomServiceProviderEnabled"]);

      // --policy none takes the user's grant away: alice falls back to her group's.
      const revoked = await ok(["policy", "grant", "--tenant", tenantId, "--policy", "none", "--user", "alice@contoso.com"]);
      assert.match(revoked, /Removed the policy grant of user alice@contoso\.com/);
      const aliceAfter = await effective("alice@contoso.com", group1);
      assert.equal(field(aliceAfter, "PolicyName"), "PexipServiceProviderEnabled");
      assert.equal(field(aliceAfter, "Source"), `group ${group1} (rank 2)`);

      // '$null' takes a group's grant away (the ranks close up); none returns -Global to the built-in Global.
      const withoutGroup2 = await ok(["policy", "grant", "--tenant", tenantId, "--policy", "$null", "--group", group2]);
      assert.deepEqual(row(withoutGroup2, "1"), ["1", group1, "PexipServiceProviderEnabled"]);
      assert.equal(row(withoutGroup2, "2"), undefined);
      assert.equal(field(await ok(["policy", "grant", "--tenant", tenantId, "--policy", "none", "--global"]), "Global"), "Global");
      const assignmentsAfter = await ok(["policy", "assignments", "--tenant", tenantKey]);
      assert.equal(row(assignmentsAfter, "alice@contoso.com"), undefined);

      assert.match(await ok(["provider", "remove", "--tenant", tenantKey, "--identity", "OpenCVI"]), /^Removed provider OpenCVI/);
      assertExit(await cvi(["provider", "get", "--tenant", tenantId, "--identity", "OpenCVI"]), 4, "provider get (removed)");
      assert.match(await ok(["tenant", "remove", tenantKey]), /^Removed tenant /);
      assertExit(await cvi(["tenant", "get", tenantId]), 4, "tenant get (removed)");
    });

    it("prints the API's JSON with --json, and the provider's ETag for --if-match", async () => {
      const tenantId = randomUUID();
      // Global options may come before the command too.
      const tenant = JSON.parse(await ok(["--json", "tenant", "add", "--tenant-id", tenantId, "--name", "Fabrikam"])) as {
        tenantId: string;
        tenantKey: string;
        consent: { status: string };
      };
      assert.equal(tenant.tenantId, tenantId);
      assert.equal(tenant.consent.status, "none");

      const provider = await okJson<{ identity: string; aadApplicationIds: string[]; etag: string }>([
        "provider",
        "new",
        "--tenant",
        tenantId,
        "--identity",
        "pexip",
        "--tenant-key",
        "123456@t.pexip.example",
        "--aad-application-ids",
        "",
      ]);
      assert.equal(provider.identity, "Pexip");
      assert.deepEqual(provider.aadApplicationIds, []);
      assert.match(provider.etag, /^".+"$/);

      // The current ETag is accepted, quoted as the API gives it or bare; the stale one is refused.
      const changed = await okJson<{ instructionUri: string; etag: string }>([
        "provider",
        "set",
        "--tenant",
        tenant.tenantKey,
        "--identity",
        "Pexip",
        "--instruction-uri",
        "https://pexip.example/join",
        "--if-match",
        provider.etag,
      ]);
      assert.equal(changed.instructionUri, "https://pexip.example/join");
      assert.notEqual(changed.etag, provider.etag);
      await okJson([
        "provider",
        "set",
        "--tenant",
        tenantId,
        "--identity",
        "Pexip",
        "--tenant-key",
        "654321@t.pexip.example",
        "--if-match",
        changed.etag.slice(1, -1),
      ]);

      const list = await okJson<{ value: { identity: string; tenantKey: string }[] }>(["provider", "get", "--tenant", tenantId]);
      assert.ok(list.value.some((p) => p.identity === "Pexip" && p.tenantKey === "654321@t.pexip.example"));
      const policies = await okJson<{ value: { identity: string }[] }>(["policy", "get", "--filter", "^tag:(pexip|cisco)"]);
      assert.deepEqual(policies.value.map((p) => p.identity).sort(), ["Tag:CiscoServiceProviderEnabled", "Tag:PexipServiceProviderEnabled"]);
      const effective = await okJson<{ policy: { name: string }; source: { kind: string } }>([
        "policy",
        "effective",
        "--tenant",
        tenantId,
        "--user",
        randomUUID(),
      ]);
      assert.deepEqual([effective.policy.name, effective.source.kind], ["Global", "global"]);
      const dan = `dan-${randomUUID()}@fabrikam.com`;
      const grant = await okJson<{ userId: string; policyName: string }>([
        "policy",
        "grant",
        "--tenant",
        tenantId,
        "--user",
        dan,
        "--policy",
        "pexipserviceproviderenabled",
      ]);
      assert.deepEqual([grant.userId, grant.policyName], [dan, "PexipServiceProviderEnabled"]);
      const assignments = await okJson<{ global: string; groups: unknown[]; users: { userId: string }[] }>([
        "policy",
        "assignments",
        "--tenant",
        tenantId,
      ]);
      assert.deepEqual([assignments.global, assignments.groups], ["Global", []]);
      assert.ok(assignments.users.some((u) => u.userId === dan));

      // Answers without a body (204) print nothing with --json.
      assert.equal(await ok(["policy", "grant", "--tenant", tenantId, "--user", dan, "--policy", "none", "--json"]), "");
      assert.equal(await ok(["tenant", "remove", tenantId, "--json"]), "");
    });

    it("uses the local stack's .local/stack.json when no URL or token is given", async () => {
      const dir = mkdtempSync(join(workDir, "stack-"));
      mkdirSync(join(dir, ".local"));
      const stackFile = join(dir, ".local", "stack.json");
      const token = await stack.issueToken({});
      writeFileSync(stackFile, JSON.stringify({ adminApiUrl: stack.adminApiUrl, token, expiresAt: new Date(Date.now() + 3600_000).toISOString() }));
      const noEnv = { CVI_URL: undefined, CVI_TOKEN: undefined, CVI_STACK_FILE: undefined };

      const [inCwd, named, elsewhere] = await Promise.all([
        cvi(["policy", "get", "--filter", "OpenCVI"], { env: noEnv, cwd: dir }),
        cvi(["policy", "get", "--filter", "OpenCVI"], { env: { ...noEnv, CVI_STACK_FILE: stackFile } }),
        // The file's token is for the file's URL only; it is not sent elsewhere.
        cvi(["policy", "get"], { env: { ...noEnv, CVI_URL: "http://127.0.0.1:1/api" }, cwd: dir }),
      ]);
      assertExit(inCwd, 0, "policy get (stack file in cwd)");
      assert.ok(row(inCwd.stdout, "Tag:OpenCVIServiceProviderEnabled"));
      assertExit(named, 0, "policy get (CVI_STACK_FILE)");
      assertExit(elsewhere, 6, "policy get (stack file for another URL)");
      assert.match(elsewhere.stderr, /holds a token for http:\/\/127\.0\.0\.1:\d+\/api only/);

      const expired = join(dir, "expired.json");
      writeFileSync(expired, JSON.stringify({ adminApiUrl: stack.adminApiUrl, token, expiresAt: new Date(Date.now() - 60_000).toISOString() }));
      const result = await cvi(["policy", "get"], { env: { ...noEnv, CVI_STACK_FILE: expired } });
      assertExit(result, 6, "policy get (expired stack file)");
      assert.match(result.stderr, /expired at .*\nhint: restart the local stack \(`npm start`\)/);
    });

    it("exits 2 on usage errors, before asking for a token or reaching the API", async () => {
      const t = errorTenant.tenantId;
      const cases: [string[], RegExp][] = [
        [[], /^cvi: no command given\nRun 'cvi --help' for usage\.\n$/],
        [["frobnicate"], /unknown command 'frobnicate'/],
        [["tenant"], /'cvi tenant' needs a sub-command: add, get, list, consent-link, remove\nRun 'cvi tenant --help'/],
        [["tenant", "frobnicate"], /unknown command 'cvi tenant frobnicate'/],
        [["tenant", "list", "--bogus"], /^cvi: unknown option --bogus for 'cvi tenant list'\nRun 'cvi tenant list --help' for usage\.\n$/],
        [["tenant", "list", "--json=yes"], /option --json takes no value/],
        [["tenant", "list", "--page-size", "many"], /--page-size takes a whole number/],
        [["tenant", "add", "--name", "X"], /missing required option --tenant-id for 'cvi tenant add'/],
        [["tenant", "add", "--tenant-id", "--name", "X"], /option --tenant-id needs a value/],
        [["tenant", "add", "--tenant-id", "a", "--tenant-id", "b", "--name", "X"], /--tenant-id is given more than once/],
        [["tenant", "get"], /'cvi tenant get' needs <tenantIdOrKey>/],
        [["tenant", "get", "a", "b"], /unexpected argument 'b'/],
        [["provider", "new", "--tenant", t, "--identity", "OpenCVI"], /missing required option --tenant-key/],
        [["provider", "set", "--tenant", t, "--identity", "OpenCVI"], /give at least one setting to change/],
        [["provider", "set", "--tenant", t, "--identity", "OpenCVI", "--allow-app-guest-joins-as-authenticated=maybe"], /takes true or false/],
        [["provider", "get", "--tenant", t, "--identity", "Pexip", "--filter", "x"], /give --identity or --filter, not both/],
        [
          ["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled", "--user", "a@b.com", "--group", randomUUID(), "--rank", "1"],
          /only one of --user, --group and --global \(got --user and --group\)/,
        ],
        [["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled", "--group", randomUUID()], /--group needs --rank/],
        [["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled", "--global", "--user", "a@b.com"], /only one of/],
        [["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled"], /say whom to grant to/],
        [
          ["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled", "--user", "a@b.com", "--rank", "1"],
          /--rank goes with --group only/,
        ],
        [
          ["policy", "grant", "--tenant", t, "--policy", "PexipServiceProviderEnabled", "--group", randomUUID(), "--rank", "first"],
          /--rank takes a whole number/,
        ],
        [["policy", "effective", "--tenant", t], /missing required option --user/],
        [["host"], /'cvi host' needs a sub-command: list, get, drain, undrain/],
        [["host", "list", "extra"], /unexpected argument 'extra' for 'cvi host list'/],
        [["host", "get"], /'cvi host get' needs <hostId>/],
        [["host", "undrain"], /'cvi host undrain' needs <hostId>/],
        [["host", "drain", "mh-1", "--deadline", "2030-06-01T18:00:00Z", "--in-minutes", "5"], /give --deadline or --in-minutes, not both/],
        [["host", "drain", "mh-1", "--in-minutes", "soon"], /option --in-minutes takes a whole number, not 'soon'/],
        [["host", "drain", "mh-1", "--in-minutes=-1"], /option --in-minutes must be 0 or more/],
        [["host", "drain", "mh-1", "--deadline", "2030-06-01T18:00"], /--deadline takes an ISO 8601 date-time with its time zone/],
        [["host", "drain", "mh-1", "--deadline", "2030-02-30T18:00Z"], /--deadline takes an ISO 8601 date-time/],
      ];
      // No token and an unreachable URL: a usage error must be found before either matters.
      const env = { CVI_URL: "http://127.0.0.1:1/api", CVI_TOKEN: undefined };
      const results = await Promise.all(cases.map(([args]) => cvi(args, { env })));
      results.forEach((result, i) => {
        const [args, message] = cases[i] as [string[], RegExp];
        assertExit(result, 2, args);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, message);
        assert.match(result.stderr, /^cvi: [^\n]+\nRun 'cvi[a-z ]*--help' for usage\.\n$/, `cvi ${args.join(" ")}: one message line and a hint`);
      });
      const badUrl = await cvi(["tenant", "list", "--url", "ftp://example.com/api"]);
      assertExit(badUrl, 2, "tenant list --url ftp://…");
      assert.match(badUrl.stderr, /--url must use http or https/);
    });

    it("exits 3 when the API finds the input invalid, listing each field's problem", async () => {
      const { tenantId, tenantKey } = errorTenant;
      const [badGuid, badKey, badRank, badTenant, tooLarge] = await Promise.all([
        cvi(["tenant", "add", "--tenant-id", "not-a-guid", "--name", ""]),
        cvi([
          "provider",
          "new",
          "--tenant",
          tenantId,
          "--identity",
          "OpenCVI",
          "--tenant-key",
          "123@t.elsewhere.example",
          "--instruction-uri",
          "ftp://x",
        ]),
        cvi(["policy", "grant", "--tenant", tenantKey, "--policy", "PexipServiceProviderEnabled", "--group", randomUUID(), "--rank", "0"]),
        cvi(["policy", "effective", "--tenant", "not-a-tenant", "--user", "a@b.com"]),
        cvi(["tenant", "add", "--tenant-id", randomUUID(), "--name", "x".repeat(70_000)]),
      ]);
      for (const [result, what] of [
        [badGuid, "bad GUID"],
        [badKey, "bad provider"],
        [badRank, "bad rank"],
        [badTenant, "bad tenant reference"],
        [tooLarge, "large body"],
      ] as const) {
        assertExit(result, 3, what);
        assert.equal(result.stdout, "");
      }
      assert.match(badGuid.stderr, /^cvi: The request is not valid \(HTTP 400\)\n/);
      assert.match(badGuid.stderr, new RegExp(`^  ${GUID_ERROR} like [0-9a-f-]{36}$`, "m"));
      assert.match(badGuid.stderr, /^ {2}name: name must not be empty$/m);
      assert.match(badKey.stderr, /^ {2}instructionUri: instructionUri must use https or http, not ftp$/m);
      assert.match(badRank.stderr, /^ {2}rank: rank must be a whole number from 1$/m);
      assert.match(badTenant.stderr, /^ {2}tenant: tenant must be a tenant id \(GUID\) or a tenant key/m);
      assert.match(tooLarge.stderr, /Request body too large \(HTTP 413\)/);

      // The OpenCVI provider must carry the tenant's own key.
      const [tooLong, badHostId] = await Promise.all([
        cvi(["host", "drain", `no-such-host-${randomUUID()}`, "--in-minutes", "20000"]),
        cvi(["host", "get", "no/such host"]),
      ]);
      assertExit(tooLong, 3, "host drain --in-minutes 20000");
      assert.match(tooLong.stderr, /^cvi: The request is not valid \(HTTP 400\)\n {2}deadlineInMinutes: deadlineInMinutes must be at most a week\n$/);
      assertExit(badHostId, 3, "host get (bad host id)");
      assert.match(badHostId.stderr, /a host id is 1-128 letters, digits, \. _ or -/);

      const foreignKey = await cvi(["provider", "new", "--tenant", tenantId, "--identity", "OpenCVI", "--tenant-key", "123456789@t.cvi.localhost"]);
      assertExit(foreignKey, 3, "provider new with another tenant's key");
      assert.match(foreignKey.stderr, /^ {2}tenantKey: tenantKey of the OpenCVI provider must be this tenant's key /m);
    });

    it("exits 4 when the tenant, provider or media host does not exist", async () => {
      const unknown = randomUUID();
      const unknownHost = `no-such-host-${unknown}`;
      const noHost = new RegExp(`^cvi: Not found \\(HTTP 404\\): no media host ${unknownHost} in the pool\\n$`);
      const cases: [string[], RegExp][] = [
        [["host", "get", unknownHost], noHost],
        [["host", "drain", unknownHost, "--deadline", "2030-06-01T18:00:00Z"], noHost],
        [["host", "undrain", unknownHost], noHost],
        [["tenant", "get", unknown], new RegExp(`^cvi: Not found \\(HTTP 404\\): tenant ${unknown} does not exist\\n$`)],
        [["tenant", "remove", "987654321@t.cvi.localhost"], /tenant 987654321@t\.cvi\.localhost does not exist/],
        [["provider", "new", "--tenant", unknown, "--identity", "Cisco", "--tenant-key", "1@t.cisco.example"], /tenant .* does not exist/],
        [["policy", "effective", "--tenant", "987654321@t.cvi.localhost", "--user", "a@b.com"], /tenant 987654321@t\.cvi\.localhost does not exist/],
        [["provider", "get", "--tenant", errorTenant.tenantKey, "--identity", "BlueJeans"], /provider BlueJeans does not exist/],
        [["provider", "remove", "--tenant", errorTenant.tenantId, "--identity", "NoSuchProvider"], /provider NoSuchProvider does not exist/],
      ];
      const results = await Promise.all(cases.map(([args]) => cvi(args)));
      results.forEach((result, i) => {
        const [args, message] = cases[i] as [string[], RegExp];
        assertExit(result, 4, args);
        assert.match(result.stderr, message);
      });
      // A URL that is not the admin API's base: the route is missing, and the hint says so.
      const wrongBase = await cvi(["tenant", "list", "--url", stack.adminApiUrl.replace(/\/api$/, "/")]);
      assertExit(wrongBase, 4, "tenant list (URL without /api)");
      assert.match(wrongBase.stderr, /hint: is http:\/\/127\.0\.0\.1:\d+\/? the admin API's base URL/);
    });

    it("exits 5 on a duplicate and on a stale --if-match", async () => {
      const tenantId = randomUUID();
      await ok(["tenant", "add", "--tenant-id", tenantId, "--name", "Tailspin"]);
      const duplicate = await cvi(["tenant", "add", "--tenant-id", tenantId.toUpperCase(), "--name", "Tailspin again"]);
      assertExit(duplicate, 5, "tenant add (duplicate)");
      assert.match(duplicate.stderr, new RegExp(`^cvi: Conflict \\(HTTP 409\\): tenant ${tenantId} exists already\\n$`));

      const created = await ok(["provider", "new", "--tenant", tenantId, "--identity", "Cisco", "--tenant-key", "42@t.cisco.example"]);
      const staleEtag = field(created, "ETag") ?? "";
      const duplicateProvider = await cvi(["provider", "new", "--tenant", tenantId, "--identity", "cisco", "--tenant-key", "43@t.cisco.example"]);
      assertExit(duplicateProvider, 5, "provider new (duplicate)");
      await ok(["provider", "set", "--tenant", tenantId, "--identity", "Cisco", "--allow-app-guest-joins-as-authenticated", "--if-match", staleEtag]);

      const [staleSet, staleRemove] = await Promise.all([
        cvi(["provider", "set", "--tenant", tenantId, "--identity", "Cisco", "--tenant-key", "44@t.cisco.example", "--if-match", staleEtag]),
        cvi(["provider", "remove", "--tenant", tenantId, "--identity", "Cisco", "--if-match", staleEtag]),
      ]);
      for (const result of [staleSet, staleRemove]) {
        assertExit(result, 5, "stale --if-match");
        assert.match(result.stderr, /^cvi: Precondition failed \(HTTP 412\): .*ETag mismatch.*\nhint: /);
      }
      // Nothing changed.
      assert.equal(field(await ok(["provider", "get", "--tenant", tenantId, "--identity", "Cisco"]), "TenantKey"), "42@t.cisco.example");
    });

    it("exits 6 without a token, with a bad or forged or expired token, and with one lacking the admin role", async () => {
      const [forged, noRole, expired] = await Promise.all([
        stack.issueToken({ forged: true }),
        stack.issueToken({ roles: [] }),
        stack.issueToken({ expiresInSeconds: -3600 }),
      ]);
      const args = ["tenant", "get", errorTenant.tenantId];
      const [none, garbage, forgedResult, noRoleResult, expiredResult] = await Promise.all([
        cvi(args, { env: { CVI_TOKEN: undefined } }),
        cvi([...args, "--token", "not-a-jwt"]),
        cvi(args, { env: { CVI_TOKEN: forged } }),
        cvi([...args, "--token", noRole]),
        cvi(args, { env: { CVI_TOKEN: expired } }),
      ]);
      for (const [result, what] of [
        [none, "no token"],
        [garbage, "garbage token"],
        [forgedResult, "forged token"],
        [noRoleResult, "token without the role"],
        [expiredResult, "expired token"],
      ] as const) {
        assertExit(result, 6, what);
        assert.equal(result.stdout, "", what);
      }
      assert.match(
        none.stderr,
        /^cvi: no admin API token for http:\/\/127\.0\.0\.1:\d+\/api\nhint: pass --token TOKEN or set CVI_TOKEN; or start the local stack with `npm start`/,
      );
      assert.match(garbage.stderr, /^cvi: Authentication required \(HTTP 401\): .*\nhint: pass a valid admin API token/);
      assert.match(forgedResult.stderr, /^cvi: Authentication required \(HTTP 401\): the token is not valid/);
      assert.match(noRoleResult.stderr, /^cvi: Not allowed \(HTTP 403\): the token lacks the app role CVI\.Admin or CVI\.TenantAdmin\n/);
      assert.match(expiredResult.stderr, /^cvi: Authentication required \(HTTP 401\): the token has expired\n/);
    });

    it("a tenant admin's token lists and reads only its own tenant; another exits 6 with a hint to use the operator's", async () => {
      const tenantId = randomUUID();
      stack.entra.addTenant({ tenantId, domain: `cli${tenantId.slice(0, 8)}.onmicrosoft.com`, displayName: "Own Tenant" });
      await okJson(["tenant", "add", "--tenant-id", tenantId, "--name", "Own Tenant"]);
      const admin = stack.entra.addUser({
        tenantId,
        userPrincipalName: `admin@cli${tenantId.slice(0, 8)}.onmicrosoft.com`,
        displayName: "Own Admin",
      });
      stack.entra.assignUserAppRole(tenantId, ADMIN_API_APP_ID_URI, admin.objectId, TENANT_ADMIN_ROLE);
      const token = await signInAs(stack, admin.objectId);
      const [own, list, other] = await Promise.all([
        cvi(["tenant", "get", tenantId, "--token", token]),
        cvi(["tenant", "list", "--token", token]),
        cvi(["tenant", "get", errorTenant.tenantId, "--token", token]),
      ]);
      assertExit(own, 0, "own tenant");
      assert.match(own.stdout, /Own Tenant/);
      assertExit(list, 0, "tenant list");
      assert.match(list.stdout, new RegExp(tenantId));
      assert.doesNotMatch(list.stdout, new RegExp(errorTenant.tenantId));
      assertExit(other, 6, "another tenant");
      assert.match(
        other.stderr,
        /^cvi: Not allowed \(HTTP 403\): a tenant admin may act only on their own tenant .*\nhint: a tenant admin's token reaches only its own tenant/,
      );
    });

    it("exits 7 when the API cannot be reached, naming the URL", async () => {
      const closedPort = await freePort();
      const [blocked, refused] = await Promise.all([
        cvi(["tenant", "list", "--url", "http://127.0.0.1:1/api"]),
        cvi(["policy", "get"], { env: { CVI_URL: `http://127.0.0.1:${closedPort}/api` } }),
      ]);
      assertExit(blocked, 7, "tenant list (port 1)");
      assert.match(blocked.stderr, /^cvi: cannot reach the admin API at http:\/\/127\.0\.0\.1:1\/api: /);
      assertExit(refused, 7, "policy get (closed port)");
      assert.match(
        refused.stderr,
        new RegExp(`^cvi: cannot reach the admin API at http://127\\.0\\.0\\.1:${closedPort}/api: connection refused\\nhint: .*npm start`),
      );
    });

    it("exits 1 on an answer that is no admin API's, e.g. a failing reverse proxy", async () => {
      const proxy: Server = createServer((_request, response) => {
        response.writeHead(502, { "content-type": "text/html" }).end("<html><body><h1>502 Bad Gateway</h1></body></html>");
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      try {
        const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/api`;
        const result = await cvi(["tenant", "list", "--url", url]);
        assertExit(result, 1, "tenant list (502 proxy)");
        assert.match(result.stderr, /^cvi: the admin API answered HTTP 502 Bad Gateway\nhint: the admin API at .* failed/);
      } finally {
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
    });

    it("documents every command and the exit codes in --help", async () => {
      const [top, group, command, helpWins, version, drain] = await Promise.all([
        ok(["--help"]),
        ok(["provider", "--help"]),
        ok(["policy", "grant", "-h"]),
        ok(["tenant", "add", "--bogus", "--help"]),
        ok(["--version"]),
        ok(["host", "drain", "--help"]),
      ]);
      for (const name of [
        "tenant add",
        "tenant get",
        "tenant list",
        "tenant remove",
        "provider new",
        "provider set",
        "provider get",
        "provider remove",
      ]) {
        assert.match(top, new RegExp(`^ {2}${name} `, "m"));
      }
      for (const name of [
        "policy get",
        "policy grant",
        "policy assignments",
        "policy effective",
        "host list",
        "host get",
        "host drain",
        "host undrain",
      ])
        assert.match(top, new RegExp(`^ {2}${name} `, "m"));
      for (const option of ["--url URL", "--token TOKEN", "--json", "-h, --help"]) assert.ok(top.includes(option), option);
      assert.match(top, /CVI_URL/);
      assert.match(top, /\.local\/stack\.json/);
      for (let code = 0; code <= 7; code++) assert.match(top, new RegExp(`^ {2}${code} {2}\\S`, "m"), `exit code ${code} documented`);
      assert.match(group, /^ {2}new +Add a provider to a tenant \(New-CsVideoInteropServiceProvider\)$/m);
      assert.match(command, /^Usage: cvi policy grant --tenant TENANT --policy NAME \[options\]$/m);
      for (const option of ["--user ID", "--group GUID", "--rank N", "--global", "--if-match ETAG"]) assert.ok(command.includes(option), option);
      assert.match(command, /Exit codes: 0 success/);
      assert.match(helpWins, /^cvi tenant add: /);
      assert.match(drain, /^Usage: cvi host drain <hostId> \[options\]$/m);
      for (const option of ["--deadline ISO", "--in-minutes N"]) assert.ok(drain.includes(option), option);
      assert.match(drain, /^ {2}cvi host drain mh-1 --in-minutes 15$/m);
      assert.match(version, /^cvi \d+\.\d+\.\d+\n$/);
    });

    it("keeps each tenant's providers and user grants to itself", async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await Promise.all([ok(["tenant", "add", "--tenant-id", a, "--name", "A"]), ok(["tenant", "add", "--tenant-id", b, "--name", "B"])]);
      await ok(["provider", "new", "--tenant", a, "--identity", "BlueJeans", "--tenant-key", "7@t.bluejeans.example"]);
      await ok(["policy", "grant", "--tenant", a, "--user", `isolated-${randomUUID()}@a.example`, "--policy", "PolycomServiceProviderEnabled"]);
      const [providersOfB, assignmentsOfB] = await Promise.all([
        okJson<{ value: unknown[] }>(["provider", "get", "--tenant", b]),
        okJson<{ users: unknown[] }>(["policy", "assignments", "--tenant", b]),
      ]);
      assert.deepEqual(providersOfB.value, []);
      assert.deepEqual(assignmentsOfB.users, []);
    });

    it("runs through the ./cvi wrapper with the project's Node", async () => {
      const result = await execute(join(repoRoot, "cvi"), ["--version"], undefined, workDir);
      assertExit(result, 0, "./cvi --version");
      assert.match(result.stdout, /^cvi \d+\.\d+\.\d+\n$/);
    });
  });
});
