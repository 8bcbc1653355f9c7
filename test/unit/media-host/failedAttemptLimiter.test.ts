import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_FAILED_ATTEMPT_POLICY, FailedAttemptLimiter, sourceKey } from "../../../media-host/domain/failedAttemptLimiter.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const P = DEFAULT_FAILED_ATTEMPT_POLICY;
const SCANNER = "198.51.100.7";

/** Records `n` failures one second apart from `startMs`; returns the time of the last. */
function fail(limiter: FailedAttemptLimiter, address: string, n: number, startMs: number): number {
  let at = startMs;
  for (let i = 0; i < n; i++) {
    at = startMs + i * 1_000;
    limiter.recordFailure(address, at);
  }
  return at;
}

describe("FailedAttemptLimiter: slowing, then refusing", () => {
  it("lets unknown sources through and does not start tracking them on a check or a success", () => {
    const limiter = new FailedAttemptLimiter();
    assert.deepEqual(limiter.check(SCANNER, 0), { allowed: true, delayMs: 0 });
    limiter.recordSuccess(SCANNER, 0);
    assert.equal(limiter.size, 0);
  });

  it("the first failures cost nothing; after that each attempt waits longer, doubling up to the maximum", () => {
    const limiter = new FailedAttemptLimiter();
    const delays: number[] = [];
    for (let i = 0; i < P.blockAfterFailures - 1; i++) {
      const decision = limiter.recordFailure(SCANNER, i * 1_000);
      assert.equal(decision.allowed, true);
      if (decision.allowed) delays.push(decision.delayMs);
      assert.deepEqual(limiter.check(SCANNER, i * 1_000), decision, "check agrees with what recordFailure returned");
    }
    assert.deepEqual(delays.slice(0, P.freeFailures - 1), [0, 0, 0, 0]);
    assert.deepEqual(delays.slice(P.freeFailures - 1, P.freeFailures + 6), [500, 1_000, 2_000, 4_000, 8_000, 16_000, 16_000]);
    for (let i = 1; i < delays.length; i++) assert.ok((delays[i] ?? 0) >= (delays[i - 1] ?? 0), "delays never shrink");
  });

  it(`refuses after ${P.blockAfterFailures} failures for the cool-down, then starts over`, () => {
    const limiter = new FailedAttemptLimiter();
    const last = fail(limiter, SCANNER, P.blockAfterFailures, 0);
    assert.deepEqual(limiter.check(SCANNER, last), { allowed: false, retryAfterSeconds: P.coolDownMs / 1000 });
    assert.deepEqual(limiter.check(SCANNER, last + P.coolDownMs - 1_500), { allowed: false, retryAfterSeconds: 2 });
    assert.deepEqual(limiter.check(SCANNER, last + P.coolDownMs - 500), { allowed: false, retryAfterSeconds: 1 });
    assert.deepEqual(limiter.check(SCANNER, last + P.coolDownMs), { allowed: true, delayMs: 0 });
  });

  it("failures reported while refused (attempts let in before the block) add nothing", () => {
    const limiter = new FailedAttemptLimiter();
    const last = fail(limiter, SCANNER, P.blockAfterFailures, 0);
    for (let i = 0; i < 50; i++) limiter.recordFailure(SCANNER, last + 1 + i);
    assert.deepEqual(limiter.check(SCANNER, last + P.coolDownMs), { allowed: true, delayMs: 0 });
  });

  it("each repeated block lasts twice as long, up to the maximum; strikes are forgotten a day after a block ends", () => {
    const limiter = new FailedAttemptLimiter();
    let at = 0;
    const coolDowns: number[] = [];
    for (let block = 0; block < 9; block++) {
      at = fail(limiter, SCANNER, P.blockAfterFailures, at);
      const decision = limiter.check(SCANNER, at);
      assert.equal(decision.allowed, false);
      if (!decision.allowed) {
        coolDowns.push(decision.retryAfterSeconds);
        at += decision.retryAfterSeconds * 1000;
      }
    }
    assert.deepEqual(
      coolDowns.map((s) => s / 60),
      [15, 30, 60, 120, 240, 480, 960, 1440, 1440],
    );
    // Quiet for longer than the strike memory after the last block ended: back to the first cool-down.
    at = fail(limiter, SCANNER, P.blockAfterFailures, at + P.strikeMemoryMs + 1);
    assert.deepEqual(limiter.check(SCANNER, at), { allowed: false, retryAfterSeconds: P.coolDownMs / 1000 });
  });

  it("counts failures over a sliding window", () => {
    const limiter = new FailedAttemptLimiter();
    fail(limiter, SCANNER, P.freeFailures + 2, 0); // at 0 s … 6 s
    assert.deepEqual(limiter.check(SCANNER, 6_000), { allowed: true, delayMs: 2_000 });
    // The first three fall out of the window: four remain.
    assert.deepEqual(limiter.check(SCANNER, P.windowMs + 2_000), { allowed: true, delayMs: 0 });
    // A new failure counts with those still in the window: five.
    assert.deepEqual(limiter.recordFailure(SCANNER, P.windowMs + 2_500), { allowed: true, delayMs: 500 });
    // Two more fall out: three.
    assert.deepEqual(limiter.check(SCANNER, P.windowMs + 4_000), { allowed: true, delayMs: 0 });
  });

  it("never lets time run backwards for a source", () => {
    const limiter = new FailedAttemptLimiter();
    fail(limiter, SCANNER, P.blockAfterFailures, 1_000_000);
    const decision = limiter.check(SCANNER, 0);
    assert.deepEqual(decision, { allowed: false, retryAfterSeconds: P.coolDownMs / 1000 });
  });

  it("rejects an inconsistent policy", () => {
    assert.throws(() => new FailedAttemptLimiter({ freeFailures: 5, blockAfterFailures: 5 }), RangeError);
    assert.throws(() => new FailedAttemptLimiter({ maxTrackedSources: 0 }), RangeError);
    assert.throws(() => new FailedAttemptLimiter({ windowMs: 0 }), RangeError);
  });
});

