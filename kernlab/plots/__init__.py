"""Figures by concept, each a pure function of a results table (plus export).

- ``lines``: a metric over a knob (threads or a parameter): throughput, any metric,
  latency percentiles, and throughput ratios as text;
- ``distributions``: per-thread fairness, combining batch sizes, count excess;
- ``latency``: the raw latency samples as a histogram, a CDF and per-thread tails;
- ``timeseries``: a quantity sampled during one trial;
- ``timeline``: what each thread did over time in a traced trial (a Gantt chart);
- ``breakdown``: how a cost builds up step by step, how a gain splits over switches (waterfalls);
- ``diagrams``: pictures of a mechanism (cache lines, shard sizing);
- ``allocation``: a pool's free lists, an arena's bump pointer, an inline string (text);
- ``hierarchy``: the memory staircase, the prefetch distance, a rule table in lanes;
- ``fabric``: your machine: the core-to-core heatmap, the cost ladder, litmus counts;
- ``export``: HTML / PNG / SVG files.

Nothing here runs an experiment, so the same functions draw live runs, saved files and
data measured on other machines.
"""
from ._style import PALETTE
from .allocation import arena_picture, inline_string_picture, pool_picture
from .breakdown import breakdown_figure, breakdown_lines, contributions_figure, step_costs, switch_contributions
from .diagrams import cache_line_picture, shard_profiles_figure
from .distributions import batch_histogram_figure, excess_figure, fairness_figure, fairness_lines
from .export import ExportError, browser_available, export_figure, export_page
from .fabric import heatmap_figure, ladder_figure, ladder_lines, litmus_figure, pair_matrix
from .hierarchy import distance_figure, rule_table_picture, staircase_figure
from .interleaving import aba_steps, ring_picture
from .latency import latency_cdf_figure, latency_histogram_figure, thread_tails_figure
from .lines import latency_figure, metric_figure, ratio_lines, throughput_figure
from .timeline import timeline_figure, timeline_lines
from .timeseries import series_figure

__all__ = [
    "PALETTE",
    "arena_picture",
    "inline_string_picture",
    "pool_picture",
    "aba_steps",
    "ring_picture",
    "ExportError",
    "batch_histogram_figure",
    "breakdown_figure",
    "breakdown_lines",
    "browser_available",
    "cache_line_picture",
    "contributions_figure",
    "distance_figure",
    "excess_figure",
    "export_figure",
    "export_page",
    "fairness_figure",
    "fairness_lines",
    "heatmap_figure",
    "latency_cdf_figure",
    "latency_figure",
    "ladder_figure",
    "ladder_lines",
    "litmus_figure",
    "latency_histogram_figure",
    "metric_figure",
    "pair_matrix",
    "ratio_lines",
    "rule_table_picture",
    "series_figure",
    "shard_profiles_figure",
    "staircase_figure",
    "step_costs",
    "switch_contributions",
    "thread_tails_figure",
    "timeline_figure",
    "timeline_lines",
    "throughput_figure",
]
