package video

import (
	"fmt"
	"image"
	"math"

	"github.com/wan22/wan22/internal/plural"
)

// NonFiniteError is a frame value that is NaN or ±Inf: what made the frames
// (the VAE decoder) is broken, and FrameRGBA refuses to write it as a black
// or white pixel.
type NonFiniteError struct {
	Frame   int // the frame, as FrameRGBA's i counts it
	Channel int // 0, 1, 2: red, green, blue
	X, Y    int // the pixel
	Value   float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("video: frame %d holds a non-finite value, %v, in channel %d at x=%d, y=%d",
		e.Frame, e.Value, e.Channel, e.X, e.Y)
}

// FrameRGBA converts frame i of a channel-major video chunk [3, n, h, w] in
// [−1, 1] (what the VAE decoder emits) into an opaque h×w *image.RGBA, like the
// official save_video: clamp to [−1, 1], (x+1)/2, ×255, truncate (float32).
// For a single frame [3, h, w] pass n = 1, i = 0. dst is reused when it has
// the right size (pass nil to allocate). A NaN or ±Inf value is a
// *NonFiniteError (a broken decoder, which save_video would write as black
// or white pixels).
func FrameRGBA(dst *image.RGBA, video []float32, n, i, h, w int) (*image.RGBA, error) {
	if n <= 0 || h <= 0 || w <= 0 || i < 0 || i >= n {
		return nil, fmt.Errorf("video: FrameRGBA: frame %d of [3, %d, %d, %d]", i, n, h, w)
	}
	if !productFits(4, h, w) || !productFits(3, n, h*w) {
		return nil, fmt.Errorf("video: FrameRGBA: %s of %d×%d (width×height) hold more values than an int can count: check the sides", plural.Count(n, "frame"), w, h)
	}
	if len(video) != 3*n*h*w {
		return nil, fmt.Errorf("video: FrameRGBA: %d values for frames [3, %d, %d, %d] (want %d)", len(video), n, h, w, 3*n*h*w)
	}
	if dst == nil || dst.Rect != image.Rect(0, 0, w, h) || dst.Stride != 4*w {
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	plane := h * w
	for c := range 3 {
		src := video[(c*n+i)*plane : (c*n+i+1)*plane]
		for p, x := range src {
			if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 { // NaN or ±Inf
				return nil, &NonFiniteError{Frame: i, Channel: c, X: p % w, Y: p / w, Value: x}
			}
			dst.Pix[4*p+c] = toByte(x)
		}
	}
	for p := range plane {
		dst.Pix[4*p+3] = 255
	}
	return dst, nil
}

// productFits reports whether a×b×c of positive a, b and c fits an int.
func productFits(a, b, c int) bool {
	return b <= math.MaxInt/a && c <= math.MaxInt/(a*b)
}

// toByte maps x in [−1, 1] to 0…255 as save_video does; NaN gives 0
// (FrameRGBA refuses NaN before).
func toByte(x float32) uint8 {
	if !(x > -1) { // also NaN
		return 0
	}
	if x > 1 {
		x = 1
	}
	y := (x + 1) / 2
	return uint8(float32(y * 255))
}

// WriteCHW writes the n frames of a channel-major chunk [3, n, h, w] in
// [−1, 1] to wr, in order. It fits the VAE's frame callback:
//
//	emit := func(frames []float32, first int) error {
//		return video.WriteCHW(wr, frames, len(frames)/(3*h*w), h, w)
//	}
func WriteCHW(wr Writer, video []float32, n, h, w int) error {
	var img *image.RGBA
	for i := range n {
		var err error
		if img, err = FrameRGBA(img, video, n, i, h, w); err != nil {
			return err
		}
		if err := wr.WriteFrame(img); err != nil {
			return err
		}
	}
	return nil
}
