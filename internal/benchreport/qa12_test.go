package benchreport

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"strings"
	"testing"
	"time"
)

// htmlRows returns the text of every row of the page's tables (th and td
// cells joined by single spaces) and of its paragraphs, in order.
func htmlRows(t *testing.T, doc string) (rows, paras []string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var cells []string
	var text strings.Builder
	inCell, inPara := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return rows, paras
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "tr":
				cells = nil
			case "td", "th":
				inCell = true
				text.Reset()
			case "p":
				inPara = true
				text.Reset()
			}
		case xml.CharData:
			if inCell || inPara {
				text.Write(tok)
			}
		case xml.EndElement:
			switch tok.Name.Local {
			case "td", "th":
				inCell = false
				cells = append(cells, text.String())
			case "tr":
				rows = append(rows, strings.Join(cells, " "))
			case "p":
				inPara = false
				paras = append(paras, text.String())
			}
		}
	}
}

// TestHTMLHasTheTable: the HTML page says all that the terminal's table
// says: every line above the tables (the timesteps, the expert switch, the
// LoRAs, what the columns hold: "times in seconds"), and every row of both
// tables with the same cells (the measured time, the pinned peak, the block
// plan and swaps, the PyTorch columns, a run that did not fit), and its
// machine line names the cores, the RAM and the GPU's driver and CUDA
// version. The page showed the schedule line alone and a table without
// those columns, so an HTML report of a 4-step run with LoRAs did not say
// that it had LoRAs, nor in what unit its times were.
func TestHTMLHasTheTable(t *testing.T) {
	r := fewStep()
	r.Torch = &Torch{Schema: TorchSchema, GPU: "Test GPU", Torch: "2.11", Blocks: 40, ScheduleSteps: 40,
		Entries: []TorchEntry{{Width: 832, Height: 480, Frames: 81, Tokens: 32760, Mode: "eager", CFG: true, BlockMS: 150, Step: 6, Schedule: 240}}}
	var text, page bytes.Buffer
	if err := r.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	rows, paras := htmlRows(t, page.String())
	doc := html.UnescapeString(page.String())

	head, tables, _ := strings.Cut(text.String(), "\n\n")
	lines := strings.Split(head, "\n")
	if !strings.HasPrefix(paras[1], lines[0]+"; 2026-12-06 10:00 UTC") {
		t.Errorf("the page's title %q, want the table's first line %q with the date", paras[1], lines[0])
	}
	for _, l := range lines[1:] {
		if !strings.Contains(doc, "<p>"+l+"</p>") {
			t.Errorf("the page lacks the table's line %q", l)
		}
	}
	var want []string
	torch := ""
	for _, l := range strings.Split(tables, "\n") {
		if strings.HasPrefix(l, "torch: ") {
			torch = l
		} else if f := strings.Fields(l); len(f) > 0 {
			want = append(want, strings.Join(f, " "))
		}
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("the page's tables:\n%s\nwant the terminal's:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if torch == "" || !strings.Contains(doc, "<p>"+torch+"</p>") {
		t.Errorf("the page lacks the PyTorch line %q", torch)
	}
	if want := "cuda:0 Test GPU · Test CPU (16 cores) · 128 GiB RAM · Test GPU (driver 580.1, CUDA 13.0)"; paras[0] != want {
		t.Errorf("the page's machine line %q, want %q", paras[0], want)
	}
}

// TestLoRAMergeShown: a report of --lora-merge says so in its table and
// on its page, and --compare against a report of the same LoRAs applied at
// run time notes the difference. The table and the page of the two were the
// same, while a merged LoRA's step costs what a step without it costs, and
// --compare gave their ratios without a word.
func TestLoRAMergeShown(t *testing.T) {
	merged := fewStep()
	merged.Settings.LoRAMerge = true
	const line = "LoRAs merged at load (--lora-merge): into F16/BF16/F32 weights; quantized weights and blocks swapped to host memory keep them at run time"
	var text, page bytes.Buffer
	if err := merged.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if err := merged.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "\n"+line+"\n") {
		t.Errorf("the table lacks %q:\n%s", line, text.String())
	}
	if !strings.Contains(html.UnescapeString(page.String()), "<p>"+line+"</p>") {
		t.Errorf("the page lacks %q", line)
	}
	text.Reset()
	if err := fewStep().WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "merged") {
		t.Errorf("the table of LoRAs applied at run time says merged:\n%s", text.String())
	}

	for _, c := range []struct {
		old, cur *Report
		want     string
	}{
		{fewStep(), merged, "note: the old report ran a 4-step distill schedule switching after step 1, CFG 1/1, 2 LoRAs at run time, this one a 4-step distill schedule switching after step 1, CFG 1/1, 2 LoRAs merged at load\n"},
		{merged, fewStep(), "note: the old report ran a 4-step distill schedule switching after step 1, CFG 1/1, 2 LoRAs merged at load, this one a 4-step distill schedule switching after step 1, CFG 1/1, 2 LoRAs at run time\n"},
	} {
		var out bytes.Buffer
		if err := WriteCompare(&out, "old.json", c.old, c.cur); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("compare:\n%s\nwant %q", out.String(), c.want)
		}
	}
	var out bytes.Buffer
	if err := WriteCompare(&out, "old.json", merged, merged); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "note:") {
		t.Errorf("compare of one workflow notes a difference:\n%s", out.String())
	}
}

