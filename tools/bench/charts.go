package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chart is one PNG written to docs/bench.
type chart struct{ file, caption string }

// writeCharts draws every chart it has data for and returns them.
func writeCharts(b *bench, dir string) []chart {
	var out []chart
	for _, c := range []struct {
		file, caption string
		draw          func(*bench, string) error
	}{
		{"latency.png", "Sequential latency (p50 solid, p99 dashed) by request size, Go client", latencyChart},
		{"throughput.png", "Requests per second by outstanding requests, Go client", throughputChart},
		{"languages.png", "Requests per second by outstanding requests: SDKs, bare workers and peers", languagesChart},
		{"burst.png", "Pool size and answered requests during a burst", burstChart},
	} {
		path := filepath.Join(dir, c.file)
		err := c.draw(b, path)
		switch {
		case err == errNoData:
			_ = os.Remove(path)
		case err != nil:
			logf("chart %s: %v", c.file, err)
		default:
			out = append(out, chart{c.file, c.caption})
		}
	}
	return out
}

var errNoData = fmt.Errorf("no data")

// serverStyle gives each server a fixed colour.
var serverStyle = map[string]int{lblC: 0, lblGo: 1, lblPlutonG: 2}

func colorOf(label string, fallback int) color.Color {
	if i, ok := serverStyle[label]; ok {
		return plotutil.Color(i)
	}
	return plotutil.Color(fallback)
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// line adds a line with points to p.
func line(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashes []vg.Length) error {
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = c, c
	l.Dashes = dashes
	l.Width = vg.Points(1.5)
	pts.Shape = draw.CircleGlyph{}
	pts.Radius = vg.Points(2.5)
	p.Add(l, pts)
	if name != "" {
		p.Legend.Add(name, l, pts)
	}
	return nil
}

// categoryTicks labels the integer positions 0..n-1.
func categoryTicks(labels []string) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(labels))
	for i, l := range labels {
		t[i] = plot.Tick{Value: float64(i), Label: l}
	}
	return t
}

// rateTicks are the default ticks labelled like the tables (25.0k).
type rateTicks struct{}

func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = fmtRate(ts[i].Value)
		}
	}
	return ts
}

func positive(v float64) bool { return v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) }

