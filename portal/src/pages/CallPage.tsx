import { Link, MessageBar, MessageBarBody, makeStyles, Spinner, Text, Title2, Title3, tokens } from "@fluentui/react-components";
import { useEffect, useMemo, useState } from "react";
import type { AdminApi } from "../api";
import { type CallRecord, DIAL_FORM, ENDED_BY, type MediaStreamQuality } from "../calls";
import { BarChart } from "../components/BarChart";

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  facts: { display: "grid", gridTemplateColumns: "max-content 1fr", gap: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalL}` },
  timeline: { listStyle: "none", padding: 0, margin: 0, display: "flex", flexDirection: "column", gap: tokens.spacingVerticalS },
  charts: { display: "flex", flexWrap: "wrap", gap: tokens.spacingHorizontalL },
});

/** The call's phases in order, with when each began (those it went through). */
function phases(call: CallRecord): { readonly name: string; readonly at: string }[] {
  return [
    { name: "Dialled in (joining the meeting)", at: call.createdAt },
    ...(call.lobbyAt ? [{ name: "Waited in the lobby", at: call.lobbyAt }] : []),
    ...(call.establishedAt ? [{ name: "In the meeting", at: call.establishedAt }] : []),
    ...(call.endedAt ? [{ name: "Ended", at: call.endedAt }] : []),
  ];
}

/** The streams of both legs, named for the axis: which leg, which kind. */
function streams(call: CallRecord): { readonly name: string; readonly q: MediaStreamQuality }[] {
  const quality = call.quality;
  if (!quality) return [];
  return [...quality.deviceLeg.map((q) => ({ name: `device ${q.kind}`, q })), ...quality.meetingLeg.map((q) => ({ name: `meeting ${q.kind}`, q }))];
}

/** One call: who, where from, how it went (its phases), why it ended, and each leg's quality as charts. */
export function CallPage({ api, callId }: { readonly api: AdminApi; readonly callId: string }) {
  const styles = useStyles();
  const [call, setCall] = useState<CallRecord | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api
      .get<CallRecord>(`/calls/${encodeURIComponent(callId)}`)
      .then(setCall)
      .catch((e: Error) => setError(e.message));
  }, [api, callId]);
  const measured = useMemo(() => (call ? streams(call) : []), [call]);
  const categories = useMemo(() => measured.map((s) => s.name), [measured]);
  const series = useMemo(
    () => ({
      received: measured.map((s) => s.q.packetsReceived),
      lost: measured.map((s) => s.q.packetsLost),
      jitter: measured.map((s) => s.q.jitterMs),
      roundTrip: measured.map((s) => s.q.roundTripMs),
    }),
    [measured],
  );

  if (error)
    return (
      <MessageBar intent="error">
        <MessageBarBody>{error}</MessageBarBody>
      </MessageBar>
    );
  if (!call) return <Spinner label="Loading the call" />;
  return (
    <div className={styles.page}>
      <Link href="#/history">← Call history</Link>
      <Title2 as="h2">{call.displayName}</Title2>
      <dl className={styles.facts}>
        <dt>Meeting</dt>
        <dd>{call.meetingSubject ?? call.vtcId}</dd>
        <dt>Tenant</dt>
        <dd>{call.tenantId}</dd>
        <dt>Device address</dt>
        <dd>{call.deviceAddress ?? "—"}</dd>
        <dt>Dialled</dt>
        <dd>{call.dialForm ? DIAL_FORM[call.dialForm] : "—"}</dd>
        <dt>Media host</dt>
        <dd>{call.mediaHostId}</dd>
        <dt>Graph call id</dt>
        <dd>{call.callId}</dd>
        {call.endedAt && (
          <>
            <dt>Ended by</dt>
            <dd>{call.endedBy ? ENDED_BY[call.endedBy] : "—"}</dd>
            <dt>Why it ended</dt>
            <dd data-testid="end-reason">{call.endReason ?? "—"}</dd>
          </>
        )}
      </dl>
      <Title3 as="h3">Timeline</Title3>
      <ol className={styles.timeline} data-testid="phases">
        {phases(call).map((p) => (
          <li key={p.name}>
            <Text weight="semibold">{new Date(p.at).toLocaleTimeString()}</Text> {p.name}
          </li>
        ))}
      </ol>
      <Title3 as="h3">Quality</Title3>
      {measured.length === 0 ? (
        <Text>{call.endedAt ? "No media was measured for this call." : "Measured when the call ends."}</Text>
      ) : (
        <div className={styles.charts}>
          <BarChart title="Packets received" categories={categories} values={series.received} unit="packets" color="#0f6cbd" />
          <BarChart title="Packets lost" categories={categories} values={series.lost} unit="packets" color="#c50f1f" />
          {series.jitter.some((v) => v !== null) ? (
            <BarChart title="Jitter" categories={categories} values={series.jitter} unit="ms" color="#8764b8" />
          ) : (
            <Text>Jitter: not measured on any stream.</Text>
          )}
          {series.roundTrip.some((v) => v !== null) ? (
            <BarChart title="Round trip" categories={categories} values={series.roundTrip} unit="ms" color="#107c10" />
          ) : (
            <Text>Round trip: not measured on any stream (no RTCP reports).</Text>
          )}
        </div>
      )}
    </div>
  );
}
