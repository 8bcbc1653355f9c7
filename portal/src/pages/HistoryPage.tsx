import {
  Button,
  Field,
  Input,
  Link,
  MessageBar,
  MessageBarBody,
  makeStyles,
  Select,
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
import { type AdminApi, ApiProblem } from "../api";
import { type CallSummary, ENDED_BY } from "../calls";

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  filters: { display: "flex", flexWrap: "wrap", gap: tokens.spacingHorizontalM, alignItems: "flex-start" },
  submit: { marginTop: "22px" },
  table: { overflowX: "auto" },
});

interface Filters {
  readonly tenant: string;
  readonly outcome: string;
  readonly reason: string;
}

const query = (f: Filters, continuationToken?: string) => {
  const q = new URLSearchParams({ state: "ended", top: "50" });
  if (f.tenant) q.set("tenant", f.tenant);
  if (f.outcome) q.set("outcome", f.outcome);
  if (f.reason) q.set("reason", f.reason);
  if (continuationToken) q.set("continuationToken", continuationToken);
  return `/calls?${q}`;
};

/** Call history: the last 24 hours' ended calls, newest first, filtered by tenant, outcome and end reason, 50 a page. */
export function HistoryPage({ api }: { readonly api: AdminApi }) {
  const styles = useStyles();
  const [filters, setFilters] = useState<Filters>({ tenant: "", outcome: "", reason: "" });
  const [calls, setCalls] = useState<readonly CallSummary[] | undefined>();
  const [next, setNext] = useState<string | undefined>();
  const [problem, setProblem] = useState<ApiProblem | Error | undefined>();

  const load = useCallback(
    async (f: Filters, more?: string) => {
      try {
        const page = await api.get<{ value: CallSummary[]; continuationToken?: string }>(query(f, more));
        setCalls((before) => (more ? [...(before ?? []), ...page.value] : page.value));
        setNext(page.continuationToken);
        setProblem(undefined);
      } catch (e) {
        setProblem(e as Error);
      }
    },
    [api],
  );
  useEffect(() => {
    void load({ tenant: "", outcome: "", reason: "" });
  }, [load]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void load(filters);
  };
  const fieldError = (name: string) => (problem instanceof ApiProblem ? problem.forField(name) : undefined);

  return (
    <div className={styles.page}>
      <Title2 as="h2">Call history</Title2>
      <form className={styles.filters} onSubmit={submit} aria-label="Filters">
        <Field label="Tenant id" validationMessage={fieldError("tenant")}>
          <Input value={filters.tenant} onChange={(_, d) => setFilters({ ...filters, tenant: d.value })} />
        </Field>
        <Field label="Outcome" validationMessage={fieldError("outcome")}>
          <Select value={filters.outcome} onChange={(_, d) => setFilters({ ...filters, outcome: d.value })}>
            <option value="">Any</option>
            <option value="connected">Connected (was in the meeting)</option>
            <option value="not-connected">Not connected</option>
          </Select>
        </Field>
        <Field label="End reason" validationMessage={fieldError("reason")}>
          <Input value={filters.reason} onChange={(_, d) => setFilters({ ...filters, reason: d.value })} />
        </Field>
        <Button className={styles.submit} type="submit" appearance="primary">
          Show
        </Button>
      </form>
      {problem && !(problem instanceof ApiProblem && problem.errors.length > 0) && (
        <MessageBar intent="error">
          <MessageBarBody>{problem.message}</MessageBarBody>
        </MessageBar>
      )}
      {calls === undefined ? (
        <Spinner label="Loading the history" />
      ) : calls.length === 0 ? (
        <Text>No ended call in the last 24 hours matches.</Text>
      ) : (
        <div className={styles.table}>
          <Table aria-label="Ended calls" data-testid="call-history">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Device</TableHeaderCell>
                <TableHeaderCell>Meeting</TableHeaderCell>
                <TableHeaderCell>Tenant</TableHeaderCell>
                <TableHeaderCell>Started</TableHeaderCell>
                <TableHeaderCell>Outcome</TableHeaderCell>
                <TableHeaderCell>Ended by</TableHeaderCell>
                <TableHeaderCell>Why</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {calls.map((c) => (
                <TableRow key={c.callId} data-call-id={c.callId}>
                  <TableCell>
                    <Link href={`#/calls/${encodeURIComponent(c.callId)}`}>{c.displayName}</Link>
                  </TableCell>
                  <TableCell>{c.meetingSubject ?? c.vtcId}</TableCell>
                  <TableCell>{c.tenantId}</TableCell>
                  <TableCell>{new Date(c.createdAt).toLocaleString()}</TableCell>
                  <TableCell>{c.outcome === "connected" ? "Connected" : "Not connected"}</TableCell>
                  <TableCell>{c.endedBy ? ENDED_BY[c.endedBy] : "—"}</TableCell>
                  <TableCell>{c.endReason ?? "—"}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      {next && <Button onClick={() => void load(filters, next)}>More</Button>}
    </div>
  );
}
