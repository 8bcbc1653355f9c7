// Loads every function module so each registers itself (the Functions host loads
// them through package.json "main"; the local stack and tests through this file).
import "./tenantsCreate.js";
import "./tenantsList.js";
import "./tenantsGet.js";
import "./tenantsRemove.js";
import "./providersCreate.js";
import "./providersList.js";
import "./providersGet.js";
import "./providersSet.js";
import "./providersRemove.js";
import "./policiesList.js";
import "./policyAssignmentsGet.js";
import "./policyUserGrantsList.js";
import "./policyGrantToUser.js";
import "./policyGrantToGroup.js";
import "./policyGrantGlobally.js";
import "./effectivePolicyGet.js";
import "./tenantsConsentLink.js";
import "./consentCallback.js";
import "./meetingsResolve.js";
import "./callsCreate.js";
import "./callsDelete.js";
import "./callsGet.js";
import "./graphCallNotifications.js";
import "./openApi.js";
