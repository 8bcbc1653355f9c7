import { app, type HttpHandler, type HttpMethod } from "@azure/functions";

/** What the OpenAPI document says about one operation; schema names refer to api/schemas.ts. */
export interface OperationDoc {
  readonly summary: string;
  readonly tag: string;
  readonly query?: readonly { readonly name: string; readonly description: string; readonly repeated?: boolean }[];
  readonly requestBody?: string;
  readonly conditional?: boolean;
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: string }>>;
  /**
   * True where a tenant's own admin (the tenant-admin role, signing in from their tenant) may
   * call it too, held to their own tenant; otherwise it is for the roles its summary names (the operator by default).
   */
  readonly tenantAdmin?: boolean;
  /** True only for the few public endpoints (the OpenAPI document itself). */
  readonly anonymous?: boolean;
}

export interface HttpRoute {
  readonly name: string;
  readonly methods: readonly HttpMethod[];
  /** Azure Functions route template, relative to host.json's routePrefix ("api"). */
  readonly route: string;
  readonly handler: HttpHandler;
  readonly doc: OperationDoc;
}

const routes: HttpRoute[] = [];

/** Every HTTP function registered in this process, for the local HTTP adapter and the OpenAPI document. */
export const httpRoutes: readonly HttpRoute[] = routes;

/**
 * Registers an HTTP-triggered function with the Functions host and records it, so the
 * local stack serves the very same handlers and the OpenAPI document lists them.
 */
export function registerHttpRoute(route: HttpRoute): void {
  app.http(route.name, { methods: [...route.methods], route: route.route, authLevel: "anonymous", handler: route.handler });
  routes.push(route);
}
