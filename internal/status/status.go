// Package status reads which tag every service runs in every environment of
// a GitOps checkout: the matrix `promobot status` prints.
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/promobot/promobot/internal/drift"
	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

// Checkout is what the matrix is read from: files by repository path.
type Checkout interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
	Exists(path string) bool // a regular file
}

// Report is the service × environment matrix; its JSON form is what
// `status --output json` prints.
type Report struct {
	Environments []string `json:"environments"`
	Services     []Row    `json:"services"`
	// Drift is set when the report was read with git history (AddDrift).
	Drift []drift.Flag `json:"drift,omitempty"`
}

// Row is one service across its environments.
type Row struct {
	Service      string `json:"service"`
	Environments []Cell `json:"environments"`
}

// Cell is one service in one environment. Tag is what the first target
// runs; Targets lists every target when the environment has several.
type Cell struct {
	Env     string   `json:"env"`
	Tag     string   `json:"tag,omitempty"`
	Differs bool     `json:"differsFromPrevious"`
	Mixed   bool     `json:"mixed,omitempty"` // targets of this environment disagree
	Targets []Target `json:"targets,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Drift names the drift flags raised here (Report.Drift says why).
	Drift []drift.Kind `json:"drift,omitempty"`
	// Since, By, Via and PR say which change put Tag there, when the
	// report was read with git history (AddHistory).
	Since time.Time `json:"since,omitzero"`
	By    string    `json:"by,omitempty"`
	Via   string    `json:"via,omitempty"`
	PR    int       `json:"pr,omitempty"`
}

// Target is what one target file runs.
type Target struct {
	Path  string `json:"path"`
	Tag   string `json:"tag,omitempty"`
	Error string `json:"error,omitempty"`
}

// Matrix reads every target of every service, services sorted by name. An
// environment a service has no target in is left out of its row; Differs
// compares with the service's previous environment that has one. A target
// that cannot be read is reported in its cell, never as an error: the rest
// of the matrix is still worth showing.
func Matrix(ctx context.Context, rs *rules.Rules, co Checkout) Report {
	rep := Report{Environments: rs.EnvNames(), Services: []Row{}}
	svcs := make([]*rules.Service, len(rs.Services))
	for i := range rs.Services {
		svcs[i] = &rs.Services[i]
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, svc := range svcs {
		r := Row{Service: svc.Name, Environments: []Cell{}}
		var prev *Cell
		for _, env := range rep.Environments {
			ts := svc.Targets[env]
			if len(ts) == 0 {
				continue
			}
			c := Cell{Env: env}
			for i, t := range ts {
				st := read(ctx, co, svc, t)
				switch {
				case i == 0:
					c.Tag, c.Error = st.Tag, st.Error
				case st.Error != "" && c.Error == "":
					c.Error = st.Error
				case st.Tag != c.Tag:
					c.Mixed = true
				}
				if len(ts) > 1 {
					c.Targets = append(c.Targets, st)
				}
			}
			c.Differs = prev != nil && prev.Error == "" && c.Error == "" && c.Tag != prev.Tag
			r.Environments = append(r.Environments, c)
			prev = &r.Environments[len(r.Environments)-1]
		}
		rep.Services = append(rep.Services, r)
	}
	return rep
}

// read returns what one target runs.
func read(ctx context.Context, co Checkout, svc *rules.Service, t rules.Target) Target {
	path := t.TargetFile(co.Exists)
	if path == "" {
		return Target{Path: t.Kustomize, Error: "no kustomization file"}
	}
	_, spec := planner.Locate(svc, t, nil) // the spec does not depend on which file
	st := Target{Path: path}
	data, err := co.ReadFile(ctx, path)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	ref, err := edit.Get(data, spec)
	switch {
	case errors.Is(err, edit.ErrNotFound):
		st.Error = "no tag for " + svc.Image
	case err != nil:
		st.Error = path + ": " + err.Error()
	}
	st.Tag = ref.String()
	return st
}

// CheckImage reports whether data, the content of t's file at path, sets
// svc's image: the check rules.CheckTargets asks for. A kustomization without
// an images entry passes, since promobot adds the entry when it promotes.
func CheckImage(svc *rules.Service, t rules.Target, path string, data []byte) error {
	_, spec := planner.Locate(svc, t, nil)
	_, err := edit.Get(data, spec)
	switch {
	case err == nil, errors.Is(err, edit.ErrNotFound) && t.Kustomize != "":
		return nil
	case errors.Is(err, edit.ErrNotFound):
		return fmt.Errorf("%s does not set the image: %w", path, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// WriteTable prints the matrix as a table: "-" where a service has no target,
// "?" where its tag cannot be read (explained below the table), "*" where an
// environment differs from the previous one and "!" where its targets disagree.
func (rep Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\t%s\n", strings.ToUpper(strings.Join(rep.Environments, "\t")))
	var notes []string
	var differs, mixed bool
	for _, r := range rep.Services {
		cells := []string{r.Service}
		byEnv := make(map[string]Cell, len(r.Environments))
		for _, c := range r.Environments {
			byEnv[c.Env] = c
		}
		for _, env := range rep.Environments {
			c, ok := byEnv[env]
			var text string
			switch {
			case !ok:
				text = "-"
			case c.Error != "":
				text = "?"
				notes = append(notes, fmt.Sprintf("? %s in %s: %s", r.Service, env, c.Error))
			default:
				text = c.Tag
			}
			if c.Mixed {
				text += " !"
				mixed = true
			}
			if c.Differs {
				text += " *"
				differs = true
			}
			if len(c.Drift) > 0 {
				text += " ~"
			}
			cells = append(cells, text)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if differs {
		notes = append(notes, "* differs from the previous environment")
	}
	if mixed {
		notes = append(notes, "! the environment's targets run different tags (--output json lists them)")
	}
	for _, f := range rep.Drift {
		notes = append(notes, "~ "+f.Service+" in "+f.Env+": "+string(f.Kind)+": "+f.Message)
	}
	if len(notes) > 0 {
		notes = append([]string{""}, notes...)
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
	}
	return nil
}
