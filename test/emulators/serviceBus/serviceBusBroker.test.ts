import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { isServiceBusError, ServiceBusClient } from "@azure/service-bus";
import { type BrokerTopicOptions, ServiceBusBroker } from "./serviceBusBroker.js";

// The broker as the plain @azure/service-bus SDK sees it (the bus adapter's own tests are in
// test/integration/bus/). Any token is accepted here: no verifyToken.

const TOPIC = "commands";
const tls = { cert: readFileSync(".local/tls/server.pem"), key: readFileSync(".local/tls/server-key.pem") };
const anyToken: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({ token: "not.checked.here", expiresOnTimestamp: Date.now() + 3600_000 }),
};
const RETRY = { maxRetries: 1, retryDelayInMs: 50, maxRetryDelayInMs: 100, timeoutInMs: 3000 };

function topic(over: Partial<BrokerTopicOptions> = {}): BrokerTopicOptions {
  return {
    name: TOPIC,
    subscriptions: [
      { name: "a", filter: { to: "a" }, lockDurationInMs: 300, maxDeliveryCount: 2 },
      { name: "b", filter: { to: "b", kind: "x" } },
    ],
    ...over,
  };
}

/** A broker over TLS and a client for it, closed however the test ends. */
async function withBroker(body: (broker: ServiceBusBroker, client: ServiceBusClient) => Promise<void>, topics = [topic()]): Promise<void> {
  const broker = new ServiceBusBroker({ tls, topics });
  const { port } = await broker.start();
  const client = new ServiceBusClient("localhost", anyToken, { customEndpointAddress: `sb://localhost:${port}`, retryOptions: RETRY });
  try {
    await body(broker, client);
  } finally {
    await client.close();
    await broker.stop();
  }
}

const to = (subscription: string, n: number, extra: Record<string, string> = {}) => ({
  messageId: `${subscription}-${n}`,
  body: { n },
  applicationProperties: { to: subscription, ...extra },
});

