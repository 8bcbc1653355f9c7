import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Language, type Node, Parser } from "web-tree-sitter";
import { CONTAINERS } from "../../functions/adapters/cosmos/cosmosStore.js";
import { edgeConfigSchema } from "../../edge/agent/config.js";
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
 * The value of an expression built only from literals, interpolation, + - * / (integers), == !=,
 * ! and ?:, min() and max(), and the file's own vars and params (with their defaults), or
 * undefined for anything else (a resource property, a loop variable, another function).
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
    case "unary_expression": {
      const operand = evaluate(file, parts(node)[0], depth + 1);
      const operator = node.children.find((n) => !n.isNamed)?.text;
      if (operator === "!" && typeof operand === "boolean") return !operand;
      if (operator === "-" && typeof operand === "number") return -operand;
      return undefined;
    }
    case "ternary_expression": {
      const [condition, whenTrue, whenFalse] = parts(node);
      const decided = evaluate(file, condition, depth + 1);
      if (typeof decided !== "boolean") return undefined;
      return evaluate(file, decided ? whenTrue : whenFalse, depth + 1);
    }
    case "binary_expression": {
      const [left, right] = parts(node).map((n) => evaluate(file, n, depth + 1));
      const operator = node.children.find((n) => !n.isNamed)?.text;
      if (left === undefined || right === undefined) return undefined;
      if (operator === "==") return left === right;
      if (operator === "!=") return left !== right;
      if (typeof left !== "number" || typeof right !== "number") return undefined;
      if (operator === "+") return left + right;
      if (operator === "-") return left - right;
      if (operator === "*") return left * right;
      // Bicep's / on integers truncates.
      if (operator === "/") return right === 0 ? undefined : Math.trunc(left / right);
      return undefined;
    }
    case "call_expression": {
      const call = callOf(node);
      if (call?.name !== "min" && call?.name !== "max") return undefined;
      const values = call.args.map((n) => evaluate(file, n, depth + 1));
      if (values.length === 0 || !values.every((v): v is number => typeof v === "number")) return undefined;
      return call.name === "min" ? Math.min(...values) : Math.max(...values);
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

/** A call expression's function name and its arguments. */
function callOf(node: Node | undefined): { name: string; args: Node[] } | undefined {
  if (node?.type !== "call_expression") return undefined;
  const [name, args] = parts(node);
  return { name: name?.text ?? "", args: args ? parts(args) : [] };
}

/** The one module declaration of a file with this path, e.g. "./modules/edge.bicep". */
function moduleNamed(file: BicepFile, path: string): Node {
  const found = nodesOfType(file, "module_declaration").filter((d) => literal(parts(d).find((n) => n.type === "string")) === path);
  assert.equal(found.length, 1, `${file.name}: expected one module ${path}, found ${found.length}`);
  return found[0] as Node;
}

/** The source text of a module's param in a file (what the file passes it). */
function moduleParam(file: BicepFile, path: string, param: string): string | undefined {
  return at(resourceBody(moduleNamed(file, path)), "params", param)?.text;
}

/** The one deployed (not `existing`) resource of a type in a file: its declaration, symbol and body. */
function theResource(file: BicepFile, type: string): { declaration: Node; symbol: string; body: Node } {
  const found = resourcesOfType(file, type).filter((d) => !isExisting(d));
  assert.equal(found.length, 1, `${file.name}: expected one ${type}, found ${found.length}`);
  const declaration = found[0] as Node;
  const body = resourceBody(declaration);
  assert.ok(body, `${where(file, declaration)}: the body is not an object literal`);
  return { declaration, symbol: symbolOf(declaration) ?? "", body };
}

/** The settings a file writes: the UPPER_SNAKE keys of its object literals (env files, settings read from IMDS). */
function envSettings(file: BicepFile): Map<string, Node> {
  const settings = new Map<string, Node>();
  for (const object of nodesOfType(file, "object")) {
    for (const [key, value] of properties(object)) if (/^[A-Z][A-Z0-9_]*$/.test(key)) settings.set(key, value);
  }
  return settings;
}

/** Settings written as text instead of in an object literal (NAME=value lines in a string). */
function textualSettings(file: BicepFile): string[] {
  const found: string[] = [];
  for (const node of nodesOfType(file, "string_content")) {
    for (const match of node.text.matchAll(/(?:^|\n)\s*([A-Z][A-Z0-9_]*)=/g)) found.push(`${where(file, node)} ${match[1]}`);
  }
  return found;
}

/** The lines of a systemd unit a var builds from string literals: each line's value where it is known before deployment, else its source text. */
function unitLines(file: BicepFile, varName: string): string[] {
  const unit = declaredValues(file).get(varName);
  assert.ok(unit, `${file.name}: no ${varName} var`);
  return [...walk(unit)]
    .filter((n) => n.type === "string" && n.parent?.type === "array")
    .map((n) => {
      const value = evaluate(file, n);
      return typeof value === "string" ? value : n.text.slice(1, -1);
    });
}

/** The files cloud-init writes (the entries of the bootFiles var): path -> content expression. */
function bootFiles(file: BicepFile): Map<string, Node> {
  const list = declaredValues(file).get("bootFiles");
  assert.equal(list?.type, "array", `${file.name}: bootFiles must be an array literal`);
  const result = new Map<string, Node>();
  for (const entry of parts(list as Node)) {
    const path = evaluate(file, at(entry, "path"));
    const content = at(entry, "content");
    assert.ok(typeof path === "string" && content, `${where(file, entry)}: a boot file needs a path known before deployment and a content`);
    result.set(path, content);
  }
  return result;
}

/** The repository path of the script a content expression loads (base64(loadTextContent('../scripts/x'))), if it loads one. */
function loadedScript(file: BicepFile, content: Node | undefined): string | undefined {
  const load = [...walk(content ?? file.root)].find((n) => callOf(n)?.name === "loadTextContent");
  if (!content || !load) return undefined;
  const path = literal(callOf(load)?.args[0]);
  return path === undefined ? undefined : relative(root, resolve(dirname(file.path), path));
}

interface SecurityRule {
  readonly name: string | undefined;
  readonly access: Value | undefined;
  readonly direction: Value | undefined;
  readonly protocol: Value | undefined;
  readonly priority: Value | undefined;
  /** The source's value where it is known before deployment (a literal or a defaulted param). */
  readonly source: Value | undefined;
  /** The source expression as written (a param, for a subnet's prefix). */
  readonly sourceText: string | undefined;
  readonly ports: (Value | undefined)[];
}

/** The rules of a file's one network security group, through the vars they are built from. */
function nsgRules(file: BicepFile): SecurityRule[] {
  const { body } = theResource(file, "Microsoft.Network/networkSecurityGroups");
  const source = at(body, "properties", "securityRules");
  assert.ok(source, `${file.name}: the NSG has no securityRules`);
  return [...expandedNodes(file, source)]
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
        sourceText: at(p, "sourceAddressPrefix")?.text,
        ports: ranges?.type === "array" ? parts(ranges).map((r) => evaluate(file, r)) : [evaluate(file, at(p, "destinationPortRange"))],
      };
    });
}

/** Whether a port range ("*", "5060", "30000-40000") covers port n. */
function covers(range: Value | undefined, n: number): boolean {
  if (range === "*") return true;
  const [low, high = low] = String(range).split("-").map(Number);
  return low !== undefined && high !== undefined && low <= n && n <= high;
}

/** The inbound allow rules that let protocol/port in. */
function allowing(rules: readonly SecurityRule[], protocol: "Tcp" | "Udp", port: number): SecurityRule[] {
  return rules.filter(
    (r) =>
      r.access === "Allow" && r.direction === "Inbound" && (r.protocol === protocol || r.protocol === "*") && r.ports.some((p) => covers(p, port)),
  );
}

const fromInternet = (r: SecurityRule) => r.source === "*" || r.source === "Internet";

