package imageprep

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/engine/pipeline"
)

// SizeError reports an output size or frame count that the pipeline cannot
// use, with the nearest values it can.
type SizeError struct {
	Msg string
}

func (e *SizeError) Error() string { return e.Msg }

// Size returns the official output size (w, h) for an image of imgW×imgH
// pixels and a max area in pixels (1280*720 = 921600 for 720p, 832*480 =
// 399360 for 480p). It reproduces wan/image2video.py in float64:
//
//	ar    = imgH / imgW
//	lat_h = floor(floor(sqrt(maxArea*ar) / 8) / 2) * 2
//	lat_w = floor(floor(sqrt(maxArea/ar) / 8) / 2) * 2
//	h, w  = 8*lat_h, 8*lat_w          (multiples of 16)
//
// The image keeps its aspect ratio only approximately: it is stretched to
// (w, h), never cropped. An error says when the result would be empty.
func Size(imgW, imgH, maxArea int) (w, h int, err error) {
	if imgW <= 0 || imgH <= 0 {
		return 0, 0, &SizeError{fmt.Sprintf("image size %d×%d: both sides must be positive", imgW, imgH)}
	}
	if maxArea <= 0 {
		return 0, 0, &SizeError{fmt.Sprintf("max area %d: must be positive (921600 = 1280×720, 399360 = 832×480)", maxArea)}
	}
	latW, latH := latentSize(imgW, imgH, maxArea)
	small, big := min(latW, latH) < 2, 8*max(latW, latH) > pipeline.MaxSide
	if !small && !big {
		return 8 * latW, 8 * latH, nil
	}
	var msg string
	if small {
		msg = fmt.Sprintf("image %d×%d with max area %d gives an output under 16 pixels a side", imgW, imgH, maxArea)
	} else {
		msg = fmt.Sprintf("max area %d with image %d×%d gives an output above %d pixels a side", maxArea, imgW, imgH, pipeline.MaxSide)
	}
	// The sides grow with the max area: the areas that fit, if any, run
	// from the smallest whose short side is 16 to the largest whose long
	// side is MaxSide.
	lo, hi := smallestArea(imgW, imgH), largestArea(imgW, imgH)
	switch {
	case lo == 0 || hi == 0 || lo > hi:
		msg += fmt.Sprintf(", and no max area gives both sides from 16 to %d for an image this elongated: crop it, or give the output size", pipeline.MaxSide)
	case small:
		msg += fmt.Sprintf("; a max area of %d or more fits, or give the output size", lo)
	default:
		msg += fmt.Sprintf("; a max area of %d or less fits, or give the output size", hi)
	}
	return 0, 0, &SizeError{msg}
}

// latentSize is Size's latent width and height (an eighth of the output's)
// for an image of imgW×imgH and maxArea, without the checks.
func latentSize(imgW, imgH, maxArea int) (latW, latH int) {
	ar := float64(imgH) / float64(imgW)
	latH = int(math.Floor(math.Floor(math.Sqrt(float64(maxArea)*ar)/8)/2) * 2)
	latW = int(math.Floor(math.Floor(math.Sqrt(float64(maxArea)/ar)/8)/2) * 2)
	return latW, latH
}

// areaLimit bounds the max areas smallestArea and largestArea search: an
// output of pipeline.MaxSide a side, whatever the image, has less.
const areaLimit = 4 * pipeline.MaxSide * pipeline.MaxSide

// smallestArea is the smallest max area that gives the image imgW×imgH an
// output of at least 16 pixels a side, or 0 when none below areaLimit
// does. The sides grow with the max area, so a binary search finds it.
func smallestArea(imgW, imgH int) int {
	lo, hi := 0, areaLimit // lo does not fit, hi does (checked)
	if latW, latH := latentSize(imgW, imgH, hi); min(latW, latH) < 2 {
		return 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if latW, latH := latentSize(imgW, imgH, mid); min(latW, latH) >= 2 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// largestArea is the largest max area that gives the image imgW×imgH an
// output of at most pipeline.MaxSide a side, or 0 when none from 1 does.
func largestArea(imgW, imgH int) int {
	lo, hi := 0, areaLimit // lo fits (or is 0), hi does not
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if latW, latH := latentSize(imgW, imgH, mid); 8*max(latW, latH) <= pipeline.MaxSide {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// CheckSize checks an explicit output size: both sides multiples of 16 (the
// VAE's 8× and the DiT's 2× patch) from 16 to pipeline.MaxSide. The error names the nearest valid
// values of each wrong side.
func CheckSize(w, h int) error {
	var msg string
	for _, s := range []struct {
		name string
		v    int
	}{{"width", w}, {"height", h}} {
		switch {
		case s.v < 16:
			msg += fmt.Sprintf("; %s %d is below 16", s.name, s.v)
		case s.v > pipeline.MaxSide:
			msg += fmt.Sprintf("; %s %d is above %d", s.name, s.v, pipeline.MaxSide)
		case s.v%16 != 0:
			lo := s.v / 16 * 16
			msg += fmt.Sprintf("; %s %d is not a multiple of 16 (nearest are %d and %d)", s.name, s.v, lo, lo+16)
		}
	}
	if msg == "" {
		return nil
	}
	return &SizeError{fmt.Sprintf("size %d×%d%s", w, h, msg)}
}

// CheckFrames checks a frame count against the 4k+1 rule (1, 5, …, 77, 81,
// …, pipeline.MaxFrames): the VAE packs the first frame alone and then 4
// frames per latent frame.
func CheckFrames(n int) error {
	if n < 1 {
		return &SizeError{fmt.Sprintf("%d frames: the frame count must be 4k+1 and at least 1 (1, 5, 9, …, 81)", n)}
	}
	if n > pipeline.MaxFrames {
		return &SizeError{fmt.Sprintf("%d frames: at most %d frames", n, pipeline.MaxFrames)}
	}
	if n%4 == 1 {
		return nil
	}
	lo := (n-1)/4*4 + 1
	return &SizeError{fmt.Sprintf("%d frames: the frame count must be 4k+1; nearest are %d and %d", n, lo, lo+4)}
}