describe("FailedAttemptLimiter: successes", () => {
  it("a success forgives the older half of the failures, not all of them", () => {
    const limiter = new FailedAttemptLimiter();
    fail(limiter, SCANNER, 12, 0);
    assert.deepEqual(limiter.check(SCANNER, 12_000), { allowed: true, delayMs: 16_000 });
    limiter.recordSuccess(SCANNER, 12_000);
    assert.deepEqual(limiter.check(SCANNER, 12_000), { allowed: true, delayMs: 1_000 }, "six remain");
    limiter.recordSuccess(SCANNER, 12_001);
    assert.deepEqual(limiter.check(SCANNER, 12_001), { allowed: true, delayMs: 0 }, "three remain");
    // The remaining ones are the newest: the window expires them last.
    assert.deepEqual(limiter.recordFailure(SCANNER, P.windowMs + 8_500), { allowed: true, delayMs: 0 });
    fail(limiter, SCANNER, 2, P.windowMs + 8_600);
    // 9 s has left the window: 10 s and 11 s remain with the three new ones.
    assert.deepEqual(limiter.check(SCANNER, P.windowMs + 9_700), { allowed: true, delayMs: 500 }, "2 + 3 in the window");
  });

  it("a success neither lifts a block nor clears the strikes", () => {
    const limiter = new FailedAttemptLimiter();
    let at = fail(limiter, SCANNER, P.blockAfterFailures, 0);
    limiter.recordSuccess(SCANNER, at + 1);
    assert.equal(limiter.check(SCANNER, at + 1).allowed, false);
    at += P.coolDownMs;
    limiter.recordSuccess(SCANNER, at);
    at = fail(limiter, SCANNER, P.blockAfterFailures, at + 1);
    assert.deepEqual(limiter.check(SCANNER, at), { allowed: false, retryAfterSeconds: (2 * P.coolDownMs) / 1000 });
  });

  it("a person who mistypes twice, then gets in, every working hour for a month is never slowed", () => {
    const limiter = new FailedAttemptLimiter();
    for (let day = 0; day < 30; day++) {
      for (let hour = 8; hour < 18; hour++) {
        const at = day * DAY + hour * HOUR;
        for (let typo = 0; typo < 2; typo++) {
          assert.deepEqual(limiter.check(SCANNER, at + typo * 20_000), { allowed: true, delayMs: 0 });
          limiter.recordFailure(SCANNER, at + typo * 20_000);
        }
        assert.deepEqual(limiter.check(SCANNER, at + 40_000), { allowed: true, delayMs: 0 });
        limiter.recordSuccess(SCANNER, at + 40_000);
      }
    }
  });

  it("a scanner slipping a known-good ID in between guesses is still slowed, and refused if it guesses more", () => {
    for (const [guessesPerSuccess, expectBlock] of [
      [5, false],
      [12, true],
    ] as const) {
      const limiter = new FailedAttemptLimiter();
      let at = 0;
      let delayed = 0;
      let refused = false;
      for (let round = 0; round < 20 && !refused; round++) {
        for (let g = 0; g < guessesPerSuccess; g++) {
          const decision = limiter.check(SCANNER, at);
          if (!decision.allowed) {
            refused = true;
            break;
          }
          delayed += decision.delayMs;
          at += decision.delayMs + 100;
          limiter.recordFailure(SCANNER, at);
        }
        limiter.recordSuccess(SCANNER, at);
      }
      assert.equal(refused, expectBlock, `${guessesPerSuccess} guesses per success`);
      assert.ok(delayed > 10_000, `${guessesPerSuccess} guesses per success: delayed ${delayed} ms`);
    }
  });
});

