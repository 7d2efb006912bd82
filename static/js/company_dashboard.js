// The company dashboard's charts (admin › 公司经营看板): Chart.js from npm (vendor/chartjs), data
// from the page's json_script block.
(function () {
  'use strict';
  if (!window.Chart) return;
  const data = JSON.parse(document.getElementById('companydash-data').textContent);
  const base = { maintainAspectRatio: false, animation: false };
  new Chart(document.getElementById('chart-daily'), {
    data: {
      labels: data.days,
      datasets: [
        { type: 'bar', label: '订单数', data: data.orders, backgroundColor: '#10aeff', yAxisID: 'y' },
        { type: 'line', label: 'GMV (元)', data: data.gmv.map(Number), borderColor: '#fa5151', backgroundColor: '#fa5151', yAxisID: 'y1', tension: 0.2 },
      ],
    },
    options: { ...base, scales: {
      y: { beginAtZero: true, position: 'left', ticks: { precision: 0 }, title: { display: true, text: '单' } },
      y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: '元' } },
    } },
  });
  new Chart(document.getElementById('chart-monthly'), {
    type: 'bar',
    data: { labels: data.months, datasets: [{ label: '下单客户', data: data.month_customers, backgroundColor: '#07c160' }] },
    options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  new Chart(document.getElementById('chart-flow'), {
    type: 'bar',
    data: {
      labels: data.days,
      datasets: [
        { label: '新客户', data: data.new, backgroundColor: '#07c160' },
        { label: '流失', data: data.churned, backgroundColor: '#fa5151' },
        { label: '召回', data: data.reactivated, backgroundColor: '#fa9d3b' },
      ],
    },
    options: { ...base, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  new Chart(document.getElementById('chart-categories'), {
    type: 'bar',
    data: { labels: data.categories, datasets: [{ label: '销售额 (元)', data: data.category_amounts.map(Number), backgroundColor: '#10aeff' }] },
    options: { ...base, indexAxis: 'y', scales: { x: { beginAtZero: true } } },
  });
})();
