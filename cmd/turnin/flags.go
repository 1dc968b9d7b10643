package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// flags is a flag set whose every flag can also be set by a TURNIN_*
// environment variable. Precedence: flag, then environment, then default.
// The environment is read here, in main, and nowhere else.
type flags struct {
	fs   *flag.FlagSet
	errs []string
}

func newFlags(name, summary string) *flags {
	f := &flags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.Usage = func() {
		w := f.fs.Output()
		fmt.Fprintf(w, "usage: turnin %s [flags]\n\n%s\n\nFlags (each also settable by the environment variable shown):\n", name, summary)
		f.fs.PrintDefaults()
	}
	return f
}

func (f *flags) env(name, env, usage string) (string, string, bool) {
	v, ok := os.LookupEnv(env)
	return v, usage + " (env " + env + ")", ok
}

func (f *flags) String(p *string, name, env, def, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		def = v
	}
	f.fs.StringVar(p, name, def, u)
}

func (f *flags) Int(p *int, name, env string, def int, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.fs.IntVar(p, name, def, u)
}

func (f *flags) Int64(p *int64, name, env string, def int64, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.fs.Int64Var(p, name, def, u)
}

func (f *flags) Float64(p *float64, name, env string, def float64, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: not a number", env, v))
		} else {
			def = n
		}
	}
	f.fs.Float64Var(p, name, def, u)
}

func (f *flags) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: not a duration such as 5s or 250ms", env, v))
		} else {
			def = d
		}
	}
	f.fs.DurationVar(p, name, def, u)
}

func (f *flags) Bool(p *bool, name, env string, def bool, usage string) {
	v, u, ok := f.env(name, env, usage)
	if ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Sprintf("%s=%q: not true or false", env, v))
		} else {
			def = b
		}
	}
	f.fs.BoolVar(p, name, def, u)
}

// Parse parses args and reports bad environment values too.
func (f *flags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if len(f.errs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(f.errs, "; "))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
