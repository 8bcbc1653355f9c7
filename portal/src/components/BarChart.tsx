import { makeStyles, tokens } from "@fluentui/react-components";
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const useStyles = makeStyles({
  chart: { color: tokens.colorNeutralForeground1, maxWidth: "100%" },
});

/**
 * Bars drawn by uPlot, one per category. The container carries the values uPlot draws
 * (`data-values`, read back from the chart) so a test can check them against the record.
 * It narrows to fit the page (a phone's width) rather than scroll: a scrolling region with
 * nothing focusable in it cannot be scrolled from the keyboard.
 */
export function BarChart(props: {
  readonly title: string;
  readonly categories: readonly string[];
  /** One value per category; null where there is none (e.g. no round trip measured). */
  readonly values: readonly (number | null)[];
  readonly unit: string;
  readonly color: string;
  readonly width?: number;
}) {
  const styles = useStyles();
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const bars = uPlot.paths.bars;
    const fitted = () => Math.min(props.width ?? 480, element.parentElement?.clientWidth || Number.POSITIVE_INFINITY);
    const plot = new uPlot(
      {
        title: props.title,
        width: fitted(),
        height: 220,
        scales: { x: { time: false, range: [-0.5, props.categories.length - 0.5] } },
        axes: [
          {
            values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? (props.categories[t] ?? "") : "")),
            splits: () => props.categories.map((_, i) => i),
            stroke: "currentColor",
          },
          { label: props.unit, stroke: "currentColor" },
        ],
        series: [
          {},
          {
            label: props.title,
            fill: props.color,
            stroke: props.color,
            ...(bars ? { paths: bars({ size: [0.6, 80] }) } : {}),
            points: { show: false },
          },
        ],
        legend: { show: false },
      },
      [props.categories.map((_, i) => i), [...props.values]] as uPlot.AlignedData,
      element,
    );
    element.dataset.values = JSON.stringify(Array.from(plot.data[1] ?? [], (v: number | null | undefined) => v ?? null));
    const resize = () => plot.setSize({ width: fitted(), height: 220 });
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      plot.destroy();
    };
  }, [props.title, props.categories, props.values, props.unit, props.color, props.width]);
  return <div ref={host} className={styles.chart} role="img" aria-label={`${props.title} (${props.unit})`} data-chart={props.title} />;
}
