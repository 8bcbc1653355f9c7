import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { InProcessMessageBus, type InProcessMessageBusOptions } from "../../../shared/bus/inProcessMessageBus.js";
import type { BusMessage } from "../../../shared/bus/messageBus.js";
import { describeBusContract, gate } from "../../support/busContract.js";
import { within } from "../../support/waiting.js";

const FAST: InProcessMessageBusOptions = { retryDelayInMs: 1, maxDeliveryCount: 5 };

let counter = 0;
const msg = (orderingKey: string, subject: string, over: Partial<BusMessage> = {}): BusMessage => ({
  messageId: `m-${++counter}`,
  orderingKey,
  to: "mh-1",
  subject,
  body: { subject },
  ...over,
});

describe("InProcessMessageBus: ordering", () => {
  it("handles one session's messages one at a time, in publish order", async () => {
    const bus = new InProcessMessageBus(FAST);
    const log: string[] = [];
    let active = 0;
    let maxActive = 0;
    bus.subscribe("mh-1", async (m) => {
      active++;
      maxActive = Math.max(maxActive, active);
      log.push(`start ${m.subject}`);
      await delay(Number((m.body as any).wait ?? 0));
      log.push(`end ${m.subject}`);
      active--;
    });
    // Later messages are quicker: only strict serialization keeps them in order.
    await bus.publish([msg("call-1", "1", { body: { wait: 15 } }), msg("call-1", "2", { body: { wait: 5 } })]);
    await bus.publish([msg("call-1", "3", { body: { wait: 0 } })]);
    await bus.drain();
    assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
    assert.equal(maxActive, 1);
  });

  it("lets different sessions interleave (one session does not hold up another)", async () => {
    const bus = new InProcessMessageBus(FAST);
    const bStarted = gate();
    const log: string[] = [];
    bus.subscribe("mh-1", async (m) => {
      log.push(`start ${m.orderingKey}/${m.subject}`);
      // call-a's first message waits until call-b's first has started: with a global queue this never happens.
      if (m.orderingKey === "call-a" && m.subject === "1") await within(bStarted.promise, 1000, "call-b to start while call-a is busy");
      if (m.orderingKey === "call-b" && m.subject === "1") bStarted.open();
      await delay(1);
      log.push(`end ${m.orderingKey}/${m.subject}`);
    });
    await bus.publish([msg("call-a", "1"), msg("call-a", "2"), msg("call-b", "1"), msg("call-b", "2")]);
    await bus.drain();
    assert.ok(log.indexOf("start call-b/1") < log.indexOf("end call-a/1"), log.join(", "));
    for (const session of ["call-a", "call-b"]) {
      const own = log.filter((l) => l.includes(`${session}/`));
      assert.deepEqual(own, [`start ${session}/1`, `end ${session}/1`, `start ${session}/2`, `end ${session}/2`]);
    }
  });

  it("keeps order per session across many sessions and publishes", async () => {
    const bus = new InProcessMessageBus(FAST);
    const seen = new Map<string, number[]>();
    bus.subscribe("mh-1", async (m) => {
      const n = Number(m.subject);
      await delay(n % 3);
      seen.set(m.orderingKey, [...(seen.get(m.orderingKey) ?? []), n]);
    });
    for (let n = 0; n < 12; n++) await bus.publish([0, 1, 2, 3].map((s) => msg(`call-${s}`, String(n))));
    await bus.drain();
    const expected = Array.from({ length: 12 }, (_, n) => n);
    for (let s = 0; s < 4; s++) assert.deepEqual(seen.get(`call-${s}`), expected);
  });
});

