package planner

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/edit"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const generatorRules = `version: 1
defaults:
  baseBranch: main
environments:
  - name: staging
  - name: prod
generators:
  - repo: acme/gitops
    directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'registry.example.com/platform/{{.Dir}}'
      targets:
        staging: { kustomize: '{{.Path}}/overlays/staging' }
        prod:    { kustomize: '{{.Path}}/overlays/prod' }
`

// TestGroupedBodyOfAGeneratorFits: a grouped promotion of every service a
// 200-service generator makes renders a body GitHub accepts. The table
// lists what fits and says how many services it leaves out; the metadata
// block lists every change.
func TestGroupedBodyOfAGeneratorFits(t *testing.T) {
	const n = 200
	files := map[string]string{}
	fsys := fstest.MapFS{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("checkout-settlement-worker-%03d", i)
		names = append(names, name)
		for env, tag := range map[string]string{"staging": "2026.11.22-build.4711-sha.0123456789abcdef0123", "prod": "2026.10.01-build.4242-sha.fedcba9876543210fedc"} {
			p := "apps/" + name + "/overlays/" + env + "/kustomization.yaml"
			files[p] = "images:\n  - name: registry.example.com/platform/" + name + "\n    newTag: " + tag + "\n"
			fsys[p] = &fstest.MapFile{}
		}
	}
	rs, err := rules.Parse("rules.yaml", []byte(generatorRules))
	if err != nil {
		t.Fatal(err)
	}
	rs, err = rs.Expand(context.Background(), func(string) (fs.FS, error) { return fsys, nil })
	if err != nil {
		t.Fatal(err)
	}
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: names, From: "staging", To: "prod", Group: true}
	dec, err := Decide(context.Background(), rs, in, Views{Base: mapView{sha: "0123456789abcdef0123456789abcdef01234567", files: files}}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	body := dec.Plan.Body
	if len(body) > MaxBodyBytes {
		t.Fatalf("body has %d bytes, GitHub takes %d", len(body), MaxBodyBytes)
	}
	md, ok := ParseMetadata(body)
	if !ok || len(md.Services) != n || md.Services[n-1].Path != "apps/"+names[n-1]+"/overlays/prod/kustomization.yaml" || md.Services[0].From == "" {
		t.Fatalf("metadata read back: %v, %d services", ok, len(md.Services))
	}
	listed := strings.Count(body, "| checkout-settlement-worker-")
	if listed == 0 || listed >= n {
		t.Fatalf("%d services listed of %d: the test should need the cap", listed, n)
	}
	tail := fmt.Sprintf("*%d more services not listed: GitHub limits a pull request body to 65,536 characters. The commit lists every change.*", n-listed)
	if !strings.Contains(body, tail) {
		t.Errorf("body lacks %q", tail)
	}
	if !strings.Contains(dec.Plan.CommitMessage, names[n-1]) {
		t.Error("the commit message does not list every change")
	}
	// The body is as full as it can be: one more row would not fit.
	if MaxBodyBytes-len(body) > 400 {
		t.Errorf("body stops %d bytes short of the limit", MaxBodyBytes-len(body))
	}
}

// TestBodyMetadataShrinksLast: when even the metadata of every change
// cannot fit, it keeps each service and its new tag; when that cannot fit
// either, the promotion is refused for good, saying why.
func TestBodyMetadataShrinksLast(t *testing.T) {
	plan := func(services, filesEach int) *Plan {
		p := &Plan{Target: intent.Target{Repo: "acme/gitops", Service: "_group", Env: "prod"}}
		for i := range services {
			for j := range filesEach {
				svc := fmt.Sprintf("svc-%04d", i)
				p.Changes = append(p.Changes, Change{Service: svc, Path: fmt.Sprintf("clusters/region-%02d/apps/%s/overlays/prod/kustomization.yaml", j, svc),
					Old: edit.Ref{Tag: "v1.0.0"}, New: edit.Ref{Tag: "v1.1.0"}})
			}
		}
		return p
	}
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote}
	body, err := RenderBody(plan(150, 8), in, "")
	if err != nil {
		t.Fatal(err)
	}
	md, ok := ParseMetadata(body)
	if len(body) > MaxBodyBytes || !ok || len(md.Services) != 150 || md.Services[0].To != "v1.1.0" || md.Services[0].Path != "" {
		t.Errorf("%d bytes, metadata %v with %d services %+v", len(body), ok, len(md.Services), md.Services[:1])
	}
	_, err = RenderBody(plan(5000, 1), in, "")
	if !fate.IsTerminal(err) || !strings.Contains(err.Error(), "cannot fit GitHub's limit") {
		t.Errorf("err = %v, want a terminal error saying the body cannot fit", err)
	}
}

// TestTitleCapKeepsSuffix: a split target's title stays within GitHub's
// 256 characters with its " (part)" suffix whole.
func TestTitleCapKeepsSuffix(t *testing.T) {
	for _, tc := range []struct{ title, suffix, want string }{
		{"Promote web v2 to prod", " (prod-eu)", "Promote web v2 to prod (prod-eu)"},
		{strings.Repeat("a", 256), " (prod-eu)", strings.Repeat("a", 245) + "… (prod-eu)"},
		{strings.Repeat("é", 252), " (x)", strings.Repeat("é", 252) + " (x)"},
		{strings.Repeat("é", 255), " (x)", strings.Repeat("é", 251) + "… (x)"},
		{"t", strings.Repeat("p", 300), strings.Repeat("t", 1) + strings.Repeat("p", 254) + "…"},
	} {
		got := capTitle(tc.title, tc.suffix)
		if got != tc.want || utf8.RuneCountInString(got) > MaxTitleChars {
			t.Errorf("capTitle(%d chars, %q) = %q (%d chars), want %q", utf8.RuneCountInString(tc.title), tc.suffix, got, utf8.RuneCountInString(got), tc.want)
		}
	}

	// Through Decide: a long tag and ticket fill the title the rules render
	// to 256 characters, and the part still fits.
	rs := mustRules(t)
	tag := "v1.3.0-" + strings.Repeat("x", 120)
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: tag,
		Ticket: "PAY-" + strings.Repeat("7", 150), Part: "prod-eu"}
	dec, err := Decide(context.Background(), rs, in, Views{Base: repo("sha-2", "sha-1", "v1.2.0", "v1.2.0")}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	if title := dec.Plan.Title; utf8.RuneCountInString(title) > MaxTitleChars || !strings.HasSuffix(title, " (prod-eu)") {
		t.Errorf("title has %d characters: %q", utf8.RuneCountInString(title), title)
	}
}

// modeView is a mapView that knows file modes.
type modeView struct {
	mapView
	modes map[string]string
}

func (m modeView) FileMode(p string) (string, error) {
	if mode, ok := m.modes[p]; ok {
		return mode, nil
	}
	return "100644", nil
}

// TestEditsKeepFileModes: an edit carries the file's mode on the base when
// the view knows it, so the commit keeps an executable executable.
func TestEditsKeepFileModes(t *testing.T) {
	rs := mustRules(t)
	base := repo("sha-2222222", "sha-1111111", "v1.2.0", "v1.2.0")
	in := intent.Intent{ID: "d:0", Kind: intent.KindPromote, Repo: "acme/gitops", Services: []string{"payment-service"}, To: "prod", Tag: "v1.3.0", Ticket: "PAY-7"}
	exec := "apps/payment-service/overlays/prod-eu/kustomization.yaml"
	dec, err := Decide(context.Background(), rs, in, Views{Base: modeView{base, map[string]string{exec: "100755"}}}, now)
	if err != nil || dec.Plan == nil {
		t.Fatalf("Decide: %v %+v", err, dec)
	}
	got := map[string]string{}
	for _, e := range dec.Plan.Edits {
		got[e.Path] = e.Mode
	}
	if got[exec] != "100755" || got["apps/payment-service/overlays/prod-us/kustomization.yaml"] != "100644" {
		t.Errorf("modes = %v", got)
	}
	// A view that does not know modes leaves them to the writer.
	dec, err = Decide(context.Background(), rs, in, Views{Base: base}, now)
	if err != nil || dec.Plan == nil || dec.Plan.Edits[0].Mode != "" {
		t.Errorf("without modes: %v %+v", err, dec.Plan.Edits)
	}
}
