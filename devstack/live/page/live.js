/* global document, window, EventSource, uPlot */
// The live page's client: one server-sent `update` per second (devstack/live/index.ts), drawn into the
// flow cards, the latency figures, the alert tables and one uPlot chart per device. Text is set with
// textContent only (device ids and rule ids come from the outside).
'use strict';

const POINTS = 240;
const charts = new Map(); // deviceId → { plot, data: [t[], ...series[]], fields }

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};
const fmt = (n) =>
  typeof n === 'number'
    ? Math.abs(n) >= 100 || Number.isInteger(n)
      ? String(Math.round(n))
      : n.toFixed(2)
    : n === null
      ? '—'
      : String(n);
const ms = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '');

function renderFlow(flow) {
  const list = document.getElementById('flow');
  list.replaceChildren(
    ...flow.hops.map((hop) => {
      const item = el('li', `hop${hop.running ? '' : ' stopped'}`);
      item.dataset.hop = hop.id;
      item.append(el('div', 'name', hop.label));
      const rate = el('div', 'rate', `${fmt(hop.perSecond)}/s`);
      rate.dataset.value = String(hop.perSecond);
      item.append(rate);
      const total = el('div', 'total', `${hop.total} ${hop.unit}`);
      total.dataset.value = String(hop.total);
      item.append(total);
      const health = el('div', 'total');
      const drops = el('span', hop.drops > 0 ? 'bad' : '', `drops ${hop.drops}`);
      drops.dataset.drops = String(hop.drops);
      const errors = el('span', hop.errors > 0 ? 'bad' : '', `errors ${hop.errors}`);
      errors.dataset.errors = String(hop.errors);
      health.append(drops, document.createTextNode(' · '), errors);
      item.append(health, el('div', 'detail', hop.detail));
      return item;
    }),
  );
  document.getElementById('functions-errors').textContent =
    `function errors ${flow.functionErrors} · dead letters ${flow.deadLetters} · up ${Math.round(flow.uptimeMs / 1000)} s`;
}

function renderLatency(latency) {
  const rows = [
    ['device → IoT Hub (ts → enqueuedAt)', latency.deviceToHub],
    ['device → cloud consumer (ts → received)', latency.deviceToConsumer],
    ['alert → webhook (at → delivered)', latency.alertToWebhook],
  ];
  document.getElementById('latency').replaceChildren(
    ...rows.map(([label, s], i) => {
      const box = el('div');
      box.dataset.latency = ['deviceToHub', 'deviceToConsumer', 'alertToWebhook'][i];
      box.append(
        el('dt', '', `${label}, ${s.samples} samples`),
        el('dd', '', `p50 ${ms(s.p50Ms)} · p99 ${ms(s.p99Ms)}`),
      );
      return box;
    }),
  );
}

/** One alert as a table row: its rule and device as data attributes (the page's styles and tests use them). */
function alertRow(a, className, cells) {
  const row = el('tr', className);
  row.dataset.rule = a.rule;
  row.dataset.device = a.deviceId;
  row.append(...cells.map((cell) => el('td', '', cell)));
  return row;
}

function renderAlerts(alerts) {
  const open = document.querySelector('#open-alerts tbody');
  open.replaceChildren(
    ...alerts.open.map((a) => alertRow(a, 'raised', [time(a.at), a.rule, a.deviceId, fmt(a.value), a.readingId ?? ''])),
  );
  const count = document.getElementById('open-count');
  count.textContent = String(alerts.open.length);
  count.className = alerts.open.length > 0 ? 'badge' : 'badge zero';
  document.getElementById('no-alerts').hidden = alerts.open.length > 0;
  const recent = document.querySelector('#recent-alerts tbody');
  recent.replaceChildren(
    ...alerts.recent.map((a) => {
      const resolved = a.resolvedAt ? `${time(a.resolvedAt)} (${fmt(a.resolvedValue)})` : '';
      const row = alertRow(a, a.state, [time(a.at), a.state, a.rule, a.deviceId, fmt(a.value), resolved]);
      row.dataset.state = a.state;
      return row;
    }),
  );
  const alerting = new Set(alerts.open.map((a) => a.deviceId));
  for (const [deviceId, chart] of charts) chart.box.classList.toggle('alerting', alerting.has(deviceId));
}

function chartFor(deviceId, fields) {
  let chart = charts.get(deviceId);
  if (chart) return chart;
  const box = el('div', 'device');
  box.dataset.device = deviceId;
  box.append(el('h3', '', deviceId));
  const holder = el('div');
  box.append(holder);
  const devices = document.getElementById('devices');
  const after = [...devices.children].find((c) => c.dataset.device > deviceId);
  devices.insertBefore(box, after ?? null);
  const colours = ['#c2410c', '#1d4ed8', '#15803d', '#7e22ce'];
  const data = [[], ...fields.map(() => [])];
  const plot = new uPlot(
    {
      width: 340,
      height: 150,
      legend: { show: true },
      scales: { x: { time: true } },
      series: [
        {},
        ...fields.map((f, i) => ({
          label: f,
          stroke: colours[i % colours.length],
          width: 1.5,
          scale: i === 0 ? 'y' : `y${i}`,
        })),
      ],
      axes: [{}, { scale: 'y' }],
    },
    data,
    holder,
  );
  chart = { plot, data, fields, box };
  charts.set(deviceId, chart);
  return chart;
}

function renderReadings(readings) {
  for (const [deviceId, points] of Object.entries(readings.devices)) {
    const fields = readings.fields[deviceId] ?? Object.keys(points[0]?.values ?? {});
    const chart = chartFor(deviceId, fields);
    for (const p of points) {
      chart.data[0].push(p.t / 1000);
      chart.fields.forEach((f, i) => chart.data[i + 1].push(p.values[f] ?? null));
    }
    const extra = chart.data[0].length - POINTS;
    if (extra > 0) for (const series of chart.data) series.splice(0, extra);
    chart.plot.setData(chart.data);
    chart.box.dataset.points = String(chart.data[0].length);
    chart.box.dataset.last = String(Math.round(chart.data[0][chart.data[0].length - 1] * 1000));
  }
}

function connect() {
  const source = new EventSource('/events');
  const status = document.getElementById('connection');
  source.addEventListener('update', (event) => {
    const update = JSON.parse(event.data);
    status.textContent = `updated ${new Date(update.flow.at).toLocaleTimeString()}`;
    status.dataset.updates = String(Number(status.dataset.updates ?? '0') + 1);
    renderFlow(update.flow);
    renderLatency(update.latency);
    renderAlerts(update.alerts);
    renderReadings(update.readings);
  });
  source.addEventListener('error', () => {
    status.textContent = 'disconnected; retrying…';
  });
}

window.addEventListener('DOMContentLoaded', connect);
