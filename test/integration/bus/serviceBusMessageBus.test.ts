import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type AccessToken, ClientSecretCredential, type TokenCredential } from "@azure/identity";
import { isServiceBusError, type RetryOptions, ServiceBusClient } from "@azure/service-bus";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { BusMessage } from "../../../shared/bus/messageBus.js";
import { ServiceBusMessageBus } from "../../../shared/bus/serviceBusMessageBus.js";
import { EntraIdEmulator } from "../../emulators/entra/entraIdEmulator.js";
import { ServiceBusBroker } from "../../emulators/serviceBus/serviceBusBroker.js";
import { type BusUnderTest, busMessage, describeBusContract, gate, inbox } from "../../support/busContract.js";
import { within } from "../../support/waiting.js";

// The Service Bus adapter against the AMQP test broker over TLS, through the real SDK, with
// Entra ID tokens (client credentials from the Entra ID emulator) that the broker verifies
// on CBS: signature against the emulator's JWKS, issuer, audience https://servicebus.azure.net.

const QUEUE = "media-host-events";
const SERVICE_BUS_AUDIENCE = "https://servicebus.azure.net";
const MAX_DELIVERY_COUNT = 3;
const tls = { cert: readFileSync(".local/tls/server.pem"), key: readFileSync(".local/tls/server-key.pem") };
const tenant = { tenantId: randomUUID(), domain: "contoso.onmicrosoft.com", displayName: "Contoso" };
const controlPlane = { clientId: randomUUID(), clientSecret: "control-plane-secret~1", displayName: "OpenCVI control plane" };
/** Short waits between the SDK's retries (reconnecting after a dropped connection, refused tokens). */
const FAST_RETRY: RetryOptions = { maxRetries: 2, retryDelayInMs: 50, maxRetryDelayInMs: 200, timeoutInMs: 3000 };

let entraServer: Server;
let entra: EntraIdEmulator;
let credential: TokenCredential;
let verifyToken: (token: string) => Promise<boolean>;