describe("FailedAttemptLimiter: simulated scanners", () => {
  it("10,000 guesses hammered from one address: about 20 are evaluated per block, one source tracked", () => {
    const limiter = new FailedAttemptLimiter();
    let at = 0;
    let evaluated = 0;
    let refused = 0;
    for (let attempt = 0; attempt < 10_000; attempt++) {
      at += 100; // ten a second, not waiting for anything
      const decision = limiter.check(SCANNER, at);
      if (!decision.allowed) {
        refused++;
        continue;
      }
      evaluated++;
      limiter.recordFailure(SCANNER, at);
    }
    // 1,000 s of hammering: the first block (15 min) starts after 20 guesses; it ends at ~902 s and allows one more round.
    assert.ok(evaluated <= 2 * P.blockAfterFailures, `evaluated ${evaluated}`);
    assert.equal(evaluated + refused, 10_000);
    assert.equal(limiter.size, 1);
  });

  it("10,000 guesses from one address that waits out every delay and block take more than a year", () => {
    const limiter = new FailedAttemptLimiter();
    let at = 0;
    for (let guess = 0; guess < 10_000; guess++) {
      let decision = limiter.check(SCANNER, at);
      while (!decision.allowed) {
        at += decision.retryAfterSeconds * 1000;
        decision = limiter.check(SCANNER, at);
      }
      at += decision.delayMs;
      limiter.recordFailure(SCANNER, at);
      at += 100;
    }
    assert.ok(at > 365 * DAY, `took ${(at / DAY).toFixed(0)} days`);
    assert.equal(limiter.size, 1);
  });

  it("10,000 guesses from 10,000 addresses: memory stays within the bound", () => {
    const limiter = new FailedAttemptLimiter({ maxTrackedSources: 1_000 });
    let largest = 0;
    for (let i = 0; i < 10_000; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      limiter.recordFailure(address, i * 10);
      largest = Math.max(largest, limiter.size);
    }
    assert.equal(largest, 1_000);
    assert.equal(limiter.size, 1_000);
    // The most recent sources are the ones kept.
    fail(limiter, "10.0.39.15", P.freeFailures, 200_000); // address #9999, one failure already
    assert.deepEqual(limiter.check("10.0.39.15", 205_000), { allowed: true, delayMs: 1_000 });
  });

  it("idle sources are dropped as new ones arrive, and all at once by prune", () => {
    const limiter = new FailedAttemptLimiter();
    for (let i = 0; i < 100; i++) limiter.recordFailure(`192.0.2.${i}`, i);
    assert.equal(limiter.size, 100);
    // After the window, each new source drops a few idle ones.
    for (let i = 0; i < 30; i++) limiter.recordFailure(`198.51.100.${i}`, P.windowMs + 1_000 + i);
    assert.ok(limiter.size <= 130 - 30 * 3, `size ${limiter.size}`);
    limiter.prune(2 * P.windowMs + 2_000);
    assert.equal(limiter.size, 0);
  });

  it("prune keeps a blocked source and one with recent strikes", () => {
    const limiter = new FailedAttemptLimiter();
    const at = fail(limiter, SCANNER, P.blockAfterFailures, 0);
    limiter.prune(at + P.windowMs);
    assert.equal(limiter.size, 1, "still blocked");
    limiter.prune(at + P.coolDownMs + P.strikeMemoryMs);
    assert.equal(limiter.size, 1, "strike remembered");
    limiter.prune(at + P.coolDownMs + P.strikeMemoryMs + 1);
    assert.equal(limiter.size, 0);
  });

  it("a scanner rotating through the addresses of one IPv6 /64 is one source", () => {
    const limiter = new FailedAttemptLimiter();
    let at = 0;
    for (let i = 0; i < P.blockAfterFailures; i++) {
      at = i * 1_000;
      limiter.recordFailure(`2001:db8:1:2:${i.toString(16)}::${((i * 7919) & 0xffff).toString(16)}`, at);
    }
    assert.equal(limiter.size, 1);
    assert.equal(limiter.check("2001:db8:1:2:ffff:ffff:ffff:ffff", at).allowed, false);
    assert.equal(limiter.check("2001:db8:1:3::1", at).allowed, true, "the next /64 is someone else");
  });

  it("a blocked scanner that keeps trying stays tracked while a flood of new sources passes", () => {
    const limiter = new FailedAttemptLimiter({ maxTrackedSources: 100 });
    let at = fail(limiter, SCANNER, P.blockAfterFailures, 0);
    for (let i = 0; i < 5_000; i++) {
      at += 10;
      limiter.recordFailure(`2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::1`, at);
      if (i % 50 === 0) assert.equal(limiter.check(SCANNER, at).allowed, false);
      assert.ok(limiter.size <= 100);
    }
  });
});

