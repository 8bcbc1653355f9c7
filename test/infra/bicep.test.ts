import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Language, type Node, Parser } from "web-tree-sitter";
import { CONTAINERS } from "../../functions/adapters/cosmos/cosmosStore.js";
import { controlPlaneConfigSchema } from "../../functions/config.js";
import { mediaHostConfigSchema } from "../../media-host/config.js";

/**
 * No Bicep compiler can run here, so the templates are checked with the tree-sitter
 * Bicep grammar: every file must parse cleanly, and the facts the code relies on
 * (app setting names, Cosmos containers, runtime version) are read from the syntax tree.
 * The tree is walked rather than the text matched so that comments, formatting and
 * property order cannot fool the checks, and anything the walk cannot read as a plain
 * literal (an interpolated setting name, a computed appSettings array) fails loudly
 * instead of being skipped.
 */

/** The repository root: the nearest ancestor holding infra/main.bicep (works from test/ and dist/test/). */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "infra", "main.bicep")) && existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("infra/main.bicep not found above the test file");
    dir = parent;
  }
}

const root = findRepoRoot();
const infraDir = join(root, "infra");

interface BicepFile {
  /** Path relative to the repository root, for messages. */
  readonly name: string;
  readonly path: string;
  readonly root: Node;
}

const files: BicepFile[] = [];

