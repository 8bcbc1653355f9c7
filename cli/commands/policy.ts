import { flagOption, integerOption, listOption, stringOption } from "../args.js";
import { UsageError } from "../errors.js";
import { clean } from "../format.js";
import type { GroupSpec } from "../spec.js";
import {
  assignmentsText,
  effectivePolicyList,
  normalizeEtag,
  policyNameOrNull,
  policyTable,
  printJson,
  resolveTenantId,
  TENANT_OPTION,
  userGrantList,
  userGrantsTable,
} from "./common.js";

export const policyCommands: GroupSpec = {
  name: "policy",
  summary: "List the video interop policies, grant them, and see who gets which",
  commands: [
    {
      name: "get",
      summary: "List the pre-built video interop policies",
      cmdlet: "Get-CsTeamsVideoInteropServicePolicy",
      options: { filter: { type: "string", placeholder: "REGEX", description: "Only policies whose identity matches (case-insensitive)" } },
      examples: ["cvi policy get", "cvi policy get --filter OpenCVI"],
      async run(context) {
        const policies = await context.client().listPolicies(stringOption(context.options, "filter"));
        if (context.json) printJson(context, { value: policies });
        else context.out.stdout(policies.length === 0 ? "No policies match.\n" : policyTable(policies));
      },
    },
    {
      name: "grant",
      summary: "Grant a policy to a user, to a group at a rank, or tenant-wide",
      cmdlet: "Grant-CsTeamsVideoInteropServicePolicy",
      description:
        "Grants a policy to exactly one of: a user (--user), a group at a rank (--group with --rank; rank 1 wins, " +
        "taken ranks shift down), or the whole tenant (--global). --policy none (or '$null') takes a user's or group's " +
        "grant away, and returns --global to the built-in Global policy.",
      options: {
        tenant: TENANT_OPTION,
        policy: { type: "string", required: true, placeholder: "NAME", description: "The policy name (see `cvi policy get`), or none" },
        user: { type: "string", placeholder: "ID", description: "A user: Entra object id (GUID) or user principal name" },
        group: { type: "string", placeholder: "GUID", description: "A group's Entra object id; needs --rank when granting" },
        rank: { type: "string", placeholder: "N", description: "The group grant's rank, 1 (highest) to 10000" },
        global: { type: "boolean", description: "Grant tenant-wide (the users with no user or group grant)" },
        "if-match": {
          type: "string",
          placeholder: "ETAG",
          description: "With --group or --global: only if the tenant's grants are still at this version",
        },
      },
      examples: [
        "cvi policy grant --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --policy OpenCVIServiceProviderEnabled --global",
        "cvi policy grant --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --policy PexipServiceProviderEnabled --group 2b9e6c1a-0000-4000-8000-000000000001 --rank 1",
        "cvi policy grant --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --policy none --user alice@contoso.com",
      ],
      async run(context) {
        const o = context.options;
        const user = stringOption(o, "user");
        const group = stringOption(o, "group");
        const global = flagOption(o, "global");
        const rank = integerOption(o, "rank", context.commandLine);
        const ifMatch = stringOption(o, "if-match");
        const policyName = policyNameOrNull(stringOption(o, "policy") ?? "");
        const targets = [user !== undefined && "--user", group !== undefined && "--group", global && "--global"].filter((t) => t !== false);
        if (targets.length === 0) throw new UsageError("say whom to grant to: --user ID, --group GUID --rank N, or --global", context.commandLine);
        if (targets.length > 1)
          throw new UsageError(`give only one of --user, --group and --global (got ${targets.join(" and ")})`, context.commandLine);
        if (rank !== undefined && group === undefined) throw new UsageError("--rank goes with --group only", context.commandLine);
        if (group !== undefined && rank === undefined && policyName !== null) {
          throw new UsageError("--group needs --rank N (1 is the highest rank)", context.commandLine);
        }
        if (ifMatch !== undefined && user !== undefined) throw new UsageError("--if-match goes with --group or --global only", context.commandLine);
        const etag = ifMatch === undefined ? undefined : normalizeEtag(ifMatch);

        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(o, "tenant") ?? "");
        if (user !== undefined) {
          const grant = await client.grantToUser(tenantId, user, policyName);
          if (grant === undefined) {
            if (!context.json) {
              context.out.stdout(
                `Removed the policy grant of user ${clean(user)}: the user's group grant or the tenant-wide (Global) grant applies.\n`,
              );
            }
          } else if (context.json) printJson(context, grant);
          else context.out.stdout(userGrantList(grant));
          return;
        }
        const assignments =
          group !== undefined
            ? await client.grantToGroup(tenantId, group, policyName, rank, etag)
            : await client.grantGlobally(tenantId, policyName, etag);
        if (context.json) printJson(context, assignments.value);
        else context.out.stdout(assignmentsText(assignments.value));
      },
      notes: [
        "With --user and --policy none, --json prints nothing (the API answers 204 No Content).",
        "Group and tenant-wide grants print the tenant's grants after the change.",
      ],
    },
    {
      name: "assignments",
      summary: "Show a tenant's grants: tenant-wide, by group, by user",
      options: { tenant: TENANT_OPTION },
      notes: ["--json prints {global, groups, users}: the tenant-wide and group grants, and every user grant."],
      async run(context) {
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        const [assignments, users] = await Promise.all([client.getAssignments(tenantId), client.listAllUserGrants(tenantId)]);
        if (context.json) {
          printJson(context, { ...assignments.value, users });
          return;
        }
        const userText = users.length === 0 ? "User grants: none\n" : `User grants:\n${userGrantsTable(users)}`;
        context.out.stdout(`${assignmentsText(assignments.value)}\n${userText}`);
      },
    },
    {
      name: "effective",
      summary: "Show which policy a user gets, and from which grant",
      description:
        "The user's own grant wins; else the grant of their highest-ranked group among those given with --group; else the tenant-wide grant.",
      options: {
        tenant: TENANT_OPTION,
        user: { type: "string", required: true, placeholder: "ID", description: "The user: Entra object id (GUID) or user principal name" },
        group: { type: "string", multiple: true, placeholder: "GUID", description: "A group the user belongs to (repeat for each)" },
      },
      examples: [
        "cvi policy effective --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --user alice@contoso.com --group 2b9e6c1a-0000-4000-8000-000000000001",
      ],
      async run(context) {
        const user = stringOption(context.options, "user") ?? "";
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        const effective = await client.effectivePolicy(tenantId, user, listOption(context.options, "group"));
        if (context.json) printJson(context, effective);
        else context.out.stdout(effectivePolicyList(user, effective));
      },
    },
  ],
};
