package main

import (
	"io"
	"log/slog"
)

// warnLog is the library log (wan22.Options.Log) of the commands that run the
// pipeline: its warnings (experts whose file names say they are swapped, …)
// reach the user on w, one line each without a timestamp; its information
// lines stay quiet, since the commands print their own progress.
func warnLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
