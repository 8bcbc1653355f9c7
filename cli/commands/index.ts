import type { GroupSpec } from "../spec.js";
import { callCommands } from "./calls.js";
import { hostCommands } from "./host.js";
import { policyCommands } from "./policy.js";
import { providerCommands } from "./provider.js";
import { tenantCommands } from "./tenant.js";

/** Every command group, in the order `cvi --help` lists them. */
export const commandGroups: readonly GroupSpec[] = [tenantCommands, providerCommands, policyCommands, hostCommands, callCommands];
