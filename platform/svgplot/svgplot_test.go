package svgplot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// element is a generic XML node, to walk the rendered document.
type element struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Content  string     `xml:",chardata"`
	Children []element  `xml:",any"`
}

func (e element) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e element) all(name string, out *[]element) {
	for _, c := range e.Children {
		if c.XMLName.Local == name {
			*out = append(*out, c)
		}
		c.all(name, out)
	}
}

func render(t *testing.T, c Chart) element {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	var root element
	if err := xml.NewDecoder(&buf).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if root.XMLName.Local != "svg" || root.attr("role") != "img" {
		t.Fatalf("root %v role %q", root.XMLName, root.attr("role"))
	}
	return root
}

func TestChartIsAccessibleXML(t *testing.T) {
	root := render(t, Chart{
		Title: "P99 <latency> & more", Desc: "two paths", XLabel: "seconds", YLabel: "ms",
		Series: []Series{
			{Name: "queue", Points: []Point{{0, 1}, {1, 2}, {2, 3}}},
			{Name: "sync", Points: []Point{{0, 10}, {1, math.NaN()}, {2, 300}, {3, 400}}},
		},
	})
	var titles, descs, paths []element
	root.all("title", &titles)
	root.all("desc", &descs)
	root.all("path", &paths)
	if len(titles) == 0 || titles[0].Content != "P99 <latency> & more" || len(descs) != 1 || descs[0].Content != "two paths" {
		t.Errorf("title %v desc %v", titles, descs)
	}
	if len(paths) != 2 {
		t.Fatalf("%d paths, want one per series", len(paths))
	}
	if d := paths[0].attr("d"); strings.Count(d, "M") != 1 || strings.Count(d, "L") != 2 {
		t.Errorf("queue path %q: want one move and two lines", d)
	}
	if d := paths[1].attr("d"); strings.Count(d, "M") != 2 {
		t.Errorf("sync path %q: the NaN must break the line in two", d)
	}
	if paths[0].attr("stroke") == paths[1].attr("stroke") {
		t.Error("two series share a colour")
	}
}

func TestLogScaleTicksArePowersOfTen(t *testing.T) {
	root := render(t, Chart{Title: "log", LogY: true, Series: []Series{
		{Name: "p99", Points: []Point{{0, 0.7}, {1, 40}, {2, 0}, {3, 2500}}},
	}})
	var texts []element
	root.all("text", &texts)
	got := map[string]bool{}
	for _, tx := range texts {
		got[tx.Content] = true
	}
	for _, want := range []string{"0.1", "1", "10", "100", "1000", "10k"} {
		if !got[want] {
			t.Errorf("no y tick %q among %v", want, got)
		}
	}
	if got["50"] || got["2000"] {
		t.Errorf("linear ticks on a log axis: %v", got)
	}
}

func TestLinearTicksCoverTheData(t *testing.T) {
	for _, tc := range []struct{ lo, hi float64 }{{0, 1}, {0, 97}, {3, 12345}, {0, 0.003}, {-5, 5}} {
		lo, hi, ts := linearTicks(tc.lo, tc.hi)
		if lo > tc.lo || hi < tc.hi || len(ts) < 2 || len(ts) > 12 || ts[0] != lo || ts[len(ts)-1] != hi {
			t.Errorf("linearTicks(%v, %v) = %v, %v, %v", tc.lo, tc.hi, lo, hi, ts)
		}
	}
}

func TestEmptyAndInvalidCharts(t *testing.T) {
	if err := (Chart{}).WriteSVG(io.Discard); err == nil {
		t.Error("a chart without a title rendered")
	}
	render(t, Chart{Title: "empty"})
	render(t, Chart{Title: "flat", LogY: true, Series: []Series{{Name: "one", Points: []Point{{1, 5}}}}})
}
