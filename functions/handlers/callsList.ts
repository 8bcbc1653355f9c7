import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX, HISTORY_WINDOW_MAX_DAYS, parseCallListRequest } from "../app/callQueries.js";
import { handleAdminRequest, json } from "../platform/adminRequest.js";
import { callScopeOf } from "../platform/callScope.js";
import { operatorOrTenantAdmin } from "../platform/tenantScope.js";
import { registerHttpRoute } from "../platform/httpRoutes.js";

/** Live calls, or call history a page at a time (the media hosts' POST /v1/calls joins; this is the operators' view). */
export async function callsList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return handleAdminRequest(
    request,
    context,
    async (plane, principal) => {
      const list = parseCallListRequest(request.query, new Date());
      const page = await plane.calls.list(list, callScopeOf(principal, plane.config.ADMIN_AUTH_ROLE));
      return json(200, { value: page.items, ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}) });
    },
    operatorOrTenantAdmin,
  );
}

registerHttpRoute({
  name: "callsList",
  methods: ["GET"],
  route: "v1/calls",
  handler: callsList,
  doc: {
    tenantAdmin: true,
    summary: "Live calls (state=live, the default), or ended calls newest first (state=ended), a page at a time",
    tag: "Calls",
    query: [
      { name: "state", description: "live (default): every call not ended; ended: call history" },
      { name: "tenant", description: "Only this tenant's calls (a tenant id)" },
      { name: "from", description: "History: calls that started at or after this ISO 8601 date-time (default: 24 hours before to)" },
      {
        name: "to",
        description: `History: calls that started before this ISO 8601 date-time (default: now); the window is at most ${HISTORY_WINDOW_MAX_DAYS} days`,
      },
      { name: "outcome", description: "History: connected (was in the meeting) or not-connected (ended before)" },
      { name: "reason", description: "History: the end reason, exactly as recorded" },
      { name: "top", description: `History: page size, 1-${HISTORY_PAGE_MAX} (default ${HISTORY_PAGE_DEFAULT})` },
      { name: "continuationToken", description: "History: from the previous page's answer (with the same filters, or none)" },
    ],
    responses: {
      200: { description: "Calls, newest first", schema: "CallSummaryPage" },
      400: { description: "A parameter is wrong (named in errors), or the continuation token is not one this API issued for this query" },
    },
  },
});
