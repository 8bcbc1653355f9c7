import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Language, type Node, Parser } from "web-tree-sitter";
import { CONTAINERS } from "../../functions/adapters/cosmos/cosmosStore.js";
import { controlPlaneConfigSchema } from "../../functions/config.js";

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

/** The body object of a resource declaration, also when it is conditional (`= if (...) {...}`). */
function resourceBody(declaration: Node): Node | undefined {
  const body = parts(declaration).at(-1);
  if (body?.type === "object") return body;
  if (body?.type === "if_statement") return parts(body).find((n) => n.type === "object");
  return undefined;
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

  it("sets every control plane config key except COSMOS_KEY", () => {
    const names = appSettingNames();
    const expected = Object.keys(controlPlaneConfigSchema.shape).filter((k) => k !== "COSMOS_KEY");
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
      "COSMOS_KEY", // Cosmos is reached with the managed identity; local auth is disabled
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
