import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { CosmosTenantRepository } from "../../functions/adapters/cosmos/cosmosTenantRepository.js";
import { openCosmosStore } from "../../functions/adapters/cosmos/cosmosStore.js";
import { TenantService } from "../../functions/app/tenantService.js";
import { type LocalStack, startLocalStack } from "../../local/stack.js";

let stack: LocalStack;
let repository: CosmosTenantRepository;

before(async () => {
  stack = await startLocalStack({ logLevel: "none" });
  const store = await openCosmosStore({ endpoint: stack.cosmosEndpoint, key: stack.settings.COSMOS_KEY, databaseId: "keys-test" });
  repository = new CosmosTenantRepository(store);
});
after(() => stack.stop());

/** A random source with only `size` outcomes, so that draws collide all the time. */
/**
 * A tiny key space drawn as shuffled decks: random order, but every key comes up once in
 * each run of `size` draws. With independent draws the last of 8 creations misses the one
 * free key in all of its 20 draws about once in 15 runs, which tests chance, not the store.
 */
const tinyRandom = (size: number) => {
  let deck: number[] = [];
  return () => {
    if (deck.length === 0) deck = Array.from({ length: size }, (_, i) => i).sort(() => Math.random() - 0.5);
    return deck.pop() ?? 0;
  };
};

describe("tenant key uniqueness, enforced by the store", () => {
  it("concurrent creations drawing from a tiny key space still get distinct keys", async () => {
    const service = new TenantService(repository, { serviceDomain: "cvi.localhost", randomInt: tinyRandom(8), now: () => new Date() });
    const created = await Promise.all(Array.from({ length: 8 }, (_, i) => service.add({ tenantId: randomUUID(), name: `T${i}` })));
    const keys = created.map((t) => t.value.tenantKey);
    assert.equal(new Set(keys).size, 8, `duplicate keys issued: ${keys.join(", ")}`);
    // The key space is now exhausted: the next creation fails instead of reusing a key.
    await assert.rejects(service.add({ tenantId: randomUUID(), name: "One too many" }), /no free tenant key/);
  });

  it("a removed tenant's key is retired, never issued again", async () => {
    const service = new TenantService(repository, { serviceDomain: "cvi.localhost", randomInt: () => 424242, now: () => new Date() });
    const first = await service.add({ tenantId: randomUUID(), name: "First" });
    await service.remove(first.value.tenantId);
    await assert.rejects(service.add({ tenantId: randomUUID(), name: "Second" }), /no free tenant key/);
    assert.equal(await repository.findTenantIdByKeyDigits("100424242"), undefined, "a retired key leads nowhere");
  });

  it("a failed tenant creation gives its reserved key back", async () => {
    // Two outcomes, handed out in turn, so the two racing creations reserve different keys.
    let next = 0;
    const service = new TenantService(repository, { serviceDomain: "cvi.localhost", randomInt: () => 5000 + (next++ % 2), now: () => new Date() });
    const tenantId = randomUUID();
    const results = await Promise.allSettled([service.add({ tenantId, name: "A" }), service.add({ tenantId, name: "B" })]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.equal((lost[0] as PromiseRejectedResult).reason.name, "ConflictError");
    const winnerKey = (won[0] as PromiseFulfilledResult<{ value: { tenantKey: string } }>).value.value.tenantKey;
    const loserDigits = ["100005000", "100005001"].find((d) => !winnerKey.startsWith(d)) ?? "";
    assert.equal(await repository.findTenantIdByKeyDigits(loserDigits), undefined);
    assert.equal(await repository.reserveTenantKey(loserDigits, randomUUID()), true, "the loser's key is free again");
  });
});
