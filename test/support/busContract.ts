import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BusMessage, MessagePublisher, MessageSubscriber, MessageTakeover } from "../../shared/bus/messageBus.js";
import { within } from "./waiting.js";

// The bus port's behavioural contract, run against every implementation (in-process and
// Service Bus): what the control plane and the media hosts rely on. Deterministic: tests
// wait for events (with timeouts that fail instead of hang), never for time to pass.

export interface BusUnderTest {
  readonly bus: MessagePublisher & MessageSubscriber & MessageTakeover;
  /** What was dead-lettered for a receiver so far; `reason` holds the reason and its description. */
  deadLetters(receiverId: string): Promise<readonly { readonly messageId: string; readonly reason: string }[]>;
  /** Releases everything the test opened (subscriptions it did not close, clients, servers). */
  close(): Promise<void>;
}

export interface BusContractOptions {
  /** Deliveries of one message before it is dead-lettered, as the bus under test is configured. */
  readonly maxDeliveryCount: number;
}

const WAIT_MS = 10_000;

let counter = 0;
export function busMessage(orderingKey: string, subject: string, over: Partial<BusMessage> = {}): BusMessage {
  return { messageId: `m-${++counter}-${subject}`, orderingKey, to: "mh-1", subject, body: { subject }, ...over };
}

