import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { isServiceBusError, ServiceBusClient, type ServiceBusReceivedMessage } from "@azure/service-bus";
import { waitFor } from "../../support/waiting.js";
import { type BrokerQueueOptions, type BrokerTopicOptions, ServiceBusBroker, type ServiceBusBrokerOptions } from "./serviceBusBroker.js";

// The broker as the plain @azure/service-bus SDK sees it (the bus adapter's own tests are in
// test/integration/bus/). Any token is accepted here: no verifyToken.

const TOPIC = "commands";
const QUEUE = "media-hosts";
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

/** Session-enabled, as media hosts' dispatch queue: the session id is the host's id. */
function sessionQueue(over: Partial<BrokerQueueOptions> = {}): BrokerQueueOptions {
  return { name: QUEUE, requiresSession: true, ...over };
}

type Entities = Pick<ServiceBusBrokerOptions, "topics" | "queues">;

/** A broker over TLS and a client for it, closed however the test ends; `connect` makes more clients, closed likewise. */
async function withBroker(
  body: (broker: ServiceBusBroker, client: ServiceBusClient, connect: (retryOptions?: typeof RETRY) => ServiceBusClient) => Promise<void>,
  entities: Entities = { topics: [topic()], queues: [sessionQueue()] },
): Promise<void> {
  const broker = new ServiceBusBroker({ tls, ...entities });
  const { port } = await broker.start();
  const clients: ServiceBusClient[] = [];
  const connect = (retryOptions = RETRY) => {
    const client = new ServiceBusClient("localhost", anyToken, { customEndpointAddress: `sb://localhost:${port}`, retryOptions });
    clients.push(client);
    return client;
  };
  try {
    await body(broker, connect(), connect);
  } finally {
    for (const client of clients) await client.close();
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
      { topics: [topic({ duplicateDetectionWindowInMs: 500 })] },
    ));

  it("refuses links to entities it does not have", () =>
    withBroker(async (_broker, client) => {
      await assert.rejects(client.createSender("no-such-topic").sendMessages({ body: 1 }), (e) => {
        const all: unknown[] = e instanceof AggregateError ? e.errors : [e];
        return all.every((x) => isServiceBusError(x) && x.code === "MessagingEntityNotFound");
      });
    }));
});

const forSession = (sessionId: string, n: number) => ({ messageId: `${sessionId}-${n}`, sessionId, body: { n } });
const ids = (messages: readonly ServiceBusReceivedMessage[]) => messages.map((m) => m.messageId);
const hasCode = (code: string) => (e: unknown) => isServiceBusError(e) && e.code === code;