/** A deny-all inbound rule, and that it comes after every allow. */
function assertDeniesTheRest(rules: readonly SecurityRule[]): void {
  const denyAll = rules.find(
    (r) => r.access === "Deny" && r.direction === "Inbound" && r.protocol === "*" && r.source === "*" && r.ports.includes("*"),
  );
  assert.ok(denyAll, "no rule denies all other inbound traffic");
  const allowPriorities = rules.filter((r) => r.access === "Allow").map((r) => r.priority as number);
  assert.ok(
    allowPriorities.every((p) => p < (denyAll.priority as number)),
    "the deny-all rule must come after every allow rule",
  );
}

/** A port setting's value, which must be a number known before deployment. */
function portOf(file: BicepFile, name: string): number {
  const value = evaluate(file, envSettings(file).get(name));
  assert.equal(typeof value, "number", `${file.name}: ${name} must be a number known before deployment`);
  return value as number;
}

/** The name a resourceId(..., 'name') call (a load balancer's child) ends with. */
function childName(file: BicepFile, reference: Node | undefined): Value | undefined {
  const call = callOf(reference);
  return call?.name === "resourceId" ? evaluate(file, call.args.at(-1)) : undefined;
}

/** A zod schema field's default (what the code uses when the setting is unset). */
function schemaDefault(schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }): unknown {
  const result = schema.safeParse(undefined);
  assert.ok(result.success, "the setting has no default");
  return result.data;
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

  it("every file a template loads (loadTextContent) exists", () => {
    const problems: string[] = [];
    let count = 0;
    for (const file of files) {
      for (const node of walk(file.root)) {
        const call = callOf(node);
        if (call?.name !== "loadTextContent") continue;
        count++;
        const path = literal(call.args[0]);
        if (path === undefined) problems.push(`${where(file, node)} loadTextContent needs a literal path`);
        else if (!existsSync(resolve(dirname(file.path), path))) problems.push(`${where(file, node)} ${JSON.stringify(path)} does not exist`);
      }
    }
    assert.ok(count > 0, "no template loads a script");
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  it("the scripts a scale set's customData carries leave room under Azure's 64 KB (base64, twice: in cloud-config, then the whole)", () => {
    for (const name of ["modules/edge.bicep", "modules/mediahosts.bicep"]) {
      const file = fileNamed(name);
      const bytes = [...bootFiles(file).values()]
        .map((content) => loadedScript(file, content))
        .filter((path): path is string => path !== undefined)
        .reduce((sum, path) => sum + readFileSync(join(root, path)).length, 0);
      assert.ok(bytes > 0, `${file.name} loads no script`);
      // The scripts' base64 inside the cloud-config, with 8 KB for the rest, base64 again.
      const customData = Math.ceil(((bytes * 4) / 3 + 8192) * (4 / 3));
      assert.ok(customData < 60_000, `${file.name}: customData would be about ${customData} bytes`);
    }
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

  it("sets nothing else: every app setting is a control plane config key or one the Functions host reads", () => {
    const platform = ["AzureWebJobsStorage__accountName", "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"];
    const schema = Object.keys(controlPlaneConfigSchema.shape);
    assert.deepEqual(
      appSettingNames().filter((n) => !schema.includes(n) && !platform.includes(n)),
      [],
      "app settings nothing reads (a setting the code dropped, such as SERVICE_BUS_TOPIC)",
    );
  });

  it("gives the edges' app role (EDGE_ROLE) the value the control plane expects by default", () => {
    const { file, body } = functionAppBody();
    const setting = parts(at(body, "properties", "siteConfig", "appSettings") as Node).find((e) => literal(at(e, "name")) === "EDGE_ROLE");
    assert.equal(evaluate(file, at(setting, "value")), schemaDefault(controlPlaneConfigSchema.shape.EDGE_ROLE));
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

  it("hosts (/pool) has TTL on without a default expiry, so a dead host's document goes by its own ttl; the others keep TTL off", () => {
    const file = fileNamed("modules/cosmos.bicep");
    const ttls = new Map<string, Value | undefined>();
    for (const declaration of resourcesOfType(file, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")) {
      const resource = at(resourceBody(declaration), "properties", "resource");
      ttls.set(literal(at(resource, "id")) ?? "?", evaluate(file, at(resource, "defaultTtl")));
    }
    assert.equal(ttls.get(CONTAINERS.hosts.id), -1, "hosts: defaultTtl -1 (on, no default expiry)");
    assert.deepEqual(
      [...ttls].filter(([id, ttl]) => id !== CONTAINERS.hosts.id && ttl !== undefined),
      [],
      "only hosts' documents expire",
    );
  });
});

/** Built-in Azure role definition IDs the templates may use on Service Bus. */
const SERVICE_BUS_ROLES = {
  "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Data Sender",
  "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Data Receiver",
  "090c5cfd-751d-490a-894a-3ce6f1109419": "Data Owner",
} as const;
const READER = "acdd72a7-3c88-4ab5-a4d4-cf8d6f2c4b4f";

/** Every role assignment of a file: the built-in roles its roleDefinitionId names (through vars), its scope's symbol and resource type. */
function roleAssignments(
  file: BicepFile,
): { declaration: Node; roles: string[]; scopeSymbol: string | undefined; scopeType: string | undefined; principal: string | undefined }[] {
  return resourcesOfType(file, "Microsoft.Authorization/roleAssignments").map((declaration) => {
    const body = resourceBody(declaration);
    const definition = at(body, "properties", "roleDefinitionId");
    const roles = definition
      ? [...expandedNodes(file, definition)].map((n) => literal(n)).filter((v): v is string => /^[0-9a-f-]{36}$/.test(v ?? ""))
      : [];
    const target = at(body, "scope");
    const scopeSymbol = target?.type === "identifier" ? target.text : undefined;
    const scoped = nodesOfType(file, "resource_declaration").find((d) => symbolOf(d) === scopeSymbol);
    return {
      declaration,
      roles,
      scopeSymbol,
      scopeType: scoped ? resourceType(scoped)?.split("@")[0] : undefined,
      principal: at(body, "properties", "principalId")?.text,
    };
  });
}

describe("infra Service Bus between control plane and media hosts", () => {
  it("call events go over one session-enabled queue: duplicate detection (10 min), 30 s locks, 10 deliveries, expired messages dead-lettered", () => {
    const file = fileNamed("modules/servicebus.bicep");
    const { body } = theResource(file, "Microsoft.ServiceBus/namespaces/queues");
    const props = at(body, "properties");
    const settings = Object.fromEntries(
      [
        "requiresSession",
        "requiresDuplicateDetection",
        "duplicateDetectionHistoryTimeWindow",
        "lockDuration",
        "maxDeliveryCount",
        "deadLetteringOnMessageExpiration",
      ].map((k) => [k, evaluate(file, at(props, k))]),
    );
    assert.deepEqual(settings, {
      // One session per media host (session id = host id): a host's lock holds its calls' events for it.
      requiresSession: true,
      // The control plane publishes again after a partial failure; the queue drops the repeats by message id.
      requiresDuplicateDetection: true,
      duplicateDetectionHistoryTimeWindow: "PT10M",
      // A dead host's session lock frees within this.
      lockDuration: "PT30S",
      maxDeliveryCount: 10,
      deadLetteringOnMessageExpiration: true,
    });
    const namespace = theResource(file, "Microsoft.ServiceBus/namespaces").body;
    assert.equal(literal(at(namespace, "sku", "name")), "Standard", "Standard: sessions and duplicate detection (Basic has neither)");
    assert.equal(evaluate(file, at(namespace, "properties", "disableLocalAuth")), true, "no SAS keys");
  });

  it("no topic, subscription or rule for media hosts remains, and no fixed list of media host ids", () => {
    const leftovers: string[] = [];
    for (const file of files) {
      for (const declaration of nodesOfType(file, "resource_declaration")) {
        if (/^Microsoft\.ServiceBus\/namespaces\/topics/.test(resourceType(declaration) ?? ""))
          leftovers.push(`${where(file, declaration)} ${resourceType(declaration)}`);
      }
      for (const node of walk(file.root)) {
        if (node.type === "identifier" && /^(mediaHostIds|mediaHostCount|commandsTopicName)$/.test(node.text))
          leftovers.push(`${where(file, node)} ${node.text}`);
      }
    }
    assert.deepEqual(leftovers, []);
  });

  it("the queue is named as SERVICE_BUS_QUEUE defaults, and the Function App and the media hosts get that name from the module", () => {
    const file = fileNamed("modules/servicebus.bicep");
    const { symbol, body } = theResource(file, "Microsoft.ServiceBus/namespaces/queues");
    const name = evaluate(file, at(body, "name"));
    assert.equal(name, schemaDefault(controlPlaneConfigSchema.shape.SERVICE_BUS_QUEUE));
    assert.equal(name, schemaDefault(mediaHostConfigSchema.shape.SERVICE_BUS_QUEUE));
    const output = nodesOfType(file, "output_declaration").find((o) => parts(o)[0]?.text === "eventsQueueName");
    assert.equal(parts(output as Node).at(-1)?.text, `${symbol}.name`, "the eventsQueueName output is the queue's name");

    const main = mainFile();
    const { body: app } = functionAppBody();
    const setting = parts(at(app, "properties", "siteConfig", "appSettings") as Node).find((e) => literal(at(e, "name")) === "SERVICE_BUS_QUEUE");
    assert.equal(at(setting, "value")?.text, "serviceBus.outputs.eventsQueueName");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "eventsQueueName"), "serviceBus.outputs.eventsQueueName");
    assert.equal(moduleParam(main, "./modules/function-access.bicep", "eventsQueueName"), "serviceBus.outputs.eventsQueueName");
    assert.equal(envSettings(fileNamed("modules/mediahosts.bicep")).get("SERVICE_BUS_QUEUE")?.text, "eventsQueueName");
  });

  it("Service Bus roles are on the queue only: the Function App sends and receives, the media hosts only receive, nobody manages", () => {
    const problems: string[] = [];
    const granted = new Map<string, string[]>();
    for (const file of files) {
      for (const assignment of roleAssignments(file)) {
        for (const role of assignment.roles) {
          const name = SERVICE_BUS_ROLES[role as keyof typeof SERVICE_BUS_ROLES];
          if (name === undefined) continue;
          if (name === "Data Owner") problems.push(`${where(file, assignment.declaration)}: Data Owner (Manage) is granted`);
          if (assignment.scopeType !== "Microsoft.ServiceBus/namespaces/queues")
            problems.push(`${where(file, assignment.declaration)}: ${name} must be scoped to the queue, not ${assignment.scopeSymbol}`);
          granted.set(file.name, [...(granted.get(file.name) ?? []), name].sort());
        }
      }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.deepEqual(Object.fromEntries(granted), {
      [join("infra", "modules", "function-access.bicep")]: ["Data Receiver", "Data Sender"],
      [join("infra", "modules", "mediahost-access.bicep")]: ["Data Receiver"],
    });
    // Each module's queue is the one main.bicep's Service Bus module made.
    for (const name of ["function-access.bicep", "mediahost-access.bicep"]) {
      const file = fileNamed(`modules/${name}`);
      const queue = resourcesOfType(file, "Microsoft.ServiceBus/namespaces/queues");
      assert.ok(queue.length === 1 && isExisting(queue[0] as Node), `${file.name}: the queue is an existing reference`);
      assert.equal(at(resourceBody(queue[0] as Node), "name")?.text, "eventsQueueName");
    }
  });

  it("the grants go to the right identities: the Function App's, and the user-assigned identity the media host scale set runs as", () => {
    const main = mainFile();
    assert.equal(moduleParam(main, "./modules/function-access.bicep", "principalId"), "functionApp.identity.principalId");
    const hosts = fileNamed("modules/mediahosts.bicep");
    const identity = theResource(hosts, "Microsoft.ManagedIdentity/userAssignedIdentities");
    assert.equal(moduleParam(hosts, "./mediahost-access.bicep", "principalId"), `${identity.symbol}.properties.principalId`);
    const scaleSet = theResource(hosts, "Microsoft.Compute/virtualMachineScaleSets").body;
    assert.equal(literal(at(scaleSet, "identity", "type")), "UserAssigned");
    assert.match(at(scaleSet, "identity", "userAssignedIdentities")?.text ?? "", new RegExp(`'\\$\\{${identity.symbol}\\.id\\}'`));
    for (const assignment of roleAssignments(fileNamed("modules/mediahost-access.bicep"))) assert.equal(assignment.principal, "principalId");
  });

  it("the media hosts' identity may also read the resource group (their public IP), and holds no other Azure role", () => {
    const file = fileNamed("modules/mediahost-access.bicep");
    const assignments = roleAssignments(file);
    assert.deepEqual(assignments.map((a) => a.roles).sort(), [["4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"], [READER]].sort());
    const reader = assignments.find((a) => a.roles.includes(READER));
    assert.equal(
      reader?.scopeSymbol,
      undefined,
      "Reader on the deployment's resource group (no narrower scope holds the instances' NICs and addresses)",
    );
    // The edges hold no Azure role at all: their only right is the CVI.Edge app role (infra/README.md).
    assert.deepEqual(roleAssignments(fileNamed("modules/edge.bicep")), []);
  });
});

/** The IMDS sources infra/scripts/opencvi-instance-env.py knows (its SOURCES tuple). */
function instanceEnvSources(): string[] {
  const script = readFileSync(join(infraDir, "scripts", "opencvi-instance-env.py"), "utf8");
  const tuple = /^SOURCES = \(([^)]*)\)/m.exec(script)?.[1];
  assert.ok(tuple, "opencvi-instance-env.py has no SOURCES tuple");
  return [...tuple.matchAll(/"([a-z-]+)"/g)].map((m) => m[1] as string);
}

/**
 * The settings an instance reads from IMDS at each start: the instanceSettings object (setting ->
 * source), which the unit's first ExecStartPre hands to opencvi-instance-env, writing the file
 * the unit reads.
 */
function assertInstanceSettings(file: BicepFile, unitVar: string, expected: Record<string, string>): void {
  const values = declaredValues(file);
  const settings = values.get("instanceSettings");
  assert.equal(settings?.type, "object", `${file.name}: no instanceSettings object`);
  assert.deepEqual(Object.fromEntries([...properties(settings as Node)].map(([k, v]) => [k, literal(v)])), expected);
  const sources = instanceEnvSources();
  assert.deepEqual(
    Object.values(expected).filter((s) => !sources.includes(s)),
    [],
    "sources opencvi-instance-env does not know",
  );
  // Every setting goes on the command line as NAME=source.
  assert.match(
    values.get("instanceSettingArguments")?.text ?? "",
    /^join\(map\(items\(instanceSettings\), (\w+) => '\$\{\1\.key\}=\$\{\1\.value\}'\), ' '\)$/,
  );
  const envFile = evaluate(file, values.get("instanceEnvFilePath"));
  assert.ok(typeof envFile === "string" && envFile.startsWith("/run/"), "the instance's settings live in /run (re-read at each boot)");
  const lines = unitLines(file, unitVar);
  const run = lines.findIndex(
    (l) => l.startsWith("ExecStartPre=+/usr/local/sbin/opencvi-instance-env ") && l.endsWith(` \${instanceEnvFilePath} \${instanceSettingArguments}`),
  );
  assert.ok(run >= 0, `${file.name}: no ExecStartPre running opencvi-instance-env with the instance settings`);
  assert.ok(
    lines.findIndex((l) => l.startsWith("ExecStartPre=")) === run,
    "opencvi-instance-env runs first, before anything that needs the settings",
  );
  assert.ok(
    lines.includes(`EnvironmentFile=-${envFile}`),
    "the unit reads the instance's settings (optional: systemd reads them for the ExecStartPre too)",
  );
  assert.equal(loadedScript(file, bootFiles(file).get("/usr/local/sbin/opencvi-instance-env")), join("infra", "scripts", "opencvi-instance-env.py"));
}

describe("infra/modules/mediahosts.bicep", () => {
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
        // The scale set's user-assigned identity (the VMs have no system-assigned one).
        "AZURE_CLIENT_ID",
        "CONTROL_PLANE_URL",
        "CONTROL_PLANE_SCOPE",
        "SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE",
        "SERVICE_BUS_QUEUE",
        "SERVICE_DOMAIN",
        "SIP_BIND_HOST",
        "SIP_ADVERTISED_HOST",
        "SIP_CONTACT_HOST",
        "SIP_EDGE_TRANSPORT",
        "SIP_TRUSTED_PROXIES",
        "SIP_SERVICE_HOSTS",
        "MAX_CALLS",
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
        "BFCP_PORT_MIN",
        "BFCP_PORT_MAX",
        "PROMPTS_DIRECTORY",
        "DRAIN_GRACE_MS",
      ].sort(),
    );
    assert.deepEqual(textualSettings(file), [], "settings written as text instead of in an object literal");
    const identity = theResource(file, "Microsoft.ManagedIdentity/userAssignedIdentities").symbol;
    assert.equal(envSettings(file).get("AZURE_CLIENT_ID")?.text, `${identity}.properties.clientId`);
    assert.equal(evaluate(file, envSettings(file).get("SIP_EDGE_TRANSPORT")), "udp");
    assert.equal(envSettings(file).get("MAX_CALLS")?.text, "maxCalls");
    assert.equal(evaluate(mainFile(), at(resourceBody(moduleNamed(mainFile(), "./modules/mediahosts.bicep")), "params", "maxCalls")), 60);
  });

  it("each instance reads its id and addresses from IMDS at every start: the VM name, its private IP (bind and contact), its public IP (advertised)", () => {
    assertInstanceSettings(fileNamed("modules/mediahosts.bicep"), "unitFile", {
      MEDIA_HOST_ID: "vm-name",
      SIP_BIND_HOST: "private-ip",
      SIP_CONTACT_HOST: "private-ip",
      SIP_ADVERTISED_HOST: "public-ip",
    });
    // The public IP is read from Resource Manager with the identity (IMDS leaves Standard addresses out).
    const line = unitLines(fileNamed("modules/mediahosts.bicep"), "unitFile").find((l) =>
      l.startsWith("ExecStartPre=+/usr/local/sbin/opencvi-instance-env "),
    );
    assert.match(line ?? "", / --client-id \$\{identity\.properties\.clientId\} --resource-manager \$\{environment\(\)\.resourceManager\} /);
  });

  it("trusts the edge subnet as its proxies and names the edge's address and the service's DNS name as its own", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const main = mainFile();
    assert.equal(envSettings(file).get("SIP_TRUSTED_PROXIES")?.text, "edgeSubnetAddressPrefix");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "edgeSubnetAddressPrefix"), "edgeSubnetAddressPrefix");
    assert.equal(
      moduleParam(main, "./modules/network.bicep", "edgeSubnetAddressPrefix"),
      "edgeSubnetAddressPrefix",
      "the same prefix the edges' subnet gets",
    );
    const serviceHosts = envSettings(file).get("SIP_SERVICE_HOSTS");
    const joined = callOf(serviceHosts);
    assert.equal(joined?.name, "join");
    assert.deepEqual(
      parts(joined?.args[0] as Node).map((n) => n.text),
      ["edgePublicIpAddress", "serviceDomain", "edgeFqdn"],
    );
    assert.equal(literal(joined?.args[1]), ",");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "edgePublicIpAddress"), "edge.outputs.publicIpAddress");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "edgeFqdn"), "edge.outputs.fqdn");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "serviceDomain"), "serviceDomain");
  });

  it("boots Debian 12 with the packages, the env file and a draining systemd unit that stays down once drained", () => {
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
    const boot = bootFiles(file);
    assert.ok(boot.has(envFile as string), "cloud-init does not write the env file");
    assert.equal(literal(callOf(boot.get("/etc/opencvi/role"))?.args[0]), "media-host\n", "the role opencvi-install reads");
    assert.equal(loadedScript(file, boot.get("/usr/local/sbin/opencvi-install")), join("infra", "scripts", "opencvi-install.sh"));
    const lines = unitLines(file, "unitFile");
    for (const line of [
      `EnvironmentFile=${envFile}`,
      "User=opencvi",
      "ExecStart=/opt/opencvi/current/runtime/bin/node dist/media-host/main.js",
      "KillSignal=SIGTERM",
      "KillMode=mixed",
      // A drained host exits 0 and must stay down until its instance is reimaged or removed.
      "Restart=on-failure",
      "WantedBy=multi-user.target",
    ])
      assert.ok(lines.includes(line), `the unit has no line ${line}`);
    assert.ok(!lines.some((l) => l.startsWith("Restart=") && l !== "Restart=on-failure"), "one Restart= line, on-failure");
    const drainMs = evaluate(file, envSettings(file).get("DRAIN_GRACE_MS"));
    assert.equal(typeof drainMs, "number", "DRAIN_GRACE_MS must be computable from the params' defaults");
    const timeout = lines.find((l) => l.startsWith("TimeoutStopSec="));
    assert.equal(timeout, `TimeoutStopSec=${(drainMs as number) / 1000 + 30}`, "TimeoutStopSec must be the drain grace plus 30 s");
    const image = at(
      theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body,
      "properties",
      "virtualMachineProfile",
      "storageProfile",
      "imageReference",
    );
    assert.deepEqual([literal(at(image, "publisher")), literal(at(image, "offer"))], ["Debian", "debian-12"]);
    const linux = at(
      theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body,
      "properties",
      "virtualMachineProfile",
      "osProfile",
      "linuxConfiguration",
    );
    assert.equal(evaluate(file, at(linux, "disablePasswordAuthentication")), true);
    // The package's own rtpengine is masked: the media host runs its own.
    const commands = declaredValues(file).get("bootCommands")?.text ?? "";
    assert.match(commands, /\['systemctl', 'mask', 'rtpengine-daemon\.service'\]/);
  });

  it("a scale-in drains the host first: Azure announces it long enough ahead, and a watcher stops the unit before letting it go", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const profile = at(
      theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body,
      "properties",
      "virtualMachineProfile",
      "scheduledEventsProfile",
      "terminateNotificationProfile",
    );
    assert.equal(evaluate(file, at(profile, "enable")), true);
    const notice = evaluate(file, at(profile, "notBeforeTimeout"));
    const minutes = Number(/^PT(\d+)M$/.exec(String(notice))?.[1]);
    const drainMs = evaluate(file, envSettings(file).get("DRAIN_GRACE_MS")) as number;
    assert.ok(minutes >= 5 && minutes <= 15, `notBeforeTimeout ${notice} must be 5-15 minutes`);
    assert.ok(minutes * 60 >= drainMs / 1000 + 30, `notBeforeTimeout ${notice} must cover the drain (${drainMs / 1000} s) and systemd's 30 s`);
    const unitName = evaluate(file, declaredValues(file).get("unitName"));
    const drainUnit = evaluate(file, declaredValues(file).get("drainUnitName"));
    assert.ok(unitLines(file, "drainUnitFile").includes(`ExecStart=/usr/local/sbin/opencvi-drain-on-terminate ${unitName}`));
    const boot = bootFiles(file);
    assert.ok(boot.has(`/etc/systemd/system/${drainUnit}`), "cloud-init writes the watcher's unit");
    assert.equal(
      loadedScript(file, boot.get("/usr/local/sbin/opencvi-drain-on-terminate")),
      join("infra", "scripts", "opencvi-drain-on-terminate.py"),
    );
    assert.match(declaredValues(file).get("bootCommands")?.text ?? "", /\['systemctl', 'enable', '--now', drainUnitName\]/);
  });

  it("the pool is a Flexible scale set across zones: accelerated NICs in the media hosts' subnet with their NSG, each instance with its own Standard public IP", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const { body } = theResource(file, "Microsoft.Compute/virtualMachineScaleSets");
    assert.equal(literal(at(body, "properties", "orchestrationMode")), "Flexible");
    assert.equal(at(body, "zones")?.text, "zones");
    assert.equal(moduleParam(mainFile(), "./modules/mediahosts.bicep", "zones"), "zones");
    // No VM of its own and no loop over host ids: the scale set makes the instances.
    assert.deepEqual(resourcesOfType(file, "Microsoft.Compute/virtualMachines"), []);
    assert.deepEqual(nodesOfType(file, "for_statement"), []);
    const [nic] = parts(at(body, "properties", "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations") as Node);
    assert.equal(evaluate(file, at(nic, "properties", "enableAcceleratedNetworking")), true);
    assert.equal(
      at(nic, "properties", "networkSecurityGroup", "id")?.text,
      `${theResource(file, "Microsoft.Network/networkSecurityGroups").symbol}.id`,
    );
    const [ipConfiguration] = parts(at(nic, "properties", "ipConfigurations") as Node);
    assert.equal(at(ipConfiguration, "properties", "subnet", "id")?.text, "subnetId");
    assert.equal(moduleParam(mainFile(), "./modules/mediahosts.bicep", "subnetId"), "network.outputs.mediaHostSubnetId");
    const publicIp = at(ipConfiguration, "properties", "publicIPAddressConfiguration");
    assert.ok(publicIp, "each instance needs a public IP of its own (app-hosted media)");
    assert.equal(literal(at(publicIp, "sku", "name")), "Standard");
  });

  it("autoscale targets the media host scale set on its average CPU: out above 60 %, in below 25 %, between the min and max params, with cool-downs", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    const scaleSet = theResource(file, "Microsoft.Compute/virtualMachineScaleSets").symbol;
    const { body } = theResource(file, "Microsoft.Insights/autoscalesettings");
    assert.equal(at(body, "properties", "targetResourceUri")?.text, `${scaleSet}.id`);
    assert.equal(evaluate(file, at(body, "properties", "enabled")), true);
    const profiles = parts(at(body, "properties", "profiles") as Node);
    assert.equal(profiles.length, 1);
    const capacity = at(profiles[0], "capacity");
    assert.deepEqual(
      ["minimum", "maximum", "default"].map((k) => at(capacity, k)?.text),
      [`'\${minCount}'`, `'\${maxCount}'`, `'\${minCount}'`],
    );
    const main = mainFile();
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "minCount"), "mediaHostMinCount");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "maxCount"), "mediaHostMaxCount");
    const rules = parts(at(profiles[0], "rules") as Node).map((rule) => {
      const trigger = at(rule, "metricTrigger");
      const action = at(rule, "scaleAction");
      return {
        metric: evaluate(file, at(trigger, "metricName")),
        resource: at(trigger, "metricResourceUri")?.text,
        statistic: evaluate(file, at(trigger, "statistic")),
        aggregation: evaluate(file, at(trigger, "timeAggregation")),
        operator: evaluate(file, at(trigger, "operator")),
        threshold: evaluate(file, at(trigger, "threshold")),
        direction: evaluate(file, at(action, "direction")),
        step: Number(evaluate(file, at(action, "value"))),
        cooldown: evaluate(file, at(action, "cooldown")),
      };
    });
    const common = { metric: "Percentage CPU", resource: `${scaleSet}.id`, statistic: "Average", aggregation: "Average" };
    const out = rules.find((r) => r.direction === "Increase");
    const into = rules.find((r) => r.direction === "Decrease");
    assert.equal(rules.length, 2);
    const trigger = (r: (typeof rules)[number] | undefined) =>
      r && {
        metric: r.metric,
        resource: r.resource,
        statistic: r.statistic,
        aggregation: r.aggregation,
        operator: r.operator,
        threshold: r.threshold,
      };
    assert.deepEqual(trigger(out), { ...common, operator: "GreaterThan", threshold: 60 }, "scale out above 60 % CPU");
    assert.deepEqual(trigger(into), { ...common, operator: "LessThan", threshold: 25 }, "scale in below 25 % CPU");
    for (const rule of [out, into]) {
      assert.ok((rule?.step ?? 0) >= 1, "each rule moves at least one instance");
      assert.match(String(rule?.cooldown), /^PT([5-9]|[1-5]\d)M$/, "a cool-down of 5-59 minutes");
    }
  });

  it("startInstances=false starts no edge and no media host (capacity 0, autoscale off): the app roles can be granted before any token", () => {
    const main = mainFile();
    assert.equal(evaluate(main, declaredValues(main).get("startInstances")), true, "instances start by default");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "startInstances"), "startInstances");
    const edgeCount = at(resourceBody(moduleNamed(main, "./modules/edge.bicep")), "params", "edgeCount");
    assert.equal(edgeCount?.type, "ternary_expression");
    const [edgeCondition, , edgeWhenFalse] = parts(edgeCount as Node);
    assert.equal(edgeCondition?.text, "startInstances");
    assert.equal(evaluate(main, edgeWhenFalse), 0);
    assert.equal(evaluate(fileNamed("modules/edge.bicep"), declaredValues(fileNamed("modules/edge.bicep")).get("edgeCount")), 2);
    const file = fileNamed("modules/mediahosts.bicep");
    const capacity = at(theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body, "sku", "capacity");
    assert.equal(capacity?.type, "ternary_expression");
    const [condition, whenStopped, whenStarted] = parts(capacity as Node);
    assert.equal(condition?.text, "!startInstances");
    assert.equal(evaluate(file, whenStopped), 0);
    assert.equal(whenStarted?.text, "(instanceCount == 0 ? minCount : instanceCount)");
    assert.equal(at(theResource(file, "Microsoft.Insights/autoscalesettings").body, "properties", "enabled")?.text, "startInstances");
  });

  it("the NSG takes SIP from the edge subnet only, the RTP, WebRTC and BFCP ranges and the meeting leg of the env from anywhere, health from the VNet, and denies the rest", () => {
    const file = fileNamed("modules/mediahosts.bicep");
    assert.equal(portOf(file, "SIP_PORT"), 5060);
    assert.equal(portOf(file, "SIP_TLS_PORT"), 5061);
    const rtp = `${portOf(file, "RTP_PORT_MIN")}-${portOf(file, "RTP_PORT_MAX")}`;
    const webRtc = `${portOf(file, "WEBRTC_PORT_MIN")}-${portOf(file, "WEBRTC_PORT_MAX")}`;
    const bfcp = `${portOf(file, "BFCP_PORT_MIN")}-${portOf(file, "BFCP_PORT_MAX")}`;
    const meetingLeg = portOf(file, "MEETING_LEG_PORT");
    const health = portOf(file, "HEALTH_PORT");
    const rules = nsgRules(file);
    for (const [protocol, port] of [
      ["Udp", 5060],
      ["Tcp", 5060],
      ["Tcp", 5061],
    ] as const) {
      const sip = allowing(rules, protocol, port);
      assert.ok(sip.length > 0, `no rule lets ${protocol} ${port} in from the edges`);
      assert.deepEqual(
        sip.filter((r) => r.sourceText !== "edgeSubnetAddressPrefix").map((r) => r.name),
        [],
        `${protocol} ${port} (SIP) only from the edge subnet: devices dial the edge, never a host`,
      );
    }
    assert.ok(
      rules.some((r) => r.access === "Allow" && r.protocol === "Udp" && fromInternet(r) && r.ports.includes(rtp)),
      `no rule lets the RTP range ${rtp} in over UDP`,
    );
    assert.ok(
      rules.some((r) => r.access === "Allow" && r.protocol === "Udp" && fromInternet(r) && r.ports.includes(webRtc)),
      `no rule lets the WebRTC range ${webRtc} in over UDP`,
    );
    for (const protocol of ["Udp", "Tcp"] as const)
      assert.ok(
        rules.some((r) => r.access === "Allow" && (r.protocol === protocol || r.protocol === "*") && fromInternet(r) && r.ports.includes(bfcp)),
        `no rule lets the BFCP range ${bfcp} in over ${protocol} (content sharing)`,
      );
    assert.ok(
      allowing(rules, "Tcp", meetingLeg).some(fromInternet),
      `no rule lets the meeting leg's session endpoint (${meetingLeg}) in: Teams' media servers answer there`,
    );
    const healthRules = allowing(rules, "Tcp", health);
    assert.ok(healthRules.length > 0, `no rule lets health (${health}) in`);
    assert.deepEqual(
      healthRules.filter((r) => r.source !== "VirtualNetwork").map((r) => r.name),
      [],
      "health and metrics only from the VNet",
    );
    const unexpected = rules
      .filter((r) => r.access === "Allow")
      .filter((r) => {
        if (fromInternet(r)) return r.ports.some((p) => p !== rtp && p !== webRtc && p !== bfcp && p !== String(meetingLeg));
        if (r.sourceText === "edgeSubnetAddressPrefix") return r.ports.some((p) => p !== "5060" && p !== "5061");
        if (r.source === "VirtualNetwork") return r.ports.some((p) => p !== String(health));
        // The one other: the optional SSH rule (its source a param that is empty by default).
        return r.sourceText !== "sshSourceAddressPrefix" || r.protocol !== "Tcp" || r.ports.some((p) => p !== "22");
      })
      .map((r) => r.name);
    assert.deepEqual(unexpected, [], "rules that open more than SIP from the edges, RTP, WebRTC, BFCP, the meeting leg, health (and optionally SSH)");
    assertDeniesTheRest(rules);
  });
});

