// The console's charts: each <div class="chart" data-chart="…"> holds its data as JSON —
// {categories, series: [{name, key, data}], href, kind} — drawn here with Apache ECharts.
// A click on a bar opens the board `href` names, with {series} and {category} filled in.
(function () {
  'use strict';
  function draw(el) {
    var spec = JSON.parse(el.getAttribute('data-chart'));
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    var horizontal = spec.kind === 'hbar';
    var category = { type: 'category', data: spec.categories, axisLabel: { hideOverlap: true } };
    var value = { type: 'value', minInterval: 1 };
    chart.setOption({
      animation: false,
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      legend: { type: 'scroll', top: 0 },
      grid: { left: horizontal ? 150 : 50, right: 20, top: 40, bottom: 30 },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: spec.series.map(function (s) {
        return { name: s.name, type: 'bar', stack: spec.stack ? 'all' : undefined, data: s.data,
          emphasis: { focus: 'series' } };
      })
    });
    if (spec.href) {
      chart.on('click', function (p) {
        var s = spec.series[p.seriesIndex];
        var key = spec.categoryKeys ? spec.categoryKeys[p.dataIndex] : spec.categories[p.dataIndex];
        location.href = spec.href.replace('{series}', encodeURIComponent(s.key))
          .replace('{category}', key);
      });
    }
    el.setAttribute('data-drawn', spec.series.length);
    window.addEventListener('resize', function () { chart.resize(); });
  }
  document.querySelectorAll('.chart[data-chart]').forEach(draw);
})();
