// Package fserr shapes the file system's errors for messages.
package fserr

import (
	"errors"
	"io/fs"
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
