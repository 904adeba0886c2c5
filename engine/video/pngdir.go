package video

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// pngDir writes frame_0000.png, frame_0001.png, … into dir (the temporary
// directory that Close renames onto the target).
type pngDir struct {
	dir string
	n   int
	enc png.Encoder
}

func (p *pngDir) writeFrame(img *image.RGBA) error {
	if p.n == 0 {
		p.enc.CompressionLevel = png.BestSpeed
	}
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("frame_%04d.png", p.n)))
	if err != nil {
		return err
	}
	if err := p.enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	p.n++
	return nil
}

func (p *pngDir) finish() error { return nil }
func (p *pngDir) abort()        {}
