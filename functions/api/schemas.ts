/**
 * JSON Schemas of the admin API's bodies, for the OpenAPI document. The domain
 * validators in shared/domain are what enforce them; test/integration/openApi.test.ts
 * checks real answers against these shapes so the two cannot drift apart.
 */
type Schema = Record<string, unknown>;

const guid = { type: "string", format: "uuid" };
const timestamp = { type: "string", format: "date-time" };
const callChainId = {
  type: ["string", "null"],
  format: "uuid",
  description:
    "Graph's callChainId: Microsoft's id of the call, what Microsoft support and Teams' call quality dashboard know it by " +
    "(and what the quality report to Teams carries); null while Graph has not named it",
};
const policyName = {
  type: ["string", "null"],
  description: 'A policy name (e.g. PexipServiceProviderEnabled, or Tag:…); null or "none" takes the grant away',
};

export const schemas: Record<string, Schema> = {
  NewTenant: {
    type: "object",
    required: ["tenantId", "name"],
    additionalProperties: false,
    properties: {
      tenantId: { ...guid, description: "The Entra ID (Microsoft 365) tenant id" },
      name: { type: "string", minLength: 1, maxLength: 256 },
    },
  },
  Tenant: {
    type: "object",
    required: ["tenantId", "name", "tenantKey", "consent", "createdAt", "updatedAt"],
    properties: {
      tenantId: guid,
      name: { type: "string" },
      tenantKey: { type: "string", description: "<9 digits>@t.<service domain>: what devices dial", example: "813878896@t.cvi.example.net" },
      consent: {
        type: "object",
        required: ["status"],
        properties: {
          status: { enum: ["none", "granted", "incomplete", "declined", "revoked"] },
          roles: { type: "array", items: { type: "string" } },
          missing: { type: "array", items: { type: "string" } },
          grantedAt: timestamp,
          checkedAt: timestamp,
          declinedAt: timestamp,
          revokedAt: timestamp,
          reason: { type: "string" },
        },
      },
      createdAt: timestamp,
      updatedAt: timestamp,
    },
  },
  TenantPage: {
    type: "object",
    required: ["value"],
    properties: { value: { type: "array", items: { $ref: "#/components/schemas/Tenant" } }, continuationToken: { type: "string" } },
  },
  NewProvider: {
    type: "object",
    required: ["identity", "tenantKey"],
    additionalProperties: false,
    properties: {
      identity: { type: "string", description: "Polycom, BlueJeans, Pexip, Cisco or this service's own name (case-insensitive)" },
      tenantKey: { type: "string" },
      instructionUri: { type: ["string", "null"], format: "uri", description: "Shown in invites; may contain {ConfId}" },
      allowAppGuestJoinsAsAuthenticated: { type: "boolean", default: false },
      aadApplicationIds: {
        oneOf: [
          { type: "array", items: guid },
          { type: "string", description: "Semicolon-separated GUIDs, as the cmdlet takes them" },
        ],
      },
    },
  },
  ProviderChanges: {
    type: "object",
    minProperties: 1,
    additionalProperties: false,
    properties: {
      tenantKey: { type: "string" },
      instructionUri: { type: ["string", "null"], description: 'null or "" clears it' },
      allowAppGuestJoinsAsAuthenticated: { type: "boolean" },
      aadApplicationIds: { oneOf: [{ type: "array", items: guid }, { type: "string" }] },
    },
  },
  Provider: {
    type: "object",
    required: ["identity", "tenantKey", "instructionUri", "allowAppGuestJoinsAsAuthenticated", "aadApplicationIds", "createdAt", "updatedAt"],
    properties: {
      identity: { type: "string" },
      tenantKey: { type: "string" },
      instructionUri: { type: ["string", "null"] },
      allowAppGuestJoinsAsAuthenticated: { type: "boolean" },
      aadApplicationIds: { type: "array", items: guid },
      createdAt: timestamp,
      updatedAt: timestamp,
    },
  },
  ProviderList: { type: "object", required: ["value"], properties: { value: { type: "array", items: { $ref: "#/components/schemas/Provider" } } } },
  Policy: {
    type: "object",
    required: ["identity", "name", "description", "providerName", "enabled"],
    properties: {
      identity: { type: "string", example: "Tag:PexipServiceProviderEnabled" },
      name: { type: "string" },
      description: { type: "string" },
      providerName: { type: "string" },
      enabled: { type: "boolean" },
    },
  },
  PolicyList: { type: "object", required: ["value"], properties: { value: { type: "array", items: { $ref: "#/components/schemas/Policy" } } } },
  PolicyGrant: { type: "object", required: ["policyName"], additionalProperties: false, properties: { policyName } },
  GroupPolicyGrant: {
    type: "object",
    required: ["policyName"],
    additionalProperties: false,
    properties: { policyName, rank: { type: "integer", minimum: 1, maximum: 10000, description: "Required when granting; 1 is the highest" } },
  },
  PolicyAssignments: {
    type: "object",
    required: ["global", "groups"],
    properties: {
      global: { type: "string" },
      groups: {
        type: "array",
        items: {
          type: "object",
          required: ["groupId", "policyName", "rank"],
          properties: { groupId: guid, policyName: { type: "string" }, rank: { type: "integer", minimum: 1 } },
        },
      },
    },
  },
  UserGrant: {
    type: "object",
    required: ["userId", "policyName", "grantedAt"],
    properties: { userId: { type: "string" }, policyName: { type: "string" }, grantedAt: timestamp },
  },
  UserGrantPage: {
    type: "object",
    required: ["value"],
    properties: { value: { type: "array", items: { $ref: "#/components/schemas/UserGrant" } }, continuationToken: { type: "string" } },
  },
  EffectivePolicy: {
    type: "object",
    required: ["policy", "source"],
    properties: {
      policy: { $ref: "#/components/schemas/Policy" },
      source: {
        type: "object",
        required: ["kind"],
        properties: { kind: { enum: ["user", "group", "global"] }, groupId: guid, rank: { type: "integer" } },
      },
    },
  },
  ConsentLink: {
    type: "object",
    required: ["url", "expiresAt"],
    properties: { url: { type: "string", format: "uri" }, expiresAt: timestamp },
  },
  OnlineMeeting: {
    type: "object",
    required: ["id", "joinWebUrl", "organizerId", "chatInfo"],
    properties: {
      id: { type: "string" },
      joinWebUrl: { type: "string" },
      videoTeleconferenceId: { type: ["string", "null"] },
      organizerId: { type: "string" },
      subject: { type: ["string", "null"] },
      chatInfo: {
        type: "object",
        properties: { threadId: { type: "string" }, messageId: { type: "string" }, replyChainMessageId: { type: ["string", "null"] } },
      },
    },
  },
  Resolution: {
    type: "object",
    required: ["kind", "tenantId", "vtcId", "meeting", "joinAsGuest"],
    properties: {
      kind: { const: "resolved" },
      tenantId: guid,
      tenantName: { type: "string" },
      vtcId: { type: "string" },
      meeting: { $ref: "#/components/schemas/OnlineMeeting" },
      joinAsGuest: { type: "boolean" },
      instructionUri: { type: ["string", "null"] },
    },
  },
  JoinRequest: {
    type: "object",
    required: ["tenantKey", "vtcId", "displayName", "mediaHostId", "mediaHostEpoch", "deviceCallId", "mediaBlob"],
    additionalProperties: false,
    properties: {
      tenantKey: { type: "string" },
      vtcId: { type: "string" },
      displayName: { type: "string", description: "The device's name in the roster (SIP From display name, else its URI user)" },
      mediaHostId: { type: "string", description: "Call events for this call go to this media host" },
      mediaHostEpoch: { type: "integer", minimum: 1, description: "The epoch of the host's lease: a host without a live lease is refused (409)" },
      deviceCallId: { type: "string", description: "The media host's id of the device leg (SIP Call-ID)" },
      mediaBlob: { type: "string", description: "appHostedMediaConfig.blob: how the meeting's media server reaches the media host" },
      dialForm: { enum: ["ivr", "direct", "direct-by-domain", null], description: "How the device dialed, for the call list (optional)" },
      deviceAddress: { type: ["string", "null"], maxLength: 100, description: "The device's address as the host saw it, IP:port (optional)" },
    },
  },
  ScreenSharingRole: {
    type: "object",
    required: ["role"],
    additionalProperties: false,
    properties: {
      role: {
        enum: ["viewer", "sharer"],
        description: "sharer: the bot's content video is the meeting's screen share (whoever shared stops); viewer: it gives the share up",
      },
    },
  },
  MediaStreamQuality: {
    type: "object",
    required: ["kind", "packetsSent", "packetsReceived", "packetsLost", "jitterMs", "roundTripMs"],
    properties: {
      kind: { enum: ["audio", "video"] },
      packetsSent: { type: "integer", minimum: 0 },
      packetsReceived: { type: "integer", minimum: 0 },
      packetsLost: { type: "integer", minimum: 0 },
      jitterMs: { type: ["number", "null"], description: "Interarrival jitter of what was received, ms" },
      roundTripMs: { type: ["number", "null"] },
    },
  },
  QualityReport: {
    type: "object",
    required: ["quality"],
    properties: {
      quality: {
        type: "object",
        required: ["deviceLeg", "meetingLeg"],
        properties: {
          deviceLeg: {
            type: "array",
            maxItems: 8,
            items: { $ref: "#/components/schemas/MediaStreamQuality" },
          },
          meetingLeg: {
            type: "array",
            maxItems: 8,
            items: { $ref: "#/components/schemas/MediaStreamQuality" },
          },
        },
      },
    },
  },
  JoinOutcome: {
    type: "object",
    required: ["kind", "callId", "callChainId", "joinAsGuest"],
    properties: {
      kind: { const: "joined" },
      callId: { type: "string", description: "Graph's id of the bot's call" },
      callChainId: callChainId,
      joinAsGuest: { type: "boolean" },
      meetingSubject: { type: ["string", "null"] },
    },
  },
  CallRecord: {
    type: "object",
    required: ["callId", "tenantId", "state", "createdAt"],
    properties: {
      callId: { type: "string", description: "Graph's id of the bot's call" },
      callChainId: callChainId,
      tenantId: guid,
      state: { enum: ["incoming", "establishing", "ringing", "established", "terminating", "terminated"] },
      mediaHostId: { type: "string" },
      mediaHostEpoch: { type: "integer" },
      deviceCallId: { type: "string" },
      displayName: { type: "string" },
      vtcId: { type: "string" },
      meetingId: { type: "string" },
      organizerId: { type: "string" },
      joinAsGuest: { type: "boolean" },
      meetingSubject: { type: ["string", "null"], description: "Absent on records written before it was kept" },
      dialForm: { enum: ["ivr", "direct", "direct-by-domain", null], description: "How the device dialed, when its media host said so" },
      deviceAddress: { type: ["string", "null"], description: "The device's address (IP:port), when its media host said so" },
      participants: { type: "array", items: { type: "object" } },
      resultInfo: { type: ["object", "null"] },
      createdAt: { ...timestamp, description: "Phase: the bot's call was created (the join)" },
      lobbyAt: { ...timestamp, description: "Phase: first seen waiting in the meeting's lobby (absent if it never waited)" },
      establishedAt: { type: ["string", "null"], format: "date-time", description: "Phase: Graph said established (in the meeting)" },
      endedAt: { type: ["string", "null"], format: "date-time", description: "Phase: ended" },
      endedBy: { enum: ["device", "meeting", "gateway", "operator", null] },
      endReason: { type: ["string", "null"] },
      quality: {
        type: ["object", "null"],
        description:
          "Each leg's streams as the media host measured them at the end (absent before): the device leg from rtpengine (the device's RTCP), " +
          "the meeting leg from the WebRTC stack; packets each way, loss and jitter of what was received, round trip. No bitrate or resolution is measured.",
        properties: {
          deviceLeg: { type: "array", items: { $ref: "#/components/schemas/MediaStreamQuality" } },
          meetingLeg: { type: "array", items: { $ref: "#/components/schemas/MediaStreamQuality" } },
        },
      },
    },
  },
  CallSummary: {
    type: "object",
    required: ["callId", "tenantId", "meetingId", "displayName", "mediaHostId", "state", "createdAt", "outcome"],
    properties: {
      callId: { type: "string", description: "Graph's id of the bot's call" },
      callChainId: callChainId,
      tenantId: guid,
      meetingId: { type: "string" },
      meetingSubject: { type: ["string", "null"] },
      vtcId: { type: "string", description: "The conference ID the device reached the meeting by" },
      displayName: { type: "string", description: "The device's name" },
      deviceAddress: { type: ["string", "null"] },
      dialForm: { enum: ["ivr", "direct", "direct-by-domain", null] },
      mediaHostId: { type: "string" },
      state: { enum: ["incoming", "establishing", "ringing", "established", "terminating", "terminated"] },
      inLobby: { type: "boolean" },
      createdAt: timestamp,
      lobbyAt: { type: ["string", "null"], format: "date-time" },
      establishedAt: { type: ["string", "null"], format: "date-time" },
      endedAt: { type: ["string", "null"], format: "date-time" },
      endedBy: { enum: ["device", "meeting", "gateway", "operator", null] },
      endReason: { type: ["string", "null"] },
      outcome: { enum: ["connected", "not-connected", null], description: "null while live" },
    },
  },
  CallSummaryPage: {
    type: "object",
    required: ["value"],
    properties: { value: { type: "array", items: { $ref: "#/components/schemas/CallSummary" } }, continuationToken: { type: "string" } },
  },
  LeaseRequest: {
    type: "object",
    required: ["epoch", "sipUri", "capacity", "activeCalls"],
    additionalProperties: false,
    properties: {
      epoch: { type: ["integer", "null"], minimum: 1, description: "The epoch the host holds; null to register (at start, or after fencing itself)" },
      sipUri: { type: "string", description: "Where the SIP edge sends the host's calls, e.g. sip:10.0.0.5:5060;transport=udp" },
      capacity: { type: "integer", minimum: 1, description: "Calls the host takes at most" },
      activeCalls: { type: "integer", minimum: 0 },
      load: { type: "number", minimum: 0, maximum: 1, description: "CPU in use" },
      version: { type: "string", maxLength: 64 },
      draining: {
        type: "object",
        required: ["deadline"],
        additionalProperties: false,
        description: "The host drains itself (SIGTERM, scale-in)",
        properties: { deadline: timestamp },
      },
    },
  },
  LeaseGrant: {
    type: "object",
    required: ["hostId", "epoch", "state", "leaseUntil", "leaseDurationInMs", "renewIntervalInMs", "drainDeadline"],
    properties: {
      hostId: { type: "string" },
      epoch: { type: "integer" },
      state: { enum: ["active", "draining"] },
      leaseUntil: timestamp,
      leaseDurationInMs: { type: "integer", description: "A host that could not renew for this long fences itself: it ends its calls" },
      renewIntervalInMs: { type: "integer" },
      drainDeadline: {
        type: ["string", "null"],
        format: "date-time",
        description: "While draining: when the host ends its remaining calls and leaves",
      },
    },
  },
  MediaHost: {
    type: "object",
    required: ["hostId", "status", "state", "epoch", "sipUri", "capacity", "activeCalls", "leaseUntil"],
    properties: {
      hostId: { type: "string" },
      status: { enum: ["active", "draining", "unresponsive", "dead"], description: "unresponsive: its lease lapsed and it is being declared dead" },
      state: { enum: ["active", "draining", "dead"] },
      epoch: { type: "integer" },
      sipUri: { type: "string" },
      version: { type: "string" },
      capacity: { type: "integer" },
      activeCalls: { type: "integer" },
      load: { type: "number" },
      registeredAt: timestamp,
      renewedAt: timestamp,
      leaseUntil: timestamp,
      drain: {
        type: ["object", "null"],
        properties: { requestedAt: timestamp, deadline: timestamp, by: { enum: ["operator", "host"] } },
      },
      death: {
        type: ["object", "null"],
        properties: {
          at: timestamp,
          reason: { type: "string" },
          callsEndedAt: { type: ["string", "null"], format: "date-time" },
          queueClearedAt: { type: ["string", "null"], format: "date-time" },
        },
      },
    },
  },
  MediaHostList: {
    type: "object",
    required: ["value", "now"],
    properties: { value: { type: "array", items: { $ref: "#/components/schemas/MediaHost" } }, now: timestamp },
  },
  Drain: {
    type: "object",
    additionalProperties: false,
    description: "Give deadline or deadlineInMinutes (default 60 minutes)",
    properties: { deadline: timestamp, deadlineInMinutes: { type: "number", minimum: 0, maximum: 10080 } },
  },
  Problem: {
    type: "object",
    description: "RFC 9457 problem details",
    required: ["type", "title", "status", "detail"],
    properties: {
      type: { type: "string" },
      title: { type: "string" },
      status: { type: "integer" },
      detail: { type: "string" },
      instance: { type: "string" },
      code: { type: "string", description: "For conflicts a client acts on, e.g. lease-lost, host-id-in-use" },
      errors: {
        type: "array",
        items: { type: "object", required: ["field", "detail"], properties: { field: { type: "string" }, detail: { type: "string" } } },
      },
    },
  },
};
