package video

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sync"
)

// pngDir writes frame_0000.png, frame_0001.png, … into dir (the temporary
// directory that Close renames onto the target).
type pngDir struct {
	dir string
	n   int
	enc png.Encoder

	mu     sync.Mutex // guards open and closed against closeFrame on another goroutine
	open   *os.File   // the frame being written, nil between frames
	closed bool       // closeFrame ran: no more frames
}

func (p *pngDir) writeFrame(img *image.RGBA) error {
	if p.n == 0 {
		p.enc.CompressionLevel = png.BestSpeed
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("the frames folder is being removed")
	}
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("frame_%04d.png", p.n)))
	p.open = f
	p.mu.Unlock()
	if err != nil {
		return err
	}
	err = p.enc.Encode(f, img)
	p.mu.Lock()
	p.open = nil
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.n++
	return nil
}

// closeFrame is the folder's closer (atomicfile.RegisterCloser): it closes
// the frame being written, if any, and stops further frames, so that
// nothing in the folder is open when it is removed (Windows cannot remove
// a folder with an open file in it). It may run on another goroutine while
// the writer encodes a frame, which then fails.
func (p *pngDir) closeFrame() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.open != nil {
		return p.open.Close()
	}
	return nil
}

func (p *pngDir) finish() error { return nil }
func (p *pngDir) abort()        { p.closeFrame() }
