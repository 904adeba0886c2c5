// Package fserr shapes the file system's errors for messages.
package fserr

import (
	"errors"
	"io/fs"

	"github.com/wan22/wan22/internal/safetext"
)

// WithoutPath is err's reason without the path that an *fs.PathError in it
// names ("read-only file system" of "mkdir /x: read-only file system"), for
// a message that names the file its own way or should not name it (a
// temporary file); any other err comes back as it is.
func WithoutPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// Named is err, an error about the file at path, said "PATH: CAUSE" as
// engine/modelfile says its errors: the path once, as safetext.Path prints
// it (Go-quoted when it holds a control or deceiving character), and the
// cause without the operation and path of an *fs.PathError about that path
// ("open PATH: permission denied" becomes "PATH: permission denied"). It
// matches err (errors.Is, errors.As); nil stays nil.
func Named(path string, err error) error {
	if err == nil {
		return nil
	}
	cause := err.Error()
	if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Path == path {
		cause = pe.Err.Error()
	}
	return &namedError{safetext.Path(path) + ": " + cause, err}
}

// namedError is Named's error: msg, matching err.
type namedError struct {
	msg string
	err error
}

func (e *namedError) Error() string { return e.msg }
func (e *namedError) Unwrap() error { return e.err }
