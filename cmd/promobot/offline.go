package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/localrepo"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

func newValidate() *cobra.Command {
	var repo string
	cmd := &cobra.Command{
		Use:   "validate RULES",
		Short: "Check a rules file offline; exit 1 with every error",
		Long: `Check a rules file offline and print every error with file, line and column.

With --repo, generators are expanded against the checkout and every target is
checked there: the path must exist; helm and manifest targets must already set
the service's image (a kustomization without an images entry is fine: promobot
adds it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			rs, err := rules.Load(args[0])
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{1}
			}
			if repo != "" {
				expanded, err := loadWithRepo(cmd.Context(), rs, repo)
				if err != nil {
					fmt.Fprintln(stderr, err)
					return exitError{1}
				}
				problems, err := checkRepo(cmd.Context(), args[0], rs, expanded, repo)
				if err != nil {
					fmt.Fprintln(stderr, err)
					return exitError{1}
				}
				for _, p := range problems {
					fmt.Fprintln(stderr, p)
				}
				if len(problems) > 0 {
					fmt.Fprintf(stderr, "%d problem(s) in %s\n", len(problems), repo)
					return exitError{1}
				}
				rs = expanded
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d environments, %d services)\n", args[0], len(rs.Environments), len(rs.Services))
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "GitOps checkout: also check that every target file exists and sets the image")
	return cmd
}

// loadWithRepo expands generators against a checkout. Every generator is
// listed against this one checkout, whatever repository it names.
func loadWithRepo(ctx context.Context, rs *rules.Rules, dir string) (*rules.Rules, error) {
	d, err := localrepo.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return rs.Expand(ctx, func(string) (fs.FS, error) { return d.FS(), nil })
}

// checkRepo reports every target whose file is missing, unreadable, or (for
// helm and manifest targets) does not set the image. Each problem points at
// the target's line in the rules file: the service's own entry, or the
// generator that produced it.
func checkRepo(ctx context.Context, rulesPath string, file, rs *rules.Rules, dir string) ([]rules.FieldError, error) {
	d, err := localrepo.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	idx, err := newRulesIndex(rulesPath)
	if err != nil {
		return nil, err
	}
	origins, err := generatedOrigins(ctx, file, d.FS())
	if err != nil {
		return nil, err
	}
	explicit := len(file.Services)
	if len(rs.Services) != explicit+len(origins) {
		origins = nil // cannot tell which generator made which service: no positions
	}
	var out []rules.FieldError
	for si := range rs.Services {
		svc := &rs.Services[si]
		base, who := []any{"services", si}, "service "+svc.Name
		if si >= explicit {
			base = []any{"generators", -1, "service"}
			if o := si - explicit; o < len(origins) {
				base[1], who = origins[o].gen, who+" (from "+origins[o].dir+")"
			}
		}
		for _, env := range rs.EnvNames() {
			for i, t := range svc.Targets[env] {
				msg := checkTarget(ctx, d, svc, t)
				if msg == "" {
					continue
				}
				segs := append(append([]any(nil), base...), "targets", env, i, t.Kind())
				fe := rules.FieldError{File: rulesPath, Field: fieldString(segs), Msg: who + ": " + msg}
				fe.Line, fe.Column = idx.pos(segs)
				out = append(out, fe)
			}
		}
	}
	return out, nil
}

// checkTarget returns what is wrong with one target in the checkout ("" if nothing).
func checkTarget(ctx context.Context, d *localrepo.Dir, svc *rules.Service, t rules.Target) string {
	path := t.TargetFile(d.Exists)
	if path == "" {
		// A kustomize directory without a kustomization file.
		if fi, err := fs.Stat(d.FS(), t.Kustomize); err != nil || !fi.IsDir() {
			return t.Kustomize + " does not exist"
		}
		return t.Kustomize + " has no " + strings.Join(rules.KustomizationNames, ", ")
	}
	if !d.Exists(path) {
		if _, err := fs.Stat(d.FS(), path); errors.Is(err, fs.ErrNotExist) {
			return path + " does not exist"
		}
		if _, err := d.ReadFile(ctx, path); err != nil {
			return err.Error()
		}
		return path + " is not a regular file"
	}
	data, err := d.ReadFile(ctx, path)
	if err != nil {
		return err.Error()
	}
	spec := specFor(svc, t)
	_, err = edit.Get(data, spec)
	switch {
	case err == nil:
		return ""
	case !errors.Is(err, edit.ErrNotFound):
		return path + ": " + err.Error()
	case t.Kustomize != "":
		return "" // promobot adds the images entry
	}
	return fmt.Sprintf("%s does not set the image: %v", path, err)
}

// origin is the generator and directory a generated service came from.
type origin struct {
	gen int
	dir string
}

// generatedOrigins lists, in the order Expand appends generated services,
// which generator and directory each comes from (Expand does not say).
func generatedOrigins(ctx context.Context, file *rules.Rules, fsys fs.FS) ([]origin, error) {
	var out []origin
	for gi, g := range file.Generators {
		matches, err := fs.Glob(fsys, g.Directories)
		if err != nil {
			return nil, fmt.Errorf("generator %d: glob %q: %w", gi, g.Directories, err)
		}
		sort.Strings(matches)
		for _, m := range matches {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if fi, err := fs.Stat(fsys, m); err != nil || !fi.IsDir() || excludedDir(m, g.Exclude) {
				continue
			}
			out = append(out, origin{gi, m})
		}
	}
	return out, nil
}

func excludedDir(dir string, patterns []string) bool {
	for _, x := range patterns {
		if ok, _ := path.Match(x, dir); ok {
			return true
		}
	}
	return false
}

// fieldString renders segments as the rules package writes field paths.
func fieldString(segs []any) string {
	var b strings.Builder
	for _, s := range segs {
		switch v := s.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// rulesIndex finds the position of a field path in the rules file.
type rulesIndex struct{ root *yaml.Node }

func newRulesIndex(path string) (rulesIndex, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return rulesIndex{}, fmt.Errorf("read rules: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return rulesIndex{}, fmt.Errorf("parse rules: %w", err)
	}
	if len(doc.Content) == 0 {
		return rulesIndex{}, nil
	}
	return rulesIndex{root: doc.Content[0]}, nil
}

// pos returns the line and column of the deepest node of segs it finds.
// A target written without a list is index 0 of its environment.
func (x rulesIndex) pos(segs []any) (line, col int) {
	n := x.root
	if n == nil {
		return 0, 0
	}
	line, col = n.Line, n.Column
	for _, s := range segs {
		var next *yaml.Node
		switch v := s.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == v {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			switch {
			case n.Kind == yaml.SequenceNode && v >= 0 && v < len(n.Content):
				next = n.Content[v]
			case n.Kind == yaml.MappingNode && v == 0:
				next = n
			}
		}
		if next == nil {
			return line, col
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col
}

func specFor(svc *rules.Service, t rules.Target) edit.Spec {
	switch {
	case t.Helm != "":
		return edit.Spec{Kind: edit.KindHelm, Image: svc.Image, Field: t.Field}
	case t.Manifest != "":
		return edit.Spec{Kind: edit.KindManifest, Image: svc.Image, Container: t.Container}
	}
	return edit.Spec{Kind: edit.KindKustomize, Image: svc.Image}
}

func newPlan() *cobra.Command {
	var rulesPath, repo, service, to, tag, ticket string
	var write bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print the diff promobot would propose for a promotion (no GitHub, no NATS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rs, err := rules.Load(rulesPath)
			if err != nil {
				return err
			}
			if rs, err = loadWithRepo(ctx, rs, repo); err != nil {
				return err
			}
			svc, ok := rs.Service(service)
			if !ok {
				return fmt.Errorf("unknown service %q", service)
			}
			d, err := localrepo.Open(repo)
			if err != nil {
				return err
			}
			defer d.Close()
			in := intent.Intent{ID: "local-plan", Kind: intent.KindPromote, Repo: svc.Repo, Services: []string{service}, To: to, Tag: tag, Ticket: ticket, Requester: "local"}
			if to == rs.First(svc) {
				// Nothing comes before the first environment: set it, as a build would.
				if tag == "" {
					return fmt.Errorf("%s is the first environment of %s: --tag is required", to, service)
				}
				in.Kind = intent.KindUpdate
			}
			if err := in.Validate(); err != nil {
				return err
			}
			dec, err := planner.Decide(ctx, rs, in, planner.Views{Base: d}, time.Now())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case dec.Skip != "":
				fmt.Fprintln(out, "nothing to do:", dec.Skip)
				return nil
			case dec.Refusal != nil:
				fmt.Fprintln(out, "refused:", dec.Refusal.Reason)
				for _, g := range dec.Refusal.Gates {
					fmt.Fprintf(out, "  %s %s: %s\n", mark(g.Open), g.Gate, g.Reason)
				}
				return exitError{2}
			}
			p := dec.Plan
			fmt.Fprintf(out, "# %s\n", p.Title)
			if p.Direct {
				fmt.Fprintf(out, "# direct commit to %s\n", p.BaseBranch)
			} else {
				fmt.Fprintf(out, "# pull request from %s into %s\n", p.Branch, p.BaseBranch)
			}
			if who := append(append([]string(nil), p.Reviewers.Users...), p.Reviewers.Teams...); len(who) > 0 {
				fmt.Fprintf(out, "# reviewers: %s\n", strings.Join(who, ", "))
			}
			for _, g := range p.Gates {
				fmt.Fprintf(out, "# %s %s: %s\n", mark(g.Open), g.Gate, g.Reason)
			}
			for _, e := range p.Edits {
				if err := writeDiff(out, e); err != nil {
					return err
				}
			}
			if !write {
				return nil
			}
			for _, e := range p.Edits {
				if err := d.WriteFile(e.Path, e.New); err != nil {
					return err
				}
				fmt.Fprintln(cmd.ErrOrStderr(), "wrote", e.Path)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout")
	fs.StringVar(&service, "service", "", "service to promote")
	fs.StringVar(&to, "to", "", "target environment")
	fs.StringVar(&tag, "tag", "", "tag (default: what the previous environment runs)")
	fs.StringVar(&ticket, "ticket", "", "change ticket key")
	fs.BoolVar(&write, "write", false, "apply the edits to the checkout")
	_ = cmd.MarkFlagRequired("service") // only fails for an undefined flag name
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func mark(open bool) string {
	if open {
		return "ok  "
	}
	return "FAIL"
}

func writeDiff(w io.Writer, e planner.FileEdit) error {
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: diffLines(e.Old), B: diffLines(e.New),
		FromFile: "a/" + e.Path, ToFile: "b/" + e.Path, Context: 3,
	})
	if err != nil {
		return fmt.Errorf("diff %s: %w", e.Path, err)
	}
	_, err = io.WriteString(w, text)
	return err
}

// diffLines splits a file into lines that each end in "\n". Unlike
// difflib.SplitLines it adds no empty last line to a file that ends in a
// newline, so hunk ranges match the file and the diff applies with git apply.
func diffLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if last := lines[len(lines)-1]; last == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] = last + "\n"
	}
	return lines
}

func newStatus() *cobra.Command {
	var rulesPath, repo, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the service × environment matrix of tags from a checkout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown --output %q (table or json)", output)
			}
			ctx := cmd.Context()
			rs, err := rules.Load(rulesPath)
			if err != nil {
				return err
			}
			if rs, err = loadWithRepo(ctx, rs, repo); err != nil {
				return err
			}
			d, err := localrepo.Open(repo)
			if err != nil {
				return err
			}
			defer d.Close()
			m := matrix(ctx, rs, d)
			if output == "table" {
				return printMatrix(cmd.OutOrStdout(), m)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout")
	fs.StringVar(&output, "output", "table", "table or json")
	return cmd
}

// statusReport is the matrix as --output json prints it.
type statusReport struct {
	Environments []string    `json:"environments"`
	Services     []statusRow `json:"services"`
}

type statusRow struct {
	Service      string       `json:"service"`
	Environments []statusCell `json:"environments"`
}

// statusCell is one service in one environment. Tag is what the first target
// runs; Targets lists every target when the environment has several.
type statusCell struct {
	Env     string         `json:"env"`
	Tag     string         `json:"tag,omitempty"`
	Differs bool           `json:"differsFromPrevious"`
	Mixed   bool           `json:"mixed,omitempty"` // targets of this environment disagree
	Targets []statusTarget `json:"targets,omitempty"`
	Error   string         `json:"error,omitempty"`
}

type statusTarget struct {
	Path  string `json:"path"`
	Tag   string `json:"tag,omitempty"`
	Error string `json:"error,omitempty"`
}

// matrix reads every target of every service. An environment a service has
// no target in is left out of its row; Differs compares with the service's
// previous environment that has one.
func matrix(ctx context.Context, rs *rules.Rules, d *localrepo.Dir) statusReport {
	rep := statusReport{Environments: rs.EnvNames(), Services: []statusRow{}}
	svcs := make([]*rules.Service, len(rs.Services))
	for i := range rs.Services {
		svcs[i] = &rs.Services[i]
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, svc := range svcs {
		r := statusRow{Service: svc.Name, Environments: []statusCell{}}
		var prev *statusCell
		for _, env := range rep.Environments {
			ts := svc.Targets[env]
			if len(ts) == 0 {
				continue
			}
			c := statusCell{Env: env}
			for i, t := range ts {
				st := readTarget(ctx, d, svc, t)
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

func readTarget(ctx context.Context, d *localrepo.Dir, svc *rules.Service, t rules.Target) statusTarget {
	st := statusTarget{Path: t.TargetFile(d.Exists)}
	if st.Path == "" {
		st.Path, st.Error = t.Kustomize, "no kustomization file"
		return st
	}
	data, err := d.ReadFile(ctx, st.Path)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	ref, err := edit.Get(data, specFor(svc, t))
	switch {
	case errors.Is(err, edit.ErrNotFound):
		st.Error = "no tag for " + svc.Image
	case err != nil:
		st.Error = st.Path + ": " + err.Error()
	}
	st.Tag = ref.String()
	return st
}

func printMatrix(w io.Writer, rep statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\t%s\n", strings.ToUpper(strings.Join(rep.Environments, "\t")))
	var notes []string
	var differs, mixed bool
	for _, r := range rep.Services {
		cells := []string{r.Service}
		byEnv := make(map[string]statusCell, len(r.Environments))
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
			cells = append(cells, text)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if differs {
		notes = append(notes, "* differs from the previous environment")
	}
	if mixed {
		notes = append(notes, "! the environment's targets run different tags (--output json lists them)")
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}
