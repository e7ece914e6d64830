// Chart.js with only the pieces the pages use (tree-shaken), plus the
// error-bar controller of chartjs-chart-error-bars for lift intervals.
import {
  Chart, LineController, BarController, LineElement, BarElement, PointElement,
  CategoryScale, LinearScale, LogarithmicScale, Legend, Tooltip, Filler,
} from 'chart.js';
import { BarWithErrorBarsController, BarWithErrorBar } from 'chartjs-chart-error-bars';
import { h } from './dom';

Chart.register(LineController, BarController, LineElement, BarElement,
  PointElement, CategoryScale, LinearScale, LogarithmicScale, Legend, Tooltip, Filler,
  BarWithErrorBarsController, BarWithErrorBar);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#475569';
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

export const colors = {
  test: '#2563eb', control: '#f97316', lift: '#16a34a', warn: '#dc2626',
  grey: '#94a3b8', purple: '#7c3aed',
};

/* A canvas in a sized box, and the chart drawn on it. */
export function chartBox(id: string, config: any, height = 260): HTMLElement {
  const canvas = h('canvas', { id, role: 'img', 'aria-label': id });
  const box = h('div', { class: 'chart', style: `height:${height}px` }, canvas);
  requestAnimationFrame(() => {
    if (!canvas.isConnected) return;
    const chart = new Chart(canvas, config);
    canvas.dataset.points = String(
      chart.data.datasets.reduce((n, d) => n + (d.data?.length ?? 0), 0));
  });
  return box;
}

export function pctAxis(title: string): any {
  return {
    title: { display: true, text: title },
    ticks: { callback: (v: number | string) => `${(Number(v) * 100).toFixed(1)}%` },
  };
}