function where(file: BicepFile, node: Node): string {
  return `${file.name}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
}

function* walk(node: Node): Generator<Node> {
  yield node;
  for (const child of node.children) yield* walk(child);
}

function nodesOfType(file: BicepFile, type: string): Node[] {
  return [...walk(file.root)].filter((n) => n.type === type);
}

/** Named children other than comments (which tree-sitter attaches wherever they fall). */
function parts(node: Node): Node[] {
  return node.namedChildren.filter((n) => !n.isExtra);
}

const escapes: Record<string, string> = { "\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$" };

/** The value of a string literal, or undefined for anything else (including interpolated strings). */
function literal(node: Node | undefined): string | undefined {
  if (node?.type !== "string") return undefined;
  let value = "";
  for (const child of parts(node)) {
    if (child.type === "string_content") value += child.text;
    else if (child.type === "escape_sequence" && child.text in escapes) value += escapes[child.text];
    else return undefined;
  }
  return value;
}

/** An object's properties by key; keys may be identifiers or quoted strings. */
function properties(object: Node): Map<string, Node> {
  const result = new Map<string, Node>();
  for (const property of parts(object).filter((n) => n.type === "object_property")) {
    const [key, value] = [parts(property)[0], parts(property).at(-1)];
    const name = key?.type === "identifier" ? key.text : literal(key);
    if (name !== undefined && value !== undefined && value !== key) result.set(name, value);
  }
  return result;
}

/** Follows a path of property names through nested object literals. */
function at(object: Node | undefined, ...path: string[]): Node | undefined {
  let node = object;
  for (const key of path) {
    if (node?.type !== "object") return undefined;
    node = properties(node).get(key);
  }
  return node;
}

/** The `type@version` string of a resource declaration. */
function resourceType(declaration: Node): string | undefined {
  return literal(parts(declaration).find((n) => n.type === "string"));
}

/** The body object of a resource or module declaration, also when it is conditional (`= if (...) {...}`) or a loop (`= [for ...: {...}]`). */
function resourceBody(declaration: Node): Node | undefined {
  let body = parts(declaration).at(-1);
  if (body?.type === "for_statement") body = parts(body).at(-1);
  if (body?.type === "object") return body;
  if (body?.type === "if_statement") return parts(body).find((n) => n.type === "object");
  return undefined;
}

/** A loop declaration's loop: the collection it iterates over and its item variable (`[for (item, i) in collection: ...]`). */
function loopOf(declaration: Node): { collection: string; item: string; index: string | undefined } | undefined {
  const loop = parts(declaration).find((n) => n.type === "for_statement");
  if (!loop) return undefined;
  // `for item in collection` has two identifiers; `for (item, index) in collection` a for_loop_parameters and one.
  const [head, collection] = parts(loop);
  if (collection?.type !== "identifier") return undefined;
  if (head?.type === "identifier") return { collection: collection.text, item: head.text, index: undefined };
  const variables = head?.type === "for_loop_parameters" ? parts(head) : [];
  const item = variables.find((n) => n.type === "loop_variable")?.text;
  if (item === undefined) return undefined;
  return { collection: collection.text, item, index: variables.find((n) => n.type === "loop_enumerator")?.text };
}

/** Whether a resource declaration is `existing` (a reference, not a deployment). */
function isExisting(declaration: Node): boolean {
  return declaration.children.some((n) => n.type === "existing");
}

/** The resource declarations of a file whose type (before the @version) is `type`. */
function resourcesOfType(file: BicepFile, type: string): Node[] {
  return nodesOfType(file, "resource_declaration").filter((d) => resourceType(d)?.split("@")[0] === type);
}

/** The declared symbol (its first identifier) of a declaration. */
function symbolOf(declaration: Node): string | undefined {
  return parts(declaration).find((n) => n.type === "identifier")?.text;
}

/** A file's top-level `var` and `param` declarations by name: their value, or a param's default. */
function declaredValues(file: BicepFile): Map<string, Node> {
  const values = new Map<string, Node>();
  for (const declaration of parts(file.root)) {
    if (declaration.type !== "variable_declaration" && declaration.type !== "parameter_declaration") continue;
    const [name, ...rest] = parts(declaration);
    const value = rest.at(-1);
    if (name?.type === "identifier" && value !== undefined && value.type !== "type") values.set(name.text, value);
  }
  return values;
}

type Value = string | number | boolean;

/**
 * The value of an expression built only from literals, interpolation, + - * and the file's own
 * vars and params (with their defaults), or undefined for anything else (a resource property,
 * a loop variable, a function call).
 */
function evaluate(file: BicepFile, node: Node | undefined, depth = 0): Value | undefined {
  if (node === undefined || depth > 20) return undefined;
  switch (node.type) {
    case "number":
      return Number(node.text);
    case "boolean":
      return node.text === "true";
    case "parenthesized_expression":
      return evaluate(file, parts(node)[0], depth + 1);
    case "identifier": {
      const value = declaredValues(file).get(node.text);
      return value === undefined ? undefined : evaluate(file, value, depth + 1);
    }
    case "string": {
      let text = "";
      for (const child of parts(node)) {
        if (child.type === "string_content") text += child.text;
        else if (child.type === "escape_sequence" && child.text in escapes) text += escapes[child.text];
        else if (child.type === "interpolation") {
          const value = evaluate(file, parts(child)[0], depth + 1);
          if (value === undefined) return undefined;
          text += String(value);
        } else return undefined;
      }
      return text;
    }
    case "binary_expression": {
      const [left, right] = parts(node).map((n) => evaluate(file, n, depth + 1));
      const operator = node.children.find((n) => !n.isNamed)?.text;
      if (typeof left !== "number" || typeof right !== "number") return undefined;
      if (operator === "+") return left + right;
      if (operator === "-") return left - right;
      if (operator === "*") return left * right;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The node and, through identifiers naming the file's vars, the values those vars hold: what an expression is built from. */
function* expandedNodes(file: BicepFile, node: Node, seen = new Set<string>()): Generator<Node> {
  for (const n of walk(node)) {
    yield n;
    if (n.type !== "identifier" || seen.has(n.text)) continue;
    const value = declaredValues(file).get(n.text);
    if (value === undefined) continue;
    seen.add(n.text);
    yield* expandedNodes(file, value, seen);
  }
}

function fileNamed(name: string): BicepFile {
  const file = files.find((f) => f.path === join(infraDir, ...name.split("/")));
  assert.ok(file, `infra/${name} was not parsed`);
  return file;
}

/** Names of the decorators (`@description(...)` → "description") on a declaration. */
function decoratorNames(declaration: Node): string[] {
  let previous = declaration.previousNamedSibling;
  while (previous?.isExtra) previous = previous.previousNamedSibling;
  if (previous?.type !== "decorators") return [];
  return parts(previous).map((d) => /^@\s*(?:sys\s*\.\s*)?(\w+)/.exec(d.text)?.[1] ?? d.text);
}

function mainFile(): BicepFile {
  const main = files.find((f) => f.path === join(infraDir, "main.bicep"));
  assert.ok(main, "infra/main.bicep was not parsed");
  return main;
}

/** The one Function App (Microsoft.Web/sites with kind functionapp...) declared in main.bicep. */
function functionAppBody(): { file: BicepFile; body: Node } {
  const file = mainFile();
  const sites = nodesOfType(file, "resource_declaration").filter((d) => {
    const kind = literal(at(resourceBody(d), "kind"));
    return resourceType(d)?.startsWith("Microsoft.Web/sites@") === true && kind?.startsWith("functionapp") === true;
  });
  assert.equal(sites.length, 1, `expected exactly one Function App resource in ${file.name}, found ${sites.length}`);
  const body = resourceBody(sites[0] as Node);
  assert.ok(body, `${where(file, sites[0] as Node)}: Function App body is not an object literal`);
  return { file, body };
}

before(async () => {
  // web-tree-sitter finds its own runtime wasm next to its module; the grammar is a
  // separate wasm shipped by tree-sitter-bicep, located through Node resolution.
  await Parser.init();
  const wasm = createRequire(import.meta.url).resolve("tree-sitter-bicep/tree-sitter-bicep.wasm");
  const language = await Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(language);
  const paths = readdirSync(infraDir, { recursive: true, encoding: "utf8" })
    .filter((p) => p.endsWith(".bicep"))
    .map((p) => join(infraDir, p))
    .sort();
  for (const path of paths) {
    const tree = parser.parse(readFileSync(path, "utf8"));
    assert.ok(tree, `tree-sitter returned no tree for ${path}`);
    files.push({ name: relative(root, path), path, root: tree.rootNode });
  }
});

describe("infra/*.bicep", () => {
  it("finds main.bicep and its modules", () => {
    assert.ok(files.some((f) => f.name === join("infra", "main.bicep")));
    assert.ok(files.length > 1, `only ${files.length} .bicep file(s) under infra/`);
  });

  it("every file parses without ERROR or MISSING nodes", () => {
    const problems: string[] = [];
    for (const file of files) {
      assert.equal(file.root.type, "infrastructure", `${file.name}: unexpected root node ${file.root.type}`);
      if (!file.root.hasError) continue;
      for (const node of walk(file.root)) {
        if (node.isMissing) problems.push(`${where(file, node)} MISSING ${JSON.stringify(node.type)}`);
        else if (node.isError) problems.push(`${where(file, node)} ERROR near ${JSON.stringify(node.text.slice(0, 60))}`);
      }
      if (problems.length === 0) problems.push(`${file.name}: tree has errors but none was located`);
    }
    assert.deepEqual(problems, [], `syntax errors:\n${problems.join("\n")}`);
  });

  it("every resource declaration names its type with an explicit API version", () => {
    const typeAtVersion = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+(\/[A-Za-z][A-Za-z0-9]*)+@\d{4}-\d{2}-\d{2}(-preview)?$/;
    const problems: string[] = [];
    let count = 0;
    for (const file of files) {
      for (const declaration of nodesOfType(file, "resource_declaration")) {
        count++;
        const type = resourceType(declaration);
        if (type === undefined || !typeAtVersion.test(type)) {
          problems.push(
            `${where(file, declaration)} resource type ${type === undefined ? "is not a plain string" : JSON.stringify(type)} is not 'Namespace/type@yyyy-mm-dd'`,
          );
        }
      }
    }
    assert.ok(count > 0, "no resource declarations found");
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  it("every module path points to an existing .bicep file", () => {
    const problems: string[] = [];
    for (const file of files) {
      for (const declaration of nodesOfType(file, "module_declaration")) {
        const path = literal(parts(declaration).find((n) => n.type === "string"));
        if (path === undefined || !path.endsWith(".bicep")) {
          problems.push(`${where(file, declaration)} module path ${JSON.stringify(path)} is not a local .bicep file`);
        } else if (!existsSync(resolve(dirname(file.path), path))) {
          problems.push(`${where(file, declaration)} module path ${JSON.stringify(path)} does not exist`);
        }
      }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  it("every param has @description, and params that look like secrets are @secure()", () => {
    const secretish = /(secret|password|key|token|credential|connectionstring)s?$/i;
    const problems: string[] = [];
    for (const file of files) {
      for (const declaration of nodesOfType(file, "parameter_declaration")) {
        const name = parts(declaration)[0]?.text ?? "?";
        const decorators = decoratorNames(declaration);
        if (!decorators.includes("description")) problems.push(`${where(file, declaration)} param ${name} has no @description`);
        if (secretish.test(name) && !decorators.includes("secure"))
          problems.push(`${where(file, declaration)} param ${name} looks secret but is not @secure()`);
      }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });
});

/**
 * Control plane settings the Function App deliberately does not set: COSMOS_KEY (Cosmos is
 * reached with the managed identity; local auth is disabled), SERVICE_BUS_ENDPOINT (a custom
 * AMQP endpoint for local stand-ins), and the client-secret / user-assigned identity settings
 * (the app uses its system-assigned identity, which needs none of them).
 */
const UNSET_IN_AZURE = ["COSMOS_KEY", "SERVICE_BUS_ENDPOINT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"];

describe("infra/main.bicep Function App", () => {
  /** The appSettings names, each required to be a literal `{ name: '...', value: ... }` entry. */
  function appSettingNames(): string[] {
    const { file, body } = functionAppBody();
    const settings = at(body, "properties", "siteConfig", "appSettings");
    assert.equal(settings?.type, "array", `${file.name}: properties.siteConfig.appSettings must be an array literal`);
    const names: string[] = [];
    for (const entry of parts(settings as Node)) {
      const name = literal(at(entry, "name"));
      assert.ok(name !== undefined, `${where(file, entry)}: each app setting must be an object literal with a plain string name`);
      names.push(name);
    }
    return names;
  }

  it("sets every control plane config key except those Azure leaves unset", () => {
    const names = appSettingNames();
    const expected = Object.keys(controlPlaneConfigSchema.shape).filter((k) => !UNSET_IN_AZURE.includes(k));
    assert.deepEqual(
      expected.filter((k) => !names.includes(k)),
      [],
      "app settings missing for functions/config.ts keys",
    );
    // App Service setting names are case-insensitive, so a near-duplicate is a real conflict.
    const lower = names.map((n) => n.toLowerCase());
    assert.deepEqual(
      names.filter((_, i) => lower.indexOf(lower[i] as string) !== i),
      [],
      "duplicate app settings",
    );
  });

  it("does not set COSMOS_KEY, key-based storage, or settings Flex Consumption rejects", () => {
    const forbidden = [
      ...UNSET_IN_AZURE,
      "AzureWebJobsStorage", // identity-based AzureWebJobsStorage__accountName instead
      "FUNCTIONS_WORKER_RUNTIME", // Flex: functionAppConfig.runtime
      "FUNCTIONS_EXTENSION_VERSION", // Flex: managed by the platform
      "WEBSITE_RUN_FROM_PACKAGE", // Flex: functionAppConfig.deployment
      "WEBSITE_CONTENTSHARE",
      "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
      "WEBSITE_NODE_DEFAULT_VERSION",
      "SCM_DO_BUILD_DURING_DEPLOYMENT",
    ].map((n) => n.toLowerCase());
    const names = appSettingNames();
    assert.deepEqual(
      names.filter((n) => forbidden.includes(n.toLowerCase())),
      [],
    );
  });

  it("mentions COSMOS_KEY nowhere as a string or property name in any template", () => {
    const hits: string[] = [];
    for (const file of files) {
      for (const node of walk(file.root)) {
        const isKey = node.type === "identifier" && node.parent?.type === "object_property" && node.parent.namedChildren[0]?.equals(node) === true;
        if ((isKey && node.text === "COSMOS_KEY") || literal(node) === "COSMOS_KEY") hits.push(where(file, node));
      }
    }
    assert.deepEqual(hits, []);
  });

  it("runs Node with the major version package.json engines asks for", () => {
    const { file, body } = functionAppBody();
    const runtime = at(body, "properties", "functionAppConfig", "runtime");
    assert.equal(literal(at(runtime, "name")), "node", `${file.name}: functionAppConfig.runtime.name`);
    const engines = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines?: { node?: string } }).engines?.node;
    const major = /\d+/.exec(engines ?? "")?.[0];
    assert.ok(major, "package.json has no engines.node");
    assert.equal(literal(at(runtime, "version")), major, `${file.name}: functionAppConfig.runtime.version`);
  });
});

describe("infra Cosmos DB containers", () => {
  it("match CONTAINERS in functions/adapters/cosmos/cosmosStore.ts", () => {
    const declared: { id: string; partitionKeyPath: string }[] = [];
    for (const file of files) {
      for (const declaration of nodesOfType(file, "resource_declaration")) {
        if (!resourceType(declaration)?.startsWith("Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@")) continue;
        const resource = at(resourceBody(declaration), "properties", "resource");
        const id = literal(at(resource, "id"));
        const paths = at(resource, "partitionKey", "paths");
        const pathValues = paths?.type === "array" ? parts(paths).map(literal) : [];
        const [path] = pathValues;
        assert.ok(
          id !== undefined && path !== undefined && pathValues.length === 1,
          `${where(file, declaration)}: container id and its single partition key path must be string literals`,
        );
        declared.push({ id, partitionKeyPath: path });
      }
    }
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    const expected = Object.values(CONTAINERS).map(({ id, partitionKeyPath }) => ({ id, partitionKeyPath }));
    assert.deepEqual(declared.sort(byId), expected.sort(byId));
  });
});

describe("infra Service Bus between control plane and media hosts", () => {
  it("the command topic drops duplicates by message id (10 minutes)", () => {
    const file = fileNamed("modules/servicebus.bicep");
    const topics = resourcesOfType(file, "Microsoft.ServiceBus/namespaces/topics").filter((d) => !isExisting(d));
    assert.equal(topics.length, 1, `${file.name}: expected one topic`);
    const props = at(resourceBody(topics[0] as Node), "properties");
    assert.equal(evaluate(file, at(props, "requiresDuplicateDetection")), true, "requiresDuplicateDetection");
    assert.equal(evaluate(file, at(props, "duplicateDetectionHistoryTimeWindow")), "PT10M", "duplicateDetectionHistoryTimeWindow");
  });

  it("has one plain (not session) subscription per media host, named by its id", () => {
    const file = fileNamed("modules/servicebus.bicep");
    const subscriptions = resourcesOfType(file, "Microsoft.ServiceBus/namespaces/topics/subscriptions").filter((d) => !isExisting(d));
    assert.equal(subscriptions.length, 1, `${file.name}: expected one subscriptions declaration (a loop over the media host ids)`);
    const declaration = subscriptions[0] as Node;
    const loop = loopOf(declaration);
    assert.equal(loop?.collection, "mediaHostIds", `${where(file, declaration)}: subscriptions must loop over the mediaHostIds param`);
    const body = resourceBody(declaration);
    assert.equal(at(body, "name")?.text, loop?.item, `${where(file, declaration)}: a subscription is named by its media host id`);
    const props = at(body, "properties");
    const settings = Object.fromEntries(
      ["requiresSession", "maxDeliveryCount", "lockDuration", "deadLetteringOnMessageExpiration", "defaultMessageTimeToLive"].map((k) => [
        k,
        evaluate(file, at(props, k)),
      ]),
    );
    assert.deepEqual(settings, {
      requiresSession: false,
      maxDeliveryCount: 10,
      lockDuration: "PT1M",
      deadLetteringOnMessageExpiration: true,
      defaultMessageTimeToLive: "PT1H",
    });
  });

  it("each subscription's only rule, $Default, is a correlation filter on the application property `to` = its host id", () => {
    const file = fileNamed("modules/servicebus.bicep");
    const subscriptionSymbols = resourcesOfType(file, "Microsoft.ServiceBus/namespaces/topics/subscriptions").map(symbolOf);
    const rules = resourcesOfType(file, "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules");
    assert.equal(rules.length, 1, `${file.name}: expected one rules declaration (a loop over the media host ids)`);
    const declaration = rules[0] as Node;
    const loop = loopOf(declaration);
    assert.equal(loop?.collection, "mediaHostIds", `${where(file, declaration)}: rules must loop over the mediaHostIds param`);
    const body = resourceBody(declaration);
    // Replacing the rule Service Bus creates with every subscription; another name would leave its true filter in place.
    assert.equal(evaluate(file, at(body, "name")), "$Default", `${where(file, declaration)}: the rule must be $Default itself`);
    const parent = at(body, "parent");
    assert.ok(
      parent?.type === "subscript_expression" && subscriptionSymbols.includes(parts(parent)[0]?.text) && parts(parent)[1]?.text === loop?.index,
      `${where(file, declaration)}: the rule's parent must be the subscription of the same index`,
    );
    const props = at(body, "properties");
    assert.equal(evaluate(file, at(props, "filterType")), "CorrelationFilter");
    const filter = at(props, "correlationFilter");
    assert.equal(filter?.type, "object", "correlationFilter must be an object literal");
    // `to` among the user properties; correlationFilter.to would match the AMQP system property instead.
    assert.deepEqual([...properties(filter as Node).keys()], ["properties"], "correlationFilter filters on user properties only");
    const userProperties = at(filter, "properties");
    assert.deepEqual([...properties(userProperties as Node).keys()], ["to"], "the correlation filter matches `to` only");
    assert.equal(at(userProperties, "to")?.text, loop?.item, "`to` must equal the subscription's media host id");
    assert.equal(at(props, "sqlFilter"), undefined);
  });

  it("main.bicep gives the same media host ids to the Service Bus and the media host modules", () => {
    const file = mainFile();
    const idsOf = (path: string) => {
      const module = nodesOfType(file, "module_declaration").find((d) => literal(parts(d).find((n) => n.type === "string")) === path);
      assert.ok(module, `${file.name}: no module ${path}`);
      return at(resourceBody(module), "params", "mediaHostIds")?.text;
    };
    const ids = idsOf("./modules/servicebus.bicep");
    assert.ok(ids, "servicebus.bicep gets no mediaHostIds");
    assert.equal(idsOf("./modules/mediahosts.bicep"), ids);
  });

  it("grants Service Bus Data Receiver only on a media host's own subscription, and Data Sender only on the topic", () => {
    const roles = [
      { role: "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", name: "Data Receiver", scope: "Microsoft.ServiceBus/namespaces/topics/subscriptions" },
      { role: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", name: "Data Sender", scope: "Microsoft.ServiceBus/namespaces/topics" },
    ];
    const problems: string[] = [];
    const found = new Map<string, number>();
    for (const file of files) {
      for (const declaration of resourcesOfType(file, "Microsoft.Authorization/roleAssignments")) {
        const body = resourceBody(declaration);
        const definition = at(body, "properties", "roleDefinitionId");
        const mentioned = definition ? [...expandedNodes(file, definition)].map((n) => literal(n)) : [];
        for (const { role, name, scope } of roles) {
          if (!mentioned.includes(role)) continue;
          found.set(name, (found.get(name) ?? 0) + 1);
          const target = at(body, "scope");
          const symbol = target?.type === "subscript_expression" ? parts(target)[0]?.text : target?.type === "identifier" ? target.text : undefined;
          const scoped = nodesOfType(file, "resource_declaration").find((d) => symbolOf(d) === symbol);
          if (scoped === undefined || resourceType(scoped)?.split("@")[0] !== scope)
            problems.push(`${where(file, declaration)}: ${name} must be scoped to a ${scope} resource, not ${JSON.stringify(target?.text)}`);
        }
      }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(found.get("Data Receiver"), "no Service Bus Data Receiver assignment");
    assert.ok(found.get("Data Sender"), "no Service Bus Data Sender assignment");
  });

  it("each media host's identity gets the receiver grant on the subscription named by its id", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const access = nodesOfType(file, "module_declaration").filter(
      (d) => literal(parts(d).find((n) => n.type === "string")) === "./mediahost-access.bicep",
    );
    assert.equal(access.length, 1, `${file.name}: expected one mediahost-access module (a loop over the media host ids)`);
    const declaration = access[0] as Node;
    const loop = loopOf(declaration);
    assert.equal(loop?.collection, "mediaHostIds");
    const params = at(resourceBody(declaration), "params");
    assert.equal(at(params, "subscriptionName")?.text, loop?.item, "the grant is on the host's own subscription");
    assert.match(
      at(params, "principalId")?.text ?? "",
      new RegExp(`^\\w+\\[${loop?.index}\\]\\.identity\\.principalId$`),
      "the grant is for the host VM's identity",
    );
  });
});