describe("InProcessMessageBus: duplicate detection", () => {
  it("drops a message whose id was published before, in the same batch or later", async () => {
    const bus = new InProcessMessageBus(FAST);
    const handled: string[] = [];
    bus.subscribe("mh-1", async (m) => {
      handled.push(`${m.messageId}:${m.subject}`);
    });
    const first = msg("call-1", "first", { messageId: "same" });
    await bus.publish([first, { ...first, subject: "again" }]);
    await bus.publish([{ ...first, subject: "later" }, msg("call-1", "other", { messageId: "different" })]);
    await bus.drain();
    assert.deepEqual(handled, ["same:first", "different:other"]);
  });

  it("drops a duplicate even when it goes to another session or receiver", async () => {
    const bus = new InProcessMessageBus(FAST);
    const handled: string[] = [];
    bus.subscribe("mh-1", async (m) => void handled.push(`mh-1 ${m.subject}`));
    bus.subscribe("mh-2", async (m) => void handled.push(`mh-2 ${m.subject}`));
    await bus.publish([msg("call-1", "a", { messageId: "x" })]);
    await bus.publish([msg("call-2", "b", { messageId: "x", to: "mh-2" })]);
    await bus.drain();
    assert.deepEqual(handled, ["mh-1 a"]);
  });

  it("forgets ids after the duplicate detection window", async () => {
    const bus = new InProcessMessageBus({ ...FAST, duplicateDetectionWindowInMs: 50 });
    const handled: string[] = [];
    bus.subscribe("mh-1", async (m) => void handled.push(m.subject));
    await bus.publish([msg("call-1", "first", { messageId: "same" })]);
    await bus.publish([msg("call-1", "within the window", { messageId: "same" })]);
    await delay(80);
    await bus.publish([msg("call-1", "after the window", { messageId: "same" })]);
    await bus.drain();
    assert.deepEqual(handled, ["first", "after the window"]);
  });

  it("does not redeliver a message that was dead-lettered when it is published again", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 1, maxDeliveryCount: 2 });
    let calls = 0;
    bus.subscribe("mh-1", async () => {
      calls++;
      throw new Error("no");
    });
    const m = msg("call-1", "x");
    await bus.publish([m]);
    await bus.drain();
    await bus.publish([m]);
    await bus.drain();
    assert.equal(calls, 2);
    assert.equal(bus.deadLetters.length, 1);
  });
});

describe("InProcessMessageBus: at-least-once and dead-lettering", () => {
  it("delivers a message again after the handler throws, until it succeeds", async () => {
    const bus = new InProcessMessageBus(FAST);
    const attempts: string[] = [];
    bus.subscribe("mh-1", async (m) => {
      attempts.push(m.subject);
      if (m.subject === "flaky" && attempts.filter((a) => a === "flaky").length < 3) throw new Error("transient");
    });
    await bus.publish([msg("call-1", "flaky"), msg("call-1", "next")]);
    await bus.drain();
    // The session's next message waits for the redelivered one: order holds through retries.
    assert.deepEqual(attempts, ["flaky", "flaky", "flaky", "next"]);
    assert.deepEqual(bus.deadLetters, []);
  });

  it("redelivers the same message (same id, body) each time", async () => {
    const bus = new InProcessMessageBus(FAST);
    const received: BusMessage[] = [];
    bus.subscribe("mh-1", async (m) => {
      received.push(m);
      if (received.length === 1) throw new Error("once");
    });
    const m = msg("call-1", "x", { body: { n: 42 } });
    await bus.publish([m]);
    await bus.drain();
    assert.equal(received.length, 2);
    assert.deepEqual(received[0], m);
    assert.deepEqual(received[1], m);
  });

  it("dead-letters a message after maxDeliveryCount failures, with a reason, and goes on with the session", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 1, maxDeliveryCount: 3 });
    const attempts: string[] = [];
    bus.subscribe("mh-1", async (m) => {
      attempts.push(m.subject);
      if (m.subject === "poison") throw new Error("cannot parse the body");
    });
    const poison = msg("call-1", "poison");
    await bus.publish([poison, msg("call-1", "after")]);
    await bus.drain();
    assert.deepEqual(attempts, ["poison", "poison", "poison", "after"]);
    assert.equal(bus.deadLetters.length, 1);
    assert.deepEqual(bus.deadLetters[0]!.message, poison);
    assert.match(bus.deadLetters[0]!.reason, /3/);
    assert.match(bus.deadLetters[0]!.reason, /cannot parse the body/);
  });

  it("gives a reason for handlers that throw something other than an Error", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 1, maxDeliveryCount: 1 });
    bus.subscribe("mh-1", async () => {
      throw "plain string";
    });
    await bus.publish([msg("call-1", "x")]);
    await bus.drain();
    assert.equal(bus.deadLetters.length, 1);
    assert.match(bus.deadLetters[0]!.reason, /plain string/);
  });

  it("treats a handler that throws synchronously like one that rejects", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 1, maxDeliveryCount: 2 });
    let calls = 0;
    bus.subscribe("mh-1", (() => {
      calls++;
      throw new Error("sync");
    }) as unknown as (m: BusMessage) => Promise<void>);
    await bus.publish([msg("call-1", "x")]);
    await bus.drain();
    assert.equal(calls, 2);
    assert.equal(bus.deadLetters.length, 1);
  });

  it("does not hold up other sessions while one retries", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 20, maxDeliveryCount: 3 });
    const log: string[] = [];
    bus.subscribe("mh-1", async (m) => {
      log.push(m.orderingKey);
      if (m.orderingKey === "call-a" && log.filter((l) => l === "call-a").length < 2) throw new Error("retry me");
    });
    await bus.publish([msg("call-a", "x"), msg("call-b", "y")]);
    await bus.drain();
    assert.deepEqual(log, ["call-a", "call-b", "call-a"]);
  });
});

