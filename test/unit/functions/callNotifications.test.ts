import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commsNotificationsSchema, readCallEvents, toStateObservation } from "../../../functions/app/callNotifications.js";

const CALL = "2f1a1100-b174-40a0-aba7-0b405e01ed92";
const CHAIN = "a590efba-429f-46c8-bc2b-a12134505bcf";

const events = (...value: unknown[]) =>
  readCallEvents(commsNotificationsSchema.parse({ "@odata.type": "#microsoft.graph.commsNotifications", value }));

describe("call notifications: the callChainId", () => {
  it("is read from a call's resourceData, as Graph sends it", () => {
    const [event] = events({
      "@odata.type": "#microsoft.graph.commsNotification",
      changeType: "updated",
      resourceUrl: `/communications/calls/${CALL}`,
      resource: `/app/calls/${CALL}`,
      resourceData: { "@odata.type": "#microsoft.graph.call", state: "established", callChainId: CHAIN, id: CALL },
    });
    assert.equal(event?.callId, CALL);
    assert.deepEqual(event?.observation, { kind: "state", state: "established", resultInfo: null, myParticipantId: null, callChainId: CHAIN });
  });

  it("is null when the notification does not name it, or names something that is not a GUID", () => {
    assert.equal((toStateObservation({ state: "establishing" }, false) as { callChainId: unknown }).callChainId, null);
    for (const callChainId of ["", "chain-1", `${CHAIN}\nforged`, 7, { id: CHAIN }])
      assert.equal((toStateObservation({ state: "established", callChainId }, false) as { callChainId: unknown }).callChainId, null);
  });

  it("is read from a deleted call's last state too", () => {
    const observation = toStateObservation(
      { state: "terminated", callChainId: CHAIN, resultInfo: { code: 200, subcode: 5001, message: "bye" } },
      true,
    );
    assert.equal((observation as { callChainId: unknown }).callChainId, CHAIN);
  });
});
