package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
)

func newPlan() *cobra.Command {
	var rulesPath, repo, service, to, tag, ticket string
	var write bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print the diff promobot would propose for a promotion (no GitHub, no NATS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rs, d, err := loadCheckout(ctx, rulesPath, repo)
			if err != nil {
				return err
			}
			defer d.Close()
			svc, ok := rs.Service(service)
			if !ok {
				return fmt.Errorf("unknown service %q", service)
			}
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
					fmt.Fprintf(out, "  %s %s: %s%s\n", mark(g.Open), g.Gate, g.Reason, byPolicy(g.Policy))
				}
				return exitError{2}
			}
			if err := writePlan(out, dec.Plan); err != nil {
				return err
			}
			if !write {
				return nil
			}
			for _, e := range dec.Plan.Edits {
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

// writePlan prints the plan's header as comments, then one diff per edit.
func writePlan(out io.Writer, p *planner.Plan) error {
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
		fmt.Fprintf(out, "# %s %s: %s%s\n", mark(g.Open), g.Gate, g.Reason, byPolicy(g.Policy))
	}
	if p.Config != nil {
		fmt.Fprintf(out, "# configuration: %s of %s\n", p.Config.Path, p.Config.Repo)
	}
	for _, e := range p.Edits {
		if err := writeDiff(out, e); err != nil {
			return err
		}
	}
	return nil
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
