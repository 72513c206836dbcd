package mediatest

import (
	"fmt"
	"image"
)

// The colour clip of the image tests: frame k is one solid colour that
// names k mod 64, each channel one of four levels 80 apart (red k mod 4,
// green k/4 mod 4, blue k/16 mod 4), so that a decoded image tells which
// frame it is by its average colour despite JPEG and YUV rounding.

// ColourSource is the lavfi source of the clip (ffmpeg -f lavfi -i …):
// w×h, fps frames a second, for seconds.
func ColourSource(w, h, fps int, seconds float64) string {
	level := func(x string) string { return fmt.Sprintf("mod(%s\\,4)*80+15", x) }
	return fmt.Sprintf("color=c=black:s=%dx%d:r=%d:d=%g,format=gbrp,geq=r='%s':g='%s':b='%s'", w, h, fps, seconds,
		level("N"), level("floor(N/4)"), level("floor(N/16)"))
}

// FrameColour is the RGB colour of frame k of the clip.
func FrameColour(k int) [3]int {
	return [3]int{(k%4)*80 + 15, (k/4%4)*80 + 15, (k/16%4)*80 + 15}
}

// ColourTolerance is how far a decoded channel may be from FrameColour's
// (half the distance between levels is 40).
const ColourTolerance = 16

// AverageColour is the mean RGB of the centre half of an image.
func AverageColour(img image.Image) [3]int {
	b := img.Bounds()
	var sum [3]int64
	var n int64
	for y := b.Min.Y + b.Dy()/4; y < b.Max.Y-b.Dy()/4; y++ {
		for x := b.Min.X + b.Dx()/4; x < b.Max.X-b.Dx()/4; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum[0] += int64(r >> 8)
			sum[1] += int64(g >> 8)
			sum[2] += int64(bl >> 8)
			n++
		}
	}
	if n == 0 {
		return [3]int{}
	}
	return [3]int{int(sum[0] / n), int(sum[1] / n), int(sum[2] / n)}
}

// ColourNear reports whether every channel of a is within tol of b.
func ColourNear(a, b [3]int, tol int) bool {
	for i := range a {
		if d := a[i] - b[i]; d > tol || d < -tol {
			return false
		}
	}
	return true
}