func latencyChart(b *bench, path string) error {
	p := newPlot("Sequential latency by request size (1 outstanding)", "request and response size", "latency (µs, log scale)")
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var labels []string
	for _, s := range b.sizes {
		labels = append(labels, fmtBytes(s))
	}
	p.X.Tick.Marker = categoryTicks(labels)
	p.Legend.Top = false
	n := 0
	low := math.Inf(1)
	for i, lbl := range []string{lblC, lblGo, lblPlutonG} {
		for _, q := range []struct {
			name   string
			f      func(trial) float64
			dashes []vg.Length
		}{{"p50", fP50, nil}, {"p99", fP99, []vg.Length{vg.Points(4), vg.Points(3)}}} {
			var xys plotter.XYs
			for k, size := range b.sizes {
				if c := find(b.latency, lbl, "Go client", size, 1, 1); c != nil {
					if v := c.metric(q.f).med; positive(v) {
						xys = append(xys, plotter.XY{X: float64(k), Y: v})
						low = math.Min(low, v)
					}
				}
			}
			if err := line(p, lbl+" "+q.name, xys, colorOf(lbl, i), q.dashes); err != nil {
				return err
			}
			n += len(xys)
		}
	}
	if n == 0 {
		return errNoData
	}
	p.Y.Min = low / 40 // room for the legend below the lines
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

func throughputChart(b *bench, path string) error {
	var plots []*plot.Plot
	n := 0
	for _, w := range b.workers {
		p := newPlot(fmt.Sprintf("%d worker(s) / instance(s)", w), "outstanding requests", "requests per second")
		var labels []string
		for _, c := range b.concs {
			labels = append(labels, fmt.Sprint(c))
		}
		p.X.Tick.Marker = categoryTicks(labels)
		p.Y.Min = 0
		p.Y.Tick.Marker = rateTicks{}
		top := 0.0
		for i, lbl := range []string{lblC, lblGo, lblPlutonG} {
			var xys plotter.XYs
			for k, conc := range b.concs {
				if c := find(b.throughput, lbl, "Go client", b.loadSize, conc, w); c != nil {
					if v := c.metric(fRPS).med; positive(v) {
						xys = append(xys, plotter.XY{X: float64(k), Y: v})
						top = math.Max(top, v)
					}
				}
			}
			if err := line(p, lbl, xys, colorOf(lbl, i), nil); err != nil {
				return err
			}
			n += len(xys)
		}
		p.Y.Max = top * 1.35 // room for the legend
		plots = append(plots, p)
	}
	if n == 0 {
		return errNoData
	}
	return saveTiles([][]*plot.Plot{plots}, vg.Length(len(plots))*4.5*vg.Inch, 4*vg.Inch, path)
}

func languagesChart(b *bench, path string) error {
	var plots []*plot.Plot
	w := b.langWorkers[len(b.langWorkers)-1]
	for _, l := range []lang{langPython, langPHP, langPerl} {
		cfgs := b.langs[l]
		if len(cfgs) == 0 {
			continue
		}
		p := newPlot(fmt.Sprintf("%s, %d workers", langNames[l], w), "outstanding requests", "requests per second")
		var labels []string
		for _, c := range b.langConcs {
			labels = append(labels, fmt.Sprint(c))
		}
		p.X.Tick.Marker = categoryTicks(labels)
		p.Y.Min = 0
		p.Y.Tick.Marker = rateTicks{}
		type key struct{ label, drv string }
		var keys []key
		seen := map[key]bool{}
		for _, c := range cfgs {
			k := key{c.srv.label, c.drv.name()}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		top := 0.0
		for i, k := range keys {
			var xys plotter.XYs
			for j, conc := range b.langConcs {
				if c := find(cfgs, k.label, k.drv, b.loadSize, conc, w); c != nil {
					if v := c.metric(fRPS).med; positive(v) {
						xys = append(xys, plotter.XY{X: float64(j), Y: v})
						top = math.Max(top, v)
					}
				}
			}
			if err := line(p, k.label+" ("+k.drv+")", xys, plotutil.Color(i), nil); err != nil {
				return err
			}
		}
		p.Y.Max = top * 1.45 // room for the legend
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return errNoData
	}
	return saveTiles([][]*plot.Plot{plots}, vg.Length(len(plots))*5.5*vg.Inch, 4.5*vg.Inch, path)
}

func burstChart(b *bench, path string) error {
	if len(b.burst) == 0 {
		return errNoData
	}
	pi := newPlot("Pool size during a burst (64 outstanding, 5 ms per request)", "seconds since the burst started", "instances")
	pd := newPlot("Requests answered", "seconds since the burst started", "requests")
	pi.Y.Min, pd.Y.Min = 0, 0
	pi.X.Min, pd.X.Min = 0, 0
	pi.Y.Max = 9
	pi.Legend.Top, pi.Legend.Left = false, false
	pd.Legend.Left = true
	for r, run := range b.burst {
		var inst, done plotter.XYs
		for _, s := range run.samples {
			inst = append(inst, plotter.XY{X: s.at.Seconds(), Y: float64(s.instances)})
			done = append(done, plotter.XY{X: s.at.Seconds(), Y: float64(s.done)})
		}
		name := fmt.Sprintf("round %d", r+1)
		for _, x := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{pi, inst}, {pd, done}} {
			l, err := plotter.NewLine(x.xys)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(r)
			l.Width = vg.Points(1.5)
			l.StepStyle = plotter.PostStep
			x.p.Add(l)
			x.p.Legend.Add(name, l)
		}
	}
	return saveTiles([][]*plot.Plot{{pi}, {pd}}, 8*vg.Inch, 7*vg.Inch, path)
}

// saveTiles draws plots in a grid and writes a PNG.
func saveTiles(plots [][]*plot.Plot, w, h vg.Length, path string) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for j := range plots {
		for i := range plots[j] {
			if plots[j][i] != nil {
				plots[j][i].Draw(canvases[j][i])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
