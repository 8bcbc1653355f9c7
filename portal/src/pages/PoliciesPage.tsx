import {
  Button,
  Card,
  CardHeader,
  Checkbox,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  makeStyles,
  Select,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Title2,
  Title3,
  tokens,
} from "@fluentui/react-components";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { type AdminApi, ApiProblem } from "../api";
import { ConfirmDialog } from "../components/ConfirmDialog";

interface Tenant {
  readonly tenantId: string;
  readonly name: string;
  readonly tenantKey: string;
}
interface Provider {
  readonly identity: string;
  readonly tenantKey: string;
  readonly instructionUri: string | null;
  readonly allowAppGuestJoinsAsAuthenticated: boolean;
  readonly aadApplicationIds: readonly string[];
}
interface Policy {
  readonly name: string;
  readonly providerName: string;
  readonly enabled: boolean;
}
interface Assignments {
  readonly global: string;
  readonly groups: readonly { readonly groupId: string; readonly policyName: string; readonly rank: number }[];
}
interface Effective {
  readonly policy: Policy;
  readonly source:
    | { readonly kind: "user" }
    | { readonly kind: "group"; readonly groupId: string; readonly rank: number }
    | { readonly kind: "global" };
}

/** The providers Teams knows by name; the service's own name comes from its tenants' keys (the API checks either way). */
const PARTNERS = ["Polycom", "BlueJeans", "Pexip", "Cisco"];

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  card: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
  form: { display: "flex", flexWrap: "wrap", gap: tokens.spacingHorizontalM, alignItems: "flex-start" },
  field: { minWidth: "14rem", flexGrow: 1 },
  submit: { marginTop: "22px" },
  table: { overflowX: "auto" },
});

/** A form's state of the API's answer: the problem (with its fields) or nothing. */
function useProblem() {
  const [problem, setProblem] = useState<Error | undefined>();
  const at = (field: string) => (problem instanceof ApiProblem ? problem.forField(field) : undefined);
  const general = problem && !(problem instanceof ApiProblem && problem.errors.length > 0) ? problem.message : undefined;
  return { problem, setProblem, at, general };
}

function Problem({ text }: { readonly text: string | undefined }) {
  return text ? (
    <MessageBar intent="error">
      <MessageBarBody>{text}</MessageBarBody>
    </MessageBar>
  ) : null;
}

/** Providers and policies: the CVI cmdlets as forms, for one tenant at a time. */
export function PoliciesPage({ api }: { readonly api: AdminApi }) {
  const styles = useStyles();
  const [tenants, setTenants] = useState<readonly Tenant[]>([]);
  const [tenantId, setTenantId] = useState("");
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api
      .get<{ value: Tenant[] }>("/tenants")
      .then((t) => {
        setTenants(t.value);
        setTenantId((current) => current || (t.value[0]?.tenantId ?? ""));
      })
      .catch((e: Error) => setError(e.message));
  }, [api]);
  return (
    <div className={styles.page}>
      <Title2 as="h2">Providers and policies</Title2>
      <Problem text={error} />
      <Field label="Tenant">
        <Select value={tenantId} onChange={(_, d) => setTenantId(d.value)}>
          {tenants.map((t) => (
            <option key={t.tenantId} value={t.tenantId}>
              {t.name} ({t.tenantId})
            </option>
          ))}
        </Select>
      </Field>
      {tenantId ? (
        <>
          <Providers api={api} tenant={tenants.find((t) => t.tenantId === tenantId)} key={`p-${tenantId}`} />
          <Grants api={api} tenantId={tenantId} key={`g-${tenantId}`} />
        </>
      ) : (
        <Text>No tenant yet: onboard one on the Tenants page.</Text>
      )}
    </div>
  );
}