/** A promise with its resolver, to hold a handler until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Records what a handler saw, and waits (on each record, not by polling) until a condition holds. */
export function inbox(): {
  readonly handled: BusMessage[];
  record(message: BusMessage): void;
  until(condition: () => boolean, what: string, ms?: number): Promise<void>;
} {
  const handled: BusMessage[] = [];
  const waiters = new Set<() => void>();
  return {
    handled,
    record(message) {
      handled.push(message);
      for (const waiter of [...waiters]) waiter();
    },
    until(condition, what, ms = WAIT_MS) {
      if (condition()) return Promise.resolve();
      const met = new Promise<void>((resolve) => {
        const check = () => {
          if (!condition()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
      return within(met, ms, what);
    },
  };
}

const subjects = (messages: readonly BusMessage[]) => messages.map((m) => m.subject);

export function describeBusContract(name: string, open: () => Promise<BusUnderTest>, options: BusContractOptions): void {
  /** Each case gets its own bus, closed however the case ends. */
  const test = (title: string, body: (under: BusUnderTest) => Promise<void>) =>
    it(title, async () => {
      const under = await open();
      try {
        await body(under);
      } finally {
        await under.close();
      }
    });

  describe(`${name}: the bus contract`, () => {
    test("delivers each message, unchanged, only to the receiver it is addressed to", async ({ bus }) => {
      const one = inbox();
      const two = inbox();
      bus.subscribe("mh-1", async (m) => one.record(m));
      bus.subscribe("mh-2", async (m) => two.record(m));
      const a = busMessage("call-1", "a", { body: { n: 1, nested: { list: [1, "two", null] } } });
      const b = busMessage("call-2", "b", { to: "mh-2" });
      const c = busMessage("call-1", "c");
      await bus.publish([a, b, c]);
      await one.until(() => one.handled.length >= 2, "mh-1's two messages");
      await two.until(() => two.handled.length >= 1, "mh-2's message");
      assert.deepEqual(one.handled, [a, c]);
      assert.deepEqual(two.handled, [b]);
    });

    test("handles one session's messages one at a time, in publish order, while other sessions go on", async ({ bus }) => {
      const box = inbox();
      const log: string[] = [];
      const busy = new Map<string, number>();
      let overlapped = false;
      const letGo = gate();
      bus.subscribe("mh-1", async (m) => {
        const running = (busy.get(m.orderingKey) ?? 0) + 1;
        busy.set(m.orderingKey, running);
        if (running > 1) overlapped = true;
        log.push(`start ${m.orderingKey}/${m.subject}`);
        // call-a's first message is slow: it waits until the test has seen call-b's messages through.
        if (m.orderingKey === "call-a" && m.subject === "1") await within(letGo.promise, WAIT_MS, "the test to let call-a/1 go");
        log.push(`end ${m.orderingKey}/${m.subject}`);
        busy.set(m.orderingKey, running - 1);
        box.record(m);
      });
      await bus.publish([busMessage("call-a", "1"), busMessage("call-a", "2"), busMessage("call-a", "3")]);
      await bus.publish([busMessage("call-b", "1"), busMessage("call-b", "2")]);
      await box.until(() => box.handled.filter((m) => m.orderingKey === "call-b").length === 2, "call-b's messages while call-a/1 is busy");
      assert.ok(!log.includes("end call-a/1"), "call-a/1 is still busy");
      assert.ok(!log.includes("start call-a/2"), "call-a/2 waits for call-a/1");
      letGo.open();
      await box.until(() => box.handled.length === 5, "all five messages");
      for (const [session, count] of [
        ["call-a", 3],
        ["call-b", 2],
      ] as const) {
        const expected = Array.from({ length: count }, (_, i) => [`start ${session}/${i + 1}`, `end ${session}/${i + 1}`]).flat();
        assert.deepEqual(
          log.filter((line) => line.includes(`${session}/`)),
          expected,
        );
      }
      assert.equal(overlapped, false, "never two messages of one session at once");
    });

    test("keeps order per session across many sessions and publishes", async ({ bus }) => {
      const box = inbox();
      bus.subscribe("mh-1", async (m) => {
        // Uneven handler durations: only strict serialization keeps each session in order.
        if (Number(m.subject) % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        box.record(m);
      });
      for (let n = 0; n < 8; n++) await bus.publish([0, 1, 2, 3].map((s) => busMessage(`call-${s}`, String(n))));
      await box.until(() => box.handled.length === 32, "32 messages");
      const expected = Array.from({ length: 8 }, (_, n) => String(n));
      for (let s = 0; s < 4; s++) {
        assert.deepEqual(subjects(box.handled.filter((m) => m.orderingKey === `call-${s}`)), expected);
      }
    });

    test("delivers the same message again after the handler throws, and the session's next one only after it", async ({ bus, deadLetters }) => {
      const box = inbox();
      const attempts: BusMessage[] = [];
      bus.subscribe("mh-1", async (m) => {
        attempts.push(m);
        if (m.subject === "flaky" && attempts.filter((a) => a.subject === "flaky").length < 2) throw new Error("transient");
        box.record(m);
      });
      const flaky = busMessage("call-1", "flaky", { body: { n: 42 } });
      await bus.publish([flaky, busMessage("call-1", "next")]);
      await box.until(() => box.handled.length === 2, "the retried message and the next one");
      assert.deepEqual(subjects(attempts), ["flaky", "flaky", "next"]);
      assert.deepEqual(attempts[0], flaky);
      assert.deepEqual(attempts[1], flaky);
      assert.deepEqual(await deadLetters("mh-1"), []);
    });

    test("treats a handler that throws synchronously like one that rejects", async ({ bus }) => {
      const box = inbox();
      let calls = 0;
      bus.subscribe("mh-1", ((m: BusMessage) => {
        if (++calls === 1) throw new Error("sync");
        box.record(m);
        return Promise.resolve();
      }) as (m: BusMessage) => Promise<void>);
      await bus.publish([busMessage("call-1", "x")]);
      await box.until(() => box.handled.length === 1, "the redelivery");
      assert.equal(calls, 2);
    });

    test("dead-letters a message after maxDeliveryCount failed deliveries, with the handler's error, and goes on with the session", async ({
      bus,
      deadLetters,
    }) => {
      const box = inbox();
      const attempts: string[] = [];
      bus.subscribe("mh-1", async (m) => {
        attempts.push(m.subject);
        if (m.subject === "poison") throw new Error("cannot parse the body");
        box.record(m);
      });
      const poison = busMessage("call-1", "poison");
      await bus.publish([poison, busMessage("call-1", "after")]);
      await box.until(() => box.handled.length === 1, "the message after the poison one");
      assert.deepEqual(attempts, [...Array<string>(options.maxDeliveryCount).fill("poison"), "after"]);
      const dead = await deadLetters("mh-1");
      assert.equal(dead.length, 1);
      assert.equal(dead[0]!.messageId, poison.messageId);
      assert.match(dead[0]!.reason, new RegExp(String(options.maxDeliveryCount)));
      assert.match(dead[0]!.reason, /cannot parse the body/);
    });

    test("drops a message whose id was published before, in the same publish or a later one", async ({ bus }) => {
      const box = inbox();
      bus.subscribe("mh-1", async (m) => box.record(m));
      const first = busMessage("call-1", "first");
      await bus.publish([first, { ...first, subject: "again" }]);
      await bus.publish([{ ...first, subject: "later" }, busMessage("call-1", "marker")]);
      // Same session: had a duplicate been delivered, it would have come before the marker.
      await box.until(() => box.handled.some((m) => m.subject === "marker"), "the marker");
      assert.deepEqual(subjects(box.handled), ["first", "marker"]);
    });

    test("keeps messages published before the receiver subscribes, and delivers them in order once it does", async ({ bus }) => {
      await bus.publish([busMessage("call-1", "1"), busMessage("call-2", "a"), busMessage("call-1", "2")]);
      await bus.publish([busMessage("call-1", "3")]);
      const box = inbox();
      bus.subscribe("mh-1", async (m) => box.record(m));
      await box.until(() => box.handled.length === 4, "the four waiting messages");
      assert.deepEqual(subjects(box.handled.filter((m) => m.orderingKey === "call-1")), ["1", "2", "3"]);
      assert.deepEqual(subjects(box.handled.filter((m) => m.orderingKey === "call-2")), ["a"]);
    });

    test("after a subscription closes, keeps new messages for the next subscriber", async ({ bus }) => {
      const first = inbox();
      const subscription = bus.subscribe("mh-1", async (m) => first.record(m));
      await bus.publish([busMessage("call-1", "before close")]);
      await first.until(() => first.handled.length === 1, "the message before close");
      await subscription.close();
      await bus.publish([busMessage("call-1", "while closed")]);
      const second = inbox();
      bus.subscribe("mh-1", async (m) => second.record(m));
      await second.until(() => second.handled.length === 1, "the message published while closed");
      assert.deepEqual(subjects(first.handled), ["before close"]);
      assert.deepEqual(subjects(second.handled), ["while closed"]);
    });

    test("holds a receiver for one subscriber: a second one gets nothing until the first lets go, then what is left", async ({ bus }) => {
      const first = inbox();
      const second = inbox();
      const holder = bus.subscribe("mh-1", async (m) => first.record(m));
      await bus.publish([busMessage("call-1", "to the holder")]);
      await first.until(() => first.handled.length === 1, "the holder's message");
      // A restarted host's new process, say, while the old one still holds its session.
      const successor = bus.subscribe("mh-1", async (m) => second.record(m));
      await bus.publish([busMessage("call-1", "still the holder's")]);
      await first.until(() => first.handled.length === 2, "the holder's second message");
      await holder.close();
      await bus.publish([busMessage("call-1", "the successor's")]);
      await second.until(() => second.handled.length === 1, "the successor's message");
      assert.deepEqual(subjects(first.handled), ["to the holder", "still the holder's"]);
      assert.deepEqual(subjects(second.handled), ["the successor's"]);
      await successor.close();
    });

    test("takes over a gone receiver: busy while it is held, then dead-letters what waits for it, with the reason", async ({ bus, deadLetters }) => {
      const box = inbox();
      const host = bus.subscribe("mh-2", async (m) => box.record(m));
      assert.deepEqual(await bus.takeOver("mh-2", { deadLetterReason: "media host lost" }), { kind: "busy" });
      await bus.publish([busMessage("call-9", "handled", { to: "mh-2" })]);
      await box.until(() => box.handled.length === 1, "mh-2's message while alive");
      await host.close();
      const left = [busMessage("call-9", "left 1", { to: "mh-2" }), busMessage("call-9", "left 2", { to: "mh-2" })];
      await bus.publish(left);
      await bus.publish([busMessage("call-1", "someone else's")]);
      const taken = await bus.takeOver("mh-2", { deadLetterReason: "media host lost" });
      assert.deepEqual(taken, { kind: "taken", deadLettered: 2 });
      const dead = await deadLetters("mh-2");
      assert.deepEqual(
        dead.map((d) => d.messageId),
        left.map((m) => m.messageId),
      );
      for (const d of dead) assert.match(d.reason, /^media host lost/);
      // Another receiver's messages were not touched.
      const other = inbox();
      bus.subscribe("mh-1", async (m) => other.record(m));
      await other.until(() => other.handled.length === 1, "mh-1's message");
      assert.deepEqual(await bus.takeOver("mh-2", { deadLetterReason: "media host lost" }), { kind: "taken", deadLettered: 0 });
    });

    test("refuses to publish with an aborted signal, and publishes nothing", async ({ bus }) => {
      const box = inbox();
      bus.subscribe("mh-1", async (m) => box.record(m));
      const controller = new AbortController();
      controller.abort(new Error("shutting down"));
      const aborted = busMessage("call-1", "aborted");
      await assert.rejects(bus.publish([aborted], { abortSignal: controller.signal }), /shutting down/);
      // The same id again: had the aborted publish gone through, this one would be dropped as its duplicate.
      await bus.publish([{ ...aborted, subject: "x" }]);
      await box.until(() => box.handled.length === 1, "the proper publish");
      assert.deepEqual(subjects(box.handled), ["x"]);
    });

    test("publishes many messages at once (more than fits in one Service Bus batch)", async ({ bus }) => {
      const box = inbox();
      bus.subscribe("mh-1", async (m) => box.record(m));
      const padding = "x".repeat(1000);
      const messages = Array.from({ length: 300 }, (_, n) => busMessage(`call-${n % 3}`, String(n), { body: { n, padding } }));
      await bus.publish(messages);
      await box.until(() => box.handled.length === messages.length, `${messages.length} messages`);
      assert.equal(new Set(box.handled.map((m) => m.messageId)).size, messages.length);
      for (let s = 0; s < 3; s++) {
        const own = box.handled.filter((m) => m.orderingKey === `call-${s}`).map((m) => Number(m.subject));
        assert.deepEqual(
          own,
          [...own].sort((x, y) => x - y),
        );
      }
    });
  });
}
