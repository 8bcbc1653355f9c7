import { booleanOption, stringOption } from "../args.js";
import type { NewProvider, ProviderChanges } from "../apiTypes.js";
import { UsageError } from "../errors.js";
import { clean } from "../format.js";
import type { CommandContext, GroupSpec, OptionSpec } from "../spec.js";
import { normalizeEtag, printJson, providerList, providerTable, resolveTenantId, TENANT_OPTION } from "./common.js";

const IDENTITY: OptionSpec = {
  type: "string",
  required: true,
  placeholder: "NAME",
  description: "The provider: Polycom, BlueJeans, Pexip, Cisco or this service's own name, e.g. OpenCVI (any case)",
};

/** The settable fields of New-/Set-CsVideoInteropServiceProvider. */
const FIELD_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "tenant-key": {
    type: "string",
    placeholder: "KEY",
    description: "The tenant key devices dial; for this service's own provider it must be the tenant's key",
  },
  "instruction-uri": {
    type: "string",
    placeholder: "URI",
    description: "Join instructions shown in invites; may contain {ConfId}. \"\" or '$null' clears it (set only)",
  },
  "allow-app-guest-joins-as-authenticated": {
    type: "optional-boolean",
    description: "Let guests joining through the provider's app count as authenticated (true if given without a value)",
  },
  "aad-application-ids": {
    type: "string",
    placeholder: "IDS",
    description: 'The provider\'s Entra application ids, semicolon-separated: "id1;id2" ("" clears them, set only)',
  },
};

const IF_MATCH: OptionSpec = {
  type: "string",
  placeholder: "ETAG",
  description: "Change only if the provider is still at this version (the ETag `provider get --identity` shows); else exit 5",
};

function fields(context: CommandContext): ProviderChanges {
  const o = context.options;
  const instructionUri = stringOption(o, "instruction-uri");
  const allow = booleanOption(o, "allow-app-guest-joins-as-authenticated");
  const aadApplicationIds = stringOption(o, "aad-application-ids");
  const tenantKey = stringOption(o, "tenant-key");
  return {
    ...(tenantKey === undefined ? {} : { tenantKey }),
    ...(instructionUri === undefined
      ? {}
      : { instructionUri: instructionUri.trim() === "" || instructionUri.trim() === "$null" ? null : instructionUri }),
    ...(allow === undefined ? {} : { allowAppGuestJoinsAsAuthenticated: allow }),
    ...(aadApplicationIds === undefined ? {} : { aadApplicationIds }),
  };
}

function printProvider(context: CommandContext, value: object, etag: string | undefined, text: string): void {
  // The ETag travels in a header; --json adds it to the body so that scripts can pass it to --if-match.
  if (context.json) printJson(context, { ...value, ...(etag === undefined ? {} : { etag }) });
  else context.out.stdout(text);
}

export const providerCommands: GroupSpec = {
  name: "provider",
  summary: "Manage a tenant's video interop service providers",
  commands: [
    {
      name: "new",
      summary: "Add a provider to a tenant",
      cmdlet: "New-CsVideoInteropServiceProvider",
      notes: ['With --json the answer gets an "etag" property: the ETag to pass to --if-match.'],
      options: {
        tenant: TENANT_OPTION,
        identity: IDENTITY,
        ...FIELD_OPTIONS,
        "tenant-key": { ...(FIELD_OPTIONS["tenant-key"] as OptionSpec), required: true },
      },
      examples: [
        "cvi provider new --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --identity OpenCVI --tenant-key 813878896@t.cvi.localhost",
        'cvi provider new --tenant 813878896@t.cvi.localhost --identity Pexip --tenant-key 123456@t.pexip.example --aad-application-ids "<guid1>;<guid2>"',
      ],
      async run(context) {
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        const input: NewProvider = { identity: stringOption(context.options, "identity") ?? "", tenantKey: "", ...fields(context) };
        const provider = await client.createProvider(tenantId, input);
        printProvider(context, provider.value, provider.etag, providerList(provider.value, provider.etag));
      },
    },
    {
      name: "set",
      summary: "Change some of a provider's settings",
      cmdlet: "Set-CsVideoInteropServiceProvider",
      notes: ['With --json the answer gets an "etag" property: the ETag to pass to --if-match.'],
      description: "Changes only the settings given; the others keep their values.",
      options: { tenant: TENANT_OPTION, identity: IDENTITY, ...FIELD_OPTIONS, "if-match": IF_MATCH },
      examples: [
        "cvi provider set --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --identity OpenCVI --instruction-uri 'https://cvi.example.net/join?conf={ConfId}'",
        "cvi provider set --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --identity OpenCVI --allow-app-guest-joins-as-authenticated false",
      ],
      async run(context) {
        const changes = fields(context);
        if (Object.keys(changes).length === 0) {
          throw new UsageError(
            `give at least one setting to change: ${Object.keys(FIELD_OPTIONS)
              .map((n) => `--${n}`)
              .join(", ")}`,
            context.commandLine,
          );
        }
        const ifMatch = stringOption(context.options, "if-match");
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        const provider = await client.updateProvider(
          tenantId,
          stringOption(context.options, "identity") ?? "",
          changes,
          ifMatch === undefined ? undefined : normalizeEtag(ifMatch),
        );
        printProvider(context, provider.value, provider.etag, providerList(provider.value, provider.etag));
      },
    },
    {
      name: "get",
      summary: "Show one provider, or list a tenant's providers",
      cmdlet: "Get-CsVideoInteropServiceProvider",
      notes: ['With --json the answer gets an "etag" property: the ETag to pass to --if-match.'],
      options: {
        tenant: TENANT_OPTION,
        identity: { ...IDENTITY, required: false, description: "Show this provider only (with its ETag)" },
        filter: { type: "string", placeholder: "REGEX", description: "List only providers whose identity matches (case-insensitive)" },
      },
      examples: [
        "cvi provider get --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47",
        "cvi provider get --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --identity OpenCVI",
      ],
      async run(context) {
        const identity = stringOption(context.options, "identity");
        const filter = stringOption(context.options, "filter");
        if (identity !== undefined && filter !== undefined) throw new UsageError("give --identity or --filter, not both", context.commandLine);
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        if (identity !== undefined) {
          const provider = await client.getProvider(tenantId, identity);
          printProvider(context, provider.value, provider.etag, providerList(provider.value, provider.etag));
          return;
        }
        const providers = await client.listProviders(tenantId, filter);
        if (context.json) printJson(context, { value: providers });
        else context.out.stdout(providers.length === 0 ? "No providers.\n" : providerTable(providers));
      },
    },
    {
      name: "remove",
      summary: "Remove a provider from a tenant",
      cmdlet: "Remove-CsVideoInteropServiceProvider",
      options: {
        tenant: TENANT_OPTION,
        identity: IDENTITY,
        "if-match": { ...IF_MATCH, description: "Remove only if the provider is still at this version" },
      },
      notes: ["With --json nothing is printed (the API answers 204 No Content); the exit code tells the outcome."],
      async run(context) {
        const ifMatch = stringOption(context.options, "if-match");
        const identity = stringOption(context.options, "identity") ?? "";
        const client = context.client();
        const tenantId = await resolveTenantId(client, stringOption(context.options, "tenant") ?? "");
        await client.removeProvider(tenantId, identity, ifMatch === undefined ? undefined : normalizeEtag(ifMatch));
        if (!context.json) context.out.stdout(`Removed provider ${clean(identity)} from tenant ${tenantId}.\n`);
      },
    },
  ],
};
