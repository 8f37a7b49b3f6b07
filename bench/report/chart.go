package report

import (
	"fmt"
	"image/color"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/raftlock/raftlock/bench/workload"
)

// The chart's geometry.
const (
	chartWidth = 10 * vg.Inch
	rowHeight  = 2.3 * vg.Inch
	barWidth   = 22 // points
	smallFont  = 7  // points: ticks, values
	titleFont  = 9  // points
)

// colors are the contenders' colors, by their place in their suite:
// raftlock's always the first.
var colors = []color.Color{
	color.RGBA{0x1f, 0x5f, 0xa8, 0xff}, // raftlock
	color.RGBA{0xe0, 0x7b, 0x24, 0xff},
	color.RGBA{0x6b, 0x8e, 0x23, 0xff},
	color.RGBA{0x8e, 0x44, 0xad, 0xff},
}

// SVG writes the figures the ratios compare as small bar charts: a row per
// suite and, in it, a chart per workload with a bar per contender, each
// chart on its own scale. The first bar of each is raftlock's.
func (r *Report) SVG(w io.Writer) error {
	var grid [][]*plot.Plot
	cols := 1
	for _, s := range r.Suites {
		var row []*plot.Plot
		for _, res := range s.Results {
			p, err := panel(s.Title, res)
			if err != nil {
				return err
			}
			if p != nil {
				row = append(row, p)
			}
		}
		if len(row) > 0 {
			grid = append(grid, row)
			cols = max(cols, len(row))
		}
	}
	if len(grid) == 0 {
		p := plot.New()
		p.Title.Text = "no results"
		grid = append(grid, []*plot.Plot{p})
	}
	for i := range grid {
		for len(grid[i]) < cols {
			grid[i] = append(grid[i], nil) // Align leaves a nil plot's tile empty
		}
	}
	c := vgsvg.New(chartWidth, rowHeight*vg.Length(len(grid)))
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: len(grid), Cols: cols, PadTop: 6, PadBottom: 6, PadLeft: 6, PadRight: 16, PadX: 24, PadY: 22}
	canvases := plot.Align(grid, tiles, dc)
	for i, row := range grid {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	_, err := c.WriteTo(w)
	return err
}

// panel draws one workload of one suite: a bar per contender, its value
// above it. It is nil when no contender has figures.
func panel(suite string, res workload.Result) (*plot.Plot, error) {
	key := res.Workload.Key
	top := 0.0
	for _, s := range res.Summaries {
		if s.OK() {
			top = max(top, key.Of(&s))
		}
	}
	if top == 0 {
		return nil, nil
	}
	p := plot.New()
	arrow := "↑"
	if !key.HigherIsBetter {
		arrow = "↓"
	}
	p.Title.Text = fmt.Sprintf("%s\n%s, %s %s", suite, res.Workload.Short, key.Label, arrow)
	p.Title.TextStyle.Font.Size = titleFont
	p.Y.Min, p.Y.Max = 0, top*1.2 // room for the values
	p.Y.Tick.Label.Font.Size = smallFont
	p.X.Tick.Label.Font.Size = smallFont
	p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
		ticks := plot.DefaultTicks{}.Ticks(min, max)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = short(ticks[i].Value, key.HigherIsBetter)
			}
		}
		return ticks
	})

	var names []string
	var labels plotter.XYLabels
	for i, s := range res.Summaries {
		names = append(names, wrap(s.Contender))
		v, note := 0.0, ""
		switch {
		case s.NA != "":
			note = "n/a"
		case !s.OK():
			note = "error"
		default:
			v, note = key.Of(&s), short(key.Of(&s), key.HigherIsBetter)
		}
		bars, err := plotter.NewBarChart(plotter.Values{v}, barWidth)
		if err != nil {
			return nil, err
		}
		bars.XMin = float64(i)
		bars.LineStyle.Width = 0
		bars.Color = colors[i%len(colors)]
		p.Add(bars)
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: v})
		labels.Labels = append(labels.Labels, note)
	}
	l, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = text.XCenter
		l.TextStyle[i].Font.Size = smallFont
	}
	l.Offset = vg.Point{Y: 2}
	p.Add(l)
	p.NominalX(names...)
	return p, nil
}

// wrap breaks a long contender name over two lines, to fit under its bar.
func wrap(name string) string {
	if len(name) <= 10 {
		return name
	}
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return name[:i] + "\n" + name[i+1:]
	}
	return name
}

// short formats a value in few characters: a rate as 950, 9.5k or 95k, a
// time in seconds as 1.23 s.
func short(v float64, rate bool) string {
	if !rate {
		return fmt.Sprintf("%.2f s", v)
	}
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
