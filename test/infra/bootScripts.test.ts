import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The scripts the scale sets' instances run at boot (infra/scripts/, loaded into customData by
 * edge.bicep and mediahosts.bicep), run here against a stand-in for the Azure Instance Metadata
 * Service and Resource Manager on loopback (OPENCVI_IMDS_ENDPOINT, --resource-manager).
 */

const run = promisify(execFile);

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "infra", "scripts")) && existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("infra/scripts not found above the test file");
    dir = parent;
  }
}

const scripts = join(findRepoRoot(), "infra", "scripts");

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

/** A stand-in for IMDS and Resource Manager: routes by path (query ignored), records every request. */
class FakeAzure {
  readonly seen: Seen[] = [];
  readonly routes = new Map<string, (request: Seen) => { status?: number; body: unknown }>();
  #server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        const seen = { method: request.method ?? "", url: request.url ?? "", headers: request.headers, body };
        this.seen.push(seen);
        const route = this.routes.get(`${seen.method} ${seen.url.split("?")[0]}`);
        const answer = route ? route(seen) : { status: 404, body: { error: "not here" } };
        response.writeHead(answer.status ?? 200, { "content-type": "application/json" });
        response.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }
}

const group = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-opencvi";
const vmName = "vmss-cvi-abc-mh_1a2b3c4d";
const vmId = `${group}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
const nicId = `${group}/providers/Microsoft.Network/networkInterfaces/${vmName}-nic-0123`;
const pipId = `${group}/providers/Microsoft.Network/publicIPAddresses/${vmName}-nic-0123-pip`;

function instance(publicIpAddress = ""): unknown {
  return {
    compute: { name: vmName, resourceId: vmId },
    network: { interface: [{ ipv4: { ipAddress: [{ privateIpAddress: "10.60.0.5", publicIpAddress }] } }] },
  };
}

describe("infra/scripts", () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), "opencvi-boot-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("the shell scripts parse (bash -n)", async () => {
    for (const name of ["opencvi-install.sh", "opencvi-tls-fetch.sh"]) await run("bash", ["-n", join(scripts, name)]);
  });

  describe("opencvi-instance-env", () => {
    const azure = new FakeAzure();
    before(() => azure.start());
    after(() => azure.stop());

    const instanceEnv = (args: string[]) =>
      run("python3", [join(scripts, "opencvi-instance-env.py"), ...args], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", OPENCVI_IMDS_ENDPOINT: azure.url },
      });

    function serveArm(vmListsItsNic: boolean): void {
      azure.routes.set("GET /metadata/instance", () => ({ body: instance() }));
      azure.routes.set("GET /metadata/identity/oauth2/token", () => ({ body: { access_token: "arm-token" } }));
      azure.routes.set(`GET ${vmId}`, () => ({
        body: { id: vmId, properties: { networkProfile: { networkInterfaces: vmListsItsNic ? [{ id: nicId }] : [] } } },
      }));
      const nic = {
        id: nicId,
        properties: {
          virtualMachine: { id: vmId.toLowerCase() },
          ipConfigurations: [{ properties: { primary: true, privateIPAddress: "10.60.0.5", publicIPAddress: { id: pipId } } }],
        },
      };
      azure.routes.set(`GET ${nicId}`, () => ({ body: nic }));
      // A second page, as Resource Manager pages a long list.
      azure.routes.set(`GET ${group}/providers/Microsoft.Network/networkInterfaces`, () => ({
        body: {
          value: [{ id: `${group}/providers/Microsoft.Network/networkInterfaces/other`, properties: { virtualMachine: { id: "x" } } }],
          nextLink: `${azure.url}/page2?api-version=2024-05-01`,
        },
      }));
      azure.routes.set("GET /page2", () => ({ body: { value: [nic] } }));
      azure.routes.set(`GET ${pipId}`, () => ({ body: { id: pipId, properties: { ipAddress: "20.30.40.50" } } }));
    }

    for (const vmListsItsNic of [true, false]) {
      it(`writes the VM name, its private IP and its public IP (read from Resource Manager with the identity)${vmListsItsNic ? "" : ", finding the NIC that names the VM"}`, async () => {
        serveArm(vmListsItsNic);
        azure.seen.length = 0;
        const file = join(work, "run", `media-host-${vmListsItsNic}.env`);
        await instanceEnv([
          "--client-id",
          "11111111-2222-3333-4444-555555555555",
          "--resource-manager",
          `${azure.url}/`,
          file,
          "MEDIA_HOST_ID=vm-name",
          "SIP_BIND_HOST=private-ip",
          "SIP_CONTACT_HOST=private-ip",
          "SIP_ADVERTISED_HOST=public-ip",
        ]);
        assert.equal(
          readFileSync(file, "utf8"),
          `MEDIA_HOST_ID=${vmName}\nSIP_BIND_HOST=10.60.0.5\nSIP_CONTACT_HOST=10.60.0.5\nSIP_ADVERTISED_HOST=20.30.40.50\n`,
        );
        for (const request of azure.seen.filter((r) => r.url.startsWith("/metadata/"))) assert.equal(request.headers.metadata, "true");
        const token = new URL(azure.seen.find((r) => r.url.startsWith("/metadata/identity/"))?.url ?? "", azure.url);
        assert.equal(token.searchParams.get("client_id"), "11111111-2222-3333-4444-555555555555", "the user-assigned identity's token");
        assert.equal(token.searchParams.get("resource"), `${azure.url}/`, "a token for Resource Manager");
        const arm = azure.seen.filter((r) => !r.url.startsWith("/metadata/"));
        assert.ok(arm.length >= 3);
        for (const request of arm) {
          assert.equal(request.headers.authorization, "Bearer arm-token");
          assert.match(request.url, /[?&]api-version=\d{4}-\d{2}-\d{2}/);
        }
      });
    }

    it("takes the public IP from IMDS when IMDS has it, and asks Resource Manager for nothing it does not need", async () => {
      azure.routes.clear();
      azure.routes.set("GET /metadata/instance", () => ({ body: instance("52.1.2.3") }));
      azure.seen.length = 0;
      const file = join(work, "both.env");
      await instanceEnv([file, "MEDIA_HOST_ID=vm-name", "SIP_ADVERTISED_HOST=public-ip"]);
      assert.equal(readFileSync(file, "utf8"), `MEDIA_HOST_ID=${vmName}\nSIP_ADVERTISED_HOST=52.1.2.3\n`);
      const edgeFile = join(work, "edge.env");
      await instanceEnv([edgeFile, "EDGE_ID=vm-name", "EDGE_SIP_ADDRESS=private-ip"]);
      assert.equal(readFileSync(edgeFile, "utf8"), `EDGE_ID=${vmName}\nEDGE_SIP_ADDRESS=10.60.0.5\n`);
      assert.deepEqual(
        azure.seen.map((r) => r.url.split("?")[0]),
        ["/metadata/instance", "/metadata/instance"],
        "no token, no Resource Manager",
      );
    });

    it("fails (exit 1) and keeps the old file when the identity may not read the resource group", async () => {
      serveArm(true);
      azure.routes.set(`GET ${vmId}`, () => ({ status: 403, body: { error: { code: "AuthorizationFailed" } } }));
      const file = join(work, "kept.env");
      writeFileSync(file, "MEDIA_HOST_ID=before\n");
      await assert.rejects(
        instanceEnv(["--resource-manager", `${azure.url}/`, file, "MEDIA_HOST_ID=vm-name", "SIP_ADVERTISED_HOST=public-ip"]),
        (error: { code?: number; stderr?: string }) => error.code === 1 && /HTTP 403.*Reader on the resource group/.test(error.stderr ?? ""),
      );
      assert.equal(readFileSync(file, "utf8"), "MEDIA_HOST_ID=before\n");
    });

    it("refuses a source it does not know", async () => {
      await assert.rejects(instanceEnv([join(work, "x.env"), "MEDIA_HOST_ID=hostname"]), (error: { code?: number; stderr?: string }) => {
        return error.code === 1 && /SOURCE one of vm-name, private-ip, public-ip/.test(error.stderr ?? "");
      });
    });
  });

  describe("opencvi-drain-on-terminate", () => {
    const azure = new FakeAzure();
    let watcher: ChildProcess | undefined;
    before(() => azure.start());
    after(async () => {
      watcher?.kill("SIGTERM");
      await azure.stop();
    });

    it("stops the unit when a Terminate is scheduled for this VM, then approves the event; other VMs' events and Freeze are left alone", async () => {
      // systemctl stands in: it records its arguments, and takes a while (the drain) before it returns.
      const bin = join(work, "bin");
      const log = join(work, "systemctl.log");
      await run("mkdir", ["-p", bin]);
      writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >>${log}\nsleep 0.3\necho done >>${log}\n`, { mode: 0o755 });
      let events: unknown[] = [
        { EventId: "other", EventType: "Terminate", EventStatus: "Scheduled", Resources: ["vmss-cvi-abc-mh_ffffffff"], NotBefore: "soon" },
        { EventId: "pause", EventType: "Freeze", EventStatus: "Scheduled", Resources: [vmName], NotBefore: "soon" },
      ];
      azure.routes.set("GET /metadata/instance/compute", () => ({ body: { name: vmName } }));
      azure.routes.set("GET /metadata/scheduledevents", () => ({ body: { DocumentIncarnation: 1, Events: events } }));
      const approvals: string[] = [];
      azure.routes.set("POST /metadata/scheduledevents", (request) => {
        approvals.push(`${request.body} after systemctl: ${readFileSync(log, "utf8").trim().split("\n").join(" | ")}`);
        return { body: undefined };
      });
      writeFileSync(log, "");
      watcher = spawn("python3", [join(scripts, "opencvi-drain-on-terminate.py"), "--interval", "0.1", "opencvi-media-host.service"], {
        env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, OPENCVI_IMDS_ENDPOINT: azure.url },
        stdio: "ignore",
      });
      await sleep(600);
      assert.equal(readFileSync(log, "utf8"), "", "nothing stopped for another VM's event or a Freeze");
      events = [...events, { EventId: "scale-in", EventType: "Terminate", EventStatus: "Scheduled", Resources: [vmName], NotBefore: "soon" }];
      for (let i = 0; i < 50 && approvals.length === 0; i++) await sleep(100);
      await sleep(500);
      assert.deepEqual(approvals, [`{"StartRequests": [{"EventId": "scale-in"}]} after systemctl: stop opencvi-media-host.service | done`]);
      assert.equal(readFileSync(log, "utf8"), "stop opencvi-media-host.service\ndone\n", "stopped once");
      for (const request of azure.seen) assert.equal(request.headers.metadata, "true");
    });
  });
});