function Providers({ api, tenant }: { readonly api: AdminApi; readonly tenant: Tenant | undefined }) {
  const styles = useStyles();
  const [providers, setProviders] = useState<readonly Provider[]>([]);
  const [form, setForm] = useState({ identity: "", tenantKey: tenant?.tenantKey ?? "", instructionUri: "", guests: false });
  const [removing, setRemoving] = useState<string | undefined>();
  const { setProblem, at, general } = useProblem();
  const base = `/tenants/${encodeURIComponent(tenant?.tenantId ?? "")}/providers`;
  const refresh = useCallback(async () => {
    try {
      setProviders((await api.get<{ value: Provider[] }>(base)).value);
    } catch (e) {
      setProblem(e as Error);
    }
  }, [api, base, setProblem]);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  const existing = providers.find((p) => p.identity.toLowerCase() === form.identity.trim().toLowerCase());

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const fields = {
      tenantKey: form.tenantKey,
      instructionUri: form.instructionUri.trim() === "" ? null : form.instructionUri,
      allowAppGuestJoinsAsAuthenticated: form.guests,
    };
    try {
      // New- or Set-CsVideoInteropServiceProvider, as the identity is new or known.
      if (existing) await api.patch(`${base}/${encodeURIComponent(existing.identity)}`, fields);
      else await api.post(base, { identity: form.identity, ...fields });
      setProblem(undefined);
      await refresh();
    } catch (err) {
      setProblem(err as Error);
    }
  };
  const remove = async (identity: string) => {
    setRemoving(undefined);
    try {
      await api.delete(`${base}/${encodeURIComponent(identity)}`);
      await refresh();
    } catch (err) {
      setProblem(err as Error);
    }
  };
  const edit = (p: Provider) =>
    setForm({ identity: p.identity, tenantKey: p.tenantKey, instructionUri: p.instructionUri ?? "", guests: p.allowAppGuestJoinsAsAuthenticated });

  return (
    <Card className={styles.card}>
      <CardHeader header={<Title3 as="h3">Providers</Title3>} description="New-, Set-, Get- and Remove-CsVideoInteropServiceProvider" />
      {providers.length === 0 ? (
        <Text>No provider yet.</Text>
      ) : (
        <div className={styles.table}>
          <Table aria-label="Providers">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Identity</TableHeaderCell>
                <TableHeaderCell>Tenant key</TableHeaderCell>
                <TableHeaderCell>Instructions</TableHeaderCell>
                <TableHeaderCell>App guests as authenticated</TableHeaderCell>
                <TableHeaderCell>Actions</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {providers.map((p) => (
                <TableRow key={p.identity}>
                  <TableCell>{p.identity}</TableCell>
                  <TableCell>{p.tenantKey}</TableCell>
                  <TableCell>{p.instructionUri ?? "—"}</TableCell>
                  <TableCell>{p.allowAppGuestJoinsAsAuthenticated ? "Yes" : "No"}</TableCell>
                  <TableCell>
                    <Button onClick={() => edit(p)}>Edit</Button> <Button onClick={() => setRemoving(p.identity)}>Remove</Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      <form className={styles.form} onSubmit={(e) => void submit(e)} aria-label="Provider">
        <Field className={styles.field} label="Identity" hint={`${PARTNERS.join(", ")}, or this service's name`} validationMessage={at("identity")}>
          <Input value={form.identity} onChange={(_, d) => setForm({ ...form, identity: d.value })} />
        </Field>
        <Field className={styles.field} label="Tenant key" validationMessage={at("tenantKey")}>
          <Input value={form.tenantKey} onChange={(_, d) => setForm({ ...form, tenantKey: d.value })} />
        </Field>
        <Field className={styles.field} label="Instruction URI" hint="optional; {ConfId} is replaced" validationMessage={at("instructionUri")}>
          <Input value={form.instructionUri} onChange={(_, d) => setForm({ ...form, instructionUri: d.value })} />
        </Field>
        <Checkbox
          className={styles.submit}
          label="App guests join as authenticated"
          checked={form.guests}
          onChange={(_, d) => setForm({ ...form, guests: d.checked === true })}
        />
        <Button className={styles.submit} type="submit" appearance="primary">
          {existing ? "Save provider" : "Create provider"}
        </Button>
      </form>
      <Problem text={general} />
      <ConfirmDialog
        subject={removing}
        title={(identity) => `Remove the provider ${identity}?`}
        confirmLabel="Remove"
        onConfirm={(identity) => void remove(identity)}
        onCancel={() => setRemoving(undefined)}
      >
        Meetings stop getting its join instructions.
      </ConfirmDialog>
    </Card>
  );
}

function Grants({ api, tenantId }: { readonly api: AdminApi; readonly tenantId: string }) {
  const styles = useStyles();
  const base = `/tenants/${encodeURIComponent(tenantId)}`;
  const [policies, setPolicies] = useState<readonly Policy[]>([]);
  const [assignments, setAssignments] = useState<Assignments | undefined>();
  const [global, setGlobal] = useState("");
  const [group, setGroup] = useState({ groupId: "", policyName: "", rank: "1" });
  const [user, setUser] = useState({ userId: "", policyName: "" });
  const [lookup, setLookup] = useState({ userId: "", groupIds: "" });
  const [effective, setEffective] = useState<Effective | undefined>();
  const globalProblem = useProblem();
  const groupProblem = useProblem();
  const userProblem = useProblem();
  const lookupProblem = useProblem();
  const refresh = useCallback(async () => {
    const [p, a] = await Promise.all([api.get<{ value: Policy[] }>("/policies"), api.get<Assignments>(`${base}/policy-assignments`)]);
    setPolicies(p.value);
    setAssignments(a);
    setGlobal(a.global);
  }, [api, base]);
  useEffect(() => {
    void refresh().catch((e: Error) => globalProblem.setProblem(e));
  }, [refresh, globalProblem.setProblem]);

  const run = (problem: ReturnType<typeof useProblem>, action: () => Promise<unknown>) => async (e: FormEvent) => {
    e.preventDefault();
    try {
      await action();
      problem.setProblem(undefined);
      await refresh();
    } catch (err) {
      problem.setProblem(err as Error);
    }
  };
  const policyOptions = policies.map((p) => (
    <option key={p.name} value={p.name}>
      {p.name}
    </option>
  ));
  const sourceText = (s: Effective["source"]) =>
    s.kind === "user" ? "the user's own grant" : s.kind === "group" ? `group ${s.groupId} (rank ${s.rank})` : "the tenant-wide (Global) grant";

  return (
    <Card className={styles.card}>
      <CardHeader
        header={<Title3 as="h3">Policy grants</Title3>}
        description="Grant-CsTeamsVideoInteropServicePolicy: tenant-wide, by group with rank, by user"
      />
      <form
        className={styles.form}
        onSubmit={(e) => void run(globalProblem, () => api.put(`${base}/policy-assignments/global`, { policyName: global || null }))(e)}
        aria-label="Tenant-wide grant"
      >
        <Field className={styles.field} label="Tenant-wide policy" validationMessage={globalProblem.at("policyName")}>
          <Select value={global} onChange={(_, d) => setGlobal(d.value)}>
            {policyOptions}
          </Select>
        </Field>
        <Button className={styles.submit} type="submit">
          Grant tenant-wide
        </Button>
      </form>
      <Problem text={globalProblem.general} />
      {assignments && assignments.groups.length > 0 && (
        <div className={styles.table}>
          <Table aria-label="Group grants">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Rank</TableHeaderCell>
                <TableHeaderCell>Group</TableHeaderCell>
                <TableHeaderCell>Policy</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {assignments.groups.map((g) => (
                <TableRow key={g.groupId}>
                  <TableCell>{g.rank}</TableCell>
                  <TableCell>{g.groupId}</TableCell>
                  <TableCell>{g.policyName}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      <form
        className={styles.form}
        aria-label="Group grant"
        onSubmit={(e) =>
          void run(groupProblem, () =>
            api.put(`${base}/policy-assignments/groups/${encodeURIComponent(group.groupId.trim())}`, {
              policyName: group.policyName || null,
              rank: Number(group.rank),
            }),
          )(e)
        }
      >
        <Field className={styles.field} label="Group id" validationMessage={groupProblem.at("groupId")}>
          <Input value={group.groupId} onChange={(_, d) => setGroup({ ...group, groupId: d.value })} />
        </Field>
        <Field className={styles.field} label="Group policy" validationMessage={groupProblem.at("policyName")}>
          <Select value={group.policyName} onChange={(_, d) => setGroup({ ...group, policyName: d.value })}>
            <option value="">(remove the group's grant)</option>
            {policyOptions}
          </Select>
        </Field>
        <Field label="Rank" validationMessage={groupProblem.at("rank")}>
          <Input type="number" value={group.rank} onChange={(_, d) => setGroup({ ...group, rank: d.value })} />
        </Field>
        <Button className={styles.submit} type="submit">
          Grant to group
        </Button>
      </form>
      <Problem text={groupProblem.general} />
      <form
        className={styles.form}
        aria-label="User grant"
        onSubmit={(e) =>
          void run(userProblem, () =>
            api.put(`${base}/policy-assignments/users/${encodeURIComponent(user.userId.trim())}`, { policyName: user.policyName || null }),
          )(e)
        }
      >
        <Field className={styles.field} label="User (object id or UPN)" validationMessage={userProblem.at("userId")}>
          <Input value={user.userId} onChange={(_, d) => setUser({ ...user, userId: d.value })} />
        </Field>
        <Field className={styles.field} label="User policy" validationMessage={userProblem.at("policyName")}>
          <Select value={user.policyName} onChange={(_, d) => setUser({ ...user, policyName: d.value })}>
            <option value="">(remove the user's grant)</option>
            {policyOptions}
          </Select>
        </Field>
        <Button className={styles.submit} type="submit">
          Grant to user
        </Button>
      </form>
      <Problem text={userProblem.general} />
      <Title3 as="h3">Effective policy</Title3>
      <form
        className={styles.form}
        aria-label="Effective policy"
        onSubmit={(e) => {
          e.preventDefault();
          const q = new URLSearchParams();
          for (const g of lookup.groupIds.split(/[\s,;]+/).filter(Boolean)) q.append("groupId", g);
          api
            .get<Effective>(`${base}/users/${encodeURIComponent(lookup.userId.trim())}/effective-policy${q.size ? `?${q}` : ""}`)
            .then((r) => {
              setEffective(r);
              lookupProblem.setProblem(undefined);
            })
            .catch((err: Error) => {
              setEffective(undefined);
              lookupProblem.setProblem(err);
            });
        }}
      >
        <Field className={styles.field} label="User to look up" validationMessage={lookupProblem.at("userIds") ?? lookupProblem.at("userId")}>
          <Input value={lookup.userId} onChange={(_, d) => setLookup({ ...lookup, userId: d.value })} />
        </Field>
        <Field className={styles.field} label="Their groups (ids, comma-separated)" validationMessage={lookupProblem.at("groupIds")}>
          <Input value={lookup.groupIds} onChange={(_, d) => setLookup({ ...lookup, groupIds: d.value })} />
        </Field>
        <Button className={styles.submit} type="submit">
          Show effective policy
        </Button>
      </form>
      <Problem text={lookupProblem.general} />
      {effective && (
        <Text data-testid="effective-policy">
          <strong>{effective.policy.name}</strong> ({effective.policy.providerName}, {effective.policy.enabled ? "enabled" : "disabled"}) — from{" "}
          {sourceText(effective.source)}
        </Text>
      )}
    </Card>
  );
}
