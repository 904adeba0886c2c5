package imageprep

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"

	"github.com/wan22/wan22/internal/atomicfile"
)

// latentRGB maps the 16 channels of a normalised WAN 2.1 VAE latent to RGB:
// rgb = Σ_c latent[c]·latentRGB[c] + latentRGBBias, roughly in [−1, 1].
// These are the published per-channel preview factors of ComfyUI's Wan21
// latent format (comfy/latent_formats.py, latent_rgb_factors and
// latent_rgb_factors_bias), a linear fit of the decoder's response; they apply
// to the latent as the sampler sees it ((mu − mean)/std).
var latentRGB = [16][3]float32{
	{-0.1299, -0.1692, 0.2932},
	{0.0671, 0.0406, 0.0442},
	{0.3568, 0.2548, 0.1747},
	{0.0372, 0.2344, 0.1420},
	{0.0313, 0.0189, -0.0328},
	{0.0296, -0.0956, -0.0665},
	{-0.3477, -0.4059, -0.2925},
	{0.0166, 0.1902, 0.1975},
	{-0.0412, 0.0267, -0.1364},
	{-0.1293, 0.0740, 0.1636},
	{0.0680, 0.3019, 0.1128},
	{0.0032, 0.0581, 0.0639},
	{-0.1251, 0.0927, 0.1699},
	{0.0060, -0.0633, 0.0005},
	{0.3477, 0.2275, 0.2950},
	{0.1984, 0.0913, 0.1861},
}

var latentRGBBias = [3]float32{-0.1835, -0.0868, -0.3360}

// LatentChannels is the channel count LatentPreview expects (the WAN 2.1 VAE's z_dim).
const LatentChannels = 16

// LatentPreview renders latent frame `frame` of a normalised latent
// [16, T, h, w] as an opaque 8w×8h image (the video's size): a linear
// latent→RGB map (latentRGB), mapped from [−1, 1] to [0, 255] with clamping
// and truncation, then upscaled ×8 by nearest neighbour. It is a rough
// preview for spotting a bad run early, not a decode.
func LatentPreview(latent []float32, T, h, w, frame int) (*image.RGBA, error) {
	if T <= 0 || h <= 0 || w <= 0 || 8*h > MaxSide || 8*w > MaxSide {
		return nil, fmt.Errorf("imageprep: LatentPreview: latent shape [16, %d, %d, %d] is out of range", T, h, w)
	}
	if len(latent) != LatentChannels*T*h*w {
		return nil, fmt.Errorf("imageprep: LatentPreview: %d values for a latent [16, %d, %d, %d] (want %d)", len(latent), T, h, w, LatentChannels*T*h*w)
	}
	if frame < 0 || frame >= T {
		return nil, fmt.Errorf("imageprep: LatentPreview: frame %d of %d latent frames", frame, T)
	}
	plane := h * w
	img := image.NewRGBA(image.Rect(0, 0, 8*w, 8*h))
	for y := range h {
		for x := range w {
			var px [4]uint8
			px[3] = 255
			for k := range 3 {
				v := latentRGBBias[k]
				for c := range LatentChannels {
					v += latent[(c*T+frame)*plane+y*w+x] * latentRGB[c][k]
				}
				v = (v + 1) / 2
				if v != v { // NaN (a diverged run) shows as black
					v = 0
				}
				v = min(max(v, 0), 1)
				px[k] = uint8(v * 255)
			}
			for dy := range 8 {
				row := img.Pix[img.PixOffset(8*x, 8*y+dy):]
				for dx := range 8 {
					copy(row[4*dx:4*dx+4], px[:])
				}
			}
		}
	}
	return img, nil
}

// WritePNGAtomic writes img as a PNG at path through a temporary file in the
// same directory (hidden, named after the target and the process id; see
// internal/atomicfile) renamed onto path, so a reader never sees a
// half-written file and a failure leaves nothing but the previous file. The
// file has mode 0666 less the umask. An existing file at path is replaced.
// It is meant for a preview, written again soon: a rename another program
// refuses (Windows) is tried once more a moment later, not for seconds, and
// then the new file is removed and the rename's error returned (never a
// *video.KeptError-like kept file: nothing is left beside path).
func WritePNGAtomic(path string, img image.Image) (err error) {
	if path == "" {
		return errors.New("imageprep: WritePNGAtomic: empty path")
	}
	if img == nil {
		return errors.New("imageprep: WritePNGAtomic: no image")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("preview %s: is a directory; give a file name", path)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("preview %s: cannot write in its directory: %w", path, err)
	}
	defer f.Abort()
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, img); err != nil {
		return fmt.Errorf("preview %s: %w", path, err)
	}
	if err := f.CommitOrDiscard(); err != nil {
		return fmt.Errorf("preview %s: %w", path, err)
	}
	return nil
}
