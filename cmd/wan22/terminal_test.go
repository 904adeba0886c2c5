package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// screen is what a terminal without escape sequences shows for out: "\r"
// returns to the start of the line, "\n" starts a new one, and any other
// character overwrites the one under the cursor. An escape sequence would
// show as its characters.
func screen(out string) []string {
	lines := [][]rune{nil}
	col := 0
	for _, r := range out {
		cur := &lines[len(lines)-1]
		switch r {
		case '\r':
			col = 0
		case '\n':
			lines = append(lines, nil)
			col = 0
		default:
			if col < len(*cur) {
				(*cur)[col] = r
			} else {
				*cur = append(*cur, r)
			}
			col++
		}
	}
	text := make([]string, len(lines))
	for i, l := range lines {
		text[i] = strings.TrimRight(string(l), " ")
	}
	return text
}

// TestBarLine: with escapes, each line erases the rest of the one before;
// without, a shorter line is padded with spaces to the length of the line
// before (counted in characters, not bytes), and a line after a newline
// is not.
func TestBarLine(t *testing.T) {
	b := barLine{vt: true}
	require.Equal(t, "\r\033[Khigh-noise 1/40", b.draw("high-noise 1/40"))
	require.Equal(t, "\r\033[Kx", b.draw("x"))

	b = barLine{}
	require.Equal(t, "\rhigh-noise 10/40  ETA 1m0s", b.draw("high-noise 10/40  ETA 1m0s"))
	require.Equal(t, "\rhigh-noise 11/40  ETA 59s ", b.draw("high-noise 11/40  ETA 59s"))
	require.Equal(t, "\rhigh-noise 12/40  ETA 58s", b.draw("high-noise 12/40  ETA 58s"))
	require.Equal(t, "\rétape 1/2"+strings.Repeat(" ", 16), b.draw("étape 1/2"))
	require.Equal(t, "\rétape 1/"+" ", b.draw("étape 1/"))
	b.reset()
	require.Equal(t, "\rab", b.draw("ab"))

	// A line as wide as the terminal or wider is cut to one column less; an unknown width (0) cuts nothing.
	cols := 10
	b = barLine{vt: true, width: func() int { return cols }}
	require.Equal(t, "\r\033[Khigh-nois", b.draw("high-noise 1/40"))
	require.Equal(t, "\r\033[Kétape 1/2", b.draw("étape 1/2"))
	require.Equal(t, "\r\033[Kétape 1/2", b.draw("étape 1/20"))
	cols = 0
	require.Equal(t, "\r\033[Khigh-noise 1/40", b.draw("high-noise 1/40"))
	b = barLine{width: func() int { return 8 }}
	require.Equal(t, "\rhigh-no", b.draw("high-noise 1/40"))
	require.Equal(t, "\rab"+strings.Repeat(" ", 5), b.draw("ab"))
}

// TestReporterBarWithoutEscapes: the bar of a reporter on a console
// without escape sequences (the classic Windows console when its virtual
// terminal processing cannot be turned on) writes no escape, and what the
// console shows is each stage's last line, whole, with nothing of a
// longer earlier line left at its end.
func TestReporterBarWithoutEscapes(t *testing.T) {
	var stderr bytes.Buffer
	r := newReporter(&bytes.Buffer{}, &stderr, false)
	r.tty = true // as newReporter sets for a terminal, vtTerminal false
	ev := func(stage wan22.Stage, step, steps int, per, eta time.Duration) wan22.Event {
		return wan22.Event{Stage: stage, Step: step, Steps: steps, PerStep: per, ETA: eta, Elapsed: time.Duration(step) * time.Second}
	}
	r.event(ev(wan22.HighNoise, 1, 12, 95*time.Second, 1045*time.Second))
	r.event(ev(wan22.HighNoise, 2, 12, 2*time.Second, 20*time.Second))
	r.event(ev(wan22.LowNoise, 3, 12, 95*time.Second, 855*time.Second))
	r.event(ev(wan22.LowNoise, 4, 12, 0, 0))
	r.endBar()
	require.NotContains(t, stderr.String(), "\033")
	require.Equal(t, []string{
		"high-noise 2/12  2.00 s/it  ETA 20s  elapsed 2s",
		"low-noise 4/12  elapsed 4s",
		"",
	}, screen(stderr.String()))

	// With escapes the same events erase instead of padding.
	stderr.Reset()
	r = newReporter(&bytes.Buffer{}, &stderr, false)
	r.tty, r.line.vt = true, true
	r.event(ev(wan22.HighNoise, 1, 12, 95*time.Second, 1045*time.Second))
	r.event(ev(wan22.HighNoise, 2, 12, 2*time.Second, 20*time.Second))
	require.Equal(t, "\r\033[Khigh-noise 1/12  95.00 s/it  ETA 17m25s  elapsed 1s\r\033[Khigh-noise 2/12  2.00 s/it  ETA 20s  elapsed 2s", stderr.String())
}
