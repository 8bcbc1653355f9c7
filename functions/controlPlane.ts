import { randomInt } from "node:crypto";
import { CosmosPolicyAssignmentRepository } from "./adapters/cosmos/cosmosPolicyAssignmentRepository.js";
import { CosmosProviderRepository } from "./adapters/cosmos/cosmosProviderRepository.js";
import { openCosmosStore } from "./adapters/cosmos/cosmosStore.js";
import { CosmosTenantRepository } from "./adapters/cosmos/cosmosTenantRepository.js";
import { CosmosConsentRequestRepository } from "./adapters/cosmos/cosmosConsentRequestRepository.js";
import { GraphConsentProbe } from "./adapters/graph/graphConsentProbe.js";
import { TenantGraphClients } from "./adapters/graph/tenantGraphClients.js";
import { processBus } from "./adapters/bus/processBus.js";
import { CosmosCallSessionRepository } from "./adapters/cosmos/cosmosCallSessionRepository.js";
import { CosmosMeetingMappingRepository } from "./adapters/cosmos/cosmosMeetingMappingRepository.js";
import { GraphCallControl } from "./adapters/graph/graphCallControl.js";
import { GraphMeetingDirectory } from "./adapters/graph/graphMeetingDirectory.js";
import { CosmosOrganizerSubscriptionRepository } from "./adapters/cosmos/cosmosOrganizerSubscriptionRepository.js";
import { GraphCalendar } from "./adapters/graph/graphCalendar.js";
import { GraphChangeSubscriptions } from "./adapters/graph/graphChangeSubscriptions.js";
import { GraphDirectory } from "./adapters/graph/graphDirectory.js";
import { CallService } from "./app/callService.js";
import { CallHistoryTokens } from "./app/callQueries.js";
import { PoolService } from "./app/poolService.js";
import { CosmosMediaHostRepository } from "./adapters/cosmos/cosmosMediaHostRepository.js";
import { MeetingCoordinatesService } from "./app/meetingCoordinatesService.js";
import { Organizers } from "./app/organizers.js";
import { SubscriptionService } from "./app/subscriptionService.js";
import { ConsentService } from "./app/consentService.js";
import { ResolutionService } from "./app/resolutionService.js";
import { CallNotificationAuthenticator } from "./platform/callNotificationAuthenticator.js";
import { PolicyService } from "./app/policyService.js";
import { ProviderService } from "./app/providerService.js";
import { TenantService } from "./app/tenantService.js";
import { type ControlPlaneConfig, loadControlPlaneConfig } from "./config.js";
import { BearerTokenAuthenticator, tenantIssuerTemplate } from "./platform/bearerTokenAuthenticator.js";
import type { MessagePublisher, MessageTakeover } from "../shared/bus/messageBus.js";
import { connectServiceBus } from "../shared/bus/connectServiceBus.js";
import { workloadCredential } from "../shared/identity/workloadCredential.js";

/** Everything a control-plane function needs, wired once per worker process from the app settings. */
export interface ControlPlane {
  readonly config: ControlPlaneConfig;
  readonly authenticator: BearerTokenAuthenticator;
  readonly tenants: TenantService;
  readonly providers: ProviderService;
  readonly policies: PolicyService;
  readonly consent: ConsentService;
  readonly resolution: ResolutionService;
  readonly calls: CallService;
  readonly pool: PoolService;
  readonly callNotificationAuthenticator: CallNotificationAuthenticator;
  readonly coordinates: MeetingCoordinatesService;
  readonly subscriptions: SubscriptionService;
  /** Closes what holds connections open (the Service Bus connection). */
  close(): Promise<void>;
}

/** Service Bus when a namespace is configured (Azure: managed identity), else the one-machine in-process bus. */
function openBus(config: ControlPlaneConfig): { bus: MessagePublisher & MessageTakeover; close: () => Promise<void> } {
  if (!config.SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE) return { bus: processBus, close: async () => {} };
  return connectServiceBus({
    fullyQualifiedNamespace: config.SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE,
    endpoint: config.SERVICE_BUS_ENDPOINT,
    queueName: config.SERVICE_BUS_QUEUE,
    credential: workloadCredential({
      tenantId: config.AZURE_TENANT_ID,
      clientId: config.AZURE_CLIENT_ID,
      clientSecret: config.AZURE_CLIENT_SECRET,
      authorityHost: config.ENTRA_AUTHORITY_HOST,
    }),
  });
}