describe("infra/modules/portal.bicep", () => {
  it("the portal is a Standard static web app (linked backends need it) whose backend is the Function App, at /api on the portal's origin", () => {
    const file = fileNamed("modules/portal.bicep");
    const site = theResource(file, "Microsoft.Web/staticSites");
    assert.equal(evaluate(file, at(site.body, "sku", "name")), "Standard");
    assert.equal(evaluate(file, at(site.body, "properties", "provider")), "None", "files come from the deployment, not a repository");
    const backend = theResource(file, "Microsoft.Web/staticSites/linkedBackends");
    assert.equal(at(backend.body, "parent")?.text, site.symbol);
    assert.equal(at(backend.body, "properties", "backendResourceId")?.text, "functionAppId");
    assert.equal(moduleParam(mainFile(), "./modules/portal.bicep", "functionAppId"), "functionApp.id");
    assert.ok(
      nodesOfType(mainFile(), "output_declaration").some((o) => /portalHostName/.test(o.text)),
      "main.bicep says where the portal is",
    );
  });
});

describe("infra/modules/edge.bicep", () => {
  it("writes exactly the edge settings of edge/agent/config.ts that Azure needs", () => {
    const file = fileNamed("modules/edge.bicep");
    const names = [...envSettings(file).keys()].sort();
    const schema = Object.keys(edgeConfigSchema.shape);
    assert.deepEqual(
      names.filter((n) => !schema.includes(n)),
      [],
      "settings that edgeConfigSchema does not read",
    );
    assert.deepEqual(
      names,
      [
        "EDGE_ID",
        "EDGE_SIP_ADDRESS",
        "EDGE_ADVERTISED_ADDRESS",
        "EDGE_SIP_PORT",
        "EDGE_TLS_PORT",
        "EDGE_TLS_CERT_FILE",
        "EDGE_TLS_KEY_FILE",
        "EDGE_METRICS_PORT",
        "EDGE_RUN_DIRECTORY",
        "CONTROL_PLANE_URL",
        "CONTROL_PLANE_SCOPE",
        // The edges' own user-assigned identity, which holds the app role CVI.Edge.
        "AZURE_CLIENT_ID",
        "POOL_SYNC_INTERVAL_MS",
      ].sort(),
    );
    assert.deepEqual(textualSettings(file), [], "settings written as text instead of in an object literal");
    const identity = theResource(file, "Microsoft.ManagedIdentity/userAssignedIdentities").symbol;
    assert.equal(envSettings(file).get("AZURE_CLIENT_ID")?.text, `${identity}.properties.clientId`);
    const main = mainFile();
    assert.equal(moduleParam(main, "./modules/edge.bicep", "controlPlaneUrl"), "controlPlaneUrl");
    assert.equal(
      moduleParam(main, "./modules/mediahosts.bicep", "controlPlaneUrl"),
      "controlPlaneUrl",
      "edges and hosts call the same control plane",
    );
    assert.equal(
      moduleParam(main, "./modules/edge.bicep", "controlPlaneScope"),
      moduleParam(main, "./modules/mediahosts.bicep", "controlPlaneScope"),
    );
    // Every value edgeConfigSchema parses: the ones known before deployment, as the schema reads them.
    for (const name of ["EDGE_SIP_PORT", "EDGE_TLS_PORT", "EDGE_METRICS_PORT", "EDGE_RUN_DIRECTORY", "POOL_SYNC_INTERVAL_MS"]) {
      const value = evaluate(file, envSettings(file).get(name));
      assert.ok(value !== undefined, `${name} must be known before deployment`);
      const field = edgeConfigSchema.shape[name as keyof typeof edgeConfigSchema.shape];
      assert.ok(field.safeParse(String(value)).success, `${name}=${value} is refused by edgeConfigSchema`);
    }
  });

  it("each edge reads its id and SIP address from IMDS at every start: the VM name and its private IP", () => {
    assertInstanceSettings(fileNamed("modules/edge.bicep"), "unitFile", { EDGE_ID: "vm-name", EDGE_SIP_ADDRESS: "private-ip" });
  });

  it("advertises the load balancer's public IP, the one devices dial", () => {
    const file = fileNamed("modules/edge.bicep");
    const publicIp = theResource(file, "Microsoft.Network/publicIPAddresses");
    assert.equal(envSettings(file).get("EDGE_ADVERTISED_ADDRESS")?.text, `${publicIp.symbol}.properties.ipAddress`);
    const [frontend] = parts(at(theResource(file, "Microsoft.Network/loadBalancers").body, "properties", "frontendIPConfigurations") as Node);
    assert.equal(at(frontend, "properties", "publicIPAddress", "id")?.text, `${publicIp.symbol}.id`);
    assert.equal(literal(at(publicIp.body, "sku", "name")), "Standard");
    assert.equal(literal(at(publicIp.body, "properties", "publicIPAllocationMethod")), "Static");
  });

  it("installs Kamailio and its TLS modules without ever running their service, and runs the agent under systemd (Restart=always)", () => {
    const file = fileNamed("modules/edge.bicep");
    const values = declaredValues(file);
    assert.deepEqual(
      parts(values.get("debianPackages") as Node)
        .map(literal)
        .sort(),
      ["kamailio", "kamailio-tls-modules", "nodejs", "npm"],
    );
    const commands = values.get("bootCommands")?.text ?? "";
    assert.match(commands, /\['systemctl', 'disable', '--now', 'kamailio\.service'\]/);
    assert.match(commands, /\['systemctl', 'mask', 'kamailio\.service'\]/);
    const envFile = evaluate(file, values.get("envFilePath"));
    const boot = bootFiles(file);
    assert.ok(boot.has(envFile as string), "cloud-init does not write the env file");
    assert.equal(literal(callOf(boot.get("/etc/opencvi/role"))?.args[0]), "edge\n", "the role opencvi-install reads");
    assert.equal(loadedScript(file, boot.get("/usr/local/sbin/opencvi-install")), join("infra", "scripts", "opencvi-install.sh"));
    const lines = unitLines(file, "unitFile");
    for (const line of [
      `EnvironmentFile=${envFile}`,
      "User=opencvi",
      "ExecStart=/opt/opencvi/current/runtime/bin/node dist/edge/agent/main.js",
      "KillSignal=SIGTERM",
      "Restart=always",
      "WantedBy=multi-user.target",
    ])
      assert.ok(lines.includes(line), `the unit has no line ${line}`);
    // systemd makes the run directory the agent gives Kamailio, writable by the service user.
    const runDirectory = evaluate(file, envSettings(file).get("EDGE_RUN_DIRECTORY"));
    const made = lines.find((l) => l.startsWith("RuntimeDirectory="))?.slice("RuntimeDirectory=".length);
    assert.equal(`/run/${made}`, runDirectory);
    const image = at(
      theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body,
      "properties",
      "virtualMachineProfile",
      "storageProfile",
      "imageReference",
    );
    assert.deepEqual([literal(at(image, "publisher")), literal(at(image, "offer"))], ["Debian", "debian-12"]);
  });

  it("takes the SIP certificate from Key Vault as the media hosts do: the same script, files and secret", () => {
    const edge = fileNamed("modules/edge.bicep");
    const hosts = fileNamed("modules/mediahosts.bicep");
    for (const file of [edge, hosts]) {
      assert.equal(loadedScript(file, bootFiles(file).get("/usr/local/sbin/opencvi-tls-fetch")), join("infra", "scripts", "opencvi-tls-fetch.sh"));
      assert.ok(
        unitLines(file, "unitFile").includes(
          `ExecStartPre=+/usr/local/sbin/opencvi-tls-fetch \${sipTlsCertificateSecretUri} \${identity.properties.clientId}`,
        ),
        `${file.name}: the certificate is fetched with the identity before each start`,
      );
    }
    const files = (file: BicepFile, prefix: string) => [
      evaluate(file, envSettings(file).get(`${prefix}_TLS_CERT_FILE`)),
      evaluate(file, envSettings(file).get(`${prefix}_TLS_KEY_FILE`)),
    ];
    assert.deepEqual(files(edge, "EDGE"), files(hosts, "SIP"));
    const script = readFileSync(join(infraDir, "scripts", "opencvi-tls-fetch.sh"), "utf8");
    for (const path of files(edge, "EDGE")) {
      assert.ok(typeof path === "string" && script.includes(`"$dir/${path.split("/").pop()}"`), `opencvi-tls-fetch writes ${path}`);
      assert.ok(script.includes(`dir=${dirname(path as string)}`), `opencvi-tls-fetch writes into ${dirname(path as string)}`);
    }
    const main = mainFile();
    assert.equal(moduleParam(main, "./modules/edge.bicep", "sipTlsCertificateSecretUri"), "sipTlsCertificateSecretUri");
    assert.equal(moduleParam(main, "./modules/mediahosts.bicep", "sipTlsCertificateSecretUri"), "sipTlsCertificateSecretUri");
  });

  it("a Standard load balancer spreads SIP over UDP 5060, TCP 5060 and TLS 5061 to the edges, probed on TCP 5060, floating IP off, long TCP idle timeouts", () => {
    const file = fileNamed("modules/edge.bicep");
    const sipPort = portOf(file, "EDGE_SIP_PORT");
    const tlsPort = portOf(file, "EDGE_TLS_PORT");
    assert.deepEqual([sipPort, tlsPort], [5060, 5061]);
    const { body } = theResource(file, "Microsoft.Network/loadBalancers");
    assert.equal(literal(at(body, "sku", "name")), "Standard");
    const props = at(body, "properties");
    const named = (list: string) => new Map(parts(at(props, list) as Node).map((n) => [evaluate(file, at(n, "name")), n]));
    const frontends = named("frontendIPConfigurations");
    const pools = named("backendAddressPools");
    const probes = named("probes");
    assert.equal(frontends.size, 1);
    assert.equal(pools.size, 1);
    const [probeName, probe] = [...probes][0] ?? [];
    assert.equal(probes.size, 1);
    assert.deepEqual([evaluate(file, at(probe, "properties", "protocol")), evaluate(file, at(probe, "properties", "port"))], ["Tcp", 5060]);
    const rules = parts(at(props, "loadBalancingRules") as Node).map((rule) => {
      const p = at(rule, "properties");
      return {
        protocol: evaluate(file, at(p, "protocol")),
        frontendPort: evaluate(file, at(p, "frontendPort")),
        backendPort: evaluate(file, at(p, "backendPort")),
        floatingIp: evaluate(file, at(p, "enableFloatingIP")),
        probe: childName(file, at(p, "probe", "id")),
        frontend: childName(file, at(p, "frontendIPConfiguration", "id")),
        pool: childName(file, at(p, "backendAddressPool", "id")),
        idleTimeout: evaluate(file, at(p, "idleTimeoutInMinutes")),
        outboundSnat: evaluate(file, at(p, "disableOutboundSnat")) !== true,
      };
    });
    assert.deepEqual(rules.map((r) => `${r.protocol} ${r.frontendPort}->${r.backendPort}`).sort(), [
      `Tcp ${sipPort}->${sipPort}`,
      `Tcp ${tlsPort}->${tlsPort}`,
      `Udp ${sipPort}->${sipPort}`,
    ]);
    for (const rule of rules) {
      assert.equal(rule.floatingIp, false, "floating IP off: the edges bind their own address");
      assert.equal(rule.probe, probeName, "every rule uses the probe");
      assert.ok(frontends.has(rule.frontend) && pools.has(rule.pool), "every rule goes from the frontend to the edges' pool");
      assert.equal(rule.outboundSnat, false, "the outbound rule does the SNAT");
      if (rule.protocol === "Tcp") assert.ok((rule.idleTimeout as number) >= 30, "SIP over TCP and TLS stays idle for long between refreshes");
    }
    // The edges have no public IP of their own: they go out through the load balancer.
    const outbound = parts(at(props, "outboundRules") as Node);
    assert.equal(outbound.length, 1);
    assert.ok(pools.has(childName(file, at(outbound[0], "properties", "backendAddressPool", "id"))));
    // The edges' NICs are in the pool.
    const scaleSet = theResource(file, "Microsoft.Compute/virtualMachineScaleSets").body;
    const [nic] = parts(at(scaleSet, "properties", "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations") as Node);
    const [ipConfiguration] = parts(at(nic, "properties", "ipConfigurations") as Node);
    const [membership] = parts(at(ipConfiguration, "properties", "loadBalancerBackendAddressPools") as Node);
    assert.equal(
      at(membership, "id")?.text,
      `'\${${theResource(file, "Microsoft.Network/loadBalancers").symbol}.id}/backendAddressPools/\${backendPoolName}'`,
    );
    assert.ok(pools.has(evaluate(file, declaredValues(file).get("backendPoolName"))));
    assert.equal(at(ipConfiguration, "properties", "publicIPAddressConfiguration"), undefined, "no instance-level public IP on an edge");
  });

  it("the edges are a Flexible scale set of two across zones, in the edges' subnet, running as the edge identity", () => {
    const file = fileNamed("modules/edge.bicep");
    const { body } = theResource(file, "Microsoft.Compute/virtualMachineScaleSets");
    assert.equal(literal(at(body, "properties", "orchestrationMode")), "Flexible");
    assert.equal(at(body, "zones")?.text, "zones");
    assert.equal(at(body, "sku", "capacity")?.text, "edgeCount");
    assert.equal(evaluate(file, declaredValues(file).get("edgeCount")), 2);
    assert.equal(evaluate(mainFile(), at(resourceBody(moduleNamed(mainFile(), "./modules/edge.bicep")), "params", "edgeCount")), 2);
    const identity = theResource(file, "Microsoft.ManagedIdentity/userAssignedIdentities").symbol;
    assert.equal(literal(at(body, "identity", "type")), "UserAssigned");
    assert.match(at(body, "identity", "userAssignedIdentities")?.text ?? "", new RegExp(`'\\$\\{${identity}\\.id\\}'`));
    const [nic] = parts(at(body, "properties", "virtualMachineProfile", "networkProfile", "networkInterfaceConfigurations") as Node);
    assert.equal(
      at(nic, "properties", "networkSecurityGroup", "id")?.text,
      `${theResource(file, "Microsoft.Network/networkSecurityGroups").symbol}.id`,
    );
    const [ipConfiguration] = parts(at(nic, "properties", "ipConfigurations") as Node);
    assert.equal(at(ipConfiguration, "properties", "subnet", "id")?.text, "subnetId");
    assert.equal(moduleParam(mainFile(), "./modules/edge.bicep", "subnetId"), "network.outputs.edgeSubnetId");
  });

  it("the NSG takes SIP (UDP/TCP 5060, TLS 5061) from the internet and the media hosts, the probe from the load balancer, metrics from the VNet, and denies the rest", () => {
    const file = fileNamed("modules/edge.bicep");
    const metrics = portOf(file, "EDGE_METRICS_PORT");
    const rules = nsgRules(file);
    for (const [protocol, port] of [
      ["Udp", 5060],
      ["Tcp", 5060],
      ["Tcp", 5061],
    ] as const)
      assert.ok(allowing(rules, protocol, port).some(fromInternet), `no rule lets ${protocol} ${port} in from the internet`);
    assert.ok(
      allowing(rules, "Tcp", 5060).some((r) => r.source === "AzureLoadBalancer"),
      "the load balancer's probe (AzureLoadBalancer) must reach TCP 5060: the deny-all rule hides Azure's default",
    );
    assert.ok(
      allowing(rules, "Udp", 5060).some((r) => r.sourceText === "mediaHostSubnetAddressPrefix"),
      "the media hosts' answers and in-dialog requests reach the edges over the VNet",
    );
    assert.equal(moduleParam(mainFile(), "./modules/edge.bicep", "mediaHostSubnetAddressPrefix"), "mediaHostSubnetAddressPrefix");
    const metricsRules = allowing(rules, "Tcp", metrics);
    assert.ok(metricsRules.length > 0, `no rule lets metrics (${metrics}) in`);
    assert.deepEqual(
      metricsRules.filter((r) => r.source !== "VirtualNetwork").map((r) => r.name),
      [],
      "metrics only from the VNet",
    );
    const unexpected = rules
      .filter((r) => r.access === "Allow")
      .filter((r) => {
        if (fromInternet(r)) return r.ports.some((p) => p !== "5060" && p !== "5061");
        if (r.source === "AzureLoadBalancer" || r.sourceText === "mediaHostSubnetAddressPrefix") return r.ports.some((p) => p !== "5060");
        if (r.source === "VirtualNetwork") return r.ports.some((p) => p !== String(metrics));
        return r.sourceText !== "sshSourceAddressPrefix" || r.protocol !== "Tcp" || r.ports.some((p) => p !== "22");
      })
      .map((r) => r.name);
    assert.deepEqual(unexpected, [], "rules that open more than SIP, the probe, metrics (and optionally SSH)");
    assertDeniesTheRest(rules);
  });
});

