import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planDispatcher, type WantedHost } from "../../../edge/agent/dispatcherPlan.js";
import type { DispatcherDestination } from "../../../edge/agent/kamailioRpc.js";

const host = (hostId: string, port: number, draining = false, capacity = 40): WantedHost => ({
  hostId,
  sipUri: `sip:127.0.0.1:${port}`,
  capacity,
  draining,
});
const listed = (hostId: string | undefined, port: number, state: DispatcherDestination["state"] = "active", maxLoad = 40): DispatcherDestination => ({
  uri: `sip:127.0.0.1:${port}`,
  hostId,
  maxLoad,
  state,
  probing: state !== "disabled",
  load: 3,
});

describe("the edge's dispatcher plan", () => {
  it("adds the pool's hosts with their id and capacity; a draining one is added disabled", () => {
    assert.deepEqual(planDispatcher([host("mh-1", 5071), host("mh-2", 5072, true, 20)], []), [
      { kind: "add", hostId: "mh-1", uri: "sip:127.0.0.1:5071", attributes: "duid=mh-1;maxload=40", disabled: false },
      { kind: "add", hostId: "mh-2", uri: "sip:127.0.0.1:5072", attributes: "duid=mh-2;maxload=20", disabled: true },
    ]);
  });

  it("changes nothing when the dispatcher already matches, whatever its probes found", () => {
    const wanted = [host("mh-1", 5071), host("mh-2", 5072, true), host("mh-3", 5073)];
    const current = [listed("mh-1", 5071, "inactive"), listed("mh-2", 5072, "disabled"), listed("mh-3", 5073, "trying")];
    assert.deepEqual(planDispatcher(wanted, current), []);
  });

  it("disables a host that starts draining and enables it when undrained, before any list change", () => {
    const plan = planDispatcher(
      [host("mh-1", 5071, true), host("mh-2", 5072), host("mh-4", 5074)],
      [listed("mh-1", 5071), listed("mh-2", 5072, "disabled"), listed("mh-3", 5073)],
    );
    assert.deepEqual(plan, [
      { kind: "disable", hostId: "mh-1" },
      { kind: "enable", hostId: "mh-2" },
      { kind: "remove", hostId: "mh-3", uri: "sip:127.0.0.1:5073" },
      { kind: "add", hostId: "mh-4", uri: "sip:127.0.0.1:5074", attributes: "duid=mh-4;maxload=40", disabled: false },
    ]);
  });

  it("moves a host that re-registered at another address or with another capacity, and drops entries that are not ours", () => {
    const plan = planDispatcher(
      [host("mh-1", 6071), host("mh-2", 5072, false, 80)],
      [listed("mh-1", 5071), listed("mh-2", 5072), listed(undefined, 5999)],
    );
    assert.deepEqual(plan, [
      { kind: "remove", hostId: "mh-1", uri: "sip:127.0.0.1:5071" },
      { kind: "remove", hostId: "mh-2", uri: "sip:127.0.0.1:5072" },
      { kind: "remove", hostId: undefined, uri: "sip:127.0.0.1:5999" },
      { kind: "add", hostId: "mh-1", uri: "sip:127.0.0.1:6071", attributes: "duid=mh-1;maxload=40", disabled: false },
      { kind: "add", hostId: "mh-2", uri: "sip:127.0.0.1:5072", attributes: "duid=mh-2;maxload=80", disabled: false },
    ]);
  });

  it("keeps one entry per host when the dispatcher lists it twice", () => {
    assert.deepEqual(planDispatcher([host("mh-1", 5071)], [listed("mh-1", 5071), listed("mh-1", 5071)]), [
      { kind: "remove", hostId: "mh-1", uri: "sip:127.0.0.1:5071" },
    ]);
  });
});
