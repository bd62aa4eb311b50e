package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/audit"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/history/gitfixture"
	"github.com/promobot/promobot/internal/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

// reviews answers approvals as the GitHub test double would: PR #5 and #6
// approved, #7 (the rollback) merged without an approval.
type reviews struct {
	mu    sync.Mutex
	asked []int
	err   error
}

func (r *reviews) Approvers(_ context.Context, repo string, pr int) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, pr)
	if r.err != nil {
		return nil, r.err
	}
	if repo != "acme/gitops" {
		return nil, errors.New("unexpected repository " + repo)
	}
	return map[int][]string{5: {"bob"}, 6: {"carol", "erin"}}[pr], nil
}

var (
	fixOnce sync.Once
	fixH    *history.History
	fixRS   *rules.Rules
)

func fixture(t *testing.T) (*history.History, *rules.Rules) {
	t.Helper()
	fixOnce.Do(func() {
		o := gitfixture.OpenGitOps(t)
		rs, st, head := o.Rules, o.Store, o.Head
		h, err := history.Walk(context.Background(), st, head, rs, history.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fixH, fixRS = h, rs
	})
	if fixH == nil {
		t.Fatal("fixture failed in an earlier test")
	}
	return fixH, fixRS
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (run with -update to accept):\n%s", name, got)
	}
}

// The report over a history with a hand edit (prod-eu to v3), a skipped
// environment (v3 never ran in staging; api's a2 never ran in dev), a
// rollback (PR #7) and a promotion without approval (PR #7 again).
func TestReportGolden(t *testing.T) {
	h, rs := fixture(t)
	for _, tc := range []struct {
		name string
		opt  audit.Options
	}{
		{"all", audit.Options{}},
		{"prod", audit.Options{Env: "prod"}},
	} {
		rv := &reviews{}
		tc.opt.Reviews = rv
		rep, err := audit.Build(context.Background(), h, rs, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range audit.Formats {
			var b bytes.Buffer
			if err := rep.Write(&b, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "audit-"+tc.name+"."+format, b.Bytes())
			switch format {
			case "json":
				var back audit.Report
				if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Rows) != len(rep.Rows) {
					t.Errorf("json does not read back: %v", err)
				}
			case "csv":
				recs, err := csv.NewReader(&b).ReadAll()
				if err != nil || len(recs) != len(rep.Rows)+1 {
					t.Errorf("csv: %v, %d records for %d rows", err, len(recs), len(rep.Rows))
				}
			}
		}
		// Each PR's reviews are asked once however many rows it has.
		seen := map[int]bool{}
		for _, pr := range rv.asked {
			if seen[pr] {
				t.Errorf("%s: reviews of #%d asked twice", tc.name, pr)
			}
			seen[pr] = true
		}
	}
}

