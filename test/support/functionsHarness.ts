import functions, { type HttpHandler } from "@azure/functions";

// The package is CommonJS; its classes are not ESM named exports.
const { HttpRequest, HttpResponse, InvocationContext } = functions;

export interface CallOptions {
  readonly method?: string;
  readonly path?: string;
  readonly params?: Record<string, string>;
  readonly query?: string;
  readonly token?: string;
  readonly body?: unknown;
  /** A raw body string (sent as is, for malformed JSON tests). */
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
  readonly logs: string[];
}

/**
 * Calls a Functions HTTP handler in-process the way the host would: with the
 * package's own HttpRequest and InvocationContext.
 */
export async function callHandler(handler: HttpHandler, options: CallOptions = {}): Promise<CallResult> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const request = new HttpRequest({
    method,
    url: `http://localhost:7071/api${options.path ?? "/"}${options.query ? `?${options.query}` : ""}`,
    headers,
    params: options.params ?? {},
    ...(body !== undefined ? { body: { string: body } } : {}),
  });
  const logs: string[] = [];
  const context = new InvocationContext({
    invocationId: "test-invocation",
    functionName: "test",
    logHandler: (level, ...args) => logs.push(`${level}: ${args.join(" ")}`),
  });
  const result = await handler(request, context);
  const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json, logs };
}
