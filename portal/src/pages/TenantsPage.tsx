import {
  Badge,
  Button,
  Card,
  CardHeader,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  makeStyles,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Title2,
  tokens,
} from "@fluentui/react-components";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { type AdminApi, ApiProblem, SignInNeeded } from "../api";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { takeDraft, useKeptDraft } from "../drafts";

interface Tenant {
  readonly tenantId: string;
  readonly name: string;
  readonly tenantKey: string;
  readonly consent: { readonly status: string; readonly missing?: readonly string[] };
}

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  // Fields line up at the top, so a message under one does not push the other down.
  form: { display: "flex", flexWrap: "wrap", gap: tokens.spacingHorizontalM, alignItems: "flex-start" },
  submit: { marginTop: "22px" },
  copy: { alignSelf: "flex-start" },
  field: { minWidth: "18rem", flexGrow: 1 },
  table: { overflowX: "auto" },
  link: { wordBreak: "break-all" },
});

/** How often the list is asked again (consent is granted on Entra ID's page, elsewhere). */
const REFRESH_MS = 2000;

const CONSENT: Record<string, { readonly label: string; readonly color: "success" | "warning" | "danger" | "informative" }> = {
  granted: { label: "Granted", color: "success" },
  incomplete: { label: "Incomplete", color: "warning" },
  declined: { label: "Declined", color: "danger" },
  revoked: { label: "Revoked", color: "danger" },
  none: { label: "Not yet", color: "informative" },
};