async function build(config: ControlPlaneConfig): Promise<ControlPlane> {
  const bus = openBus(config);
  const store = await openCosmosStore({ endpoint: config.COSMOS_ENDPOINT, key: config.COSMOS_KEY, databaseId: config.COSMOS_DATABASE });
  const now = () => new Date();
  const naming = { serviceDomain: config.SERVICE_DOMAIN, serviceProviderName: config.SERVICE_PROVIDER_NAME };
  const tenantRepository = new CosmosTenantRepository(store);
  const tenants = new TenantService(tenantRepository, { serviceDomain: config.SERVICE_DOMAIN, randomInt, now });
  const graph = new TenantGraphClients({
    authorityHost: config.ENTRA_AUTHORITY_HOST,
    graphBaseUrl: config.GRAPH_BASE_URL,
    clientId: config.BOT_APP_ID,
    clientSecret: config.BOT_APP_CLIENT_SECRET,
  });
  const providerRepository = new CosmosProviderRepository(store);
  // Grant and provider changes drop the cached dial-in decisions of the tenant's organizers.
  let organizers: Organizers | undefined;
  const policyChanged = (tenantId: string) => organizers?.forget(tenantId);
  const policies = new PolicyService(new CosmosPolicyAssignmentRepository(store), tenants, config.SERVICE_PROVIDER_NAME, now, policyChanged);
  const consent = new ConsentService(tenants, tenantRepository, new CosmosConsentRequestRepository(store), new GraphConsentProbe(graph), {
    authorityHost: config.ENTRA_AUTHORITY_HOST,
    botAppId: config.BOT_APP_ID,
    redirectUri: `${config.PUBLIC_BASE_URL}/api/consent/callback`,
    stateSigningKey: config.STATE_SIGNING_KEY,
    now,
  });
  const directory = new GraphDirectory(graph);
  organizers = new Organizers(policies, directory, providerRepository, naming);
  const mappings = new CosmosMeetingMappingRepository(store);
  const meetingDirectory = new GraphMeetingDirectory(graph);
  const resolution = new ResolutionService(tenantRepository, mappings, meetingDirectory, organizers, consent, naming);
  const log = (line: string) => console.info(line);
  const coordinates = new MeetingCoordinatesService(tenantRepository, new GraphCalendar(graph), meetingDirectory, mappings, organizers, {
    randomInt,
    now,
    log,
  });
  const subscriptions = new SubscriptionService(
    tenantRepository,
    new GraphChangeSubscriptions(graph),
    new CosmosOrganizerSubscriptionRepository(store),
    organizers,
    policies,
    directory,
    coordinates,
    {
      notificationUrl: `${config.PUBLIC_BASE_URL}/api/graph/notifications`,
      lifecycleNotificationUrl: `${config.PUBLIC_BASE_URL}/api/graph/lifecycle`,
      stateSigningKey: config.STATE_SIGNING_KEY,
      now,
      log,
    },
  );
  // The pool and the calls need each other: a join asks whether its host is serving, the reaper ends a lost host's calls.
  let pool: PoolService | undefined;
  const calls = new CallService(
    resolution,
    new GraphCallControl(graph, config.BOT_APP_ID),
    new CosmosCallSessionRepository(store),
    bus.bus,
    consent,
    {
      callbackUri: `${config.PUBLIC_BASE_URL}/api/graph/calls`,
      hostIsServing: (hostId, epoch) => pool?.isServing(hostId, epoch) ?? Promise.resolve(false),
      now,
      log,
      historyTokens: new CallHistoryTokens(config.STATE_SIGNING_KEY),
    },
  );
  pool = new PoolService(new CosmosMediaHostRepository(store), calls, bus.bus, { now, log });
  const issuerTemplate = tenantIssuerTemplate(config.ADMIN_AUTH_ISSUER);
  return {
    config,
    authenticator: new BearerTokenAuthenticator({
      issuer: config.ADMIN_AUTH_ISSUER,
      jwksUri: config.ADMIN_AUTH_JWKS_URI,
      audience: config.ADMIN_AUTH_AUDIENCE,
      requiredRole: config.ADMIN_AUTH_ROLE,
      ...(issuerTemplate
        ? {
            tenantAdmins: {
              issuerTemplate,
              role: config.TENANT_ADMIN_ROLE,
              isOnboarded: async (tenantId: string) => (await tenantRepository.get(tenantId)) !== undefined,
            },
          }
        : {}),
    }),
    tenants,
    providers: new ProviderService(providerRepository, tenants, naming, now, policyChanged),
    policies,
    consent,
    resolution,
    calls,
    pool,
    coordinates,
    subscriptions,
    callNotificationAuthenticator: new CallNotificationAuthenticator({
      openIdConfigurationUrl: config.CALL_NOTIFICATION_OPENID_CONFIG_URL,
      issuers: config.CALL_NOTIFICATION_ISSUERS,
      audience: config.BOT_APP_ID,
    }),
    close: bus.close,
  };
}

let current: Promise<ControlPlane> | undefined;

/** The process-wide control plane, built on first use; a failed build is retried on the next call. */
export function controlPlane(): Promise<ControlPlane> {
  if (!current) {
    const building = Promise.resolve().then(() => build(loadControlPlaneConfig()));
    current = building;
    building.catch(() => {
      if (current === building) current = undefined;
    });
  }
  return current;
}

/** Forgets the built control plane so the next call reads the settings again (tests, local stack restarts). */
export function resetControlPlane(): void {
  current = undefined;
}

/** Closes the built control plane's connections, then forgets it. */
export async function closeControlPlane(): Promise<void> {
  const built = current;
  current = undefined;
  await built?.then((plane) => plane.close()).catch(() => {});
}
