package benchreport

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/wan22/wan22/internal/plural"
)

// The chart's plot area in SVG user units.
const (
	chartW, chartH         = 640.0, 360.0
	padL, padR, padT, padB = 70.0, 20.0, 30.0, 50.0
)

// palette colours the series (colour-blind safe, Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

type tick struct {
	Pos   float64
	Label string
}

type dot struct {
	X, Y  float64
	Title string
}

type series struct {
	Name    string
	Color   string
	Points  string // SVG polyline points
	Dots    []dot
	LegendY float64
}

type chart struct {
	Title, YLabel  string
	W, H           float64
	Left, Right    float64
	Top, Bottom    float64
	MidX, MidY     float64 // the plot area's centre, for the axis titles
	XTicks, YTicks []tick
	Series         []series
	LegendX        float64
}

// point is one value of a series against frames.
type point struct {
	frames int
	v      float64
	title  string
}

// newChart lays out the series (named, in order) on frames × value axes.
func newChart(title, ylabel string, unit func(float64) string, names []string, data map[string][]point) chart {
	legend := 180.0 // room for the legend right of the plot, in SVG units
	for _, n := range names {
		legend = max(legend, 7.5*float64(len(n))+30)
	}
	c := chart{Title: title, YLabel: ylabel, W: chartW + legend, H: max(chartH, padT+18*float64(len(names))+10), Left: padL, Right: chartW - padR, Top: padT, Bottom: chartH - padB, LegendX: chartW + 5}
	c.MidX, c.MidY = (c.Left+c.Right)/2, (c.Top+c.Bottom)/2
	minF, maxF, maxV := math.MaxInt, 0, 0.0
	for _, ps := range data {
		for _, p := range ps {
			minF, maxF, maxV = min(minF, p.frames), max(maxF, p.frames), max(maxV, p.v)
		}
	}
	if maxF == 0 {
		minF, maxF = 0, 1
	}
	if minF == maxF {
		minF, maxF = minF-1, maxF+1
	}
	step := niceStep(maxV / 5)
	top := step * math.Ceil(maxV/step)
	if top <= 0 {
		top = step
	}
	xOf := func(f int) float64 {
		return c.Left + (c.Right-c.Left)*float64(f-minF)/float64(maxF-minF)
	}
	yOf := func(v float64) float64 { return c.Bottom - (c.Bottom-c.Top)*v/top }
	seen := map[int]bool{}
	for _, ps := range data {
		for _, p := range ps {
			if !seen[p.frames] {
				seen[p.frames] = true
				c.XTicks = append(c.XTicks, tick{xOf(p.frames), strconv.Itoa(p.frames)})
			}
		}
	}
	sort.Slice(c.XTicks, func(i, j int) bool { return c.XTicks[i].Pos < c.XTicks[j].Pos })
	for v := 0.0; v <= top*1.0001; v += step {
		c.YTicks = append(c.YTicks, tick{math.Round(yOf(v)*10) / 10, unit(v)})
	}
	for i, name := range names {
		ps := append([]point(nil), data[name]...)
		sort.Slice(ps, func(a, b int) bool { return ps[a].frames < ps[b].frames })
		s := series{Name: name, Color: palette[i%len(palette)], LegendY: c.Top + 18*float64(i)}
		for j, p := range ps {
			x, y := xOf(p.frames), yOf(p.v)
			if j > 0 {
				s.Points += " "
			}
			s.Points += fmt.Sprintf("%.1f,%.1f", x, y)
			s.Dots = append(s.Dots, dot{math.Round(x*10) / 10, math.Round(y*10) / 10, p.title})
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// WriteHTML writes a self-contained HTML page (inline SVG, no scripts or
// external resources) with the estimated total time and the peak memory of
// the completed runs against frames, one line per size and budget (and
// expert type, in a merged report whose runs have their own models), under
// the machine (buildLine) and the lines and above the tables that
// WriteTable prints.
func (r *Report) WriteHTML(w io.Writer) error {
	var names []string
	times, mems := map[string][]point{}, map[string][]point{}
	memName := "peak VRAM"
	useRSS := true
	for _, run := range r.Runs {
		if run.Status == StatusOK && run.Peak.VRAM > 0 {
			useRSS = false
		}
	}
	if useRSS {
		memName = "peak RSS (no device memory reported)"
	}
	for _, run := range r.Runs {
		if run.Status != StatusOK {
			continue
		}
		name := fmt.Sprintf("%dx%d, VRAM %s", run.Width, run.Height, BudgetLabel(run.VRAMBudget))
		if r.perRunModels() {
			name = orDash(r.ModelsOf(&run).ExpertsLabel()) + ", " + name
		}
		if _, ok := times[name]; !ok {
			names = append(names, name)
		}
		label := name + ", " + plural.Count(run.Frames, "frame")
		times[name] = append(times[name], point{run.Frames, run.Total, fmt.Sprintf("%s: %s s", label, secs(run.Total))})
		m := run.Peak.VRAM
		if useRSS {
			m = run.Peak.RSS
		}
		mems[name] = append(mems[name], point{run.Frames, float64(m) / (1 << 30), fmt.Sprintf("%s: %s", label, gib(m))})
	}
	s := r.Settings
	page := struct {
		Build  string
		Title  string
		Lines  []string
		Charts []chart
		Times  table
		Torch  string
		Memory table
	}{
		Build: buildLine(r.Machine),
		Title: r.titleLine() + "; " + createdLabel(r),
		Lines: r.headerLines(),
		Charts: []chart{
			newChart(r.timeKind()+" time of a whole run ("+strconv.Itoa(s.ScheduleSteps)+" steps)", "seconds", func(v float64) string { return trimFloat(v) }, names, times),
			newChart(memName, "GiB", func(v float64) string { return trimFloat(v) }, names, mems),
		},
		Times:  r.timesTable(),
		Torch:  r.torchLine(),
		Memory: r.memoryTable(),
	}
	if len(names) == 0 {
		// No run completed (the lines say so): empty axes would chart
		// nothing.
		page.Charts = nil
	}
	return htmlPage.Execute(w, page)
}

// timeKind says how the chart's times were had: "Measured" when the
// completed runs, one at least, all measured their whole schedule (nothing
// extrapolated), else "Estimated".
func (r *Report) timeKind() string {
	whole := false
	for _, run := range r.Runs {
		if run.Status == StatusOK {
			if !run.Whole {
				return "Estimated"
			}
			whole = true
		}
	}
	if whole {
		return "Measured"
	}
	return "Estimated"
}

// buildLine is the chart's line about the machine and the binary: the
// backend, the CPU with its cores, the RAM, the GPUs with their driver and
// CUDA version, the Go version and the commit, each only when known ("" when
// none is).
func buildLine(m Machine) string {
	var parts []string
	for _, p := range []string{m.Backend, m.CPU} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if m.Cores > 0 {
		cores := fmt.Sprintf("%d cores", m.Cores)
		if m.CPU != "" {
			parts[len(parts)-1] += " (" + cores + ")"
		} else {
			parts = append(parts, cores)
		}
	}
	if m.RAM > 0 {
		parts = append(parts, trimFloat(float64(m.RAM)/(1<<30))+" GiB RAM")
	}
	for _, g := range m.GPUs {
		parts = append(parts, gpuLabel(g))
	}
	if m.Go != "" {
		parts = append(parts, m.Go)
	}
	if m.Commit != "" {
		c := "commit " + m.Commit
		if m.Modified {
			c += " (modified)"
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, " · ")
}

// gpuLabel names a GPU with its driver and CUDA version:
// "NVIDIA H100 80GB HBM3 (driver 580.1, CUDA 13.0)".
func gpuLabel(g GPU) string {
	return fmt.Sprintf("%s (driver %s, CUDA %s)", g.Name, g.Driver, g.CUDA)
}

var htmlPage = template.Must(template.New("bench").Funcs(template.FuncMap{
	"add": func(a, b float64) float64 { return a + b },
	"sub": func(a, b float64) float64 { return a - b },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>wan22 bench</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
p { margin: 0.3em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
svg text { font-size: 12px; font-family: sans-serif; }
</style>
</head>
<body>
<h1>wan22 bench</h1>
{{if .Build}}<p>{{.Build}}</p>
{{end}}<p>{{.Title}}</p>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .Charts}}{{$c := .}}
<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img">
<title>{{.Title}}</title>
<text x="{{.Left}}" y="18" font-weight="bold">{{.Title}}</text>
<line x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" stroke="#444"/>
<line x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}" stroke="#444"/>
{{range .XTicks}}<line x1="{{.Pos}}" y1="{{$c.Bottom}}" x2="{{.Pos}}" y2="{{add $c.Bottom 5}}" stroke="#444"/>
<text x="{{.Pos}}" y="{{add $c.Bottom 20}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .YTicks}}<line x1="{{$c.Left}}" y1="{{.Pos}}" x2="{{$c.Right}}" y2="{{.Pos}}" stroke="#eee"/>
<text x="{{sub $c.Left 8}}" y="{{add .Pos 4}}" text-anchor="end">{{.Label}}</text>
{{end}}<text x="{{.MidX}}" y="{{add $c.Bottom 42}}" text-anchor="middle">frames</text>
<text x="16" y="{{.MidY}}" text-anchor="middle" transform="rotate(-90 16 {{.MidY}})">{{.YLabel}}</text>
{{range .Series}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" points="{{.Points}}"/>
{{$s := .}}{{range .Dots}}<circle cx="{{.X}}" cy="{{.Y}}" r="4" fill="{{$s.Color}}"><title>{{.Title}}</title></circle>
{{end}}<rect x="{{$c.LegendX}}" y="{{sub .LegendY 9}}" width="12" height="12" fill="{{.Color}}"/>
<text x="{{add $c.LegendX 16}}" y="{{.LegendY}}">{{.Name}}</text>
{{end}}</svg>
{{end}}
<h2>Runs</h2>
{{template "table" .Times}}{{if .Torch}}<p>{{.Torch}}</p>
{{end}}
{{if .Memory.Rows}}<h2>Memory and block swaps</h2>
{{template "table" .Memory}}{{end}}</body>
</html>
{{define "table"}}{{$t := .}}<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .Cells}}<td>{{.}}</td>{{end}}{{if .Status}}<td colspan="{{$t.Span}}">{{.Status}}</td>{{end}}</tr>
{{end}}</table>
{{end}}`))
