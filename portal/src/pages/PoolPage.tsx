import {
  Badge,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
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
import { type AdminApi, ApiProblem } from "../api";
import { ConfirmDialog } from "../components/ConfirmDialog";

/** One media host as the admin API shows it (GET /pool/hosts). */
export interface PoolHost {
  readonly hostId: string;
  readonly epoch: number;
  readonly status: "active" | "draining" | "unresponsive" | "dead";
  readonly sipUri: string;
  readonly version: string;
  readonly capacity: number;
  readonly activeCalls: number;
  /** CPU in use, 0–1, as the host reported it. */
  readonly load: number;
  readonly leaseUntil: string;
  readonly drain: { readonly deadline: string; readonly by: "operator" | "host" } | null;
  readonly death: { readonly at: string; readonly reason: string } | null;
}

const useStyles = makeStyles({
  page: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
  table: { overflowX: "auto" },
  dialogForm: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM },
});

/** How often the pool is asked again: hosts renew their leases every 2 s, so this sees each renewal. */
const REFRESH_MS = 2000;
const DEFAULT_DRAIN_IN_MINUTES = "60";

const STATUS: Record<PoolHost["status"], { readonly label: string; readonly color: "success" | "warning" | "danger" | "informative" }> = {
  active: { label: "Active", color: "success" },
  draining: { label: "Draining", color: "warning" },
  unresponsive: { label: "Unresponsive", color: "danger" },
  dead: { label: "Dead", color: "danger" },
};

/** The media host pool: each host's state, calls against capacity, load, version and lease, with drain and undrain. */
export function PoolPage({ api }: { readonly api: AdminApi }) {
  const styles = useStyles();
  const [hosts, setHosts] = useState<readonly PoolHost[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [draining, setDraining] = useState<PoolHost | undefined>();
  const [undraining, setUndraining] = useState<PoolHost | undefined>();
  const [minutes, setMinutes] = useState(DEFAULT_DRAIN_IN_MINUTES);
  const [problem, setProblem] = useState<ApiProblem | undefined>();

  const refresh = useCallback(async () => {
    try {
      setHosts((await api.get<{ value: PoolHost[] }>("/pool/hosts")).value);
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

  const drain = async (event: FormEvent) => {
    event.preventDefault();
    if (!draining) return;
    try {
      await api.post(`/pool/hosts/${encodeURIComponent(draining.hostId)}/drain`, { deadlineInMinutes: Number(minutes) });
      setDraining(undefined);
      setProblem(undefined);
      await refresh();
    } catch (e) {
      // The dialog stays open with what the API said at the field (or under it).
      setProblem(e instanceof ApiProblem ? e : new ApiProblem(0, "Not sent", (e as Error).message));
    }
  };
  const undrain = async (host: PoolHost) => {
    setUndraining(undefined);
    try {
      await api.post(`/pool/hosts/${encodeURIComponent(host.hostId)}/undrain`);
      await refresh();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const openDrain = (host: PoolHost) => {
    setMinutes(DEFAULT_DRAIN_IN_MINUTES);
    setProblem(undefined);
    setDraining(host);
  };

  return (
    <div className={styles.page}>
      <Title2 as="h2">Pool</Title2>
      {error && (
        <MessageBar intent="error">
          <MessageBarBody>{error}</MessageBarBody>
        </MessageBar>
      )}
      {hosts === undefined ? (
        <Spinner label="Loading the pool" />
      ) : hosts.length === 0 ? (
        <Text>No media host in the pool. This list refreshes every 2 seconds.</Text>
      ) : (
        <div className={styles.table}>
          <Table aria-label="Media hosts" data-testid="pool-hosts">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Host</TableHeaderCell>
                <TableHeaderCell>State</TableHeaderCell>
                <TableHeaderCell>Calls</TableHeaderCell>
                <TableHeaderCell>Load</TableHeaderCell>
                <TableHeaderCell>Version</TableHeaderCell>
                <TableHeaderCell>Lease</TableHeaderCell>
                <TableHeaderCell>Actions</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {hosts.map((h) => {
                const status = STATUS[h.status] ?? { label: h.status, color: "informative" as const };
                return (
                  <TableRow key={h.hostId} data-host-id={h.hostId}>
                    <TableCell>
                      <Text font="monospace">{h.hostId}</Text>
                    </TableCell>
                    <TableCell>
                      <Badge appearance="tint" color={status.color}>
                        {status.label}
                      </Badge>
                      {h.drain && h.status === "draining" && <Text size={200}> calls end by {new Date(h.drain.deadline).toLocaleTimeString()}</Text>}
                      {h.death && <Text size={200}> {h.death.reason}</Text>}
                    </TableCell>
                    <TableCell>
                      {h.activeCalls} / {h.capacity}
                    </TableCell>
                    <TableCell>{Math.round(h.load * 100)}%</TableCell>
                    <TableCell>{h.version}</TableCell>
                    <TableCell>
                      epoch {h.epoch}, until {new Date(h.leaseUntil).toLocaleTimeString()}
                    </TableCell>
                    <TableCell>
                      {h.status === "active" && <Button onClick={() => openDrain(h)}>Drain</Button>}
                      {h.status === "draining" && <Button onClick={() => setUndraining(h)}>Undrain</Button>}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </div>
      )}
      <Dialog open={draining !== undefined} onOpenChange={(_, d) => !d.open && setDraining(undefined)}>
        <DialogSurface>
          <form onSubmit={(e) => void drain(e)}>
            <DialogBody>
              <DialogTitle>Drain {draining?.hostId}?</DialogTitle>
              <DialogContent className={styles.dialogForm}>
                <Text>It takes no new call. Its calls go on until they end or the deadline, when its bots leave and its devices get a BYE.</Text>
                <Field
                  label="Minutes until its calls are ended"
                  validationMessage={problem?.forField("deadlineInMinutes") ?? (problem && `${problem.title}: ${problem.detail}`)}
                >
                  <Input type="number" min={0} value={minutes} onChange={(_, d) => setMinutes(d.value)} />
                </Field>
              </DialogContent>
              <DialogActions>
                <Button appearance="secondary" onClick={() => setDraining(undefined)}>
                  Cancel
                </Button>
                <Button appearance="primary" type="submit">
                  Drain
                </Button>
              </DialogActions>
            </DialogBody>
          </form>
        </DialogSurface>
      </Dialog>
      <ConfirmDialog
        subject={undraining}
        title={(h) => `Undrain ${h.hostId}?`}
        confirmLabel="Undrain"
        onConfirm={(h) => void undrain(h)}
        onCancel={() => setUndraining(undefined)}
      >
        It takes new calls again, and its drain deadline is dropped.
      </ConfirmDialog>
    </div>
  );
}