describe("ServiceBusBroker: session-enabled queues", () => {
  it("refuses a message without a session id, and the whole batch it is in, saying why", () =>
    withBroker(async (broker, client) => {
      const sender = client.createSender(QUEUE);
      const missingSessionId = (e: unknown) => e instanceof Error && /SessionId was not set on a message/.test(e.message);
      await assert.rejects(sender.sendMessages({ messageId: "none", body: 1 }), missingSessionId);
      await assert.rejects(sender.sendMessages([forSession("s1", 1), { messageId: "none", body: 1 }]), missingSessionId);
      assert.equal(broker.queueActiveMessageCount(QUEUE), 0);
      await sender.sendMessages(forSession("s1", 1));
      assert.equal(broker.queueActiveMessageCount(QUEUE, "s1"), 1);
    }));

  it("gives a session's receiver only that session's messages, in sequence order, under a session lock", () =>
    withBroker(async (broker, client) => {
      await client
        .createSender(QUEUE)
        .sendMessages([forSession("s1", 1), forSession("s2", 1), forSession("s1", 2), forSession("s1", 3), forSession("s2", 2)]);
      const receiver = await client.acceptSession(QUEUE, "s1");
      assert.equal(receiver.sessionId, "s1");
      assert.ok(receiver.sessionLockedUntilUtc && receiver.sessionLockedUntilUtc.getTime() > Date.now(), "the attach states the lock's expiry");
      assert.deepEqual(broker.lockedSessions(QUEUE), ["s1"]);
      // s2-1 was sent between s1-1 and s1-2.
      const received = await receiver.receiveMessages(3, { maxWaitTimeInMs: 1000 });
      assert.deepEqual(ids(received), ["s1-1", "s1-2", "s1-3"]);
      assert.deepEqual(
        received.map((m) => [m.sessionId, m.deliveryCount]),
        [
          ["s1", 0],
          ["s1", 0],
          ["s1", 0],
        ],
      );
      assert.ok(Number(received[0]!.sequenceNumber) < Number(received[1]!.sequenceNumber));
      for (const m of received) await receiver.completeMessage(m);
      assert.equal(broker.queueActiveMessageCount(QUEUE, "s1"), 0);
      assert.equal(broker.queueActiveMessageCount(QUEUE), 2, "the other session's messages wait");

      // Receive-and-delete takes messages without locks.
      const s2 = await client.acceptSession(QUEUE, "s2", { receiveMode: "receiveAndDelete" });
      assert.deepEqual(ids(await s2.receiveMessages(2, { maxWaitTimeInMs: 1000 })), ["s2-1", "s2-2"]);
      assert.equal(broker.queueActiveMessageCount(QUEUE), 0);
    }));

  it("redelivers an abandoned message first, counting deliveries, and dead-letters it at maxDeliveryCount", () =>
    withBroker(
      async (broker, client) => {
        await client.createSender(QUEUE).sendMessages([forSession("s1", 1), forSession("s1", 2)]);
        const receiver = await client.acceptSession(QUEUE, "s1");
        const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
        await receiver.abandonMessage(first!);
        const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
        assert.deepEqual([again!.messageId, again!.deliveryCount], ["s1-1", 1]);
        await receiver.abandonMessage(again!);
        const [next] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
        assert.deepEqual([next!.messageId, next!.deliveryCount], ["s1-2", 0]);
        assert.deepEqual(
          broker.queueDeadLetters(QUEUE, "s1").map((m) => [m.messageId, m.applicationProperties.DeadLetterReason]),
          [["s1-1", "MaxDeliveryCountExceeded"]],
        );
      },
      { queues: [sessionQueue({ maxDeliveryCount: 2 })] },
    ));

  it("refuses a second receiver for a held session (SessionCannotBeLocked); once the holder closes, the next one gets what it left", () =>
    withBroker(async (broker, client, connect) => {
      await client.createSender(QUEUE).sendMessages([forSession("s1", 1), forSession("s1", 2)]);
      const holder = await client.acceptSession(QUEUE, "s1");
      const [unsettled] = await holder.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      assert.equal(unsettled!.messageId, "s1-1");
      await assert.rejects(client.acceptSession(QUEUE, "s1"), hasCode("SessionCannotBeLocked"));
      await assert.rejects(connect().acceptSession(QUEUE, "s1"), hasCode("SessionCannotBeLocked"), "from another connection too");
      await holder.close();
      assert.deepEqual(broker.lockedSessions(QUEUE), []);
      const next = await connect().acceptSession(QUEUE, "s1");
      const received = await next.receiveMessages(2, { maxWaitTimeInMs: 1000 });
      assert.deepEqual(
        received.map((m) => [m.messageId, m.deliveryCount]),
        [
          ["s1-1", 0],
          ["s1-2", 0],
        ],
        "a lock given back with its link is not a failed delivery",
      );
    }));

  it("takes the session from a holder that stops renewing its lock: another receiver gets its messages, its settlement fails with SessionLockLost", () =>
    withBroker(
      async (broker, client) => {
        await client.createSender(QUEUE).sendMessages(forSession("s1", 1));
        const stale = await client.acceptSession(QUEUE, "s1", { maxAutoLockRenewalDurationInMs: 0 });
        const [message] = await stale.receiveMessages(1, { maxWaitTimeInMs: 1000 });
        await waitFor(() => broker.lockedSessions(QUEUE).length === 0, "the session lock to expire");
        // As a reaper would: take the session over and dead-letter what is left.
        const reaper = await client.acceptSession(QUEUE, "s1", { maxAutoLockRenewalDurationInMs: 0 });
        const [left] = await reaper.receiveMessages(1, { maxWaitTimeInMs: 1000 });
        assert.deepEqual([left!.messageId, left!.deliveryCount], ["s1-1", 0]);
        await assert.rejects(stale.completeMessage(message!), hasCode("SessionLockLost"));
        await reaper.deadLetterMessage(left!, { deadLetterReason: "MediaHostGone", deadLetterErrorDescription: "mh-1 stopped renewing" });
        assert.deepEqual(
          broker.queueDeadLetters(QUEUE, "s1").map((m) => m.messageId),
          ["s1-1"],
        );
      },
      { queues: [sessionQueue({ lockDurationInMs: 1000 })] },
    ));

  it("renews the session lock through $management, and peeks in one session or across all", () =>
    withBroker(async (_broker, client) => {
      await client.createSender(QUEUE).sendMessages([forSession("s1", 1), forSession("s2", 1), forSession("s1", 2)]);
      const receiver = await client.acceptSession(QUEUE, "s1", { maxAutoLockRenewalDurationInMs: 0 });
      const before = receiver.sessionLockedUntilUtc!.getTime();
      const renewed = await receiver.renewSessionLock();
      assert.ok(renewed.getTime() >= before);
      assert.equal(receiver.sessionLockedUntilUtc!.getTime(), renewed.getTime());
      // A receiver without a session only peeks (it has no receive link), across sessions.
      const all = await client.createReceiver(QUEUE).peekMessages(5);
      assert.deepEqual(ids(all), ["s1-1", "s2-1", "s1-2"]);
      // The SDK goes on from the last peek of the entity, whichever receiver made it.
      assert.deepEqual(ids(await receiver.peekMessages(5, { fromSequenceNumber: all[0]!.sequenceNumber! })), ["s1-1", "s1-2"]);
    }));

  it("frees the sessions of a dropped connection at once", () =>
    withBroker(async (broker, client, connect) => {
      await client.createSender(QUEUE).sendMessages(forSession("s1", 1));
      const holder = await client.acceptSession(QUEUE, "s1");
      await holder.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      broker.dropConnections();
      // Well within the 60 s session lock.
      await waitFor(() => broker.lockedSessions(QUEUE).length === 0, "the session to be freed", 5000);
      const next = await connect().acceptSession(QUEUE, "s1");
      assert.deepEqual(
        (await next.receiveMessages(1, { maxWaitTimeInMs: 1000 })).map((m) => [m.messageId, m.deliveryCount]),
        [["s1-1", 0]],
      );
    }));

  it("dead-letters from a session receiver into the queue's dead-letter queue, which needs no session", () =>
    withBroker(async (broker, client) => {
      await client.createSender(QUEUE).sendMessages([forSession("s1", 1), forSession("s2", 1)]);
      const receiver = await client.acceptSession(QUEUE, "s1");
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      await receiver.deadLetterMessage(message!, { deadLetterReason: "Bad", deadLetterErrorDescription: "very bad" });
      assert.deepEqual(
        broker
          .queueDeadLetters(QUEUE)
          .map((m) => [m.messageId, m.sessionId, m.applicationProperties.DeadLetterReason, m.applicationProperties.DeadLetterErrorDescription]),
        [["s1-1", "s1", "Bad", "very bad"]],
      );
      assert.deepEqual(broker.queueDeadLetters(QUEUE, "s2"), []);
      const [dead] = await client.createReceiver(QUEUE, { subQueueType: "deadLetter" }).receiveMessages(1, { maxWaitTimeInMs: 1000 });
      assert.deepEqual(
        [dead!.messageId, dead!.sessionId, dead!.deadLetterReason, dead!.deadLetterErrorDescription],
        ["s1-1", "s1", "Bad", "very bad"],
      );
    }));

  it("drops duplicates within the detection window", () =>
    withBroker(
      async (broker, client) => {
        const sender = client.createSender(QUEUE);
        await sender.sendMessages([forSession("s1", 1), forSession("s1", 1)]);
        await sender.sendMessages(forSession("s1", 1));
        await sender.sendMessages(forSession("s2", 1));
        assert.equal(broker.queueActiveMessageCount(QUEUE), 2);
      },
      { queues: [sessionQueue({ duplicateDetectionWindowInMs: 600_000 })] },
    ));

  it("gives acceptNextSession the free session with the oldest message, waits for one, or times out", () =>
    withBroker(async (broker, client, connect) => {
      await client.createSender(QUEUE).sendMessages([forSession("s1", 1), forSession("s3", 1), forSession("s2", 1)]);
      const s1 = await client.acceptSession(QUEUE, "s1");
      await client.acceptSession(QUEUE, "empty");
      const next = await client.acceptNextSession(QUEUE);
      assert.equal(next.sessionId, "s3", "s1 is held, s3's message is older than s2's");
      assert.deepEqual(ids(await next.receiveMessages(1, { maxWaitTimeInMs: 1000 })), ["s3-1"]);
      assert.equal((await client.acceptNextSession(QUEUE)).sessionId, "s2");

      // Nothing free with messages: the request waits, and gets s1 once its holder lets it go.
      const waiting = client.acceptNextSession(QUEUE);
      await waitFor(() => broker.nextSessionWaiters(QUEUE) === 1, "the request to wait");
      await s1.close();
      assert.equal((await waiting).sessionId, "s1");

      const impatient = connect({ ...RETRY, maxRetries: 0, timeoutInMs: 1500 });
      await assert.rejects(impatient.acceptNextSession(QUEUE), hasCode("ServiceTimeout"));
      assert.equal(broker.nextSessionWaiters(QUEUE), 0);
    }));

  it("refuses receivers without a session on a session-enabled queue, and session receivers elsewhere", () =>
    withBroker(
      async (_broker, client) => {
        await assert.rejects(client.createReceiver(QUEUE).receiveMessages(1, { maxWaitTimeInMs: 1000 }), /requires sessions/);
        // The SDK closes a link that came back without its session itself: whether that close reports the broker's
        // refusal or the SDK's own SessionCannotBeLocked depends on whether the broker's detach arrived first.
        await assert.rejects(
          client.acceptSession("plain", "s1"),
          (e) => hasCode("SessionCannotBeLocked")(e) || /does not require sessions/.test(String(e)),
        );
      },
      { queues: [sessionQueue(), { name: "plain" }] },
    ));

  it("serves a queue without sessions as it serves a subscription", () =>
    withBroker(
      async (broker, client) => {
        await client.createSender("plain").sendMessages([1, 2].map((n) => ({ messageId: `p-${n}`, body: { n } })));
        const receiver = client.createReceiver("plain", { maxAutoLockRenewalDurationInMs: 0 });
        const received = await receiver.receiveMessages(2, { maxWaitTimeInMs: 1000 });
        assert.deepEqual(ids(received), ["p-1", "p-2"]);
        await receiver.completeMessage(received[0]!);
        await receiver.deadLetterMessage(received[1]!, { deadLetterReason: "Bad", deadLetterErrorDescription: "very bad" });
        assert.equal(broker.queueActiveMessageCount("plain"), 0);
        assert.deepEqual(
          broker.queueDeadLetters("plain").map((m) => m.messageId),
          ["p-2"],
        );
      },
      { queues: [{ name: "plain" }] },
    ));
});
