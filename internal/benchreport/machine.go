package benchreport

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Machine is the machine a report was measured on.
type Machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPU      string `json:"cpu"`      // model name from /proc/cpuinfo
	Cores    int    `json:"cores"`    // logical CPUs usable by the process
	RAM      int64  `json:"ram"`      // physical memory in bytes
	GPUs     []GPU  `json:"gpus"`     // from nvidia-smi, when present
	PCIe     []PCIe `json:"pcie"`     // NVIDIA display devices' PCIe links, from sysfs
	Go       string `json:"go"`       // the Go version the binary was built with
	Commit   string `json:"commit"`   // the git commit the binary was built from ("" if unknown)
	Modified bool   `json:"modified"` // the working tree had changes at build time
	Backend  string `json:"backend"`  // the backend's own description of the device
	Hostname string `json:"hostname"`
}

// GPU is one GPU as nvidia-smi reports it.
type GPU struct {
	Name   string `json:"name"`
	Driver string `json:"driver"`
	CUDA   string `json:"cuda"`   // the driver's CUDA version ("13.0")
	Memory int64  `json:"memory"` // bytes
}

// PCIe is the link of one NVIDIA display device.
type PCIe struct {
	Address  string `json:"address"`   // "0000:17:00.0"
	Speed    string `json:"speed"`     // current, "32.0 GT/s PCIe"
	Width    string `json:"width"`     // current lanes, "16"
	MaxSpeed string `json:"max_speed"` // what the slot and card can do
	MaxWidth string `json:"max_width"`
}

// CollectMachine describes this machine. backend is the backend's name
// (engine Backend.Name); ram is the physical memory in bytes. Each part that
// cannot be read is left empty.
func CollectMachine(backend string, ram int64) Machine {
	m := Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(), RAM: ram,
		Go: runtime.Version(), Backend: backend,
	}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = CPUModel(b)
	}
	m.PCIe = PCIeLinks("/sys/bus/pci/devices")
	m.GPUs = nvidiaSMI()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.Commit = s.Value
			case "vcs.modified":
				m.Modified = s.Value == "true"
			}
		}
	}
	return m
}

// CPUModel returns the first "model name" of a /proc/cpuinfo text (on ARM,
// where there is none, the "Hardware" or "CPU part" line).
func CPUModel(cpuinfo []byte) string {
	var fallback string
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			return strings.TrimSpace(v)
		case "Hardware", "CPU part":
			if fallback == "" {
				fallback = strings.TrimSpace(v)
			}
		}
	}
	return fallback
}

// PCIeLinks lists the PCIe links of the NVIDIA (vendor 0x10de) display
// devices (class 0x03xxxx) under a sysfs devices folder.
func PCIeLinks(root string) []PCIe {
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(root, dir, name))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var links []PCIe
	for _, d := range dirs {
		n := d.Name()
		if read(n, "vendor") != "0x10de" || !strings.HasPrefix(read(n, "class"), "0x03") {
			continue
		}
		links = append(links, PCIe{
			Address: n, Speed: read(n, "current_link_speed"), Width: read(n, "current_link_width"),
			MaxSpeed: read(n, "max_link_speed"), MaxWidth: read(n, "max_link_width"),
		})
	}
	return links
}

// nvidiaSMI asks nvidia-smi for the GPUs; nil when it is missing or fails.
func nvidiaSMI() []GPU {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	csv, err := exec.CommandContext(ctx, path, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return nil
	}
	header, _ := exec.CommandContext(ctx, path).Output()
	return ParseNvidiaSMI(csv, header)
}

var cudaVersion = regexp.MustCompile(`CUDA Version:\s*([0-9.]+)`)

// ParseNvidiaSMI reads the output of `nvidia-smi
// --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits`
// (memory in MiB) and, for the CUDA version, the banner of plain
// `nvidia-smi`.
func ParseNvidiaSMI(csv, banner []byte) []GPU {
	var cuda string
	if m := cudaVersion.FindSubmatch(banner); m != nil {
		cuda = string(m[1])
	}
	var gpus []GPU
	for _, line := range strings.Split(string(csv), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			continue
		}
		g := GPU{Name: strings.TrimSpace(f[0]), Driver: strings.TrimSpace(f[1]), CUDA: cuda}
		if mib, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64); err == nil {
			g.Memory = mib << 20
		}
		gpus = append(gpus, g)
	}
	return gpus
}