describe("sourceKey", () => {
  const same: [string, string][] = [
    ["192.0.2.1", "v4:192.0.2.1"],
    [" 192.0.2.1 ", "v4:192.0.2.1"],
    ["::ffff:192.0.2.1", "v4:192.0.2.1"],
    ["::FFFF:c000:0201", "v4:192.0.2.1"],
    ["[::ffff:192.0.2.1]:5060", "v4:192.0.2.1"],
    ["2001:db8:1:2::1", "v6:2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:0000:0000:0000:0001", "v6:2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "v6:2001:db8:1:2::/64"],
    ["[2001:db8:1:2::5]:5061", "v6:2001:db8:1:2::/64"],
    ["fe80::1%eth0", "v6:fe80:0:0:0::/64"],
    ["::1", "v6:0:0:0:0::/64"],
    ["::", "v6:0:0:0:0::/64"],
    ["2001:db8::", "v6:2001:db8:0:0::/64"],
    ["64:ff9b::192.0.2.1", "v6:64:ff9b:0:0::/64"],
    ["1:2:3:4:5:6:192.0.2.1", "v6:1:2:3:4::/64"],
  ];
  for (const [address, key] of same) it(`${address} → ${key}`, () => assert.equal(sourceKey(address), key));

  it("different /32s and /64s are different sources", () => {
    assert.notEqual(sourceKey("192.0.2.1"), sourceKey("192.0.2.2"));
    assert.notEqual(sourceKey("2001:db8:1:2::1"), sourceKey("2001:db8:1:3::1"));
  });

  it("anything else is counted under its own text", () => {
    for (const bad of ["not-an-ip", "192.0.2.256", "192.0.2", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "::ffff:1.2.3"]) {
      assert.match(sourceKey(bad), /^other:/, bad);
    }
    assert.equal(sourceKey("x".repeat(500)).length, "other:".length + 64);
  });

  it("groups every address of a random /64 together, and IPv4 addresses one by one", () => {
    const hextet = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    fc.assert(
      fc.property(fc.array(hextet, { minLength: 4, maxLength: 4 }), fc.array(hextet, { minLength: 4, maxLength: 4 }), (prefix, iid) => {
        assert.equal(sourceKey([...prefix, ...iid].join(":")), sourceKey(`${prefix.join(":")}::1`));
        assert.equal(sourceKey([...prefix, ...iid].join(":").toUpperCase()), sourceKey([...prefix, "0", "0", "0", "0"].join(":")));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        assert.equal(sourceKey(ip), `v4:${ip.split(".").map(Number).join(".")}`);
        assert.equal(sourceKey(`::ffff:${ip}`), sourceKey(ip));
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        assert.match(sourceKey(ip), /^v[46]:/, ip);
      }),
      { numRuns: 300 },
    );
  });
});
