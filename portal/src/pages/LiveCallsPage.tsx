import {
  Button,
  Link,
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
import { useCallback, useEffect, useState } from "react";
import type { AdminApi } from "../api";
import { type CallSummary, DIAL_FORM, duration } from "../calls";
import { ConfirmDialog } from "../components/ConfirmDialog";

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  table: { overflowX: "auto" },
});

/** How often the list is asked again: a call that starts shows within this (and the API's own time). */
const REFRESH_MS = 1000;

/** Live calls: refreshed every second, each with its device, meeting, host and state, and a hang-up button. */
export function LiveCallsPage({ api }: { readonly api: AdminApi }) {
  const styles = useStyles();
  const [calls, setCalls] = useState<readonly CallSummary[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [hangingUp, setHangingUp] = useState<CallSummary | undefined>();
  const [now, setNow] = useState(Date.now());

  const refresh = useCallback(async () => {
    try {
      setCalls((await api.get<{ value: CallSummary[] }>("/calls?state=live")).value);
      setNow(Date.now());
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [api]);
  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);

  const hangUp = async (call: CallSummary) => {
    setHangingUp(undefined);
    try {
      await api.post(`/calls/${encodeURIComponent(call.callId)}/hangup`);
      await refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className={styles.page}>
      <Title2 as="h2">Live calls</Title2>
      {error && (
        <MessageBar intent="error">
          <MessageBarBody>{error}</MessageBarBody>
        </MessageBar>
      )}
      {calls === undefined ? (
        <Spinner label="Loading live calls" />
      ) : calls.length === 0 ? (
        <Text>No call right now. This list refreshes every second.</Text>
      ) : (
        <div className={styles.table}>
          <Table aria-label="Live calls" data-testid="live-calls">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Device</TableHeaderCell>
                <TableHeaderCell>From</TableHeaderCell>
                <TableHeaderCell>Meeting</TableHeaderCell>
                <TableHeaderCell>Tenant</TableHeaderCell>
                <TableHeaderCell>Dialled</TableHeaderCell>
                <TableHeaderCell>Media host</TableHeaderCell>
                <TableHeaderCell>State</TableHeaderCell>
                <TableHeaderCell>Since</TableHeaderCell>
                <TableHeaderCell>Actions</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {calls.map((c) => (
                <TableRow key={c.callId} data-call-id={c.callId}>
                  <TableCell>
                    <Link href={`#/calls/${encodeURIComponent(c.callId)}`}>{c.displayName}</Link>
                  </TableCell>
                  <TableCell>{c.deviceAddress ?? "—"}</TableCell>
                  <TableCell>{c.meetingSubject ?? c.vtcId}</TableCell>
                  <TableCell>{c.tenantId}</TableCell>
                  <TableCell>{c.dialForm ? DIAL_FORM[c.dialForm] : "—"}</TableCell>
                  <TableCell>{c.mediaHostId}</TableCell>
                  <TableCell>{c.inLobby ? "in the lobby" : c.state}</TableCell>
                  <TableCell>{duration(c.createdAt, now)}</TableCell>
                  <TableCell>
                    <Button onClick={() => setHangingUp(c)}>Hang up</Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      <ConfirmDialog
        subject={hangingUp}
        title={(c) => `Hang up ${c.displayName}?`}
        confirmLabel="Hang up"
        onConfirm={(c) => void hangUp(c)}
        onCancel={() => setHangingUp(undefined)}
      >
        The device gets a BYE and its bot leaves the meeting.
      </ConfirmDialog>
    </div>
  );
}
