package imageprep

// Reading the EXIF orientation of a PNG, JPEG or WebP file, with nothing but
// what is needed for it:
//
//	JPEG  segments FF xx LEN(2, big-endian, counting itself) from after SOI
//	      (FF D8) up to SOS (FF DA): the first APP1 (FF E1) whose data starts
//	      "Exif\0\0" holds the EXIF, a TIFF structure.
//	PNG   chunks LEN(4, big-endian) TYPE(4) DATA CRC(4) after the 8-byte
//	      signature, up to IEND: the first eXIf chunk's data is the TIFF
//	      structure (before or after IDAT, as Pillow reads it).
//	WebP  "RIFF" SIZE(4, little-endian) "WEBP", then chunks FOURCC(4)
//	      SIZE(4, little-endian) DATA, padded to even: the first "EXIF"
//	      chunk's data is the TIFF structure.
//	TIFF  "II*\0" (little-endian) or "MM\0*" (big-endian), IFD0's offset(4);
//	      at IFD0 an entry count(2) and 12-byte entries TAG(2) TYPE(2)
//	      COUNT(4) VALUE(4): Orientation is tag 0x0112, one SHORT (type 3)
//	      in the first two bytes of VALUE (one LONG, type 4, is taken too).
//
// Some writers put "Exif\0\0" before the TIFF structure of PNG and WebP too;
// it is skipped. Anything malformed, truncated or out of range reads as
// OrientNone: the orientation is a hint, never a reason to refuse an image.

import (
	"bytes"
	"encoding/binary"
	"io"
)

// exifPrefix starts a JPEG's EXIF APP1 segment (and some PNG and WebP EXIF).
const exifPrefix = "Exif\x00\x00"

// maxEXIF is the most EXIF bytes read from a PNG or WebP chunk (a JPEG
// segment holds at most 65533). IFD0 comes first in every writer's layout;
// an orientation beyond this reads as none.
const maxEXIF = 1 << 20

// maxChunks bounds the segments or chunks walked to find the EXIF, so that
// a file of millions of empty chunks costs no more than a few milliseconds.
const maxChunks = 1 << 16

// OrientationOf returns the EXIF orientation of the PNG, JPEG or WebP file
// of size bytes read through r, recognised from its first bytes; OrientNone
// when the file has no orientation, is of another format, or its EXIF is
// malformed or truncated. It reads only the few bytes it needs (the
// segment or chunk headers and the EXIF itself) and never fails.
func OrientationOf(r io.ReaderAt, size int64) Orientation {
	var head [12]byte
	n, _ := r.ReadAt(head[:], 0)
	switch h := head[:n]; {
	case bytes.HasPrefix(h, []byte{0xff, 0xd8}):
		return exifOrientation(jpegEXIF(r, size))
	case bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")):
		return exifOrientation(pngEXIF(r, size))
	case len(h) == 12 && string(h[:4]) == "RIFF" && string(h[8:]) == "WEBP":
		return exifOrientation(webpEXIF(r, size, int64(binary.LittleEndian.Uint32(h[4:]))))
	}
	return OrientNone
}

// readAt returns the n bytes at off of r, or nil when they are not all
// there.
func readAt(r io.ReaderAt, off, n, size int64) []byte {
	if off < 0 || n < 0 || off > size || n > size-off {
		return nil
	}
	b := make([]byte, n)
	if m, _ := r.ReadAt(b, off); int64(m) != n {
		return nil
	}
	return b
}

// jpegEXIF returns the TIFF structure of the first EXIF APP1 segment of a
// JPEG file, or nil.
func jpegEXIF(r io.ReaderAt, size int64) []byte {
	pos := int64(2) // after SOI
	for range maxChunks {
		h := readAt(r, pos, 2, size)
		if h == nil || h[0] != 0xff {
			return nil
		}
		switch m := h[1]; {
		case m == 0xff: // a fill byte before the marker
			pos++
			continue
		case m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7): // markers without a length
			pos += 2
			continue
		case m == 0xda || m == 0xd9: // SOS, EOI: no EXIF before the image data
			return nil
		}
		l := readAt(r, pos+2, 2, size)
		if l == nil {
			return nil
		}
		n := int64(binary.BigEndian.Uint16(l))
		if n < 2 {
			return nil
		}
		if h[1] == 0xe1 && n >= 2+int64(len(exifPrefix)) {
			if seg := readAt(r, pos+4, n-2, size); seg != nil && string(seg[:len(exifPrefix)]) == exifPrefix {
				return seg[len(exifPrefix):]
			}
		}
		pos += 2 + n
	}
	return nil
}

// pngEXIF returns the data of the first eXIf chunk of a PNG file (at most
// maxEXIF bytes of it), or nil, also when the chunk is cut off.
func pngEXIF(r io.ReaderAt, size int64) []byte {
	pos := int64(8) // after the signature
	for range maxChunks {
		h := readAt(r, pos, 8, size)
		if h == nil {
			return nil
		}
		n := int64(binary.BigEndian.Uint32(h))
		switch string(h[4:]) {
		case "eXIf":
			if n > size-pos-8 { // cut off by the end of the file
				return nil
			}
			return readAt(r, pos+8, min(n, maxEXIF), size)
		case "IEND":
			return nil
		}
		pos += 12 + n
	}
	return nil
}

// webpEXIF returns the data of the first EXIF chunk of a WebP file whose
// RIFF header gives riffSize (at most maxEXIF bytes of it), or nil, also
// when the chunk is cut off.
func webpEXIF(r io.ReaderAt, size, riffSize int64) []byte {
	end := min(size, 8+riffSize)
	pos := int64(12) // after "RIFF" SIZE "WEBP"
	for range maxChunks {
		h := readAt(r, pos, 8, end)
		if h == nil {
			return nil
		}
		n := int64(binary.LittleEndian.Uint32(h[4:]))
		if string(h[:4]) == "EXIF" {
			if n > end-pos-8 { // cut off by the end of the file or the RIFF
				return nil
			}
			return readAt(r, pos+8, min(n, maxEXIF), end)
		}
		pos += 8 + n + n&1
	}
	return nil
}

// exifOrientation returns the orientation in IFD0 of the TIFF structure b
// (an "Exif\0\0" before it is skipped), or OrientNone when there is none
// or b is malformed: a bad byte-order mark, IFD0 outside b, an Orientation
// entry of another type or count, or a value outside 1…8. Entries cut off
// by the end of b are not read.
func exifOrientation(b []byte) Orientation {
	b = bytes.TrimPrefix(b, []byte(exifPrefix))
	if len(b) < 8 {
		return OrientNone
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return OrientNone
	}
	off := uint64(bo.Uint32(b[4:]))
	if off < 8 || off+2 > uint64(len(b)) {
		return OrientNone
	}
	count := int(bo.Uint16(b[off:]))
	entries := b[off+2:]
	for i := 0; i < count && 12*i+12 <= len(entries); i++ {
		e := entries[12*i : 12*i+12]
		if bo.Uint16(e) != 0x0112 {
			continue
		}
		var v uint32
		switch typ, n := bo.Uint16(e[2:]), bo.Uint32(e[4:]); {
		case typ == 3 && n == 1: // SHORT
			v = uint32(bo.Uint16(e[8:]))
		case typ == 4 && n == 1: // LONG
			v = bo.Uint32(e[8:])
		default:
			return OrientNone
		}
		if o := Orientation(v); v <= 8 && o.Valid() {
			return o
		}
		return OrientNone
	}
	return OrientNone
}