before(async () => {
  entraServer = createServer(tls, (req, res) => {
    entra.handle(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => entraServer.listen(0, "127.0.0.1", resolve));
  entra = new EntraIdEmulator({ origin: `https://127.0.0.1:${(entraServer.address() as AddressInfo).port}` });
  await entra.start();
  entra.addTenant(tenant);
  // Service Bus as a resource API of the tenant, so that client credentials for it issue v1 tokens with its audience.
  entra.registerApplication({
    clientId: randomUUID(),
    displayName: "Azure Service Bus",
    appIdUri: SERVICE_BUS_AUDIENCE,
    homeTenantId: tenant.tenantId,
  });
  entra.registerApplication({ ...controlPlane, homeTenantId: tenant.tenantId });
  credential = new ClientSecretCredential(tenant.tenantId, controlPlane.clientId, controlPlane.clientSecret, {
    authorityHost: entra.origin,
    disableInstanceDiscovery: true,
  });
  const jwks = createRemoteJWKSet(new URL(entra.jwksUri));
  verifyToken = async (token) => {
    try {
      await jwtVerify(token, jwks, { audience: SERVICE_BUS_AUDIENCE, issuer: entra.issuerFor(tenant.tenantId, "1.0") });
      return true;
    } catch {
      return false;
    }
  };
});

after(() => {
  entraServer.closeAllConnections();
  entraServer.close();
});

interface ServiceBusUnderTest extends BusUnderTest {
  readonly bus: ServiceBusMessageBus;
  readonly broker: ServiceBusBroker;
  readonly client: ServiceBusClient;
  /** The broker's address, for other clients. */
  readonly endpoint: string;
  /** What the adapter reported through onError. */
  readonly errors: Error[];
}

async function openServiceBus(options: { lockDurationInMs?: number } = {}): Promise<ServiceBusUnderTest> {
  const broker = new ServiceBusBroker({
    tls,
    verifyToken: (token) => verifyToken(token),
    // Small batches, so that the contract's 300 messages take several.
    maxMessageSizeInBytes: 64 * 1024,
    queues: [
      {
        name: QUEUE,
        requiresSession: true,
        duplicateDetectionWindowInMs: 10 * 60_000,
        maxDeliveryCount: MAX_DELIVERY_COUNT,
        lockDurationInMs: options.lockDurationInMs,
      },
    ],
  });
  const { port } = await broker.start();
  const endpoint = `sb://localhost:${port}`;
  const client = new ServiceBusClient("localhost", credential, { customEndpointAddress: endpoint, retryOptions: FAST_RETRY });
  const errors: Error[] = [];
  const bus = new ServiceBusMessageBus(client, {
    queueName: QUEUE,
    maxDeliveryCount: MAX_DELIVERY_COUNT,
    sessionRetryInMs: 100,
    onError: (e) => errors.push(e),
  });
  return {
    bus,
    broker,
    client,
    endpoint,
    errors,
    deadLetters: async (receiverId) =>
      broker.queueDeadLetters(QUEUE, receiverId).map((m) => ({
        messageId: String(m.messageId),
        reason: `${m.applicationProperties.DeadLetterReason}: ${m.applicationProperties.DeadLetterErrorDescription}`,
      })),
    close: async () => {
      await bus.close();
      // Closes the receivers of subscriptions a test left open.
      await client.close();
      await broker.stop();
    },
  };
}

/** For broker state, which has no events: checks every 10 ms, fails after `ms`. */
async function eventually(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens a bus for one test and closes it however the test ends. */
async function withServiceBus(body: (under: ServiceBusUnderTest) => Promise<void>, options: { lockDurationInMs?: number } = {}): Promise<void> {
  const under = await openServiceBus(options);
  try {
    await body(under);
  } finally {
    await under.close();
  }
}

describeBusContract("ServiceBusMessageBus (test broker, TLS, Entra ID tokens)", () => openServiceBus(), { maxDeliveryCount: MAX_DELIVERY_COUNT });

describe("ServiceBusMessageBus on the wire", () => {
  it("sends what a plain SDK consumer of the host's session expects: session id = host, application properties, JSON body, content type", () =>
    withServiceBus(async ({ bus, client }) => {
      const message = busMessage("call-1", "call.established", { body: { state: "established" } });
      await bus.publish([message]);
      const receiver = await client.acceptSession(QUEUE, "mh-1");
      const [received] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
      assert.ok(received, "one message");
      assert.deepEqual(
        {
          messageId: received.messageId,
          subject: received.subject,
          contentType: received.contentType,
          applicationProperties: received.applicationProperties,
          body: received.body,
          sessionId: received.sessionId,
        },
        {
          messageId: message.messageId,
          subject: "call.established",
          contentType: "application/json",
          applicationProperties: { to: "mh-1", orderingKey: "call-1" },
          body: { state: "established" },
          sessionId: "mh-1",
        },
      );
      await receiver.completeMessage(received);
      await receiver.close();
    }));

  it("dead-letters a malformed message (no JSON body, missing fields) at once, without calling the handler", () =>
    withServiceBus(async ({ bus, broker, client }) => {
      const box = inbox();
      bus.subscribe("mh-1", async (m) => box.record(m));
      const raw = client.createSender(QUEUE);
      await raw.sendMessages([
        {
          messageId: "not-json",
          sessionId: "mh-1",
          subject: "x",
          body: Buffer.from("{ not json"),
          applicationProperties: { to: "mh-1", orderingKey: "call-1" },
        },
        { messageId: "no-key", sessionId: "mh-1", subject: "x", body: { ok: true }, applicationProperties: { to: "mh-1" } },
      ]);
      await raw.close();
      await bus.publish([busMessage("call-1", "good")]);
      await box.until(() => box.handled.length === 1, "the good message");
      await eventually(
        () => broker.queueDeadLetters(QUEUE, "mh-1").length === 2 && broker.queueActiveMessageCount(QUEUE, "mh-1") === 0,
        "two dead letters, one completion",
      );
      const dead = broker
        .queueDeadLetters(QUEUE, "mh-1")
        .map((m) => [m.messageId, m.applicationProperties.DeadLetterReason, m.applicationProperties.DeadLetterErrorDescription]);
      assert.deepEqual(dead, [
        ["not-json", "MalformedMessage", "the body is not JSON"],
        ["no-key", "MalformedMessage", "the application property orderingKey is missing or not a string"],
      ]);
      assert.equal(dead.length, 2);
      assert.deepEqual(
        box.handled.map((m) => m.subject),
        ["good"],
      );
    }));

  it("loses nothing when the broker drops every connection mid-stream: the SDK reconnects, each message is handled (at least once)", () =>
    withServiceBus(async ({ bus, broker }) => {
      const firstSeen: string[] = [];
      const seen = new Set<string>();
      const box = inbox();
      bus.subscribe("mh-1", async (m) => {
        // The handler's idempotent view: a redelivered message it already handled changes nothing.
        if (!seen.has(m.messageId)) {
          seen.add(m.messageId);
          firstSeen.push(m.messageId);
        }
        box.record(m);
      });
      const messages = Array.from({ length: 120 }, (_, n) => busMessage(`call-${n % 4}`, String(n), { messageId: `drop-${n}` }));
      await bus.publish(messages.slice(0, 60));
      await box.until(() => seen.size >= 20, "the first messages");
      broker.dropConnections();
      // The publisher reconnects too.
      await bus.publish(messages.slice(60));
      await box.until(() => seen.size === messages.length, "every message after the reconnect", 15_000);
      assert.deepEqual([...seen].sort(), messages.map((m) => m.messageId).sort());
      // Each session's messages were first handled in order, through the reconnect.
      for (let s = 0; s < 4; s++) {
        const own = firstSeen.filter((id) => Number(id.slice("drop-".length)) % 4 === s).map((id) => Number(id.slice("drop-".length)));
        assert.deepEqual(
          own,
          [...own].sort((a, b) => a - b),
        );
      }
      await eventually(() => broker.queueActiveMessageCount(QUEUE, "mh-1") === 0, "every message completed");
      assert.deepEqual(broker.queueDeadLetters(QUEUE, "mh-1"), []);
    }));

  it("keeps the host's session while a handler is slow (the SDK renews the session lock), so the message is handled once", () =>
    withServiceBus(
      async ({ bus, broker }) => {
        const box = inbox();
        const letGo = gate();
        let calls = 0;
        bus.subscribe("mh-1", async (m) => {
          calls++;
          await within(letGo.promise, 10_000, "the test to let the handler go");
          box.record(m);
        });
        await bus.publish([busMessage("call-1", "slow")]);
        await eventually(() => calls === 1, "the handler to start");
        // Three lock durations later the session is still ours: its lock was renewed.
        await new Promise((resolve) => setTimeout(resolve, 3 * 1000));
        assert.deepEqual(broker.lockedSessions(QUEUE), ["mh-1"]);
        letGo.open();
        await box.until(() => box.handled.length === 1, "the slow message");
        await eventually(() => broker.queueActiveMessageCount(QUEUE, "mh-1") === 0, "the slow message completed");
        assert.equal(calls, 1);
      },
      { lockDurationInMs: 1000 },
    ));

  it("takes a dead host's session once its connection is gone, and dead-letters what it left", () =>
    withServiceBus(async ({ bus, broker, endpoint }) => {
      // The host: its own connection, as on its VM.
      const hostClient = new ServiceBusClient("localhost", credential, { customEndpointAddress: endpoint, retryOptions: FAST_RETRY });
      const hostBus = new ServiceBusMessageBus(hostClient, { queueName: QUEUE, sessionRetryInMs: 100 });
      const box = inbox();
      hostBus.subscribe("mh-2", async (m) => box.record(m));
      await bus.publish([busMessage("call-7", "alive", { to: "mh-2" })]);
      await box.until(() => box.handled.length === 1, "the host's message");
      assert.deepEqual(await bus.takeOver("mh-2", { deadLetterReason: "media host lost" }), { kind: "busy" });
      // kill -9: the connection goes with the process; Service Bus frees the session.
      await hostClient.close();
      await hostBus.close();
      await bus.publish([busMessage("call-7", "left", { to: "mh-2" })]);
      await eventually(() => !broker.lockedSessions(QUEUE).includes("mh-2"), "the session to be free");
      assert.deepEqual(await bus.takeOver("mh-2", { deadLetterReason: "media host lost" }), { kind: "taken", deadLettered: 1 });
      const [dead] = broker.queueDeadLetters(QUEUE, "mh-2");
      assert.equal(dead?.applicationProperties.DeadLetterReason, "media host lost");
      assert.equal(broker.queueActiveMessageCount(QUEUE, "mh-2"), 0);
    }));

  it("refuses a client whose token the broker cannot verify: publishing fails, subscribing reports the error, nothing is delivered", () =>
    withServiceBus(async ({ bus, broker, endpoint }) => {
      await bus.publish([busMessage("call-1", "waiting for mh-1")]);
      // Signed with a key the emulator's JWKS does not publish.
      const forged = await entra.issueToken({ tenantId: tenant.tenantId, audience: SERVICE_BUS_AUDIENCE, forged: true });
      const forgedCredential: TokenCredential = {
        getToken: async (): Promise<AccessToken> => ({ token: forged, expiresOnTimestamp: Date.now() + 3600_000 }),
      };
      const intruder = new ServiceBusClient("localhost", forgedCredential, { customEndpointAddress: endpoint, retryOptions: FAST_RETRY });
      const reported: Error[] = [];
      const refused = gate();
      const intruderBus = new ServiceBusMessageBus(intruder, {
        queueName: QUEUE,
        sessionRetryInMs: 100,
        onError: (e) => {
          reported.push(e);
          refused.open();
        },
      });
      try {
        await assert.rejects(intruderBus.publish([busMessage("call-2", "from the intruder")]), isUnauthorized);
        const handled: BusMessage[] = [];
        intruderBus.subscribe("mh-1", async (m) => void handled.push(m));
        await within(refused.promise, 10_000, "the intruder's subscriber to report its refusal");
        assert.ok(reported.some(isUnauthorized), reported.map((e) => `${e.name}: ${e.message}`).join("; "));
        assert.deepEqual(handled, []);
        assert.equal(broker.queueActiveMessageCount(QUEUE, "mh-1"), 1, "only the trusted publisher's message, undelivered");
      } finally {
        await intruderBus.close();
        await intruder.close();
      }
    }));
});

/** The SDK retries a refused token, then fails with every attempt's error (an AggregateError) or the one error. */
function isUnauthorized(e: unknown): boolean {
  const all: unknown[] = e instanceof AggregateError ? e.errors : [e];
  return all.length > 0 && all.every((x) => isServiceBusError(x) && x.code === "UnauthorizedAccess");
}
