package simulate

import (
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/qbind/qbind/monetary"
)

// Plot colours, documented in the command's help: the background of each
// column is the governing phase, the black line is r_inf, the light grid has a
// horizontal line per 1 % and a vertical line per year, the red dashes are
// the caps in force.
var (
	phaseColour = [3]color.RGBA{
		monetary.PhaseBootstrap:  {0xd6, 0xe6, 0xf5, 0xff}, // blue
		monetary.PhaseTransition: {0xfb, 0xe3, 0xb8, 0xff}, // amber
		monetary.PhaseMature:     {0xd3, 0xee, 0xd0, 0xff}, // green
	}
	gridColour = color.RGBA{0xff, 0xff, 0xff, 0xff}
	lineColour = color.RGBA{0x10, 0x10, 0x10, 0xff}
	capColour  = color.RGBA{0xd0, 0x30, 0x30, 0xff}
)

// WritePNG renders r_inf and the phase over time as a width × height PNG.
func WritePNG(w io.Writer, r *Result, width, height int) error {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	n := len(r.Samples)
	var maxBps uint64 = 100
	for _, pp := range r.Params.Phases {
		maxBps = max(maxBps, pp.CapBps)
	}
	maxBps = (maxBps/100 + 1) * 100 // headroom, rounded to 1 %
	y := func(bps uint64) int { return height - 1 - int(bps*uint64(height-1)/maxBps) }
	sampleAt := func(x int) Sample { return r.Samples[min(n-1, x*n/width)] }
	if n == 0 {
		return png.Encode(w, img)
	}
	prevY := -1
	for x := 0; x < width; x++ {
		s := sampleAt(x)
		bg := phaseColour[s.Phase]
		for yy := 0; yy < height; yy++ {
			img.SetRGBA(x, yy, bg)
		}
		for g := uint64(100); g < maxBps; g += 100 {
			img.SetRGBA(x, y(g), gridColour)
		}
		if x%4 < 2 {
			img.SetRGBA(x, y(r.Params.Phases[s.Phase].CapBps), capColour)
		}
		// Vertical year lines.
		if x > 0 && sampleAt(x-1).Epoch/monetary.EpochsPerYear != s.Epoch/monetary.EpochsPerYear {
			for yy := 0; yy < height; yy++ {
				img.SetRGBA(x, yy, gridColour)
			}
		}
		// The rate, joined to the previous column so steps stay visible.
		cy := y(uint64(s.RInfBps))
		lo, hi := cy, cy
		if prevY >= 0 {
			lo, hi = min(cy, prevY), max(cy, prevY)
		}
		for yy := lo; yy <= hi; yy++ {
			img.SetRGBA(x, yy, lineColour)
			if yy+1 < height {
				img.SetRGBA(x, yy+1, lineColour)
			}
		}
		prevY = cy
	}
	return png.Encode(w, img)
}
