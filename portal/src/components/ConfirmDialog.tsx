import { Button, Dialog, DialogActions, DialogBody, DialogContent, DialogSurface, DialogTitle } from "@fluentui/react-components";
import type { ReactNode } from "react";

/**
 * "Are you sure?" before an action that cannot be taken back (hang up, remove, undrain): open
 * while `subject` is set, Cancel or Escape closes it, the primary button carries it out.
 */
export function ConfirmDialog<T>(props: {
  readonly subject: T | undefined;
  readonly title: (subject: T) => string;
  readonly children: ReactNode;
  readonly confirmLabel: string;
  readonly onConfirm: (subject: T) => void;
  readonly onCancel: () => void;
}) {
  const { subject } = props;
  return (
    <Dialog open={subject !== undefined} onOpenChange={(_, d) => !d.open && props.onCancel()}>
      <DialogSurface>
        <DialogBody>
          <DialogTitle>{subject !== undefined ? props.title(subject) : ""}</DialogTitle>
          <DialogContent>{props.children}</DialogContent>
          <DialogActions>
            <Button appearance="secondary" onClick={props.onCancel}>
              Cancel
            </Button>
            <Button appearance="primary" onClick={() => subject !== undefined && props.onConfirm(subject)}>
              {props.confirmLabel}
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
