import { InProcessMessageBus } from "../../../shared/bus/inProcessMessageBus.js";

/**
 * The one-machine default bus, shared by the control plane and the media hosts the
 * local stack runs in the same process. The Service Bus adapter replaces it where
 * media hosts are separate VMs.
 */
export const processBus = new InProcessMessageBus();
