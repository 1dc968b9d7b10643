// Package svgplot draws small line charts as standalone SVG documents, with
// no dependency beyond the standard library: axes with round ticks, a
// legend, up to a handful of series told apart by colour and dash pattern,
// and an optional logarithmic y axis for latencies. Each chart carries a
// <title> and a <desc> so a screen reader (or a reader of the raw file)
// knows what it shows.
package svgplot

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Defaults for Chart.
const (
	DefaultWidth  = 720
	DefaultHeight = 320
)

// Point is one value of a series.
type Point struct{ X, Y float64 }

// Series is one line. Points are drawn in order; a NaN Y breaks the line.
type Series struct {
	Name   string
	Points []Point
}

// Chart is one line chart.
type Chart struct {
	// Title is drawn above the plot and is the SVG's <title>. Required.
	Title string
	// Desc is the SVG's <desc>: a sentence saying what the chart shows.
	Desc string
	// XLabel and YLabel name the axes, with their units.
	XLabel, YLabel string
	// LogY draws the y axis on a base-10 logarithmic scale; values ≤ 0 are
	// left out. Defaults to false: a linear axis from 0.
	LogY bool
	// Width and Height are the size in pixels. Default to 720 × 320.
	Width, Height int
	Series        []Series
}

// The palette is the Okabe–Ito colour-blind-safe set; dashes tell the
// series apart in greyscale too.
var (
	colors = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}
	dashes = []string{"", "6 3", "2 2", "8 3 2 3", "1 3", "10 4"}
)

const (
	marginLeft, marginRight, marginTop, marginBottom = 64, 16, 36, 44
)

// WriteSVG renders c to w.
func (c Chart) WriteSVG(w io.Writer) error {
	if c.Title == "" {
		return errors.New("svgplot: Chart.Title is required")
	}
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Height == 0 {
		c.Height = DefaultHeight
	}
	xmin, xmax, ymin, ymax := c.bounds()
	var xt, yt []float64
	xmin, xmax, xt = linearTicks(xmin, xmax)
	if c.LogY {
		ymin, ymax, yt = logTicks(ymin, ymax)
	} else {
		ymin, ymax, yt = linearTicks(min(0, ymin), ymax)
	}
	pw, ph := float64(c.Width-marginLeft-marginRight), float64(c.Height-marginTop-marginBottom)
	px := func(x float64) float64 { return marginLeft + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 {
		if c.LogY {
			return marginTop + ph - (math.Log10(y)-math.Log10(ymin))/(math.Log10(ymax)-math.Log10(ymin))*ph
		}
		return marginTop + ph - (y-ymin)/(ymax-ymin)*ph
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="12">`+"\n",
		c.Width, c.Height, c.Width, c.Height)
	fmt.Fprintf(&b, "<title id=\"title\">%s</title>\n<desc id=\"desc\">%s</desc>\n", esc(c.Title), esc(c.Desc))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", c.Width, c.Height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))
	// Grid and ticks.
	for _, y := range yt {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", marginLeft, py(y), marginLeft+pw, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", marginLeft-6, py(y), tickLabel(y))
	}
	for _, x := range xt {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", px(x), marginTop, px(x), marginTop+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), marginTop+ph+16, tickLabel(x))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#555555"/>`+"\n", marginLeft, marginTop, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", marginLeft+pw/2, c.Height-6, esc(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginTop+ph/2, esc(c.YLabel))
	// Lines.
	for i, s := range c.Series {
		var path strings.Builder
		pen := false
		for _, p := range s.Points {
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) || (c.LogY && p.Y <= 0) {
				pen = false
				continue
			}
			op := "L"
			if !pen {
				op = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", op, px(p.X), py(max(p.Y, ymin)))
			pen = true
		}
		dash := ""
		if d := dashes[i%len(dashes)]; d != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, d)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s><title>%s</title></path>`+"\n",
			strings.TrimSpace(path.String()), colors[i%len(colors)], dash, esc(s.Name))
	}
	// Legend, top right inside the plot.
	lx := marginLeft + pw - 8
	for i, s := range c.Series {
		y := float64(marginTop) + 14 + float64(i)*16
		width := 30 + 7*float64(len(s.Name))
		dash := ""
		if d := dashes[i%len(dashes)]; d != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, d)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="15" fill="#ffffff" fill-opacity="0.85"/>`+"\n", lx-width, y-8, width)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx-width+4, y, lx-width+24, y, colors[i%len(colors)], dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s</text>`+"\n", lx-width+28, y, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// bounds returns the data's extent, with a usable range when it is empty
// or flat.
func (c Chart) bounds() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) || math.IsNaN(p.X) || (c.LogY && p.Y <= 0) {
				continue
			}
			xmin, xmax = min(xmin, p.X), max(xmax, p.X)
			ymin, ymax = min(ymin, p.Y), max(ymax, p.Y)
		}
	}
	if math.IsInf(xmin, 1) {
		xmin, xmax, ymin, ymax = 0, 1, 1, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	if ymax == ymin {
		if c.LogY {
			ymin, ymax = ymin/10, ymax*10
		} else {
			ymax = ymin + 1
		}
	}
	return xmin, xmax, ymin, ymax
}

// linearTicks widens [lo, hi] to round numbers (1, 2 or 5 × 10^k apart)
// and returns the ticks, about five of them.
func linearTicks(lo, hi float64) (float64, float64, []float64) {
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	lo = math.Floor(lo/step) * step
	hi = math.Ceil(hi/step) * step
	var ts []float64
	for v := lo; v <= hi+step/2; v += step {
		ts = append(ts, math.Round(v/step)*step)
	}
	return lo, hi, ts
}

// logTicks widens [lo, hi] (both > 0) to powers of ten and returns them.
func logTicks(lo, hi float64) (float64, float64, []float64) {
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if b == a {
		b++
	}
	var ts []float64
	for e := a; e <= b; e++ {
		ts = append(ts, math.Pow(10, e))
	}
	return math.Pow(10, a), math.Pow(10, b), ts
}

// tickLabel prints a tick value briefly: 0.01, 2.5, 300, 20k, 1.5M.
func tickLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
