package benchreport

import (
	"bytes"
	"encoding/xml"
	"html"
	"io"
	"strings"
	"testing"
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