// TestCompareDateHasZone: --compare dates the old report with its time
// zone, UTC as the page dates a report ("2026-12-06 10:00 UTC"); it printed
// "2026-12-06 10:00", the report's UTC time with no zone, which a reader
// elsewhere takes for the local time of the bench.
func TestCompareDateHasZone(t *testing.T) {
	old := sample()
	old.Created = time.Date(2026, 12, 6, 12, 0, 0, 0, time.FixedZone("CET-1", 2*3600)) // a report written with an offset
	for _, c := range []struct {
		old  *Report
		want string
	}{
		{sample(), "compared with old.json (2026-12-06 10:00 UTC, cuda:0 Test GPU)"},
		{old, "compared with old.json (2026-12-06 10:00 UTC, cuda:0 Test GPU)"},
	} {
		var out bytes.Buffer
		if err := WriteCompare(&out, "old.json", c.old, sample()); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), c.want) {
			t.Errorf("compare:\n%s\nwant it to start %q", out.String(), c.want)
		}
	}
}

// TestTimestepsLineSaysShift: the table's timesteps, the schedule's as the
// scheduler gives them, say that the shift is applied: the bench's first
// line names the distill solver's --timesteps (1000,750,500,250) and the
// table then listed other numbers (1000,937.5,833.33,625) under the same
// word.
func TestTimestepsLineSaysShift(t *testing.T) {
	var text, page bytes.Buffer
	r := fewStep()
	if err := r.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	const want = "timesteps 1000,937.5,833.33,625 (shift 5 applied)"
	if !strings.Contains(text.String(), "\n"+want+"\n") {
		t.Errorf("the table lacks %q:\n%s", want, text.String())
	}
	if !strings.Contains(page.String(), "<p>"+want+"</p>") {
		t.Errorf("the page lacks %q", want)
	}
}

// TestTableAlignedAfterStatus: the rows of completed runs that come after a
// run that did not complete (a budget too small for one size, then the
// next size or budget) stay aligned with the header. The tabwriter ended its
// columns at the status line, which has cells only under the run's key
// columns, so the rows after it were laid out on their own, under no header.
func TestTableAlignedAfterStatus(t *testing.T) {
	r := sample()
	// The run that does not fit and the one that failed first, then the
	// completed ones.
	r.Runs = append(r.Runs[4:], r.Runs[:4]...)
	var text bytes.Buffer
	if err := r.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	_, tables, _ := strings.Cut(text.String(), "\n\n")
	times, _, _ := strings.Cut(tables, "\n\n")
	lines := strings.Split(times, "\n")
	header := lines[0]
	// Where each header cell ends (cells are apart by two spaces at least).
	var ends []int
	for i := 1; i <= len(header); i++ {
		if header[i-1] != ' ' && (i == len(header) || strings.HasPrefix(header[i:], "  ")) {
			ends = append(ends, i)
		}
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "does not fit") || strings.Contains(l, "failed") {
			continue
		}
		for _, e := range ends {
			if e > len(l) || l[e-1] == ' ' || e < len(l) && l[e] != ' ' {
				t.Errorf("row not aligned with the header at column %d:\n%s\n%s", e, header, l)
				break
			}
		}
	}
}

// TestChartTitleMeasuredWhole: the time chart of runs that measured their
// whole schedule (a few-step run) calls its times measured, as the table's
// line says ("nothing extrapolated"); it titled them "Estimated time of a
// whole run". A chart with an extrapolated run keeps "Estimated".
func TestChartTitleMeasuredWhole(t *testing.T) {
	for _, c := range []struct {
		r    *Report
		want string
	}{
		{fewStep(), "<title>Measured time of a whole run (4 steps)</title>"},
		{sample(), "<title>Estimated time of a whole run (40 steps)</title>"},
	} {
		var page bytes.Buffer
		if err := c.r.WriteHTML(&page); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page.String(), c.want) {
			t.Errorf("the page lacks %q", c.want)
		}
	}
	mixed := fewStep()
	mixed.Runs[1].Whole = false
	var page bytes.Buffer
	if err := mixed.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<title>Estimated time of a whole run (4 steps)</title>") {
		t.Error("a chart with an extrapolated run is not titled as estimated")
	}
}

// TestChartOneFrame: a point of a 1-frame run is labelled "1 frame", as
// the bench's own lines say, not "1 frames".
func TestChartOneFrame(t *testing.T) {
	r := sample()
	r.Runs[0].Frames = 1
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if doc := page.String(); !strings.Contains(doc, "<title>832x480, VRAM 32 GiB, 1 frame: 350.0 s</title>") || strings.Contains(doc, ", 1 frames") {
		t.Errorf("the 1-frame point's label:\n%s", doc)
	}
}
