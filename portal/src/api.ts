import { keepDrafts } from "./drafts";

/** One field the API refused, and why (problem+json `errors`). */
export interface FieldProblem {
  readonly field: string;
  readonly detail: string;
}

/** The admin API said no (RFC 9457 problem+json): what it said, for the page to show where it belongs. */
export class ApiProblem extends Error {
  override readonly name = "ApiProblem";
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly errors: readonly FieldProblem[] = [],
  ) {
    super(detail || title);
  }

  /** The API's word on one field, if it named it. */
  forField(field: string): string | undefined {
    return this.errors.find((e) => e.field === field)?.detail;
  }
}

/** The sign-in is over (expired, revoked): the page signs in again and keeps what the user typed. */
export class SignInNeeded extends Error {
  override readonly name = "SignInNeeded";
}

export type TokenSource = () => Promise<string>;
/** Sends the browser to sign in again (a redirect: the app reloads when it comes back). */
export type SignInAgain = () => Promise<void>;

export interface AdminApi {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete(path: string): Promise<void>;
}

/**
 * The admin API for the signed-in user. When the sign-in is over (the API answers 401, or no
 * token can be had silently), what the open forms hold is kept and the user is sent to sign
 * in again; the call still fails with SignInNeeded, so no page takes it for an answer.
 */
export function adminApi(baseUrl: string, token: TokenSource, signInAgain: SignInAgain): AdminApi {
  let signingIn = false;
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await send<T>(method, path, body);
    } catch (e) {
      // Several calls can fail at once (pages refresh on timers): one redirect is enough.
      if (e instanceof SignInNeeded && !signingIn) {
        signingIn = true;
        keepDrafts();
        await signInAgain();
      }
      throw e;
    }
  }
  async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await token()}`,
        accept: "application/json, application/problem+json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status === 401) throw new SignInNeeded("signed out: sign in again");
    const text = await response.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const problem = (json ?? {}) as { title?: string; detail?: string; errors?: FieldProblem[] };
      throw new ApiProblem(response.status, problem.title ?? `HTTP ${response.status}`, problem.detail ?? "", problem.errors ?? []);
    }
    return json as T;
  }
  return {
    get: (path) => call("GET", path),
    post: (path, body) => call("POST", path, body),
    put: (path, body) => call("PUT", path, body),
    patch: (path, body) => call("PATCH", path, body),
    delete: async (path) => {
      await call("DELETE", path);
    },
  };
}