/** Tenants: the list with their keys and consent, onboarding, and consent links for their admins. */
export function TenantsPage({ api, operator }: { readonly api: AdminApi; readonly operator: boolean }) {
  const styles = useStyles();
  const [tenants, setTenants] = useState<readonly Tenant[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [link, setLink] = useState<{ readonly tenant: string; readonly url: string; readonly expiresAt: string } | undefined>();

  const refresh = useCallback(async () => {
    try {
      setTenants((await api.get<{ value: Tenant[] }>("/tenants")).value);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [api]);
  useEffect(() => {
    void refresh();
    // Consent happens elsewhere (the tenant's admin on Entra ID's page): the list asks again so it shows without a reload.
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  const [removing, setRemoving] = useState<Tenant | undefined>();
  const remove = async (tenant: Tenant) => {
    setRemoving(undefined);
    try {
      await api.delete(`/tenants/${encodeURIComponent(tenant.tenantId)}`);
      await refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const consentLink = async (tenant: Tenant) => {
    try {
      const made = await api.post<{ url: string; expiresAt: string }>(`/tenants/${tenant.tenantId}/consent-link`);
      setLink({ tenant: tenant.name, ...made });
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className={styles.page}>
      <Title2 as="h2">Tenants</Title2>
      {operator && <OnboardTenant api={api} onboarded={refresh} />}
      {error && (
        <MessageBar intent="error">
          <MessageBarBody>{error}</MessageBarBody>
        </MessageBar>
      )}
      {link && (
        <Card aria-live="polite">
          <CardHeader
            header={<Text weight="semibold">Consent link for {link.tenant}</Text>}
            description={`Send it to the tenant's admin; it works once, until ${new Date(link.expiresAt).toLocaleString()}.`}
          />
          <Text className={styles.link} font="monospace">
            {link.url}
          </Text>
          <Button className={styles.copy} onClick={() => void navigator.clipboard?.writeText(link.url)}>
            Copy link
          </Button>
        </Card>
      )}
      {tenants === undefined ? (
        <Spinner label="Loading tenants" />
      ) : tenants.length === 0 ? (
        <Text>No tenant yet: onboard one above.</Text>
      ) : (
        <div className={styles.table}>
          <Table aria-label="Tenants">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Name</TableHeaderCell>
                <TableHeaderCell>Tenant id</TableHeaderCell>
                <TableHeaderCell>Tenant key</TableHeaderCell>
                <TableHeaderCell>Consent</TableHeaderCell>
                <TableHeaderCell>Actions</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {tenants.map((t) => {
                const consent = CONSENT[t.consent.status] ?? { label: t.consent.status, color: "informative" as const };
                return (
                  <TableRow key={t.tenantId}>
                    <TableCell>{t.name}</TableCell>
                    <TableCell>
                      <Text font="monospace">{t.tenantId}</Text>
                    </TableCell>
                    <TableCell>
                      <Text font="monospace">{t.tenantKey}</Text>
                    </TableCell>
                    <TableCell>
                      <Badge appearance="tint" color={consent.color}>
                        {consent.label}
                      </Badge>
                      {t.consent.missing?.length ? <Text size={200}> missing {t.consent.missing.join(", ")}</Text> : null}
                    </TableCell>
                    <TableCell>
                      <Button size="small" onClick={() => void consentLink(t)}>
                        Consent link
                      </Button>
                      {operator && (
                        <>
                          {" "}
                          <Button size="small" onClick={() => setRemoving(t)}>
                            Remove
                          </Button>
                        </>
                      )}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </div>
      )}
      <ConfirmDialog
        subject={removing}
        title={(t) => `Remove ${t.name}?`}
        confirmLabel="Remove tenant"
        onConfirm={(t) => void remove(t)}
        onCancel={() => setRemoving(undefined)}
      >
        Its key stops working at once and is never issued again: its rooms can no longer dial its meetings, and everything stored for it is deleted.
      </ConfirmDialog>
    </div>
  );
}

const ONBOARD_FORM = "onboard-tenant";

function OnboardTenant({ api, onboarded }: { readonly api: AdminApi; readonly onboarded: () => Promise<void> }) {
  const styles = useStyles();
  // Back from a sign-in that had ended: what was typed before it.
  const [draft] = useState(() => takeDraft(ONBOARD_FORM));
  const [restored, setRestored] = useState(draft !== undefined);
  const [tenantId, setTenantId] = useState(draft?.tenantId ?? "");
  const [name, setName] = useState(draft?.name ?? "");
  const [problem, setProblem] = useState<ApiProblem | undefined>();
  const [busy, setBusy] = useState(false);
  useKeptDraft(ONBOARD_FORM, { tenantId, name });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await api.post("/tenants", { tenantId: tenantId.trim(), name: name.trim() });
      setTenantId("");
      setName("");
      setProblem(undefined);
      setRestored(false);
      await onboarded();
    } catch (e) {
      // Its fields are kept and the browser is on its way to sign in: nothing to show.
      if (e instanceof SignInNeeded) return;
      setProblem(e instanceof ApiProblem ? e : new ApiProblem(0, "Not sent", (e as Error).message));
    } finally {
      setBusy(false);
    }
  };

  const unplaced = problem && !problem.forField("tenantId") && !problem.forField("name");
  return (
    <form className={styles.form} onSubmit={(e) => void submit(e)} aria-label="Onboard a tenant">
      <Field
        className={styles.field}
        label="Entra tenant id"
        required
        validationMessage={problem?.forField("tenantId")}
        validationState={problem?.forField("tenantId") ? "error" : "none"}
      >
        <Input value={tenantId} onChange={(_, d) => setTenantId(d.value)} placeholder="00000000-0000-0000-0000-000000000000" />
      </Field>
      <Field
        className={styles.field}
        label="Name"
        required
        validationMessage={problem?.forField("name")}
        validationState={problem?.forField("name") ? "error" : "none"}
      >
        <Input value={name} onChange={(_, d) => setName(d.value)} />
      </Field>
      <Button className={styles.submit} appearance="primary" type="submit" disabled={busy}>
        Onboard
      </Button>
      {restored && (
        <MessageBar intent="info">
          <MessageBarBody>Your sign-in had ended: you are signed in again, and what you typed is back. Onboard to send it.</MessageBarBody>
        </MessageBar>
      )}
      {unplaced && (
        <MessageBar intent="error">
          <MessageBarBody>
            {problem.title}: {problem.detail}
          </MessageBarBody>
        </MessageBar>
      )}
    </form>
  );
}