describe("ServiceBusBroker", () => {
  it("serves plain TCP to the SDK's development-emulator connection string", async () => {
    const broker = new ServiceBusBroker({ topics: [topic()] });
    const { port } = await broker.start();
    // The only way the SDK talks plain AMQP; the key is a placeholder the broker does not check.
    const client = new ServiceBusClient(
      `Endpoint=sb://localhost:${port};SharedAccessKeyName=placeholder;SharedAccessKey=placeholder;UseDevelopmentEmulator=true`,
    );
    try {
      await client.createSender(TOPIC).sendMessages(to("a", 1));
      const receiver = client.createReceiver(TOPIC, "a", { receiveMode: "receiveAndDelete" });
      const received = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
      assert.deepEqual(
        received.map((m) => m.body),
        [{ n: 1 }],
      );
    } finally {
      await client.close();
      await broker.stop();
    }
  });

  it("keeps messages for each subscription whose correlation filter matches, before any receiver attaches", () =>
    withBroker(async (broker, client) => {
      const sender = client.createSender(TOPIC);
      await sender.sendMessages([to("a", 1), to("b", 2), to("b", 3, { kind: "x" }), { body: "no properties" }]);
      assert.equal(broker.activeMessageCount(TOPIC, "a"), 1);
      assert.equal(broker.activeMessageCount(TOPIC, "b"), 1);
      const received = await client.createReceiver(TOPIC, "b").receiveMessages(5, { maxWaitTimeInMs: 1000 });
      assert.deepEqual(
        received.map((m) => m.messageId),
        ["b-3"],
      );
    }));

  it("gives each delivery a lock token, sequence number, enqueued time and lock expiry; honours the receiver's credit", () =>
    withBroker(async (broker, client) => {
      await client.createSender(TOPIC).sendMessages([1, 2, 3].map((n) => to("a", n)));
      // No automatic renewal: the SDK would renew a 300 ms lock continuously.
      const receiver = client.createReceiver(TOPIC, "a", { maxAutoLockRenewalDurationInMs: 0 });
      const two = await receiver.receiveMessages(2, { maxWaitTimeInMs: 3000 });
      assert.equal(two.length, 2);
      for (const m of two) {
        assert.match(m.lockToken ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.equal(m.deliveryCount, 0);
        assert.ok(m.enqueuedTimeUtc instanceof Date && m.lockedUntilUtc instanceof Date);
        assert.ok(m.lockedUntilUtc > m.enqueuedTimeUtc);
      }
      assert.deepEqual(
        two.map((m) => Number(m.sequenceNumber)),
        [1, 2],
      );
      assert.equal(broker.activeMessageCount(TOPIC, "a"), 3, "locked messages are still active");
      await receiver.completeMessage(two[0]!);
      await receiver.completeMessage(two[1]!);
      assert.equal(broker.activeMessageCount(TOPIC, "a"), 1);
    }));

  it("redelivers after abandon or lock expiry with deliveryCount + 1, then dead-letters at maxDeliveryCount", () =>
    withBroker(async (broker, client) => {
      await client.createSender(TOPIC).sendMessages(to("a", 1));
      const receiver = client.createReceiver(TOPIC, "a", { maxAutoLockRenewalDurationInMs: 0 });
      const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
      await receiver.abandonMessage(first!);
      const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
      assert.equal(second!.messageId, "a-1");
      assert.equal(second!.deliveryCount, 1);
      // Not settled: the 300 ms lock expires, and that was the second failed delivery of two allowed.
      const [dead] = await client.createReceiver(TOPIC, "a", { subQueueType: "deadLetter" }).receiveMessages(1, { maxWaitTimeInMs: 3000 });
      assert.equal(dead!.messageId, "a-1");
      assert.equal(dead!.deadLetterReason, "MaxDeliveryCountExceeded");
      await assert.rejects(receiver.completeMessage(second!), (e) => isServiceBusError(e) && e.code === "MessageLockLost");
      assert.equal(broker.activeMessageCount(TOPIC, "a"), 0);
    }));

  it("dead-letters on request with the reason and description as properties", () =>
    withBroker(async (broker, client) => {
      await client.createSender(TOPIC).sendMessages(to("a", 1));
      const receiver = client.createReceiver(TOPIC, "a", { maxAutoLockRenewalDurationInMs: 0 });
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
      await receiver.deadLetterMessage(message!, { deadLetterReason: "Bad", deadLetterErrorDescription: "very bad" });
      assert.deepEqual(
        broker
          .deadLetters(TOPIC, "a")
          .map((m) => [m.messageId, m.applicationProperties.DeadLetterReason, m.applicationProperties.DeadLetterErrorDescription]),
        [["a-1", "Bad", "very bad"]],
      );
      assert.equal(broker.activeMessageCount(TOPIC, "a"), 0);
    }));

  it("renews locks and peeks through $management", () =>
    withBroker(async (broker, client) => {
      await client.createSender(TOPIC).sendMessages([1, 2].map((n) => to("a", n)));
      const receiver = client.createReceiver(TOPIC, "a", { maxAutoLockRenewalDurationInMs: 0 });
      const peeked = await receiver.peekMessages(5);
      assert.deepEqual(
        peeked.map((m) => [m.messageId, Number(m.sequenceNumber)]),
        [
          ["a-1", 1],
          ["a-2", 2],
        ],
      );
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 3000 });
      const before = message!.lockedUntilUtc!.getTime();
      const renewed = await receiver.renewMessageLock(message!);
      assert.ok(renewed.getTime() >= before);
      assert.equal(broker.lockRenewals(TOPIC, "a"), 1);
      await receiver.completeMessage(message!);
      assert.deepEqual(
        (await receiver.peekMessages(5, { fromSequenceNumber: message!.sequenceNumber! })).map((m) => m.messageId),
        ["a-2"],
      );
    }));

  it("drops duplicates within the detection window and accepts the id again after it", () =>
    withBroker(
      async (broker, client) => {
        const sender = client.createSender(TOPIC);
        await sender.sendMessages([to("a", 1), to("a", 1)]);
        await sender.sendMessages(to("a", 1));
        assert.equal(broker.activeMessageCount(TOPIC, "a"), 1);
        await new Promise((resolve) => setTimeout(resolve, 600));
        await sender.sendMessages(to("a", 1));
        assert.equal(broker.activeMessageCount(TOPIC, "a"), 2);
      },
      [topic({ duplicateDetectionWindowInMs: 500 })],
    ));

  it("refuses links to entities it does not have", () =>
    withBroker(async (_broker, client) => {
      await assert.rejects(client.createSender("no-such-topic").sendMessages({ body: 1 }), (e) => {
        const all: unknown[] = e instanceof AggregateError ? e.errors : [e];
        return all.every((x) => isServiceBusError(x) && x.code === "MessagingEntityNotFound");
      });
    }));
});
