import { integerOption, stringOption } from "../args.js";
import { UsageError } from "../errors.js";
import { clean } from "../format.js";
import type { GroupSpec } from "../spec.js";
import { printJson, tenantList, tenantTable } from "./common.js";

export const tenantCommands: GroupSpec = {
  name: "tenant",
  summary: "Onboard, show, list and remove tenants",
  commands: [
    {
      name: "add",
      summary: "Onboard a tenant; the service issues its tenant key",
      description: "Onboards a Microsoft 365 tenant. The service issues the tenant key (<9 digits>@t.<domain>) that its room systems dial.",
      options: {
        "tenant-id": { type: "string", required: true, placeholder: "GUID", description: "The tenant's Entra ID (Microsoft 365) tenant id" },
        name: { type: "string", required: true, placeholder: "NAME", description: "A display name, e.g. the organization's name" },
      },
      examples: ["cvi tenant add --tenant-id 72f988bf-86f1-41af-91ab-2d7cd011db47 --name Contoso"],
      async run(context) {
        const tenant = await context
          .client()
          .addTenant({ tenantId: stringOption(context.options, "tenant-id") ?? "", name: stringOption(context.options, "name") ?? "" });
        if (context.json) printJson(context, tenant.value);
        else context.out.stdout(tenantList(tenant.value));
      },
    },
    {
      name: "get",
      summary: "Show a tenant, by tenant id or tenant key",
      options: {},
      positionals: [{ name: "tenantIdOrKey", required: true, description: "The tenant id (GUID) or the tenant key" }],
      examples: ["cvi tenant get 72f988bf-86f1-41af-91ab-2d7cd011db47", "cvi tenant get 813878896@t.cvi.localhost"],
      async run(context) {
        const tenant = await context.client().getTenant(context.positionals[0] ?? "");
        if (context.json) printJson(context, tenant.value);
        else context.out.stdout(tenantList(tenant.value));
      },
    },
    {
      name: "list",
      summary: "List all tenants",
      description: "Lists every tenant, fetching page after page until the API has no more.",
      options: {
        "page-size": { type: "string", placeholder: "N", description: "Tenants per request, 1-1000 (default: the API's, 100)" },
      },
      async run(context) {
        const top = integerOption(context.options, "page-size", context.commandLine);
        if (top !== undefined && top < 1) throw new UsageError("option --page-size must be at least 1", context.commandLine);
        const tenants = await context.client().listAllTenants(top === undefined ? {} : { top });
        if (context.json) printJson(context, { value: tenants });
        else context.out.stdout(tenants.length === 0 ? "No tenants.\n" : tenantTable(tenants));
      },
    },
    {
      name: "consent-link",
      summary: "Print an admin-consent link for the tenant's administrator",
      description:
        "Makes a single-use link, valid for an hour, that takes the tenant's administrator to Microsoft's admin-consent page for this service's app. " +
        "Making a new link invalidates the previous one. The tenant's consent state shows in `cvi tenant get` once the administrator has answered.",
      options: {},
      positionals: [{ name: "tenantIdOrKey", required: true, description: "The tenant id (GUID) or the tenant key" }],
      examples: ["cvi tenant consent-link 72f988bf-86f1-41af-91ab-2d7cd011db47"],
      async run(context) {
        const link = await context.client().consentLink(context.positionals[0] ?? "");
        if (context.json) printJson(context, link);
        else context.out.stdout(`${link.url}\n(valid until ${link.expiresAt}; single use)\n`);
      },
    },
    {
      name: "remove",
      summary: "Remove a tenant and everything stored for it",
      description:
        "Off-boards a tenant: its providers and policy grants are deleted, and its tenant key is retired for good (never issued to another tenant).",
      options: {},
      positionals: [{ name: "tenantIdOrKey", required: true, description: "The tenant id (GUID) or the tenant key" }],
      examples: ["cvi tenant remove 72f988bf-86f1-41af-91ab-2d7cd011db47"],
      notes: ["With --json nothing is printed (the API answers 204 No Content); the exit code tells the outcome."],
      async run(context) {
        const tenant = context.positionals[0] ?? "";
        await context.client().removeTenant(tenant);
        if (!context.json) context.out.stdout(`Removed tenant ${clean(tenant)}.\n`);
      },
    },
  ],
};