describe("InProcessMessageBus: receivers", () => {
  it("keeps messages published before the receiver subscribes, and delivers them in order once it does", async () => {
    const bus = new InProcessMessageBus(FAST);
    await bus.publish([msg("call-1", "1"), msg("call-2", "a"), msg("call-1", "2")]);
    await bus.publish([msg("call-1", "3")]);
    const handled: string[] = [];
    bus.subscribe("mh-1", async (m) => void handled.push(`${m.orderingKey}/${m.subject}`));
    await bus.drain();
    assert.deepEqual(
      handled.filter((h) => h.startsWith("call-1/")),
      ["call-1/1", "call-1/2", "call-1/3"],
    );
    assert.ok(handled.includes("call-2/a"));
    assert.equal(handled.length, 4);
  });

  it("delivers only the messages addressed to the receiver", async () => {
    const bus = new InProcessMessageBus(FAST);
    const one: string[] = [];
    bus.subscribe("mh-1", async (m) => void one.push(m.subject));
    await bus.publish([msg("call-1", "for mh-1"), msg("call-2", "for mh-2", { to: "mh-2" })]);
    await bus.drain();
    assert.deepEqual(one, ["for mh-1"]);
    // The other receiver's message waited for it.
    const two: string[] = [];
    bus.subscribe("mh-2", async (m) => void two.push(m.subject));
    await bus.drain();
    assert.deepEqual(two, ["for mh-2"]);
    assert.deepEqual(one, ["for mh-1"]);
  });

  it("queues a second subscription for a held receiver; one that closes while queued never gets anything", async () => {
    const bus = new InProcessMessageBus(FAST);
    const got: string[] = [];
    const holder = bus.subscribe("mh-1", async (m) => void got.push(`holder ${m.subject}`));
    const gaveUp = bus.subscribe("mh-1", async (m) => void got.push(`gave up ${m.subject}`));
    bus.subscribe("mh-1", async (m) => void got.push(`next ${m.subject}`));
    await gaveUp.close();
    await bus.publish([msg("call-1", "1")]);
    await bus.drain();
    await holder.close();
    await bus.publish([msg("call-1", "2")]);
    await bus.drain();
    assert.deepEqual(got, ["holder 1", "next 2"]);
  });

  it("after close, keeps new messages for the next subscriber", async () => {
    const bus = new InProcessMessageBus(FAST);
    const first: string[] = [];
    const subscription = bus.subscribe("mh-1", async (m) => void first.push(m.subject));
    await bus.publish([msg("call-1", "before close")]);
    await subscription.close();
    assert.deepEqual(first, ["before close"], "close waits for what was in flight");
    await bus.publish([msg("call-1", "while closed")]);
    const second: string[] = [];
    bus.subscribe("mh-1", async (m) => void second.push(m.subject));
    await bus.drain();
    assert.deepEqual(first, ["before close"]);
    assert.deepEqual(second, ["while closed"]);
  });

  it("refuses to publish with an aborted signal, and publishes nothing", async () => {
    const bus = new InProcessMessageBus(FAST);
    const handled: string[] = [];
    bus.subscribe("mh-1", async (m) => void handled.push(m.subject));
    const controller = new AbortController();
    controller.abort(new Error("shutting down"));
    await assert.rejects(bus.publish([msg("call-1", "x", { messageId: "aborted" })], { abortSignal: controller.signal }), /shutting down/);
    await bus.drain();
    assert.deepEqual(handled, []);
    // Its id was not taken: publishing it properly later delivers it.
    await bus.publish([msg("call-1", "x", { messageId: "aborted" })]);
    await bus.drain();
    assert.deepEqual(handled, ["x"]);
  });
});