func TestReportFlags(t *testing.T) {
	h, rs := fixture(t)
	rep, err := audit.Build(context.Background(), h, rs, audit.Options{Env: "prod", Reviews: &reviews{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Path[strings.Index(r.Path, "/")+1:]+" "+r.From+"->"+r.To+" "+r.How()+" ["+strings.Join(r.Flags, " ")+"]")
	}
	want := []string{
		"web/prod-eu/kustomization.yaml v3->v2 promobot PR #7, rollback [no-approval]",
		"web/prod-eu/kustomization.yaml v2->v3 hand edit [bypassed-promobot no-approval no-ticket skipped-environment]",
		"web/prod-eu/kustomization.yaml v1->v2 promobot PR #6 []",
		"web/prod-us/kustomization.yaml v1->v2 promobot PR #6 []",
		"api/prod/values.yaml ->a1 hand edit [bypassed-promobot no-approval no-ticket]",
		"web/prod-eu/kustomization.yaml ->v1 hand edit [bypassed-promobot no-approval no-ticket]",
		"web/prod-us/kustomization.yaml ->v1 hand edit [bypassed-promobot no-approval no-ticket]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReportSinceAndErrors(t *testing.T) {
	h, rs := fixture(t)
	since := gitfixture.Hour(40)
	rep, err := audit.Build(context.Background(), h, rs, audit.Options{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 || rep.Approvals {
		t.Errorf("since hour 40: %d rows (approvals %v), want 3 without approvals", len(rep.Rows), rep.Approvals)
	}
	var b bytes.Buffer
	if err := rep.Write(&b, "md"); err != nil || !strings.Contains(b.String(), "Approvals unknown") || !strings.Contains(b.String(), "| unknown |") {
		t.Errorf("markdown without approvals: %v\n%s", err, b.String())
	}
	if err := rep.Write(&b, "xml"); err == nil || !strings.Contains(err.Error(), "md, csv or json") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := audit.Build(context.Background(), h, rs, audit.Options{Reviews: &reviews{err: errors.New("503")}}); err == nil ||
		!strings.Contains(err.Error(), "reviews of acme/gitops#7") {
		t.Errorf("a failing review lookup: %v", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "", want: time.Time{}},
		{in: "30d", want: now.Add(-30 * 24 * time.Hour)},
		{in: "36h", want: now.Add(-36 * time.Hour)},
		{in: "2026-01-31", want: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
		{in: "2026-01-31T10:00:00+01:00", want: time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{in: "-30d", err: true},
		{in: "yesterday", err: true},
		{in: "99999999999999999999d", err: true},
		{in: "2026-13-45", err: true},
		{in: strings.Repeat("9", 100) + "d", err: true},
		{in: "30d\n--output", err: true},
	} {
		got, err := audit.ParseSince(tc.in, now)
		if (err != nil) != tc.err || (!tc.err && !got.Equal(tc.want)) {
			t.Errorf("ParseSince(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"30d", "36h", "2026-01-31", "2026-01-31T10:00:00Z", "-3d", "soon", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := audit.ParseSince(s, now)
		if err == nil && s != "" && got.IsZero() {
			t.Fatalf("%q: no time and no error", s)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Fatalf("error message of %d bytes echoes the input", len(err.Error()))
		}
	})
}

// A hand-built history: a build's promotion shows the build as requester,
// and hostile names stay inside their cells in every format.
func TestReportRequesterAndHostileText(t *testing.T) {
	_, rs := fixture(t)
	at := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)
	h := &history.History{Head: strings.Repeat("f", 40), Changes: []history.Change{
		{Time: at, Commit: strings.Repeat("a", 40), Service: "web", Env: "staging", Path: "apps/web/staging/kustomization.yaml",
			From: "v2", To: "v4", Author: history.Person{Name: "promobot[bot]"},
			Origin: history.Origin{Via: history.ViaPR, PR: 9, Source: "acme/web@" + strings.Repeat("b", 40)}},
		{Time: at.Add(-time.Hour), Commit: strings.Repeat("c", 40), Service: "web", Env: "dev", Path: "apps/web/dev/kustomization.yaml",
			From: "v2", To: "v4", Author: history.Person{Name: "=HYPERLINK(\"http://evil\")|`x`\n<b>[y](z)"}, Origin: history.Origin{Via: history.ViaHand}},
	}}
	rep, err := audit.Build(context.Background(), h, rs, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var md, cs bytes.Buffer
	if err := rep.Write(&md, "md"); err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(&cs, "csv"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| build acme/web@bbbbbbb |") {
		t.Errorf("the build is not the requester:\n%s", md.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(md.String()), "\n") {
		if strings.HasPrefix(line, "| 2026") && strings.Count(line, "|")-strings.Count(line, "\\|") != 14 {
			t.Errorf("a name broke out of its cell: %s", line)
		}
	}
	if strings.Contains(md.String(), "<b>") || strings.Contains(md.String(), "[y](z)") {
		t.Errorf("markup in a name was kept:\n%s", md.String())
	}
	recs, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[2][11]; !strings.HasPrefix(got, "'=HYPERLINK") {
		t.Errorf("a formula reached the csv: %q", got)
	}
}
