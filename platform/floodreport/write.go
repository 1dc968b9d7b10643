package floodreport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/turnin-dev/turnin/platform/svgplot"
)

// Files the report folder holds besides the per-path CSVs and the plots.
const (
	MarkdownFile = "report.md"
	SeriesFile   = "series.json"
)

// Write renders r into dir (created if missing): report.md, series.json,
// <path>-seconds.csv and <path>-samples.csv per path, and the SVG plots
// report.md shows. It returns the names of the files written.
func Write(dir string, r *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	put := func(name string, b []byte) error {
		files = append(files, name)
		return os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := put(SeriesFile, append(js, '\n')); err != nil {
		return nil, err
	}
	for _, p := range r.Paths {
		sec, smp := csvs(p)
		if err := put(p.Name+"-seconds.csv", sec); err != nil {
			return nil, err
		}
		if err := put(p.Name+"-samples.csv", smp); err != nil {
			return nil, err
		}
	}
	plots := charts(r)
	for _, pl := range plots {
		var b bytes.Buffer
		if err := pl.chart.WriteSVG(&b); err != nil {
			return nil, err
		}
		if err := put(pl.file, b.Bytes()); err != nil {
			return nil, err
		}
	}
	if err := put(MarkdownFile, markdown(r, plots)); err != nil {
		return nil, err
	}
	return files, nil
}

func csvs(p *Path) (seconds, samples []byte) {
	var a, b bytes.Buffer
	w := csv.NewWriter(&a)
	_ = w.Write([]string{"t_s", "offered", "accepted", "failed", "dropped", "retries", "p50_ms", "p99_ms", "p999_ms"})
	for _, s := range p.Seconds {
		_ = w.Write([]string{f(s.T), strconv.Itoa(s.Offered), strconv.Itoa(s.Accepted), strconv.Itoa(s.Failed),
			strconv.Itoa(s.Dropped), strconv.Itoa(s.Retries), f(s.P50), f(s.P99), f(s.P999)})
	}
	w.Flush()
	w = csv.NewWriter(&b)
	_ = w.Write([]string{"t_s", "accepted", "processed", "retrying", "dead_lettered", "backlog", "rss_mib"})
	for _, s := range p.Samples {
		_ = w.Write([]string{f(s.T), i64(s.Accepted), i64(s.Processed), i64(s.Retrying), i64(s.DeadLettered),
			i64(s.Backlog()), f(s.RSSMiB)})
	}
	w.Flush()
	return a.Bytes(), b.Bytes()
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
func i64(v int64) string { return strconv.FormatInt(v, 10) }

type plot struct {
	file, caption string
	chart         svgplot.Chart
}

// charts builds every plot the report shows.
func charts(r *Report) []plot {
	var out []plot
	names := make([]string, len(r.Paths))
	for i, p := range r.Paths {
		names[i] = p.Title
	}
	who := strings.Join(names, ", ")

	p99 := svgplot.Chart{Title: "Accept latency P99 per second of arrivals", LogY: true,
		XLabel: "seconds since the flood started (by scheduled arrival)", YLabel: "P99, ms (log scale)",
		Desc: "P99 latency from each arrival's scheduled time to its answer, per second, for " + who + "."}
	for _, p := range r.Paths {
		p99.Series = append(p99.Series, svgplot.Series{Name: p.Title, Points: secondPoints(p, func(s Second) float64 { return s.P99 })})
	}
	out = append(out, plot{"latency-p99.svg", "Accept latency P99, every path", p99})

	for _, p := range r.Paths {
		c := svgplot.Chart{Title: p.Title + ": accept latency P50, P99, P99.9", LogY: true,
			XLabel: "seconds since the flood started (by scheduled arrival)", YLabel: "ms (log scale)",
			Desc: "Latency quantiles per second of arrivals, from the scheduled time, for " + p.Title + "."}
		c.Series = []svgplot.Series{
			{Name: "P50", Points: secondPoints(p, func(s Second) float64 { return s.P50 })},
			{Name: "P99", Points: secondPoints(p, func(s Second) float64 { return s.P99 })},
			{Name: "P99.9", Points: secondPoints(p, func(s Second) float64 { return s.P999 })},
		}
		out = append(out, plot{"latency-" + p.Name + ".svg", p.Title + ": P50 / P99 / P99.9", c})
	}

	acc := svgplot.Chart{Title: "Offered and accepted per second", XLabel: "seconds since the flood started", YLabel: "submissions per second",
		Desc: "The flood's offered arrival rate and each path's accepted (202) rate over wall-clock time."}
	if len(r.Paths) > 0 {
		acc.Series = append(acc.Series, svgplot.Series{Name: "offered", Points: secondPoints(r.Paths[0], func(s Second) float64 { return float64(s.Offered) })})
	}
	for _, p := range r.Paths {
		acc.Series = append(acc.Series, svgplot.Series{Name: p.Title + " accepted", Points: ratePoints(p, func(s Sample) int64 { return s.Accepted })})
	}
	out = append(out, plot{"accepted.svg", "Offered and accepted per second", acc})

	errs := svgplot.Chart{Title: "Retries and failures per second", XLabel: "seconds since the flood started", YLabel: "per second",
		Desc: "Submit attempts answered 503/429 or timed out (each retried with the same key), and arrivals that failed after every retry."}
	for _, p := range r.Paths {
		errs.Series = append(errs.Series,
			svgplot.Series{Name: p.Title + " retries", Points: secondPoints(p, func(s Second) float64 { return float64(s.Retries) })},
			svgplot.Series{Name: p.Title + " failed", Points: secondPoints(p, func(s Second) float64 { return float64(s.Failed) })})
	}
	out = append(out, plot{"errors-retries.svg", "Retries and failures per second", errs})

	db := svgplot.Chart{Title: "What the database saw: rows written per second", XLabel: "seconds since the flood started", YLabel: "rows per second",
		Desc: "Rate at which each path's submissions reached PostgreSQL (processed, retrying or dead-lettered), sampled from the assignment's counts."}
	bl := svgplot.Chart{Title: "Backlog: accepted, not yet in the database", XLabel: "seconds since the flood started", YLabel: "submissions",
		Desc: "Accepted submissions not yet processed, retrying or dead-lettered, over time; it reaches zero when the drain is over."}
	mem := svgplot.Chart{Title: "API resident memory", XLabel: "seconds since the flood started", YLabel: "MiB",
		Desc: "Resident memory of the process serving the API, sampled from its /metrics, over time."}
	for _, p := range r.Paths {
		if p.HasBackend {
			db.Series = append(db.Series, svgplot.Series{Name: p.Title, Points: ratePoints(p, func(s Sample) int64 { return s.Processed + s.Retrying + s.DeadLettered })})
			bl.Series = append(bl.Series, svgplot.Series{Name: p.Title, Points: samplePoints(p, func(s Sample) float64 { return float64(s.Backlog()) })})
		}
		if p.PeakRSS() > 0 {
			mem.Series = append(mem.Series, svgplot.Series{Name: p.Title, Points: samplePoints(p, func(s Sample) float64 { return s.RSSMiB })})
		}
	}
	if len(db.Series) > 0 {
		out = append(out, plot{"db-writes.svg", "Rows written to PostgreSQL per second", db},
			plot{"backlog.svg", "Backlog over time", bl})
	}
	if len(mem.Series) > 0 {
		out = append(out, plot{"memory.svg", "API resident memory", mem})
	}
	return out
}

func secondPoints(p *Path, v func(Second) float64) []svgplot.Point {
	pts := make([]svgplot.Point, 0, len(p.Seconds))
	for _, s := range p.Seconds {
		y := v(s)
		if s.Accepted+s.Failed == 0 && y == 0 {
			y = math.NaN()
		}
		pts = append(pts, svgplot.Point{X: s.T, Y: y})
	}
	return pts
}

func samplePoints(p *Path, v func(Sample) float64) []svgplot.Point {
	pts := make([]svgplot.Point, 0, len(p.Samples))
	for _, s := range p.Samples {
		pts = append(pts, svgplot.Point{X: s.T, Y: v(s)})
	}
	return pts
}

// ratePoints turns a cumulative counter into a per-second rate, averaged
// over windows of about a second so sampling jitter does not show as noise.
func ratePoints(p *Path, v func(Sample) int64) []svgplot.Point {
	var pts []svgplot.Point
	ss := p.Samples
	j := 0
	for i := 1; i < len(ss); i++ {
		for j < i-1 && ss[i].T-ss[j+1].T >= 1 {
			j++
		}
		if dt := ss[i].T - ss[j].T; dt > 0 {
			pts = append(pts, svgplot.Point{X: ss[i].T, Y: float64(v(ss[i])-v(ss[j])) / dt})
		}
	}
	return pts
}

// markdown renders report.md.
func markdown(r *Report, plots []plot) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	fmt.Fprintf(&b, "Run at %s. Reproduce with:\n\n```sh\n%s\n```\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Command)

	b.WriteString("## Where it ran\n\n| | |\n|---|---|\n")
	m := r.Machine
	fmt.Fprintf(&b, "| machine | %s, %d cores, %.0f GiB memory, %s |\n", m.CPU, m.Cores, m.MemoryGiB, m.OS)
	fmt.Fprintf(&b, "| Go | %s |\n", m.Go)
	for _, v := range r.Versions {
		fmt.Fprintf(&b, "| %s | %s |\n", v.Name, v.Value)
	}
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "| %s | %s |\n", s.Name, s.Value)
	}
	b.WriteString("\nEvery path was driven by the same flood profile, one after the other, in the same run and process.\n")
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "- **%s** (`%s`): %s\n", p.Title, p.Target, p.About)
	}

	b.WriteString("\n## The essay's table, measured\n\n")
	b.WriteString("Latency runs from each arrival's scheduled time (open loop), so time spent queueing counts. It covers the whole client: upload URL, upload, submit, and every retry.\n\n")
	pathsHeader(&b, "Property", r.Paths)
	row := func(name string, cell func(p *Path) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, p := range r.Paths {
			fmt.Fprintf(&b, " %s |", cell(p))
		}
		b.WriteString("\n")
	}
	na := func(p *Path, s string) string {
		if !p.HasBackend {
			return "n/a (no database)"
		}
		return s
	}
	row("Offered", func(p *Path) string {
		return fmt.Sprintf("%s submissions, peak %s/s", thousands(int64(p.Scheduled)), thousands(int64(p.PeakOffered())))
	})
	row("Accepted", func(p *Path) string {
		return fmt.Sprintf("%s (%.1f %%), peak %s/s", thousands(int64(p.Accepted)), pct(p.Accepted, p.Scheduled), thousands(int64(p.PeakAcceptRate())))
	})
	row("Accept latency P50 / P99 / P99.9", func(p *Path) string {
		return fmt.Sprintf("%s / %s / %s", ms(p.P50), ms(p.P99), ms(p.P999))
	})
	row("Accept latency at peak (worst per-second P99)", func(p *Path) string { return ms(p.P99AtPeak()) })
	row("One submit attempt, P99 (server's share)", func(p *Path) string { return ms(p.SubmitP99) })
	row("Failed after every retry / retries", func(p *Path) string {
		return fmt.Sprintf("%s / %s", thousands(int64(p.Failed+p.Dropped)), thousands(p.Retries))
	})
	row("What the DB sees (peak rows/s)", func(p *Path) string { return na(p, thousands(int64(p.PeakWriteRate()))+"/s") })
	row("Backlog at its peak / drain after the last accept", func(p *Path) string {
		d := "did not drain"
		if p.Drain() >= 0 {
			d = fmt.Sprintf("%.1f s", p.Drain())
		}
		return na(p, fmt.Sprintf("%s / %s", thousands(p.PeakBacklog()), d))
	})
	row("Lost submissions (accepted, found nowhere)", func(p *Path) string { return na(p, fmt.Sprintf("%d (%s)", p.Lost, p.LostHow)) })
	row("Duplicates (rows beyond one per key)", func(p *Path) string {
		if p.Duplicates < 0 {
			return na(p, "not checked")
		}
		return na(p, strconv.Itoa(p.Duplicates))
	})
	row("Final state", func(p *Path) string {
		s := p.Final()
		return na(p, fmt.Sprintf("%s processed, %s retrying, %s dead-lettered", thousands(s.Processed), thousands(s.Retrying), thousands(s.DeadLettered)))
	})
	row("API resident memory, peak", func(p *Path) string {
		if p.PeakRSS() == 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f MiB", p.PeakRSS())
	})
	if bare := r.path("bare"); bare != nil && bare.Accepted > 0 {
		row("Accepted per second of flood, against bare", func(p *Path) string {
			return fmt.Sprintf("%.2f×", throughput(p)/throughput(bare))
		})
		row("P99 against bare", func(p *Path) string {
			if bare.P99 <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f×", p.P99/bare.P99)
		})
	}
	for _, p := range r.Paths {
		if p.Audit != "" {
			fmt.Fprintf(&b, "\n`turnin audit` over the %s flood's window: %s\n", p.Title, p.Audit)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}

	b.WriteString("\n## Plots\n\n")
	for _, pl := range plots {
		fmt.Fprintf(&b, "### %s\n\n![%s](%s)\n\n", pl.caption, pl.chart.Desc, pl.file)
	}
	b.WriteString("## Raw series\n\n`series.json` holds everything above. Per path, `<path>-seconds.csv` has one row per second of scheduled arrivals and `<path>-samples.csv` the system's counts as sampled.\n")
	outcomes := map[string]bool{}
	for _, p := range r.Paths {
		for o := range p.Outcomes {
			outcomes[o] = true
		}
	}
	if len(outcomes) > 0 {
		names := make([]string, 0, len(outcomes))
		for o := range outcomes {
			names = append(names, o)
		}
		sort.Strings(names)
		b.WriteString("\n### Outcomes per arrival\n\n")
		pathsHeader(&b, "outcome", r.Paths)
		for _, o := range names {
			fmt.Fprintf(&b, "| %s |", o)
			for _, p := range r.Paths {
				fmt.Fprintf(&b, " %s |", thousands(int64(p.Outcomes[o])))
			}
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// throughput is accepted submissions per second of the flood's elapsed time.
func throughput(p *Path) float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Accepted) / p.Elapsed
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// thousands prints n with comma separators: 40,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pathsHeader writes the head of a table with one column per path.
func pathsHeader(b *bytes.Buffer, first string, paths []*Path) {
	fmt.Fprintf(b, "| %s |", first)
	for _, p := range paths {
		fmt.Fprintf(b, " %s |", p.Title)
	}
	b.WriteString("\n|---|")
	for range paths {
		b.WriteString("---|")
	}
	b.WriteString("\n")
}
