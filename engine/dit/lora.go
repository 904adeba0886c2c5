package dit

import (
	"github.com/wan22/wan22/engine"
)

// loraPair is the low-rank path of one linear: every LoRA attached to it,
// concatenated into one rank, with each LoRA's scale folded into its columns
// of up. forward adds up·(down·x) to the layer's output.
type loraPair struct {
	down engine.Tensor // [rank, in]: the LoRAs' A matrices stacked along the rank
	up   engine.Tensor // [out, rank]: the B matrices side by side, each times its scale
	rank int
}

// addTo adds up·(down·x) to y in place, for x [..., in] and y [..., out]. On
// a failing op y is freed, as if the Linear that made it had failed.
func (p *loraPair) addTo(b engine.Backend, x, y engine.Tensor) {
	ok := false
	defer func() {
		if !ok {
			b.Free(y)
		}
	}()
	h := b.Linear(x, p.down, nil)
	d := consume(b, h, func(h engine.Tensor) engine.Tensor { return b.Linear(h, p.up, nil) })
	addGated(b, y, d, nil)
	ok = true
}
