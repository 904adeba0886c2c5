//go:build !race

package wan22

// raceDetector: the test binary runs under the race detector, whose shadow
// memory multiplies what a run holds.
const raceDetector = false
