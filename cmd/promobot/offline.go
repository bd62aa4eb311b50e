package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := rules.Load(args[0])
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{1}
			}
			if repo != "" {
				rs, err = loadWithRepo(cmd.Context(), rs, repo)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					return exitError{1}
				}
				if problems := checkRepo(cmd.Context(), rs, repo); len(problems) > 0 {
					for _, p := range problems {
						fmt.Fprintln(cmd.ErrOrStderr(), p)
					}
					return exitError{1}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d environments, %d services)\n", args[0], len(rs.Environments), len(rs.Services))
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "GitOps checkout: also check that every path and image exists")
	return cmd
}

// loadWithRepo expands generators against a checkout.
func loadWithRepo(ctx context.Context, rs *rules.Rules, dir string) (*rules.Rules, error) {
	d, err := localrepo.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return rs.Expand(ctx, func(string) (fs.FS, error) { return d.FS(), nil })
}

// checkRepo reports every target whose file is missing or sets no tag for the image.
func checkRepo(ctx context.Context, rs *rules.Rules, dir string) []string {
	d, err := localrepo.Open(dir)
	if err != nil {
		return []string{err.Error()}
	}
	defer d.Close()
	var out []string
	for si := range rs.Services {
		svc := &rs.Services[si]
		for _, env := range rs.EnvNames() {
			for i, t := range svc.Targets[env] {
				path := t.TargetFile(d.Exists)
				data, err := d.ReadFile(ctx, path)
				if err != nil {
					out = append(out, fmt.Sprintf("services %s: targets.%s[%d]: %v", svc.Name, env, i, err))
					continue
				}
				if _, err := edit.Get(data, specFor(svc, t)); err != nil && !errors.Is(err, edit.ErrNotFound) {
					out = append(out, fmt.Sprintf("services %s: targets.%s[%d]: %s: %v", svc.Name, env, i, path, err))
				} else if errors.Is(err, edit.ErrNotFound) && t.Kustomize == "" {
					out = append(out, fmt.Sprintf("services %s: targets.%s[%d]: %s does not set %s", svc.Name, env, i, path, svc.Image))
				}
			}
		}
	}
	return out
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
			fmt.Fprintf(out, "# %s\n# branch %s\n", p.Title, p.Branch)
			for _, e := range p.Edits {
				if err := writeDiff(out, e); err != nil {
					return err
				}
				if write {
					if err := d.WriteFile(e.Path, e.New); err != nil {
						return err
					}
				}
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
		A: difflib.SplitLines(string(e.Old)), B: difflib.SplitLines(string(e.New)),
		FromFile: "a/" + e.Path, ToFile: "b/" + e.Path, Context: 3,
	})
	if err != nil {
		return fmt.Errorf("diff %s: %w", e.Path, err)
	}
	_, err = io.WriteString(w, text)
	return err
}

func newStatus() *cobra.Command {
	var rulesPath, repo, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the service × environment matrix of tags from a checkout",
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
			d, err := localrepo.Open(repo)
			if err != nil {
				return err
			}
			defer d.Close()
			m := matrix(ctx, rs, d)
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			case "table":
				return printMatrix(cmd.OutOrStdout(), rs.EnvNames(), m)
			}
			return fmt.Errorf("unknown --output %q (table or json)", output)
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout")
	fs.StringVar(&output, "output", "table", "table or json")
	return cmd
}

// Cell is one service in one environment.
type Cell struct {
	Tag     string `json:"tag,omitempty"`
	Differs bool   `json:"differsFromPrevious"`
	Error   string `json:"error,omitempty"`
}

type row struct {
	Service string          `json:"service"`
	Envs    map[string]Cell `json:"environments"`
}

func matrix(ctx context.Context, rs *rules.Rules, d *localrepo.Dir) []row {
	var rows []row
	svcs := append([]rules.Service(nil), rs.Services...)
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for i := range svcs {
		svc := &svcs[i]
		r := row{Service: svc.Name, Envs: map[string]Cell{}}
		prev := ""
		for _, env := range rs.EnvNames() {
			ts := svc.Targets[env]
			if len(ts) == 0 {
				continue
			}
			var c Cell
			data, err := d.ReadFile(ctx, ts[0].TargetFile(d.Exists))
			if err == nil {
				var ref edit.Ref
				ref, err = edit.Get(data, specFor(svc, ts[0]))
				c.Tag = ref.Tag
				if ref.Digest != "" {
					c.Tag = ref.Digest
				}
			}
			if err != nil {
				c.Error = err.Error()
			}
			c.Differs = prev != "" && c.Tag != prev
			prev = c.Tag
			r.Envs[env] = c
		}
		rows = append(rows, r)
	}
	return rows
}

func printMatrix(w io.Writer, envs []string, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\t%s\n", strings.ToUpper(strings.Join(envs, "\t")))
	for _, r := range rows {
		cells := []string{r.Service}
		for _, env := range envs {
			c, ok := r.Envs[env]
			switch {
			case !ok:
				cells = append(cells, "-")
			case c.Error != "":
				cells = append(cells, "?")
			case c.Differs:
				cells = append(cells, c.Tag+" *")
			default:
				cells = append(cells, c.Tag)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	fmt.Fprintln(tw, "\n* differs from the previous environment")
	return tw.Flush()
}