describe("infra/modules/mediahosts.bicep", () => {
  /** The media host settings the module writes: the UPPER_SNAKE keys of its object literals. */
  function envSettings(file: BicepFile): Map<string, Node> {
    const settings = new Map<string, Node>();
    for (const object of nodesOfType(file, "object")) {
      for (const [key, value] of properties(object)) if (/^[A-Z][A-Z0-9_]*$/.test(key)) settings.set(key, value);
    }
    return settings;
  }

  it("writes exactly the media host settings of media-host/config.ts that Azure needs", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const names = [...envSettings(file).keys()].sort();
    const schema = Object.keys(mediaHostConfigSchema.shape);
    assert.deepEqual(
      names.filter((n) => !schema.includes(n)),
      [],
      "settings that mediaHostConfigSchema does not read",
    );
    assert.deepEqual(
      names,
      [
        "MEDIA_HOST_ID",
        "CONTROL_PLANE_URL",
        "CONTROL_PLANE_SCOPE",
        "SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE",
        "SERVICE_BUS_TOPIC",
        "SERVICE_DOMAIN",
        "SIP_BIND_HOST",
        "SIP_ADVERTISED_HOST",
        "SIP_PORT",
        "SIP_TLS_PORT",
        "SIP_TLS_CERT_FILE",
        "SIP_TLS_KEY_FILE",
        "RTP_PORT_MIN",
        "RTP_PORT_MAX",
        "HEALTH_PORT",
        "MEETING_LEG_PORT",
        "WEBRTC_PORT_MIN",
        "WEBRTC_PORT_MAX",
        "PROMPTS_DIRECTORY",
        "DRAIN_GRACE_MS",
      ].sort(),
      // AZURE_CLIENT_ID etc. stay unset: the VM's system-assigned identity is the default one.
    );
    // Nothing else writes settings as text (NAME=value lines in a string).
    const textual: string[] = [];
    for (const node of nodesOfType(file, "string_content")) {
      for (const match of node.text.matchAll(/(?:^|\n)\s*([A-Z][A-Z0-9_]*)=/g)) textual.push(`${where(file, node)} ${match[1]}`);
    }
    assert.deepEqual(textual, [], "settings written as text instead of in an object literal");
  });

  it("boots Debian 12 with the packages, the env file and a draining systemd unit", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const values = declaredValues(file);
    const packages = values.get("debianPackages");
    assert.equal(packages?.type, "array");
    assert.deepEqual(
      parts(packages as Node)
        .map(literal)
        .sort(),
      ["espeak-ng", "nodejs", "npm", "rtpengine-daemon"],
    );
    const envFile = evaluate(file, values.get("envFilePath"));
    assert.equal(envFile, "/etc/opencvi/media-host.env");
    // The unit's lines, as far as they are known before deployment.
    const unit = values.get("unitFile");
    assert.ok(unit, "no unitFile var");
    const lines = [...walk(unit)].filter((n) => n.type === "string").map((n) => evaluate(file, n));
    for (const line of [
      `EnvironmentFile=${envFile}`,
      "ExecStart=/opt/opencvi/current/runtime/bin/node dist/media-host/main.js",
      "KillSignal=SIGTERM",
      "KillMode=mixed",
      "Restart=always",
      "WantedBy=multi-user.target",
    ])
      assert.ok(lines.includes(line), `the unit has no line ${line}`);
    const drainMs = evaluate(file, envSettings(file).get("DRAIN_GRACE_MS"));
    assert.equal(typeof drainMs, "number", "DRAIN_GRACE_MS must be computable from the params' defaults");
    assert.ok(lines.includes(`TimeoutStopSec=${(drainMs as number) / 1000 + 30}`), "TimeoutStopSec must be the drain grace plus 30 s");
    // The env file is among the files cloud-init writes, and the VMs boot Debian 12.
    const vm = resourcesOfType(file, "Microsoft.Compute/virtualMachines")[0];
    assert.ok(vm, "no virtual machine");
    const paths = [...walk(vm)].filter((n) => n.type === "object").map((o) => properties(o).get("path"));
    assert.ok(
      paths.some((p) => p !== undefined && evaluate(file, p) === envFile),
      "cloud-init does not write the env file",
    );
    const image = at(resourceBody(vm), "properties", "storageProfile", "imageReference");
    assert.deepEqual([literal(at(image, "publisher")), literal(at(image, "offer"))], ["Debian", "debian-12"]);
    assert.equal(literal(at(resourceBody(vm), "identity", "type")), "SystemAssigned");
    assert.equal(evaluate(file, at(resourceBody(vm), "properties", "osProfile", "linuxConfiguration", "disablePasswordAuthentication")), true);
  });

  it("the NSG opens SIP (5060 UDP/TCP, 5061 TCP), exactly the RTP and WebRTC ranges and the meeting-leg port of the env to all, health to the VNet only, and denies the rest", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const env = envSettings(file);
    const port = (name: string) => {
      const value = evaluate(file, env.get(name));
      assert.equal(typeof value, "number", `${name} must be a number known before deployment`);
      return value as number;
    };
    assert.equal(port("SIP_PORT"), 5060);
    assert.equal(port("SIP_TLS_PORT"), 5061);
    const rtp = `${port("RTP_PORT_MIN")}-${port("RTP_PORT_MAX")}`;
    const health = port("HEALTH_PORT");
    const webRtc = `${port("WEBRTC_PORT_MIN")}-${port("WEBRTC_PORT_MAX")}`;
    const meetingLeg = String(port("MEETING_LEG_PORT"));

    const nsgs = resourcesOfType(file, "Microsoft.Network/networkSecurityGroups");
    assert.equal(nsgs.length, 1);
    const source = at(resourceBody(nsgs[0] as Node), "properties", "securityRules");
    assert.ok(source, "the NSG has no securityRules");
    const rules = [...expandedNodes(file, source)]
      .filter((n) => n.type === "object" && at(n, "properties", "access") !== undefined)
      .map((rule) => {
        const p = at(rule, "properties");
        const ranges = at(p, "destinationPortRanges");
        return {
          name: literal(at(rule, "name")),
          access: evaluate(file, at(p, "access")),
          direction: evaluate(file, at(p, "direction")),
          protocol: evaluate(file, at(p, "protocol")),
          priority: evaluate(file, at(p, "priority")),
          source: evaluate(file, at(p, "sourceAddressPrefix")),
          ports: ranges?.type === "array" ? parts(ranges).map((r) => evaluate(file, r)) : [evaluate(file, at(p, "destinationPortRange"))],
        };
      });
    const covers = (range: Value | undefined, n: number) => {
      if (range === "*") return true;
      const [low, high = low] = String(range).split("-").map(Number);
      return low !== undefined && high !== undefined && low <= n && n <= high;
    };
    const publicSource = (s: Value | undefined) => s === "*" || s === "Internet";
    const allows = (protocol: string, n: number) =>
      rules.filter(
        (r) =>
          r.access === "Allow" && r.direction === "Inbound" && (r.protocol === protocol || r.protocol === "*") && r.ports.some((p) => covers(p, n)),
      );
    for (const [protocol, n] of [
      ["Udp", 5060],
      ["Tcp", 5060],
      ["Tcp", 5061],
    ] as const)
      assert.ok(
        allows(protocol, n).some((r) => publicSource(r.source)),
        `no rule lets ${protocol} ${n} in from anywhere`,
      );
    assert.ok(
      rules.some((r) => r.access === "Allow" && r.protocol === "Udp" && publicSource(r.source) && r.ports.includes(rtp)),
      `no rule lets the RTP range ${rtp} (RTP_PORT_MIN-RTP_PORT_MAX) in over UDP`,
    );
    assert.ok(
      rules.some((r) => r.access === "Allow" && r.protocol === "Udp" && publicSource(r.source) && r.ports.includes(webRtc)),
      `no rule lets the WebRTC range ${webRtc} (WEBRTC_PORT_MIN-WEBRTC_PORT_MAX) in over UDP`,
    );
    assert.ok(
      allows("Tcp", Number(meetingLeg)).some((r) => publicSource(r.source)),
      `no rule lets the meeting leg's session endpoint (${meetingLeg}) in: Teams' media servers answer there`,
    );
    const healthRules = allows("Tcp", health);
    assert.ok(healthRules.length > 0, `no rule lets health (${health}) in`);
    assert.deepEqual(
      healthRules.filter((r) => r.source !== "VirtualNetwork" && r.source !== "AzureLoadBalancer").map((r) => r.name),
      [],
      "health and metrics only from the VNet and the Azure load balancer",
    );
    // Nothing else is open: every public allow is SIP or the RTP range, every VNet allow is health,
    // and the one other (the optional SSH rule, its source a param that is empty by default) is TCP 22.
    const unexpected = rules
      .filter((r) => r.access === "Allow")
      .filter((r) => {
        if (publicSource(r.source)) return r.ports.some((p) => p !== rtp && p !== webRtc && p !== meetingLeg && p !== "5060" && p !== "5061");
        if (r.source === "VirtualNetwork" || r.source === "AzureLoadBalancer") return r.ports.some((p) => p !== String(health));
        return r.protocol !== "Tcp" || r.ports.some((p) => p !== "22");
      })
      .map((r) => r.name);
    assert.deepEqual(unexpected, [], "rules that open more than SIP, RTP, the meeting leg, health (and optionally SSH)");
    const denyAll = rules.find(
      (r) => r.access === "Deny" && r.direction === "Inbound" && r.protocol === "*" && r.source === "*" && r.ports.includes("*"),
    );
    assert.ok(denyAll, "no rule denies all other inbound traffic");
    const allowPriorities = rules.filter((r) => r.access === "Allow").map((r) => r.priority as number);
    assert.ok(
      allowPriorities.every((p) => p < (denyAll.priority as number)),
      "the deny-all rule must come after every allow rule",
    );
  });

  it("gives each VM a static Standard public IP as SIP_ADVERTISED_HOST and an accelerated NIC whose static private IP is SIP_BIND_HOST", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const [ip] = resourcesOfType(file, "Microsoft.Network/publicIPAddresses");
    assert.ok(ip, "no public IP");
    assert.equal(literal(at(resourceBody(ip), "sku", "name")), "Standard");
    assert.equal(literal(at(resourceBody(ip), "properties", "publicIPAllocationMethod")), "Static");
    assert.match(envSettings(file).get("SIP_ADVERTISED_HOST")?.text ?? "", new RegExp(`^${symbolOf(ip)}\\[\\w+\\]\\.properties\\.ipAddress$`));
    const [nic] = resourcesOfType(file, "Microsoft.Network/networkInterfaces");
    assert.ok(nic, "no NIC");
    assert.equal(evaluate(file, at(resourceBody(nic), "properties", "enableAcceleratedNetworking")), true);
    // SIP (and rtpengine's media interface) bind to the NIC's private address, which must not change.
    assert.match(
      envSettings(file).get("SIP_BIND_HOST")?.text ?? "",
      new RegExp(`^${symbolOf(nic)}\\[\\w+\\]\\.properties\\.ipConfigurations\\[0\\]\\.properties\\.privateIPAddress$`),
    );
    const [ipConfiguration] = parts(at(resourceBody(nic), "properties", "ipConfigurations") as Node);
    assert.equal(literal(at(ipConfiguration, "properties", "privateIPAllocationMethod")), "Static");
  });
});
