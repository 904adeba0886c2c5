package cuda

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/wan22/wan22/engine"
)

// Config selects the device and its limits. The zero Config is usable.
type Config struct {
	// Ordinal is the CUDA device number.
	Ordinal int
	// MemCap caps the device-memory budget (bytes); 0 means no cap beyond free − Reserve.
	MemCap int64
	// Reserve is device memory left outside the budget for the driver, JIT and libraries; 0 means 512 MiB.
	Reserve int64
	// PinnedCap is the pinned host-memory budget; 0 means half of physical memory, < 0 disables pinning
	// (every AllocHost is pageable, every AllocPinned fails).
	PinnedCap int64
	// Sync synchronizes the stream and checks for errors after every kernel launch, naming the kernel
	// (debug). The environment variable WAN22_CUDA_SYNC=1 sets it too.
	Sync bool
	// CublasLt is where to load cuBLASLt from: "" tries $WAN22_CUBLASLT, then libcublasLt.so.13, .12, .11
	// and PyTorch's copies; "off" disables cuBLASLt (the own GEMM kernel is used); anything else is the path
	// of the library.
	CublasLt string
	// LtCandidates is how many of cuBLASLt's heuristic candidates a large GEMM's plan times before it keeps
	// the fastest (cublaslt.go): 0 means 8; at most 32. WAN22_CUBLASLT_CANDIDATES sets it when it is 0.
	LtCandidates int
	// SeparateGELU runs a GEMM's GELU as a pass over its output after cuBLASLt's BIAS epilogue instead of in
	// the GELU_BIAS epilogue, the way PyTorch's compiled block runs ffn.0. Off by default: on the H100 it is
	// slower (ffn.0 at L = 32760: 7.98 against 6.75–6.89 ms fused; the block 1.014× compiled PyTorch against
	// 0.994×; docs/BENCHMARKS.md, tenth session). Kept to compare the two where cuBLASLt's kernels differ
	// (another GPU or library version). WAN22_CUBLASLT_GELU=separate sets it.
	SeparateGELU bool
	// PortableAttention runs the DiT's flash attention on the portable compute_80 kernels everywhere,
	// never the Hopper (sm90a) ones, which a device of compute capability 9.0 takes by default (to compare
	// the two, or to step around a driver that cannot load the sm90a module). WAN22_ATTN=portable sets it.
	PortableAttention bool
	// Attention is the arithmetic of head-dim-128 attention (Backend.SetAttentionPrecision changes it later):
	// "" or engine.AttentionBF16 (the default), engine.AttentionINT8 or engine.AttentionFP8 (8-bit,
	// kernels/attention8.cu; see backend_attention8.go). WAN22_ATTN=int8 or fp8 sets it when it is "". The
	// 8-bit modes run key sequences of at most 2048 keys (the cross-attention) on the bf16 kernels;
	// WAN22_ATTN8_SHORT_KEYS moves that bound (0: 8 bits at every length; attention8_keys.go).
	Attention engine.AttentionPrecision
	// FlashKernel names a flash attention entry point (flashTable, kernel_table.go) to try first for both key
	// lengths, its module before the other (on a Hopper GPU a portable entry point is tried before the sm90a
	// module, unless PortableAttention already keeps to the portable one); one the device cannot run is passed
	// over as the table's own are. A development aid to compare entry points in the engine (WAN22_FLASH_KERNEL
	// sets it).
	FlashKernel string
	// Logger receives the package's logs; nil means slog.Default().
	Logger *slog.Logger
}

const defaultReserve = 512 << 20

// The number of cuBLASLt heuristic candidates a large GEMM's plan times (Config.LtCandidates); the most
// must match the shim's array (shim.c wan22_lt_plan).
const (
	defaultLtCandidates = 8
	maxLtCandidates     = 32
)

// withEnv applies defaults and the WAN22_* environment variables.
func (c Config) withEnv() Config {
	if c.Reserve == 0 {
		c.Reserve = defaultReserve
	}
	if v := os.Getenv("WAN22_CUDA_SYNC"); v != "" && v != "0" && !strings.EqualFold(v, "false") {
		c.Sync = true
	}
	if c.CublasLt == "" {
		c.CublasLt = os.Getenv("WAN22_CUBLASLT")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("component", "cuda")
	if v := os.Getenv("WAN22_CUBLASLT_CANDIDATES"); v != "" && c.LtCandidates == 0 {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLtCandidates {
			c.Logger.Warn("WAN22_CUBLASLT_CANDIDATES not understood; timing the default number of cuBLASLt candidates", "value", v, "want", fmt.Sprintf("1 to %d", maxLtCandidates), "default", defaultLtCandidates)
		} else {
			c.LtCandidates = n
		}
	}
	switch v := strings.ToLower(os.Getenv("WAN22_CUBLASLT_GELU")); v {
	case "":
	case "separate":
		c.SeparateGELU = true
	case "epilogue":
	default:
		c.Logger.Warn("WAN22_CUBLASLT_GELU not understood; GELU stays in the GEMM's epilogue", "value", v, "want", "epilogue or separate")
	}
	if c.LtCandidates <= 0 {
		c.LtCandidates = defaultLtCandidates
	}
	c.LtCandidates = min(c.LtCandidates, maxLtCandidates)
	if c.FlashKernel == "" {
		c.FlashKernel = strings.TrimSpace(os.Getenv("WAN22_FLASH_KERNEL"))
	}
	if c.FlashKernel != "" {
		_, sm90a := flashSpecOf(flashModuleSM90a, c.FlashKernel)
		_, portable := flashSpecOf(flashModulePortable, c.FlashKernel)
		if !sm90a && !portable {
			c.Logger.Warn("WAN22_FLASH_KERNEL (Config.FlashKernel) names no flash attention entry point; using the default order",
				"value", c.FlashKernel, "want", "a name from flashTable in engine/cuda/kernel_table.go, e.g. attn_b128_w12_s3gt_bf16")
		}
	}
	// WAN22_ATTN: comma-separated, any of auto, portable (or compute_80), bf16, int8, fp8 ("portable,int8").
	if v := os.Getenv("WAN22_ATTN"); v != "" {
		for _, w := range strings.Split(v, ",") {
			switch w = strings.ToLower(strings.TrimSpace(w)); w {
			case "", "auto":
			case "portable", "compute_80":
				c.PortableAttention = true
			default:
				p, err := engine.ParseAttentionPrecision(w)
				if err != nil {
					c.Logger.Warn("WAN22_ATTN not understood; using the default attention kernels", "value", v, "want", "auto, portable, bf16, int8 or fp8, comma-separated")
					continue
				}
				if c.Attention == "" {
					c.Attention = p
				}
			}
		}
	}
	return c
}