describe("InProcessMessageBus: drain", () => {
  it("resolves at once when nothing is in flight", async () => {
    const bus = new InProcessMessageBus(FAST);
    await within(bus.drain(), 200, "drain of an idle bus");
    bus.subscribe("mh-1", async () => {});
    await within(bus.drain(), 200, "drain of an idle bus with a receiver");
  });

  it("waits for deliveries in flight, including slow handlers and retries", async () => {
    const bus = new InProcessMessageBus({ retryDelayInMs: 5, maxDeliveryCount: 5 });
    const done: string[] = [];
    let failures = 0;
    bus.subscribe("mh-1", async (m) => {
      await delay(10);
      if (m.subject === "retried" && failures++ < 2) throw new Error("again");
      done.push(m.subject);
    });
    await bus.publish([msg("call-1", "slow"), msg("call-2", "retried"), msg("call-1", "after slow")]);
    assert.deepEqual(done, [], "handlers have not finished when publish returns");
    await bus.drain();
    assert.deepEqual([...done].sort(), ["after slow", "retried", "slow"]);
  });

  it("waits for deliveries that deliveries caused (a handler publishing to another receiver or session)", async () => {
    const bus = new InProcessMessageBus(FAST);
    const done: string[] = [];
    // mh-2 subscribes first, so it is looked at before mh-1 when draining.
    bus.subscribe("mh-2", async (m) => {
      await delay(5);
      done.push(`mh-2 ${m.subject}`);
    });
    bus.subscribe("mh-1", async (m) => {
      await delay(5);
      done.push(`mh-1 ${m.subject}`);
      if (m.subject === "request") {
        await bus.publish([msg("call-1", "reply", { to: "mh-2" }), msg("call-9", "follow-up")]);
      }
    });
    await bus.publish([msg("call-1", "request")]);
    await bus.drain();
    assert.deepEqual([...done].sort(), ["mh-1 follow-up", "mh-1 request", "mh-2 reply"]);
  });
});

// The port's contract, shared with the Service Bus adapter (test/integration/bus/serviceBusMessageBus.test.ts).
describeBusContract(
  "InProcessMessageBus",
  async () => {
    const bus = new InProcessMessageBus(FAST);
    return {
      bus,
      deadLetters: async (receiverId) =>
        bus.deadLetters.filter((d) => d.message.to === receiverId).map((d) => ({ messageId: d.message.messageId, reason: d.reason })),
      close: () => bus.drain(),
    };
  },
  { maxDeliveryCount: FAST.maxDeliveryCount! },
);
