// Package report writes what a comparative benchmark run measured: a
// Markdown file of tables, one per workload with a row per contender of
// each suite, and an SVG bar chart of the figures the ratios compare, both
// under a header that says when, on what machine, with which Go and
// servers, and by which command the figures were made.
package report
