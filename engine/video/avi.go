package video

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"os"

	"github.com/wan22/wan22/internal/plural"
)

// MaxAVIBytes is the size limit of the MJPEG AVI writer: AVI 1.0 without the
// OpenDML extension, which players read reliably up to 1 GiB. (An 81-frame
// 1280×720 video at quality 90 is about 10 MiB.)
const MaxAVIBytes = 1 << 30

// AVI 1.0 layout written here (little-endian; sizes exclude the 8-byte chunk
// header; chunks padded to even size):
//
//	  0 RIFF <size> 'AVI '
//	 12   LIST <192> 'hdrl'
//	 24     avih <56>   MainAVIHeader
//	 88     LIST <116> 'strl'
//	100       strh <56> AVIStreamHeader ('vids', 'MJPG')
//	164       strf <40> BITMAPINFOHEADER ('MJPG', 24 bit)
//	212   LIST <size> 'movi'
//	224     '00dc' <size> JPEG  … one chunk per frame
//	      idx1 <16·n>  {'00dc', AVIIF_KEYFRAME, offset from 'movi', size} per frame
//
// The header is written with zero counts at Create and rewritten by finish.
const (
	aviHeaderSize = 224
	aviMoviFourCC = 220 // offset of 'movi', the base of idx1 offsets
)

type aviIndex struct{ offset, size uint32 }

// aviEnc writes an MJPEG AVI into f.
type aviEnc struct {
	f        *os.File
	bw       *bufio.Writer
	w, h     int
	fps      int
	quality  int
	pos      int64 // bytes written so far
	maxChunk uint32
	index    []aviIndex
	jpg      bytes.Buffer
}

func newAVI(f *os.File, w, h, fps, quality int) (*aviEnc, error) {
	a := &aviEnc{f: f, bw: bufio.NewWriterSize(f, 1<<20), w: w, h: h, fps: fps, quality: quality}
	if _, err := a.bw.Write(a.header(0)); err != nil {
		f.Close()
		return nil, err
	}
	a.pos = aviHeaderSize
	return a, nil
}

// header returns the 224 header bytes for a file whose idx1 ends at fileEnd.
func (a *aviEnc) header(fileEnd int64) []byte {
	b := make([]byte, 0, aviHeaderSize)
	le := binary.LittleEndian
	u32 := func(vs ...uint32) {
		for _, v := range vs {
			b = le.AppendUint32(b, v)
		}
	}
	u16 := func(vs ...uint16) {
		for _, v := range vs {
			b = le.AppendUint16(b, v)
		}
	}
	cc := func(s string) { b = append(b, s...) }
	n := uint32(len(a.index))
	moviEnd := aviHeaderSize + int64(0)
	for _, e := range a.index {
		moviEnd = max(moviEnd, aviMoviFourCC+int64(e.offset)+8+int64(e.size+e.size&1))
	}
	riffSize := uint32(0)
	if fileEnd > 0 {
		riffSize = uint32(fileEnd - 8)
	}
	buf := a.maxChunk + 8
	cc("RIFF")
	u32(riffSize)
	cc("AVI ")
	cc("LIST")
	u32(192)
	cc("hdrl")
	cc("avih")
	u32(56)
	u32(uint32(1000000 / a.fps))    // dwMicroSecPerFrame
	u32(a.maxChunk * uint32(a.fps)) // dwMaxBytesPerSec
	u32(0)                          // dwPaddingGranularity
	u32(0x10 | 0x100)               // AVIF_HASINDEX | AVIF_ISINTERLEAVED
	u32(n)                          // dwTotalFrames
	u32(0)                          // dwInitialFrames
	u32(1)                          // dwStreams
	u32(buf)                        // dwSuggestedBufferSize
	u32(uint32(a.w))                // dwWidth
	u32(uint32(a.h))                // dwHeight
	u32(0, 0, 0, 0)                 // dwReserved
	cc("LIST")
	u32(116)
	cc("strl")
	cc("strh")
	u32(56)
	cc("vids")
	cc("MJPG")
	u32(0)                              // dwFlags
	u16(0, 0)                           // wPriority, wLanguage
	u32(0)                              // dwInitialFrames
	u32(1)                              // dwScale
	u32(uint32(a.fps))                  // dwRate: fps = rate/scale
	u32(0)                              // dwStart
	u32(n)                              // dwLength
	u32(buf)                            // dwSuggestedBufferSize
	u32(0xffffffff)                     // dwQuality: default
	u32(0)                              // dwSampleSize: variable
	u16(0, 0, uint16(a.w), uint16(a.h)) // rcFrame
	cc("strf")
	u32(40)
	u32(40)                    // biSize
	u32(uint32(a.w))           // biWidth
	u32(uint32(a.h))           // biHeight
	u16(1, 24)                 // biPlanes, biBitCount
	cc("MJPG")                 // biCompression
	u32(uint32(a.w * a.h * 3)) // biSizeImage
	u32(0, 0, 0, 0)            // pels per metre x and y, colours used and important
	cc("LIST")
	u32(uint32(moviEnd - aviMoviFourCC))
	cc("movi")
	return b
}

func (a *aviEnc) writeFrame(img *image.RGBA) error {
	a.jpg.Reset()
	if err := jpeg.Encode(&a.jpg, img, &jpeg.Options{Quality: a.quality}); err != nil {
		return err
	}
	size := a.jpg.Len()
	padded := int64(size + size&1)
	// This chunk, its index entry, the idx1 header.
	end := a.pos + 8 + padded + 16*int64(len(a.index)+1) + 8
	if end > MaxAVIBytes {
		return fmt.Errorf("the MJPEG AVI would pass %d MiB after %s (its limit without OpenDML); install ffmpeg for MP4, or write PNG frames", MaxAVIBytes>>20, plural.Count(len(a.index), "frame"))
	}
	var hdr [8]byte
	copy(hdr[:], "00dc")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(size))
	if _, err := a.bw.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := a.bw.Write(a.jpg.Bytes()); err != nil {
		return err
	}
	if size&1 == 1 {
		if err := a.bw.WriteByte(0); err != nil {
			return err
		}
	}
	a.index = append(a.index, aviIndex{offset: uint32(a.pos - aviMoviFourCC), size: uint32(size)})
	a.pos += 8 + padded
	a.maxChunk = max(a.maxChunk, uint32(size))
	return nil
}

func (a *aviEnc) finish() error {
	le := binary.LittleEndian
	var b []byte
	b = append(b, "idx1"...)
	b = le.AppendUint32(b, uint32(16*len(a.index)))
	for _, e := range a.index {
		b = append(b, "00dc"...)
		b = le.AppendUint32(b, 0x10) // AVIIF_KEYFRAME
		b = le.AppendUint32(b, e.offset)
		b = le.AppendUint32(b, e.size)
	}
	a.bw.Write(b)
	if err := a.bw.Flush(); err != nil {
		a.f.Close()
		return err
	}
	end := a.pos + int64(len(b))
	if _, err := a.f.WriteAt(a.header(end), 0); err != nil {
		a.f.Close()
		return err
	}
	return a.f.Close()
}

func (a *aviEnc) abort() { a.f.Close() }