describe("infra network and outputs", () => {
  it("one virtual network with separate subnets for the media hosts and the edges, from main.bicep's prefixes", () => {
    const file = fileNamed("modules/network.bicep");
    const { body } = theResource(file, "Microsoft.Network/virtualNetworks");
    const subnets = new Map(
      parts(at(body, "properties", "subnets") as Node).map((s) => [evaluate(file, at(s, "name")), at(s, "properties", "addressPrefix")?.text]),
    );
    const hostSubnet = evaluate(file, declaredValues(file).get("mediaHostSubnetName"));
    const edgeSubnet = evaluate(file, declaredValues(file).get("edgeSubnetName"));
    assert.deepEqual(Object.fromEntries(subnets), {
      [String(hostSubnet)]: "mediaHostSubnetAddressPrefix",
      [String(edgeSubnet)]: "edgeSubnetAddressPrefix",
    });
    const outputs = new Map(nodesOfType(file, "output_declaration").map((o) => [parts(o)[0]?.text, parts(o).at(-1)?.text]));
    assert.equal(
      outputs.get("mediaHostSubnetId"),
      `'\${${theResource(file, "Microsoft.Network/virtualNetworks").symbol}.id}/subnets/\${mediaHostSubnetName}'`,
    );
    assert.equal(outputs.get("edgeSubnetId"), `'\${${theResource(file, "Microsoft.Network/virtualNetworks").symbol}.id}/subnets/\${edgeSubnetName}'`);
    const main = mainFile();
    for (const param of ["vnetAddressPrefix", "mediaHostSubnetAddressPrefix", "edgeSubnetAddressPrefix"])
      assert.equal(moduleParam(main, "./modules/network.bicep", param), param);
    const prefixes = ["mediaHostSubnetAddressPrefix", "edgeSubnetAddressPrefix"].map((p) => evaluate(main, declaredValues(main).get(p)));
    assert.equal(new Set(prefixes).size, 2, "the subnets' default prefixes differ");
  });

  it("main.bicep outputs what devices dial (the edge's public IP and DNS name), the queue, the scale sets and the identities for the app roles", () => {
    const main = mainFile();
    const outputs = new Map(nodesOfType(main, "output_declaration").map((o) => [parts(o)[0]?.text, parts(o).at(-1)?.text]));
    assert.deepEqual(
      {
        edgePublicIp: outputs.get("edgePublicIp"),
        edgeFqdn: outputs.get("edgeFqdn"),
        eventsQueueName: outputs.get("eventsQueueName"),
        edgeScaleSetName: outputs.get("edgeScaleSetName"),
        mediaHostScaleSetName: outputs.get("mediaHostScaleSetName"),
        edgePrincipalId: outputs.get("edgePrincipalId"),
        mediaHostPrincipalId: outputs.get("mediaHostPrincipalId"),
      },
      {
        edgePublicIp: "edge.outputs.publicIpAddress",
        edgeFqdn: "edge.outputs.fqdn",
        eventsQueueName: "serviceBus.outputs.eventsQueueName",
        edgeScaleSetName: "edge.outputs.scaleSetName",
        mediaHostScaleSetName: "mediaHosts.outputs.scaleSetName",
        edgePrincipalId: "edge.outputs.principalId",
        mediaHostPrincipalId: "mediaHosts.outputs.principalId",
      },
    );
    const moduleOutputs = (name: string) =>
      new Map(nodesOfType(fileNamed(name), "output_declaration").map((o) => [parts(o)[0]?.text, parts(o).at(-1)?.text]));
    const edge = fileNamed("modules/edge.bicep");
    const edgeOutputs = moduleOutputs("modules/edge.bicep");
    assert.equal(edgeOutputs.get("publicIpAddress"), `${theResource(edge, "Microsoft.Network/publicIPAddresses").symbol}.properties.ipAddress`);
    assert.equal(edgeOutputs.get("fqdn"), `${theResource(edge, "Microsoft.Network/publicIPAddresses").symbol}.properties.dnsSettings.fqdn`);
    assert.equal(edgeOutputs.get("scaleSetName"), `${theResource(edge, "Microsoft.Compute/virtualMachineScaleSets").symbol}.name`);
    assert.equal(
      edgeOutputs.get("principalId"),
      `${theResource(edge, "Microsoft.ManagedIdentity/userAssignedIdentities").symbol}.properties.principalId`,
    );
    const hosts = fileNamed("modules/mediahosts.bicep");
    const hostOutputs = moduleOutputs("modules/mediahosts.bicep");
    assert.equal(hostOutputs.get("scaleSetName"), `${theResource(hosts, "Microsoft.Compute/virtualMachineScaleSets").symbol}.name`);
    assert.equal(
      hostOutputs.get("principalId"),
      `${theResource(hosts, "Microsoft.ManagedIdentity/userAssignedIdentities").symbol}.properties.principalId`,
    );
  });
});
